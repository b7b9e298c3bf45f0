"""What the grader writes: the grades CSV, a feedback file per submission, Gradescope results, a summary.

Feedback never shows a hidden test's inputs, expected values or results: a hidden test is reported
as "hidden test 2: failed (wrong result)" and nothing more. Visible tests (the ones the student's
inline checks also ran) show what was expected, what came back and the question's hint.

Every file is written atomically: into a private temporary file (a random name, created
exclusively) in the target's folder, then renamed over the target. A path that is already a
symbolic link, a pipe, a device or a folder is never opened: that output fails with a message
(returned by :func:`write_all`) and the others are still written.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from cslib.grade.lab import Lab
    from cslib.grade.scoring import Graded, QuestionResult


def fmt_points(value: float | None) -> str:
    """Points as a short number: 2, 1.33, 0.5 ('' for None)."""
    if value is None:
        return ""
    return f"{round(value, 2):g}"


def _spreadsheet_safe(text: str) -> str:
    """Text that a spreadsheet will not run as a formula (file names and notes come from students)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "submission"


def distinct_names(ids: list[str]) -> list[str]:
    """A safe file name for each student id, never the same for two different ids ("bo b" and "bo_b" would both be
    "bo_b"): a name that two ids share gets a short hash of its own id."""
    import hashlib

    safe = [_safe_name(i) for i in ids]
    owners: dict[str, set[str]] = {}
    for i, name in zip(ids, safe):
        owners.setdefault(name, set()).add(i)
    return [f"{name}-{hashlib.sha256(i.encode()).hexdigest()[:8]}" if len(owners[name]) > 1 else name
            for i, name in zip(ids, safe)]


# --------------------------------------------------------------------------- writing files safely
class OutputError(Exception):
    """One output cannot be written (the message names it and says why)."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device file"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a private temporary file in its folder, then rename it over ``path``."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError(f"cannot write {path}: it is {_kind(mode)}, not a regular file (left as it is)")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)  # replaces the name: never follows a link or opens a pipe put there meanwhile
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
        raise


def make_folder(path: Path, real: bool = False) -> None:
    """Create the folder ``path`` (and its parents); ``real``: it may not be a link to a folder elsewhere."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        mode = os.lstat(path).st_mode
    except OSError as e:
        raise OutputError(f"cannot create the folder {path}: {e.strerror or e}") from e
    if not (stat.S_ISDIR(mode) or (not real and path.is_dir())):
        raise OutputError(f"cannot write into {path}: it is {_kind(mode)}, not a folder (left as it is)")


# --------------------------------------------------------------------------- CSV
def question_columns(lab: Lab) -> list[str]:
    """A CSV column per question, named after its answer (``name#2`` if two questions share one)."""
    columns: list[str] = []
    for question in lab.questions:
        name, n = question.answer, 2
        while name in columns:
            name, n = f"{question.answer}#{n}", n + 1
        columns.append(name)
    return columns


def csv_rows(graded: list[Graded], lab: Lab, seed: int, isolation: str = "none") -> list[dict[str, str]]:
    """One row per student (the counted file), sorted by student id; ``isolation``: "bubblewrap" or "none"."""
    rows = []
    for g in sorted((g for g in graded if g.submission.counted), key=lambda g: (g.submission.student_id, g.submission.path.name)):
        row = {"student_id": _spreadsheet_safe(g.submission.student_id), "file": _spreadsheet_safe(g.submission.path.name)}
        for column, result in zip(question_columns(lab), g.questions or [None] * len(lab.questions)):
            row[column] = fmt_points(result.points) if g.status == "ran" and result is not None else ""
        row["total"] = fmt_points(g.total)
        row["max_total"] = fmt_points(lab.max_total)
        row["status"] = g.status
        notes = ([f"failed: {g.reason}"] if g.status == "failed" else []) + g.notes
        row["notes"] = _spreadsheet_safe("; ".join(n.replace("\n", " ") for n in notes))
        row["seed"] = str(seed)
        row["isolation"] = isolation
        rows.append(row)
    return rows


def write_csv(path: Path, graded: list[Graded], lab: Lab, seed: int, isolation: str = "none") -> None:
    fields = ["student_id", "file", *question_columns(lab), "total", "max_total", "status", "notes", "seed", "isolation"]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(csv_rows(graded, lab, seed, isolation))
    write_atomic(path, text.getvalue())


