"""Build the student labs from the solution notebooks (solutions/ is the single source).

A solution notebook is an nbgrader source notebook. Answers sit between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` lines, in code or markdown cells marked as nbgrader solution cells (cell
metadata ``nbgrader``: ``solution``, ``grade``, ``grade_id``, ``points``, ``locked``,
``schema_version``). Hidden tests sit between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``
in autograder test cells (``grade`` and ``locked``). The student version is made by nbgrader's own
preprocessors, as ``nbgrader generate_assignment`` runs them (so ``labs/`` is what nbgrader releases;
``tests/test_nbgrader.py`` runs nbgrader and compares); this module adds what nbgrader lacks: a lint
that names the cell, never overwriting an edited lab, and in the notebook's metadata which lab it is
and a hash of what was written. A line that looks like a marker but is not exactly one (``# BEGIN SOLUTION``, ``### Begin
Solution``, a marker in a raw cell, ...) is an error: it would leak the answer into the lab. So is a
region in a cell without the nbgrader metadata that nbgrader needs to clear it.

    python -m cslib.labs build           # write labs/ from solutions/
    python -m cslib.labs build --force   # also replace labs edited since their last build (backups kept)
    python -m cslib.labs check           # exit 1 if labs/ is out of date (a test runs this)

``build`` never overwrites a lab whose content no longer matches the hash its last build recorded
(a student's answers, an instructor's edits) unless given ``--force``, and then it first copies the
lab to ``labs/backups/``.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import functools
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

try:
    import nbformat
    from nbconvert.exporters import HTMLExporter
except ImportError as error:  # a student install: the lab builder is an instructor tool
    raise ImportError('python -m cslib.labs is an instructor tool and needs nbformat and nbconvert: pip install -e ".[instructor]" '
                      '-c constraints.txt') from error

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
NBVAL_TAGS = {"nbval-check-output", "nbval-ignore-output", "nbval-skip", "raises-exception"}
LAB_NAME = re.compile(r"^(lab\d\d)_[\w-]+\.ipynb$")
# Anything that reads like "begin solution" or "end solution", in any case or spacing: if it is not
# exactly BEGIN or END on a line of its own, the author meant a marker and got it wrong.
LOOKS_LIKE_MARKER = re.compile(r"(begin|end)[\s_-]*solution", re.IGNORECASE)
LOOKS_LIKE_HIDDEN = re.compile(r"(begin|end)[\s_-]*hidden[\s_-]*tests?", re.IGNORECASE)
NBGRADER_SCHEMA = 3
HASH_KEY = "build_sha256"  # in metadata["cslib"]: the hash of the lab as build wrote it
BACKUP_DIR = "backups"  # under labs/: where --force puts the labs it replaces


class LabError(ValueError):
    """Something stops ``build`` or ``check``; the message says what and how to fix it."""


class LabFormatError(LabError):
    """A solution notebook breaks the lab format (e.g. a BEGIN without its END, a near-miss marker)."""


class LabEditedError(LabError):
    """A lab was edited after its last build, so ``build`` will not overwrite it without ``force``."""


def lab_id(path: str | Path) -> str:
    """'lab02' for 'solutions/lab02_convolutions.ipynb'."""
    m = LAB_NAME.match(Path(path).name)
    if not m:
        raise LabFormatError(f"{path}: lab notebooks are named labNN_topic.ipynb")
    return m.group(1)


# --------------------------------------------------------------------------- solutions -> lab
def _near_miss(where: str, number: int, line: str, begin: str = BEGIN, end: str = END) -> LabFormatError:
    kind, what = ("solution", "the answer") if begin == BEGIN else ("hidden-test", "the hidden test")
    return LabFormatError(
        f"{where} line {number}: {line.strip()!r} looks like a {kind} marker but is not one, so {what} "
        f"would be copied into the lab. Write exactly '{begin}' and '{end}', each on a line of its own."
    )


def regions(source: str, begin: str, end: str, looks_like: re.Pattern, where: str = "") -> list[tuple[bool, str]]:
    """Each line of one cell's source with whether it is inside a ``begin``/``end`` region (marker lines left out).

    The one reader of solution and hidden-test regions (the lint here, the site's leak check and the tests
    use it). Unbalanced markers and near misses (a line that ``looks_like`` a marker but is not exactly one,
    which nbgrader would not see either, so the answer would be copied into the lab) are errors.
    """
    out: list[tuple[bool, str]] = []
    inside = False
    for number, line in enumerate(source.split("\n"), 1):
        marker = line.strip()
        if marker == begin:
            if inside:
                raise LabFormatError(f"{where} line {number}: {begin} inside another region")
            inside = True
        elif marker == end:
            if not inside:
                raise LabFormatError(f"{where} line {number}: {end} without {begin}")
            inside = False
        elif looks_like.search(line):
            raise _near_miss(where, number, line, begin, end)
        else:
            out.append((inside, line))
    if inside:
        raise LabFormatError(f"{where}: {begin} without {end}")
    return out


def solution_lines(source: str, inside: bool = True, where: str = "") -> list[str]:
    """The lines of one cell's source inside its solution regions (outside them with ``inside=False``)."""
    return [line for within, line in regions(source, BEGIN, END, LOOKS_LIKE_MARKER, where) if within == inside]


