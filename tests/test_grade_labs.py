"""The grader on the course's own labs: every solution gets full marks, every generated lab gets 0.

For each ``solutions/labNN_*.ipynb`` one grading run (fast mode, ``-j 2``, in the OS sandbox) grades the solution and
the student version from ``labs/``: the solution must score every point with status "ran" and
no notes, the blank lab 0 points with status "ran" (not "failed"). Labs added later are picked up
automatically, so a question the grader cannot send into a kernel fails here first.
"""
from __future__ import annotations

import csv
import io
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from cslib import grade
from cslib.grade import lab as grade_lab
from cslib.grade.report import fmt_points

import sandboxing

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("lab*.ipynb"))


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_solution_gets_full_marks_and_blank_lab_gets_zero(solution, tmp_path):
    lab_notebook = ROOT / "labs" / solution.name
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(solution, submissions / "solution.ipynb")
    shutil.copy(lab_notebook, submissions / "blank.ipynb")
    out = tmp_path / "grades.csv"
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = grade.main([str(lab_notebook), str(submissions), "--out", str(out), "-j", "2", "-q", *sandboxing.grade_args()])
    assert code == 0, printed.getvalue()
    with open(out, newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    lab = grade_lab.load_lab(str(lab_notebook))
    questions = [q.answer for q in lab.questions]
    full, blank = rows["solution"], rows["blank"]
    assert full["status"] == "ran" and full["notes"] == "", full
    assert full["total"] == full["max_total"] == fmt_points(lab.max_total), full
    assert all(full[q] == fmt_points(question.points) for q, question in zip(questions, lab.questions))
    assert blank["status"] == "ran", blank
    assert blank["total"] == "0" and all(blank[q] == "0" for q in questions), blank


@pytest.mark.parametrize("module", sorted(p.stem for p in (ROOT / "cslib" / "checks").glob("lab*.py")))
def test_every_lab_can_be_graded(module):
    """Cases can be sent into a kernel, drivers have their source: found here, not in a grading run."""
    lab = grade_lab.load_lab(module)
    cases = grade_lab.draw_cases(lab, seed=7)
    requests = grade_lab.question_requests(lab, cases)
    phases = [r["phase"] for r in requests]
    assert phases == sorted(phases, key=["visible", "hidden"].index)  # every hidden input after every visible one
    assert sorted({r["question"] for r in requests}) == list(range(len(lab.questions))) and lab.questions
    assert all(any(c.hidden for c in qc) or q.random is None for q, qc in zip(lab.questions, cases))
    again = grade_lab.draw_cases(lab, seed=7)  # the seed reproduces the hidden tests
    assert [[c.args for c in qc] for qc in cases] == [[c.args for c in qc] for qc in again]
