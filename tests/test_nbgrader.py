"""nbgrader itself on the course as shipped: every lab, in one temporary course with its own gradebook.

For each ``solutions/labNN_*.ipynb`` (the nbgrader source notebook), nbgrader's own Python API
(``NbGraderAPI``, what ``nbgrader generate_assignment`` and ``nbgrader autograde`` run, with nbgrader's
default preprocessors: solution regions outside solution cells, hidden tests outside test cells and
bad metadata all stop it) and its ``Validator`` (what ``nbgrader validate`` runs) check that

1. ``generate_assignment`` succeeds and its release equals ``labs/`` after :func:`comparable`, which
   leaves out only what differs on purpose (docs/instructors.md's "nbgrader" section lists it);
2. ``autograde`` gives lab 2's release, holding the solution's answers, every automatic point (the points of
   ``cslib.checks.lab02.QUESTIONS``, which ``python -m cslib.grade`` scores) and leaves its written answers to
   manual grading. One lab is enough for nbgrader's mechanism: every lab's test cells, hidden tests included,
   run without error on its solution where nbval executes ``solutions/``, and
   ``test_points_agree_between_headings_nbgrader_and_the_grader`` checks every lab's points; the blank lab's
   zero is autograded in tests/test_nbgrader_workflow.py, by the documented commands;
3. ``validate`` fails on lab 2's blank lab, on every graded cell.

Then ``python -m cslib.grade`` grades both forms a student may hand in, a release of nbgrader's and a copy
of ``labs/``, each with the solution's answers: full marks for both (lab 2). Everything runs offline and in
fast mode (conftest.py sets CSLIB_FAST=1, which the kernels inherit).
"""
from __future__ import annotations

import copy
import csv
import importlib
import io
import json
import re
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import api as nbgrader_api
from nbgrader.validator import Validator
from traitlets.config import Config

from cslib import grade, labs

import sandboxing

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("lab*.ipynb"))
COURSE_ID = "dlcv"
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's gradebook, inside nbgrader
NBVAL_TAGS = labs.NBVAL_TAGS
AUTOGRADED = "lab02"  # the lab whose solution nbgrader autogrades


def comparable(nb: nbformat.NotebookNode) -> dict:
    """The notebook without what ``labs/`` and nbgrader's release hold differently on purpose.

    - the notebook's ``metadata.cslib`` (``build`` records the lab, ``student_version`` and its hash;
      nbgrader copies the solution's, with the date and machine of its full-mode run) and
      ``metadata.widgets`` (the solution's stored widget state; ``build`` drops it);
    - each cell's ``metadata.execution`` (the solution run's timestamps, which nbgrader keeps) and
      nbval's tags (``nbval-check-output`` and co., for the tests of the solutions; ``build`` drops them).

    Everything else is compared: cell ids, sources, types, outputs (none), and all of nbgrader's cell
    metadata, including the checksums and the ``deletable``/``editable`` locks.
    """
    data = json.loads(json.dumps(nb))
    for key in ("cslib", "widgets"):
        data["metadata"].pop(key, None)
    for cell in data["cells"]:
        cell["metadata"].pop("execution", None)
        tags = [t for t in cell["metadata"].get("tags", []) if t not in NBVAL_TAGS]
        cell["metadata"].pop("tags", None)
        if tags:
            cell["metadata"]["tags"] = tags
    return data