# --------------------------------------------------------------------------- nbgrader's cell metadata
def grading(cell: nbformat.NotebookNode) -> dict:
    """The cell's nbgrader metadata ({} when it has none)."""
    info = cell.get("metadata", {}).get("nbgrader", {})
    return info if isinstance(info, dict) else {}


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return bool(grading(cell).get("solution", False))


def is_grade(cell: nbformat.NotebookNode) -> bool:
    return bool(grading(cell).get("grade", False))


def check_grading(cell: nbformat.NotebookNode, where: str, seen: dict[str, str]) -> None:
    """The checks of nbgrader's metadata validator that would stop ``generate_assignment``, with a remedy."""
    info = grading(cell)
    if not (is_grade(cell) or is_solution(cell) or info.get("locked", False)):
        return
    grade_id = info.get("grade_id")
    if not isinstance(grade_id, str) or not grade_id:
        raise LabFormatError(f"{where}: an nbgrader cell needs a grade_id (cell metadata nbgrader.grade_id)")
    if grade_id in seen:
        raise LabFormatError(f"{where}: grade_id {grade_id!r} is already used by {seen[grade_id]}; grade ids must be unique")
    seen[grade_id] = where
    if is_grade(cell):
        points = info.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            raise LabFormatError(f"{where}: the graded cell {grade_id!r} needs its points (nbgrader.points, a number >= 0)")
    if cell.cell_type == "markdown" and is_grade(cell) and not is_solution(cell):
        raise LabFormatError(f"{where}: a graded markdown cell ({grade_id!r}) must also be a solution cell (a written answer)")


# --------------------------------------------------------------------------- the student version
def lint(solution: nbformat.NotebookNode, name: str = "") -> None:
    """What nbgrader does not check, or checks without naming the cell: near-miss markers, markers in raw cells,
    regions in cells without the metadata nbgrader needs to clear them, and its metadata rules, cell by cell."""
    seen: dict[str, str] = {}
    for i, cell in enumerate(solution.cells, 1):
        where = f"{name} cell {i} ({cell.cell_type})"
        check_grading(cell, where, seen)
        if cell.cell_type not in ("code", "markdown"):  # raw cells are copied unchanged: a marker would leak
            for number, line in enumerate(cell.source.splitlines(), 1):
                if LOOKS_LIKE_MARKER.search(line) or LOOKS_LIKE_HIDDEN.search(line):
                    raise LabFormatError(f"{where} line {number}: {line.strip()!r}: solution and hidden-test markers work "
                                         "only in code and markdown cells, and a raw cell is copied into the lab unchanged. "
                                         "Make it a markdown cell, or move the answer out of it.")
            continue
        lines = regions(cell.source, BEGIN, END, LOOKS_LIKE_MARKER, where)
        if any(inside for inside, _ in lines) or BEGIN in (line.strip() for line in cell.source.split("\n")):
            if not is_solution(cell):
                raise LabFormatError(
                    f"{where}: a solution region in a cell that is not an nbgrader solution cell; nbgrader would refuse "
                    "it (\"Solution region detected in a non-solution cell\"). Give the cell the metadata "
                    '{"nbgrader": {"solution": true, "grade": false, "locked": false, "grade_id": "<a unique name>", '
                    f'"schema_version": {NBGRADER_SCHEMA}}}}} (with "grade": true and "points" for a written answer).')
        hidden = regions(cell.source, HIDDEN_BEGIN, HIDDEN_END, LOOKS_LIKE_HIDDEN, where)
        if len(hidden) != len(cell.source.split("\n")) and not is_grade(cell):
            raise LabFormatError(f"{where}: hidden tests in a cell that is not an nbgrader autograder test cell "
                                 '(metadata nbgrader "grade": true, "locked": true, with its points)')


