"""What every lab's check tests assert, shared by ``tests/test_checks_labNN.py``.

- :func:`model_solution_failures`: the model solution (the code of ``solutions/labNN_*.ipynb``, see
  ``model_solutions.py``) passes every fixed case, and every random case for many seeds. The random
  cases are drawn as the grader draws its hidden ones (``np.random.default_rng([seed, question number])``),
  so seeds 0..N-1 here are the grader's ``--seed 0`` .. ``--seed N-1``. A question whose random cases can
  fail a correct answer is a bug in the question.
- :func:`verdict`: the inline check's text for an answer (fixed cases and one draw of random cases).
- :func:`index`: each lab's ``WRONG_ANSWERS``, the list of the wrong answers its tests build, by question
  (``tests/test_checks.py`` checks that every graded question has at least four), and its ``RIGHT_ANSWERS``, the
  right answers written another way (another type, style or library) that its tests assert to pass (at least one).

Seeds: 200 per question; 40 for the questions whose every case trains a network or draws a figure
(``costly``), so that the whole suite stays within minutes on two cores. ``CSLIB_CHECK_SEEDS=N`` (the slow
mode) runs N seeds for every question, e.g. ``CSLIB_CHECK_SEEDS=2000 pytest -n 2 tests/test_checks_lab0*.py``.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from cslib.checks import Question, from_data, report
from cslib.checks.probe import run_probe

SEEDS = 200
COSTLY_SEEDS = 40


def seeds_for(costly: bool) -> range:
    chosen = os.environ.get("CSLIB_CHECK_SEEDS", "").strip()
    if chosen:
        return range(int(chosen))
    return range(COSTLY_SEEDS if costly else SEEDS)


def model_solution_failures(questions: list[Question], question: Question, answer, seeds: range) -> list[str]:
    """Every case of ``question`` that ``answer`` fails: its fixed cases once, its random cases for each seed."""
    number = questions.index(question)
    failures = []

    def run(cases, label):
        for case in cases:
            try:
                got = from_data(run_probe(answer, question.probe, case.args))
            except Exception as e:  # the model solution must not raise either
                failures.append(f"{label}, case {case.shown}: raised {type(e).__name__}: {e}")
                continue
            outcome = question.judge(case.expected, got)
            if not outcome.passed:
                failures.append(f"{label}, case {case.shown}: {outcome.detail}")

    fixed, _ = question.cases(np.random.default_rng([0, number]))
    run(fixed, "fixed")
    if question.random is not None:
        for seed in seeds:
            run(question.cases(np.random.default_rng([seed, number]))[1], f"seed {seed}")
    return failures


def put_in_notebook(name: str, value) -> None:
    """Drivers that read the student's other answers look in the kernel's ``__main__``; here that is pytest's."""
    setattr(sys.modules["__main__"], name, value)


def verdict(question: Question, answer, seed: int = 0) -> str:
    """The inline check's report for ``answer`` (its random cases drawn with ``seed``)."""
    return report(question, answer, np.random.default_rng(seed))


def index(*groups: tuple[str, str]) -> dict[str, list[str]]:
    """``{question: [its answers' names]}`` from (question, name) pairs: for WRONG_ANSWERS a name is what the check must
    say (or the test's id where the list has ids); for RIGHT_ANSWERS it is the test's id."""
    found: dict[str, list[str]] = {}
    for question, name in groups:
        found.setdefault(question, []).append(name)
    return found
