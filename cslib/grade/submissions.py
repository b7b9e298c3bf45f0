"""Submitted files before they run: who sent them, whether they are notebooks of this lab, duplicates.

Everything here works on the bytes of a file: a submission that is not a notebook (invalid
JSON, a PDF, no code cells) or is another lab's is reported as failed with its reason and never
reaches a kernel.
"""
from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cslib.grade.lab import Lab

COPY_PREFIX = re.compile(r"^copy of\s+", re.I)
COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\)|\s*-\s*copy(?:\s*\(?\d+\)?)?|[ _-](?:copy|final|late|resubmit(?:ted)?|resubmission)"
                         r"|[ _-]v\d{1,3}|[ _-]\d)$", re.I)


@dataclass
class Submission:
    """One submitted file: where it came from, who it belongs to and its code cells."""

    path: Path
    student_id: str
    mtime: float
    number: int  # position on the command line, for the work folder's name
    cells: list[dict] = field(default_factory=list)  # {"index": i, "source": ...} for each code cell
    failure: str = ""  # why it cannot be graded at all, found before running it
    notes: list[str] = field(default_factory=list)
    counted: bool = True  # False for an older file of a student who submitted twice
    feedback_name: str = ""
    sha256: str = ""  # of the bytes graded ('' if the file could not be read)


def student_id(path: Path, pattern: str | None = None) -> tuple[str, str]:
    """(student id, note) from a file name: the stem without copy suffixes, or ``pattern``'s match."""
    stem = path.name[: -len(".ipynb")] if path.name.lower().endswith(".ipynb") else path.stem
    if pattern:
        match = re.search(pattern, stem)
        if not match:
            return stem, f"file name does not match --id-pattern {pattern!r}: used {stem!r}"
        if "id" in match.re.groupindex:
            return match.group("id"), ""
        return (match.group(1) if match.re.groups else match.group(0)), ""
    name = COPY_PREFIX.sub("", stem).strip()
    while True:
        shorter = COPY_SUFFIX.sub("", name).strip()
        if shorter == name or not shorter:
            return name or stem, ""
        name = shorter


def read_submission(path: Path, folders: list[Path], limit: int = 100 * 2**20) -> tuple[bytes | None, float, str]:
    """(bytes, mtime, '') of a submitted file, or (None, mtime, why it was not read).

    A symbolic link is read only if it points into one of ``folders`` (those of the submissions); a
    folder, pipe or device is never opened for reading (a pipe would block forever).
    """
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            target = path.resolve(strict=True)
            if not any(target == f or f in target.parents for f in folders):
                return None, info.st_mtime, "a symbolic link to a file outside the submission folders: not read"
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, RuntimeError) as e:
        return None, 0.0, f"cannot read the file ({getattr(e, 'strerror', None) or e})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, info.st_mtime, "not a regular file (a folder, a pipe or a device): not read"
        if info.st_size > limit:
            return None, info.st_mtime, f"file too large ({info.st_size / 2**20:.0f} MB; the limit is {limit // 2**20} MB)"
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, 2**20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return None, info.st_mtime, f"file too large (over {limit // 2**20} MB)"
        return b"".join(chunks), info.st_mtime, ""
    except OSError as e:
        return None, info.st_mtime, f"cannot read the file ({e.strerror or e})"
    finally:
        os.close(fd)


# The pre-check runs in the grader's own process: its time is bounded by the file size (read_submission's
# limit), one JSON parse, and these caps (no lab comes near them), not by a timeout.
MAX_CELLS = 5_000
MAX_CODE_CHARS = 10 * 2**20


