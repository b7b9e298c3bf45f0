"""Build the student labs from the solution notebooks (solutions/ is the single source).

In a solution notebook, answers sit between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
lines (nbgrader's convention). The student version replaces each region with
``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (in markdown cells: ``YOUR ANSWER HERE``),
clears every output and records which lab it is in the notebook's metadata.

    python -m cslib.labs build     # write labs/ from solutions/
    python -m cslib.labs check     # exit 1 if labs/ is out of date (a test runs this)
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
MARKDOWN_STUB = ["YOUR ANSWER HERE"]
NBVAL_TAGS = {"nbval-check-output", "nbval-ignore-output", "nbval-skip", "raises-exception"}
LAB_NAME = re.compile(r"^(lab\d\d)_[\w-]+\.ipynb$")


class LabFormatError(ValueError):
    """A solution notebook breaks the lab format (e.g. a BEGIN without its END)."""


def lab_id(path: str | Path) -> str:
    """'lab02' for 'solutions/lab02_convolutions.ipynb'."""
    m = LAB_NAME.match(Path(path).name)
    if not m:
        raise LabFormatError(f"{path}: lab notebooks are named labNN_topic.ipynb")
    return m.group(1)


def strip_solutions(source: str, stub: list[str], where: str = "") -> str:
    """Replace every solution region of one cell's source with ``stub``, keeping indentation."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise LabFormatError(f"{where} line {number}: {BEGIN} inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in stub)
        elif marker == END:
            if not inside:
                raise LabFormatError(f"{where} line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise LabFormatError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def build_lab(solution: nbformat.NotebookNode, name: str = "") -> nbformat.NotebookNode:
    """The student version of a solution notebook (a new notebook; the input is not changed)."""
    lab = copy.deepcopy(solution)
    for i, cell in enumerate(lab.cells):
        where = f"{name} cell {i}"
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, CODE_STUB, where)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = strip_solutions(cell.source, MARKDOWN_STUB, where)
        cell.metadata.pop("execution", None)
        tags = [t for t in cell.metadata.get("tags", []) if t not in NBVAL_TAGS]
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    lab.metadata.pop("widgets", None)
    lab.metadata["cslib"] = {"lab": lab_id(name) if name else "", "student_version": True}
    return lab


def _dumps(nb: nbformat.NotebookNode) -> str:
    text = nbformat.writes(nb)  # Jupyter's own layout, so saving the lab in Jupyter changes little
    return text if text.endswith("\n") else text + "\n"


def expected_labs(root: Path) -> dict[Path, str]:
    """{lab path: its text} for every solutions/labNN_*.ipynb under ``root``."""
    result = {}
    for solution in sorted((root / "solutions").glob("lab*.ipynb")):
        nb = nbformat.read(solution, as_version=4)
        result[root / "labs" / solution.name] = _dumps(build_lab(nb, solution.name))
    return result


def build_all(root: Path) -> list[Path]:
    """Write labs/ from solutions/; returns the files written."""
    written = []
    for path, text in expected_labs(root).items():
        path.parent.mkdir(exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def out_of_sync(root: Path) -> list[str]:
    """What differs between labs/ and what ``build`` would write (empty when in sync)."""
    expected = expected_labs(root)
    problems = []
    for path, text in expected.items():
        if not path.exists():
            problems.append(f"{path.relative_to(root)} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path.relative_to(root)} differs from what solutions/{path.name} gives")
    for path in sorted((root / "labs").glob("*.ipynb")):
        if path not in expected:
            problems.append(f"{path.relative_to(root)} has no solution notebook in solutions/")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cslib.labs", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "check"])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the course repository (default: here)")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            written = build_all(args.root)
            print("\n".join(f"wrote {p.relative_to(args.root)}" for p in written) or "labs/ already up to date")
            return 0
        problems = out_of_sync(args.root)
    except LabFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if problems:
        print("labs/ is out of sync with solutions/ (run: python -m cslib.labs build):\n  " + "\n  ".join(problems))
        return 1
    print("labs/ is in sync with solutions/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
