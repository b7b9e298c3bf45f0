"""Checks as nbgrader's autograder tests: they print ✓/✗ for a student, and raise for a grader without a traceback."""
from __future__ import annotations

import numpy as np
import pytest

import cslib
from cslib import checks
from cslib.checks import Case, CheckFailed, Question, hidden_report

ADD = Question(
    answer="add",
    title="add",
    hint="element-wise sum",
    fixed=lambda: [Case((np.eye(2), np.ones((2, 2))), np.eye(2) + 1, "A = I, B = ones")],
    random=lambda rng: [Case((a, b), a + b, f"secret input {a[0, 0]:.6f}") for a, b in
                        (tuple(rng.normal(size=(2, 3)) for _ in range(2)) for _ in range(3))],
)


@pytest.fixture
def student(monkeypatch):
    """A student's session: no grader's variables."""
    monkeypatch.delenv(checks.GRADER_ENV, raising=False)
    monkeypatch.delenv(checks.RAISE_ENV, raising=False)
    return monkeypatch


def test_a_student_sees_the_verdict_and_nothing_raises(student, capsys):
    ADD(lambda a, b: a - b)
    ADD(lambda a, b: a + b)
    out = capsys.readouterr().out
    assert out.startswith("✗ add: 4 of 4 cases failed") and "✓ add: all 4 cases passed" in out


@pytest.mark.parametrize("variable, value", [(checks.GRADER_ENV, "autograde"), (checks.GRADER_ENV, "validate"),
                                             (checks.RAISE_ENV, "1")])
def test_under_a_grader_a_failed_check_raises_its_message(student, capsys, variable, value):
    student.setenv(variable, value)
    with pytest.raises(CheckFailed) as failure:
        ADD(lambda a, b: a - b)
    assert str(failure.value).startswith("✗ add: 4 of 4 cases failed") and "Hint: element-wise sum" in str(failure.value)
    assert isinstance(failure.value, AssertionError)  # what nbgrader's test cells raise
    assert failure.value._render_traceback_() == str(failure.value).splitlines()  # Jupyter shows this, not a traceback
    assert capsys.readouterr().out == ""  # said once, in the error
    ADD(lambda a, b: a + b)  # a passing check still prints, and does not raise
    assert capsys.readouterr().out.startswith("✓ add")


def test_an_undefined_answer_raises_under_a_grader(student, capsys):
    ADD()  # `add` is not defined in this module: the student is told
    assert "`add` is not defined yet" in capsys.readouterr().out
    student.setenv(checks.GRADER_ENV, "autograde")
    with pytest.raises(CheckFailed, match="`add` is not defined yet"):
        ADD()
    with pytest.raises(CheckFailed, match="`add` is not defined yet"):
        ADD.hidden(seed=3)


def test_hidden_cases_say_only_whether_they_passed(student, capsys):
    assert hidden_report(ADD, lambda a, b: a + b, np.random.default_rng(5)) == "✓ add: all 3 hidden cases passed."
    calls = []

    def sometimes_wrong(a, b):
        calls.append(1)
        if len(calls) == 2:
            raise IndexError("boom")
        return a + b if len(calls) == 1 else a - b

    text = hidden_report(ADD, sometimes_wrong, np.random.default_rng(5))
    assert text.splitlines()[:3] == ["✗ add: 2 of 3 hidden cases failed.", "  hidden case 2: failed (your code raised IndexError)",
                                     "  hidden case 3: failed (wrong result)"]
    _, randoms = ADD.cases(np.random.default_rng(5))
    for case in randoms:  # neither inputs nor expected values
        assert case.shown not in text and "expected:" not in text and "got:" not in text and "boom" not in text
    with pytest.raises(ValueError, match="no random cases"):
        hidden_report(Question(answer="x", title="x", fixed=lambda: [Case((), 1)]), 1, np.random.default_rng(0))


def test_hidden_cases_repeat_with_their_seed_and_raise_under_a_grader(student, capsys):
    first, again = ADD.cases(np.random.default_rng(7))[1], ADD.cases(np.random.default_rng(7))[1]
    assert [c.shown for c in first] == [c.shown for c in again]
    ADD.hidden(seed=7, answer=lambda a, b: a - b)
    assert capsys.readouterr().out.startswith("✗ add: 3 of 3 hidden cases failed.")
    student.setenv(checks.GRADER_ENV, "autograde")
    with pytest.raises(CheckFailed, match="3 of 3 hidden cases failed"):
        ADD.hidden(seed=7, answer=lambda a, b: a - b)
    with pytest.raises(CheckFailed, match="not written yet"):
        ADD.hidden(seed=7, answer=lambda a, b: (_ for _ in ()).throw(NotImplementedError()))


def test_jupyter_shows_the_message_without_a_traceback(student):
    """What a student sees in an nbgrader course: IPython renders the error as the ✗ lines alone."""
    from IPython.core.interactiveshell import InteractiveShell

    student.setenv(checks.GRADER_ENV, "validate")
    shell = InteractiveShell.instance()
    shown = []
    student.setattr(shell, "_showtraceback", lambda etype, evalue, stb: shown.append(stb))
    shell.run_cell("from cslib.checks import lab02 as check\ndef pad(A, p):\n    return A\ncheck.pad()")
    assert len(shown) == 1 and shown[0][0].startswith("✗ pad:")
    assert not any("Traceback" in line or "File " in line for line in shown[0])


# --------------------------------------------------------------------------- papermill's parameter
@pytest.mark.parametrize("fast, env", [(True, "1"), (1, "1"), ("yes", "1"), (False, "0"), (0, "0"), ("off", "0")])
def test_setup_fast_sets_the_mode_for_everything_after_it(monkeypatch, capsys, fast, env):
    monkeypatch.setenv("CSLIB_FAST", "0" if env == "1" else "1")
    cslib.setup(seed=0, fast=fast)
    assert cslib.runtime.os.environ["CSLIB_FAST"] == env and cslib.fast_mode() == (env == "1")
    assert ("mode: FAST" in capsys.readouterr().out) == (env == "1")


def test_setup_fast_none_follows_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("CSLIB_FAST", "1")
    cslib.setup(fast=None)
    assert cslib.fast_mode() and "mode: FAST" in capsys.readouterr().out


@pytest.mark.parametrize("fast", [2, "maybe", 0.5])
def test_setup_names_a_fast_value_it_does_not_understand(monkeypatch, fast):
    monkeypatch.setenv("CSLIB_FAST", "1")
    with pytest.raises(ValueError, match=r"fast=.* is not understood: use fast=True"):
        cslib.setup(fast=fast)
    assert cslib.fast_mode()  # unchanged


def test_one_hidden_case_reads_in_the_singular(student):
    one = Question(answer="add", title="add", fixed=lambda: [], random=lambda rng: [Case((1, 2), 3, "secret")])
    assert hidden_report(one, lambda a, b: a + b, np.random.default_rng(0)) == "✓ add: the hidden case passed."
    assert hidden_report(one, lambda a, b: a - b, np.random.default_rng(0)).splitlines()[0] == "✗ add: the hidden case failed."
