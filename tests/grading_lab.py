"""A tiny lab ("lab99") for the grader's tests: four quick questions, no torch in the kernel.

Loaded with ``--questions tests/grading_lab.py``. ``SOLUTION`` and ``BLANK`` are the answer cells
of a correct and of an unwritten notebook; the tests build notebooks from them.
"""
from __future__ import annotations

import numpy as np

from cslib.checks import Case, Question

LAB = "lab99"


def add_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):  # seven-digit numbers: easy to spot if a hidden input ever leaked into feedback
        a, b = rng.integers(1_000_000, 9_999_999, size=(2, 3))
        cases.append(Case((a, b), a + b, f"a={a.tolist()}, b={b.tolist()}"))
    return cases


add = Question(
    answer="add",
    title="add",
    points=2,
    hint="element-wise sum: a + b",
    fixed=lambda: [Case((np.eye(2), np.ones((2, 2))), np.eye(2) + 1, "A = I, B = ones")],
    random=add_cases,
    reject=("_operator.add",),  # `from operator import add` is not an answer
)


def shout_cases(rng: np.random.Generator) -> list[Case]:
    words = ["".join(rng.choice(list("qxzjvkw"), size=9)) for _ in range(2)]
    return [Case((w,), w.upper() + "!", f"word {w!r}") for w in words]


shout = Question(
    answer="shout",
    title="shout",
    points=1,
    hint="upper case, then an exclamation mark",
    fixed=lambda: [Case(("hi",), "HI!", "shout('hi')")],
    random=shout_cases,
)

answer = Question(
    answer="answer",
    title="answer",
    points=1,
    probe="value",
    fixed=lambda: [Case((), 42, "the answer")],
)


def drive_step(step, x):
    """A driver (sent into the kernel as source): apply the student's step twice."""
    first = step(x)
    return [first, step(first)]


step = Question(
    answer="step",
    title="step",
    points=1,
    probe=drive_step,
    hint="3 * x + 1",
    fixed=lambda: [Case((1,), [4, 13], "step twice from 1")],
    random=lambda rng: [Case((int(x),), [3 * int(x) + 1, 3 * (3 * int(x) + 1) + 1], "step twice") for x in rng.integers(50, 500, 2)],
)

QUESTIONS = [add, shout, answer, step]

SOLUTION = {
    "add": "def add(a, b):\n    return a + b",
    "shout": "def shout(word):\n    return word.upper() + '!'",
    "answer": "answer = 42",
    "step": "def step(x):\n    return 3 * x + 1",
}
BLANK = {
    "add": "def add(a, b):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
    "shout": "def shout(word):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
    "answer": "# YOUR CODE HERE\nraise NotImplementedError()",
    "step": "def step(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
}