def build_lab(solution: nbformat.NotebookNode, name: str = "") -> nbformat.NotebookNode:
    """The student version of a solution notebook (a new notebook; the input is not changed).

    :func:`lint` first; then nbgrader's own preprocessors, in ``nbgrader generate_assignment``'s order and with
    its default settings (solutions cleared, outputs cleared, cells locked, hidden tests removed, checksums);
    then what ``labs/`` adds (docs/instructors.md lists it): no run metadata, nbval tags or widget state, and
    the lab and a hash of the notebook itself in its metadata (see :func:`content_hash`).
    """
    lint(solution, name)
    try:
        from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme, ClearOutput,
                                            ClearSolutions, ComputeChecksums, LockCells)
    except ImportError as error:
        raise LabError('building labs needs nbgrader: pip install -e ".[instructor]" -c constraints.txt') from error
    lab, resources = copy.deepcopy(solution), {}
    for step in (LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums, ClearHiddenTests,
                 ClearMarkScheme, ComputeChecksums, CheckCellMetadata):
        try:
            lab, resources = step().preprocess(lab, resources)
        except Exception as e:  # noqa: BLE001 - nbgrader's own refusal (lint catches the common ones first)
            raise LabFormatError(f"{name}: nbgrader's {step.__name__} refused the notebook: {e}") from None
    for cell in lab.cells:
        cell.metadata.pop("execution", None)
        tags = [t for t in cell.metadata.get("tags", []) if t not in NBVAL_TAGS]
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    lab.metadata.pop("widgets", None)
    lab.metadata.pop("celltoolbar", None)
    lab.metadata["cslib"] = {"lab": lab_id(name) if name else "", "student_version": True}
    lab.metadata["cslib"][HASH_KEY] = content_hash(lab)
    return lab