# --------------------------------------------------------------------------- feedback
def question_feedback(q: QuestionResult) -> str:
    """The markdown body for one question: a summary line, then one line per test."""
    n_visible = sum(not c.hidden for c in q.cases)
    n_hidden = len(q.cases) - n_visible
    counts = f"{n_visible} visible" + (f", {n_hidden} hidden" if n_hidden else "")
    lines = [f"{q.passed} of {len(q.cases)} tests passed ({counts})."]
    if q.problem:
        lines.append(f"\n{q.problem}")
    else:
        for case in q.cases:
            if case.hidden:
                lines.append(f"- {'✓' if case.passed else '✗'} hidden test {case.number}: "
                             + ("passed" if case.passed else case.detail if case.detail.startswith("not run")
                                else f"failed ({case.detail})"))
                continue
            name = f"test {case.number}" + (f" ({case.shown})" if case.shown else "")
            if case.passed:
                lines.append(f"- ✓ {name}: passed")
            else:
                lines.append(f"- ✗ {name}: failed")
                lines.append("")
                lines.append("  ```")
                lines += ["  " + line.replace("```", "'''") for line in (case.detail or "wrong result").splitlines()]
                lines.append("  ```")
    if q.passed < len(q.cases) and q.question.hint:
        lines.append(f"\nHint: {q.question.hint}")
    return "\n".join(lines)


def feedback_markdown(g: Graded, lab: Lab) -> str:
    sub = g.submission
    title = lab.lab_id or "lab"
    lines = [f"# {title}: feedback for {sub.student_id}", "", f"- file: `{sub.path.name}`", f"- status: {g.status}"]
    if g.status == "ran":
        lines.append(f"- score: **{fmt_points(g.total)} / {fmt_points(lab.max_total)}**")
    else:
        lines.append(f"- this submission could not be graded: {g.reason}")
        lines.append("- your instructor will look at it; the points below (if any) are not your grade")
    if not sub.counted:
        lines.append("- not counted: you submitted a newer file, which is the one graded")
    if g.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in g.notes]
    for q in g.questions:
        lines += ["", f"## {q.question.title}: {fmt_points(q.points)} / {fmt_points(q.question.points)}", "",
                  question_feedback(q)]
    return "\n".join(lines) + "\n"


def feedback_names(graded: list[Graded]) -> None:
    """Give every submission a distinct feedback file name: <student>.md, older duplicates marked."""
    used: set[str] = set()
    for g in sorted(graded, key=lambda g: (not g.submission.counted, g.submission.number)):
        sub = g.submission
        base = _safe_name(sub.student_id)
        if not sub.counted:
            base += ".not-counted." + _safe_name(sub.path.stem)
        name, n = base + ".md", 2
        while name in used:
            name, n = f"{base}-{n}.md", n + 1
        used.add(name)
        sub.feedback_name = name


def write_feedback(folder: Path, graded: list[Graded], lab: Lab) -> list[str]:
    """One markdown file per submission; the problems (one per file that could not be written)."""
    try:
        make_folder(folder)
    except OutputError as e:
        return [str(e)]
    feedback_names(graded)
    problems = []
    for g in graded:
        try:
            write_atomic(folder / g.submission.feedback_name, feedback_markdown(g, lab))
        except OutputError as e:
            problems.append(str(e))
    return problems


# --------------------------------------------------------------------------- Gradescope
def gradescope_result(g: Graded, lab: Lab, isolation: str = "none") -> dict:
    """Gradescope's autograder results.json for one submission (one test per question)."""
    result = _gradescope_result(g, lab)
    result["extra_data"]["isolation"] = isolation
    return result


def _gradescope_result(g: Graded, lab: Lab) -> dict:
    sub = g.submission
    notes = "\n".join(f"- {n}" for n in g.notes)
    if g.status != "ran":
        output = f"This submission could not be graded: {g.reason}\nYour instructor will look at it."
        return {"score": 0.0, "output": output + ("\n\nNotes:\n" + notes if notes else ""), "output_format": "md",
                "tests": [{"name": "could not be graded", "score": 0.0, "max_score": lab.max_total, "status": "failed",
                           "output": g.reason, "visibility": "visible"}],
                "extra_data": {"status": "failed", "reason": g.reason, "student_id": sub.student_id, "file": sub.path.name}}
    tests = []
    for number, q in enumerate(g.questions, 1):
        tests.append({"name": q.question.title, "number": str(number), "score": round(q.points, 4),
                      "max_score": float(q.question.points), "status": "passed" if q.passed == len(q.cases) else "failed",
                      "output": question_feedback(q), "output_format": "md", "visibility": "visible"})
    return {"score": round(sum(q.points for q in g.questions), 4), "output": ("Notes:\n" + notes) if notes else "",
            "output_format": "md", "tests": tests,
            "extra_data": {"status": "ran", "student_id": sub.student_id, "file": sub.path.name}}