def answered(notebook: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``notebook`` (a release or a lab) as a student who wrote the solution's answers hands it in."""
    answers = {labs.grading(c)["grade_id"]: c.source for c in solution.cells if labs.is_solution(c)}
    filled = copy.deepcopy(notebook)
    for cell in filled.cells:
        if labs.is_solution(cell):
            lines = answers[labs.grading(cell)["grade_id"]].split("\n")
            cell.source = "\n".join(line for line in lines if line.strip() not in (labs.BEGIN, labs.END))
    return filled


def automatic_points(lab: str) -> float:
    return float(sum(q.points for q in importlib.import_module(f"cslib.checks.{lab}").QUESTIONS))


def succeeded(result: dict, what: str, hidden: set[str] = frozenset()) -> str:
    """The log of a successful nbgrader call that logged no error, and no warning but one kind.

    nbgrader records a test cell's checksum in the gradebook before it removes the hidden tests, so
    ``autograde`` warns "Attribute 'checksum' for cell ... has changed!" for every test cell with hidden
    tests, then puts them back as intended (jupyter/nbgrader#1961). Only those warnings are allowed.
    """
    log = result.get("log", "")
    assert result["success"], f"{what} failed:\n{result.get('error')}\n{log[-3000:]}"
    problems = [line for line in log.splitlines() if re.search(r"\b(ERROR|CRITICAL|WARNING)\b", line)
                and not re.search(rf"Attribute 'checksum' for cell ({'|'.join(map(re.escape, hidden)) or '-'}) has changed!", line)]
    assert not problems, f"{what} logged errors or warnings:\n" + "\n".join(problems[:10])
    return log


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course directory with the four labs as assignments, released, and the solution's answers submitted for
    lab 2 (AUTOGRADED) and autograded."""
    root = tmp_path_factory.mktemp("nbgrader-course")
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    config.Execute.timeout = 600  # nbgrader's default, 30 s per cell, is short for a busy machine
    api = nbgrader_api.NbGraderAPI(config=config)
    releases = {}
    for solution in SOLUTIONS:
        lab = labs.lab_id(solution)
        (root / "source" / lab).mkdir(parents=True)
        shutil.copy(solution, root / "source" / lab / solution.name)
        succeeded(api.generate_assignment(lab), f"nbgrader generate_assignment {lab}")
        release = nbformat.read(root / "release" / lab / solution.name, as_version=4)
        releases[lab] = release
        if lab != AUTOGRADED:
            continue
        folder = root / "submitted" / "solution" / lab
        folder.mkdir(parents=True)
        nbformat.write(answered(release, nbformat.read(solution, as_version=4)), folder / solution.name)
        hidden = {labs.grading(c)["grade_id"] for c in nbformat.read(solution, as_version=4).cells
                  if labs.is_grade(c) and labs.HIDDEN_BEGIN in c.source}
        succeeded(api.autograde(lab, "solution"), f"nbgrader autograde {lab} solution", hidden)
    return {"root": root, "config": config, "releases": releases}


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_release_equals_the_lab(course, solution):
    release = course["releases"][labs.lab_id(solution)]
    lab = nbformat.read(ROOT / "labs" / solution.name, as_version=4)
    assert comparable(release) == comparable(lab), (
        f"nbgrader's release of {solution.name} differs from labs/{solution.name} beyond comparable()'s normalization")
    text = nbformat.writes(release)
    for secret in (labs.BEGIN, labs.HIDDEN_BEGIN, ".hidden("):
        assert secret not in text


def autograded_scores(gradebook: Path, course_id: str, solution: Path, student: str) -> dict:
    """{grade_id: (auto_score, max_score)} of ``student``'s autograded ``solution`` lab, and "total": its score."""
    lab = labs.lab_id(solution)
    with Gradebook(f"sqlite:///{gradebook}", course_id) as gb:
        sub = gb.find_submission_notebook(solution.stem, lab, student)
        return {**{g.name: (g.auto_score, g.max_score) for g in sub.grades}, "total": sub.score}


def graded_cells(solution: Path) -> tuple[set[str], set[str]]:
    """The grade ids of ``solution``'s test cells and of its written answers."""
    graded = {labs.grading(c)["grade_id"]: c for c in nbformat.read(solution, as_version=4).cells if labs.is_grade(c)}
    tests = {gid for gid, c in graded.items() if c.cell_type == "code"}
    return tests, set(graded) - tests


@pytest.mark.slow
def test_autograde_gives_the_solution_every_automatic_point(course):
    solution = next(p for p in SOLUTIONS if labs.lab_id(p) == AUTOGRADED)
    full = autograded_scores(course["root"] / "gradebook.db", COURSE_ID, solution, "solution")
    tests, written = graded_cells(solution)
    assert set(full) - {"total"} == tests | written
    assert {gid: full[gid][0] for gid in tests} == {gid: full[gid][1] for gid in tests}, "a test cell failed on the solution"
    assert sum(full[gid][0] for gid in tests) == automatic_points(AUTOGRADED)
    assert all(full[gid][0] is None for gid in written), "written answers are graded by hand"


@pytest.mark.slow
def test_validate_fails_on_the_blank_lab(course, tmp_path):
    """nbgrader's Validate button on a blank lab: every graded cell fails, each check with its ✗ message. One lab shows
    nbgrader's mechanism (the checks raise while nbgrader runs them, the same code in every lab); that every lab's
    blank notebook fails every check is tests/test_grade_labs.py's (0 points from the same questions)."""
    solution = next(p for p in SOLUTIONS if labs.lab_id(p) == AUTOGRADED)
    blank = tmp_path / solution.name
    shutil.copy(ROOT / "labs" / solution.name, blank)
    results = Validator(config=course["config"]).validate(str(blank))
    source = nbformat.read(solution, as_version=4)
    graded = [c for c in source.cells if labs.is_grade(c)]
    assert "changed" not in results and "type_changed" not in results
    failed = results.get("failed", [])
    assert len(failed) == len(graded), f"{len(failed)} of {len(graded)} graded cells failed validation"
    tests = [f for f in failed if f["source"].startswith("check.")]
    assert tests and all("✗" in f["raw_error"] and "Traceback" not in f["raw_error"] for f in tests), tests[0]


@pytest.mark.slow
def test_our_grader_grades_a_release_and_a_lab_holding_the_answers(course, tmp_path):
    """One lab is enough: the release and labs/ hold the same cells (test_release_equals_the_lab), and
    tests/test_grade_labs.py grades every lab's solution and blank lab."""
    solution = ROOT / "solutions" / "lab02_convolutions.ipynb"
    lab = labs.lab_id(solution)
    source = nbformat.read(solution, as_version=4)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(answered(course["releases"][lab], source), submissions / "from-nbgrader.ipynb")
    nbformat.write(answered(nbformat.read(ROOT / "labs" / solution.name, as_version=4), source), submissions / "from-labs.ipynb")
    out = tmp_path / "grades.csv"
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = grade.main([str(ROOT / "labs" / solution.name), str(submissions), "--out", str(out), "-j", "2", "-q",
                           *sandboxing.grade_args()])
    assert code == 0, printed.getvalue()
    with open(out, newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    for student in ("from-nbgrader", "from-labs"):
        row = rows[student]
        assert row["status"] == "ran" and row["notes"] == "", row
        assert float(row["total"]) == float(row["max_total"]) == automatic_points(lab), row


def test_points_agree_between_headings_nbgrader_and_the_grader():
    """Each question's "(N points)" is the sum of its graded cells' points; each check question has one test
    cell worth its points, hidden tests where the grader draws random cases; written answers are graded cells."""
    for solution in SOLUTIONS:
        lab = labs.lab_id(solution)
        questions = {q.answer: q for q in importlib.import_module(f"cslib.checks.{lab}").QUESTIONS}
        nb = nbformat.read(solution, as_version=4)
        sections, tested = [], set()
        for cell in nb.cells:
            heading = re.search(r"^## Question \d+ \((\d+) points?\b", cell.source, re.M) if cell.cell_type == "markdown" else None
            if heading:
                sections.append([heading.group(0), int(heading.group(1)), 0])
            if not labs.is_grade(cell):
                continue
            info = labs.grading(cell)
            assert sections, f"{solution.name}: graded cell {info['grade_id']} before the first question"
            sections[-1][2] += info["points"]
            if cell.cell_type == "markdown":
                assert labs.is_solution(cell), info
                continue
            calls = re.findall(r"^check\.(\w+)\(\)$", cell.source, re.M)
            assert len(calls) == 1 and info["grade_id"] == f"test_{calls[0]}", cell.source
            question = questions[calls[0]]
            assert info["points"] == question.points and info["locked"], info
            hidden = re.findall(rf"^check\.{calls[0]}\.hidden\(seed=\d+\)$", cell.source, re.M)
            assert len(hidden) == (question.random is not None), cell.source
            if hidden:
                assert labs.HIDDEN_BEGIN in cell.source and labs.HIDDEN_END in cell.source
            tested.add(calls[0])
        assert tested == set(questions), f"{solution.name}: questions without a test cell: {set(questions) - tested}"
        wrong = [f"{h!r} but its cells give {got}" for h, want, got in sections if want != got]
        assert not wrong, f"{solution.name}: " + "; ".join(wrong)