def content_hash(nb: nbformat.NotebookNode | dict) -> str:
    """SHA-256 of a notebook's content (cells and metadata, whatever the file layout), leaving out its own recorded hash."""
    data = json.loads(json.dumps(nb))  # a plain copy
    info = data.get("metadata", {}).get("cslib")
    if isinstance(info, dict):
        info.pop(HASH_KEY, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _dumps(nb: nbformat.NotebookNode) -> str:
    text = nbformat.writes(nb)  # Jupyter's own layout, so saving the lab in Jupyter changes little
    return text if text.endswith("\n") else text + "\n"


def _read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except Exception as e:  # broken JSON, not a notebook, unreadable: the same remedy
        reason = " ".join(str(e).split())[:300] or type(e).__name__
        raise LabFormatError(f"{path} cannot be read as a notebook ({type(e).__name__}: {reason}). "
                             "Fix the file (open it in Jupyter, or restore it with git).") from None


# --------------------------------------------------------------------------- labs/ on disk
def expected_labs(root: Path) -> dict[Path, str]:
    """{lab path: its text} for every solutions/labNN_*.ipynb under ``root``."""
    solutions = sorted((root / "solutions").glob("lab*.ipynb"))
    if not solutions:
        raise LabError(f"{root / 'solutions'} holds no lab notebooks (labNN_topic.ipynb): "
                       "is --root the course repository?")
    result = {}
    for solution in solutions:
        nb = _read_notebook(solution)
        result[root / "labs" / solution.name] = _dumps(build_lab(nb, f"solutions/{solution.name}"))
    return result


def lab_state(path: Path, text: str) -> str:
    """What is on disk at ``path``, compared with ``text`` (what build would write now).

    "missing", "current" (the same content), "stale" (as the last build wrote it, but the
    solution changed since) or "edited" (changed after its build, or unreadable, or from no build).
    """
    if not path.exists():
        return "missing"
    try:
        on_disk = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception:  # a person may be halfway through fixing it: keep it
        return "edited"
    digest = content_hash(on_disk)
    recorded = on_disk.get("metadata", {}).get("cslib", {})
    recorded = recorded.get(HASH_KEY) if isinstance(recorded, dict) else None
    if digest == content_hash(nbformat.reads(text, as_version=4)):  # what build would write now, hash aside
        return "current" if recorded == digest else "stale"
    return "stale" if recorded == digest else "edited"


def backup(path: Path, root: Path) -> Path:
    """Copy ``path`` to labs/backups/<name>.<date-time>.ipynb (never over another backup); returns the copy."""
    folder = root / "labs" / BACKUP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = folder / f"{path.stem}.{stamp}.ipynb"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{path.stem}.{stamp}-{n}.ipynb"
    shutil.copy2(path, target)
    return target


def build_all(root: Path, force: bool = False, log=print) -> list[Path]:
    """Write labs/ from solutions/; returns the files written.

    Labs edited since their last build are not touched (LabEditedError, before anything is written)
    unless ``force``; then each is first copied to labs/backups/ and ``log`` says where.
    """
    plan = {path: (text, lab_state(path, text)) for path, text in expected_labs(root).items()}
    edited = [path for path, (_, state) in plan.items() if state == "edited"]
    if edited and not force:
        names = ", ".join(str(p.relative_to(root)) for p in edited)
        raise LabEditedError(
            f"not overwriting {names}: edited since its last build (its content no longer matches the hash "
            "that build recorded), so it may hold someone's work. Nothing was written. To replace it anyway: "
            f"python -m cslib.labs build --force (it first copies each such lab to labs/{BACKUP_DIR}/)."
        )
    written = []
    for path, (text, state) in plan.items():
        if state == "current":
            continue
        path.parent.mkdir(exist_ok=True)
        if state == "edited":
            log(f"backed up {path.relative_to(root)} (edited since its last build) to {backup(path, root).relative_to(root)}")
        path.write_text(text, encoding="utf-8")
        written.append(path)
        log(f"wrote {path.relative_to(root)}")
    return written


def out_of_sync(root: Path) -> list[str]:
    """What differs between labs/ and what ``build`` would write (empty when in sync)."""
    problems = []
    expected = expected_labs(root)
    for path, text in expected.items():
        state, name = lab_state(path, text), path.relative_to(root)
        if state == "missing":
            problems.append(f"{name} is missing")
        elif state == "stale":
            problems.append(f"{name} is out of date: solutions/{path.name} now gives a different lab")
        elif state == "edited":
            problems.append(f"{name} was edited after its last build (it no longer matches the hash the build recorded)")
    for path in sorted((root / "labs").glob("*.ipynb")):
        if path not in expected:
            problems.append(f"{path.relative_to(root)} has no solution notebook in solutions/")
    return problems


# nbconvert's MathJax block (its `mathjax` macro, which nbgrader's feedback template calls without a URL): a
# MathJax 2 script from a CDN and its configuration.
MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
MATH = re.compile(r"\$|\\\(|\\\[")  # where a markdown cell has a formula: $, \( or \[


@functools.lru_cache(maxsize=1)
def _mathjax_script() -> str:
    """MathJax 3 with SVG output (no font files to load), read once per process: a class's feedback inlines it
    in every file."""
    from cslib.site import SiteError, mathjax_dir

    try:
        return (mathjax_dir() / "tex-svg.js").read_text(encoding="utf-8")
    except (SiteError, OSError) as e:
        raise LabError("offline feedback needs MathJax from the sphinx-mathjax-offline package, which the instructor "
                       f"install brings: pip install -e \".[instructor]\" -c constraints.txt ({e})") from None


def offline_mathjax(html: str, has_math: bool = True) -> str:
    """``html`` with nbconvert's MathJax block replaced by MathJax 3 in the file itself (or dropped where the
    notebook has no formula): the page loads nothing from another server and renders its formulas offline."""
    found = MATHJAX_BLOCK.search(html)
    if found is None:
        if not has_math:
            return html
        raise LabError("the feedback HTML has no MathJax block where nbconvert puts it (<!-- Load mathjax -->): "
                       "nbconvert's template changed; update cslib.labs.MATHJAX_BLOCK")
    inline = ""
    if has_math:
        script = _mathjax_script()
        config = ("window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
                  "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true, tags: 'ams'}, "
                  "svg: {fontCache: 'global'}};")
        inline = f"<script>{config}</script>\n<script>{script}</script>"
    return html[:found.start()] + inline + html[found.end():]


def has_formula(nb: nbformat.NotebookNode) -> bool:
    """Whether a markdown cell, or a markdown or LaTeX output, of ``nb`` holds a formula ($, \\( or \\[)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and MATH.search(cell.source):
            return True
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if any(MATH.search("".join(data.get(kind, ""))) for kind in ("text/markdown", "text/latex")):
                return True
    return False


class OfflineFeedback(HTMLExporter):
    """nbgrader's feedback as HTML, with MathJax inside the file instead of loaded from a CDN, so that a student
    offline sees the formulas typeset. docs/nbgrader_config.py sets it:
    ``c.GenerateFeedback.exporter_class = "cslib.labs.OfflineFeedback"``."""

    def from_notebook_node(self, nb, resources=None, **kw):
        html, resources = super().from_notebook_node(nb, resources, **kw)
        return offline_mathjax(html, has_formula(nb)), resources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cslib.labs", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "check"])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the course repository (default: here)")
    parser.add_argument("--force", action="store_true",
                        help=f"build: also replace labs edited since their last build, after copying them to labs/{BACKUP_DIR}/")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            written = build_all(args.root, force=args.force)
            if not written:
                print("labs/ already up to date")
            return 0
        problems = out_of_sync(args.root)
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a read-only folder, a full disk: say which file, and that the others may be written
        where = f" {e.filename}" if e.filename else ""
        print(f"error: could not write{where}: {e.strerror or e}. Labs listed before this line were written; "
              "fix the folder's permissions (or free space) and run build again.", file=sys.stderr)
        return 1
    if problems:
        print("labs/ is out of sync with solutions/:\n  " + "\n  ".join(problems) + "\n"
              "To rebuild: python -m cslib.labs build (it never overwrites a lab edited since its last build; "
              "a lab you are working on is expected to differ).")
        return 1
    print("labs/ is in sync with solutions/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