def write_gradescope(target: Path, graded: list[Graded], lab: Lab, isolation: str = "none") -> list[str]:
    """``target``: a results.json (one submission) or a folder of <student>/results.json; the problems."""
    counted = [g for g in graded if g.submission.counted]
    problems = []
    try:
        if target.suffix == ".json":
            make_folder(target.parent)
            write_atomic(target, json.dumps(gradescope_result(counted[0], lab, isolation), indent=1))
            return []
        make_folder(target)
    except OutputError as e:
        return [str(e)]
    for g, name in zip(counted, distinct_names([g.submission.student_id for g in counted])):
        folder = target / name
        try:
            make_folder(folder, real=True)
            write_atomic(folder / "results.json", json.dumps(gradescope_result(g, lab, isolation), indent=1))
        except OutputError as e:
            problems.append(str(e))
    return problems


def write_all(graded: list[Graded], lab: Lab, seed: int, out: Path, feedback: Path, gradescope: Path | None,
              isolation: str = "none") -> list[str]:
    """Write every output; a list of what could not be written (each output is tried, whatever the others do)."""
    problems = []
    try:
        make_folder(out.parent)
        write_csv(out, graded, lab, seed, isolation)
    except OutputError as e:
        problems.append(str(e))
    problems += write_feedback(feedback, graded, lab)
    if gradescope is not None and graded:
        problems += write_gradescope(gradescope, graded, lab, isolation)
    return problems


# --------------------------------------------------------------------------- summary
def summary(graded: list[Graded], lab: Lab, seed: int, out: Path, feedback: Path, gradescope: Path | None,
            isolation: str = "none", problems: list[str] = ()) -> str:
    counted = [g for g in graded if g.submission.counted]
    ran = [g for g in counted if g.status == "ran"]
    failed = [g for g in counted if g.status != "ran"]
    lines = [f"Graded {len(graded)} file{'s' * (len(graded) != 1)} ({len(counted)} student{'s' * (len(counted) != 1)}) "
             f"for {lab.lab_id or lab.source} with seed {seed} (reproduce with --seed {seed})",
             f"  isolation: {isolation}" + ("" if isolation != "none" else
                                            "   (no sandbox: submissions could read and change your files)")]
    if ran:
        mean = sum(g.total for g in ran) / len(ran)
        lines.append(f"  ran:    {len(ran):3d}   mean {fmt_points(mean)} / {fmt_points(lab.max_total)}")
        per_question = " · ".join(
            f"{column} {fmt_points(sum(g.questions[i].points for g in ran) / len(ran))}/{fmt_points(q.points)}"
            for i, (column, q) in enumerate(zip(question_columns(lab), lab.questions)))
        lines.append(f"          per question: {per_question}")
    lines.append(f"  failed: {len(failed):3d}" + ("   (no points in the CSV; see their reasons)" if failed else ""))
    for g in failed:
        lines.append(f"    {g.submission.path.name}: {g.reason}")
    review = [g.submission.path.name for g in graded if any("possible tampering" in n for n in g.notes)]
    if review:  # what the grader saw and could not rule out (docs/grading.md, "What the grader guarantees")
        lines.append(f"  review (possible tampering): {', '.join(review)}")
    duplicates = sorted({g.submission.student_id for g in graded if not g.submission.counted})
    if duplicates:
        lines.append(f"  submitted more than once (newest counted): {', '.join(duplicates)}")
        for student in duplicates:  # every file named, so that two students taken for one are seen
            files = [g.submission for g in graded if g.submission.student_id == student]
            kept = next(sub.path.name for sub in files if sub.counted)
            others = ", ".join(sub.path.name for sub in files if not sub.counted)
            lines.append(f"    {student}: counted {kept}; not counted {others}")
        lines.append("    (files whose names differ only by a copy suffix such as _2, (1) or -final are taken as one "
                     "student's; if they are different students, give --id-pattern)")
    written = f"Wrote {out} and {feedback}/ ({len(graded)} feedback files)"
    if gradescope is not None:
        written += f" and Gradescope results in {gradescope}"
    if problems:
        written = f"Could not write {len(problems)} output{'s' * (len(problems) != 1)} (see the errors below); " \
                  f"the others: " + written[0].lower() + written[1:]
    lines.append(written)
    return "\n".join(lines)