def read_notebook(data: bytes) -> tuple[list[dict], dict, str]:
    """(code cells, metadata, failure) of a submitted file's bytes; failure says why it is no notebook or
    cannot be graded (more than ``MAX_CELLS`` cells or ``MAX_CODE_CHARS`` characters of code)."""
    if not data.strip():
        return [], {}, "empty file"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], {}, "not a notebook: not a text file (a binary file, e.g. a PDF or a zip?)"
    try:
        nb = json.loads(text)
    except RecursionError:
        return [], {}, "not a notebook: JSON nested too deeply"
    except ValueError as e:
        where = f": line {e.lineno}, column {e.colno}" if hasattr(e, "lineno") else ""
        return [], {}, f"not a notebook: invalid JSON ({getattr(e, 'msg', e)}{where})"
    if not isinstance(nb, dict) or not ("cells" in nb or "worksheets" in nb):
        return [], {}, "not a notebook: JSON without notebook cells"
    count = 0
    if "worksheets" in nb:  # nbformat 3: its cells sit in worksheets, a code cell's source is its "input"
        nb, count = _cells_of_nbformat_3(nb)  # one pass (nbformat's converter validates, and took a minute on 30 MB)
        if nb is None:
            return [], {}, "not a notebook: an old notebook format (3) whose worksheets are not lists of cells"
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return [], {}, "not a notebook: its cells are not a list"
    count = max(count, len(cells))
    if count > MAX_CELLS:
        return [], {}, f"too many cells ({count:,}; a lab has about a hundred, the limit is {MAX_CELLS:,})"
    code, chars = [], 0
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if isinstance(source, str) and source.strip():
            code.append({"index": index, "source": source})
            chars += len(source)
    if chars > MAX_CODE_CHARS:
        return [], {}, f"too much code ({chars / 2**20:.0f} M characters; the limit is {MAX_CODE_CHARS // 2**20} M)"
    metadata = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    if not code:
        return [], metadata, "empty notebook: no code cells"
    return code, metadata, ""


def _cells_of_nbformat_3(nb: dict) -> tuple[dict | None, int]:
    """(an nbformat-3 notebook as {"cells", "metadata"} with version 4's names, or None if it is malformed;
    its number of cells). Over ``MAX_CELLS`` cells it is not converted (no cells)."""
    sheets = nb.get("worksheets")
    if not isinstance(sheets, list) or not all(isinstance(s, dict) and isinstance(s.get("cells", []), list) for s in sheets):
        return None, 0
    total = sum(len(s.get("cells", [])) for s in sheets)
    if total > MAX_CELLS:
        return {"cells": []}, total
    cells = []
    for sheet in sheets:
        for cell in sheet.get("cells", []):
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                cells.append({"cell_type": "code", "source": cell.get("input", "")})
            else:
                cells.append({"cell_type": cell.get("cell_type") if isinstance(cell, dict) else None})
    return {"cells": cells, "metadata": nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}}, total


def check_lab(cells: list[dict], metadata: dict, lab: Lab) -> str:
    """Why this notebook is not this lab ('' if it may be)."""
    info = metadata.get("cslib") if isinstance(metadata.get("cslib"), dict) else {}
    theirs = info.get("lab")
    if isinstance(theirs, str) and theirs and lab.lab_id and theirs != lab.lab_id:
        return f"wrong lab: this notebook is {theirs} (its metadata), not {lab.lab_id}"
    if not theirs:
        code = "\n".join(c["source"] for c in cells)
        if not any(q.answer in code and re.search(rf"\b{re.escape(q.answer)}\b", code) for q in lab.questions):
            names = ", ".join(q.answer for q in lab.questions)
            return f"wrong lab: none of this lab's answers ({names}) appear in the notebook's code"
    return ""


def collect_files(paths: list[str]) -> list[Path]:
    """Files given on the command line; a folder stands for its files (not hidden ones, not recursive)."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():  # every entry but folders: a pipe or a stray link shows up as a failed row
            files += sorted(p for p in path.iterdir() if not p.name.startswith(".") and not p.is_dir())
        else:
            files.append(path)
    # absolute, but links not followed: a link is graded (or refused) under its own name
    return list(dict.fromkeys(Path(os.path.abspath(p)) for p in files))


def resolve_duplicates(submissions: list[Submission]) -> None:
    """One counted file per student: the newest (mtime), ties broken by name; notes on all of them."""
    by_student: dict[str, list[Submission]] = {}
    for sub in submissions:
        by_student.setdefault(sub.student_id, []).append(sub)
    for student, subs in by_student.items():
        if len(subs) < 2:
            continue
        subs.sort(key=lambda s: (s.mtime, s.path.name))
        kept = subs[-1]
        others = [s.path.name for s in subs[:-1]]
        kept.notes.append(f"{student} submitted {len(subs)} files; counted the newest, {kept.path.name} "
                          f"(not counted: {', '.join(others)})")
        for sub in subs[:-1]:
            sub.counted = False
            sub.notes.append(f"not counted: {student} also submitted {kept.path.name}, which is newer")
