"""The instructor's grader, end to end: a class of real notebooks, built here, graded by one command.

One run of ``python -m cslib.grade`` (in-process, ``-j 2``) grades every notebook of the class
below against the tiny lab in ``tests/grading_lab.py`` (four questions, 5 points). Each test
then checks one row of the CSV, a feedback file or a Gradescope file. Every robustness case of
the grading issue has its notebook here: broken files, edited notebooks, loops, dying kernels,
huge outputs, memory, exceptions, the wrong lab, two submissions of one student, and tampering.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cslib import grade
from cslib.grade import lab as grade_lab
from grading_lab import BLANK, SOLUTION

import sandboxing

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = str(ROOT / "tests" / "grading_lab.py")
SEED = 1234
FULL = {"add": "2", "shout": "1", "answer": "1", "step": "1", "total": "5"}

IMPORTS = "import numpy as np"
ANSWERS = [SOLUTION["add"], SOLUTION["shout"], SOLUTION["answer"], SOLUTION["step"]]


def notebook(*cells: str, lab: str | None = "lab99", markdown: tuple[int, ...] = ()) -> nbformat.NotebookNode:
    """A notebook of code cells (the positions in ``markdown`` become markdown cells)."""
    nb = new_notebook()
    if lab:
        nb.metadata["cslib"] = {"lab": lab}
    nb.cells = [new_markdown_cell(c) if i in markdown else new_code_cell(c) for i, c in enumerate(cells)]
    return nb


def class_notebooks(subs: Path, outside: Path) -> dict[str, nbformat.NotebookNode | bytes]:
    """Every submission of the class: file name -> notebook (or raw bytes for broken files)."""
    wrong = {"add": "def add(a, b):\n    return a - b", "shout": "def shout(word):\n    return word",
             "answer": "answer = 41", "step": "def step(x):\n    return x + 1"}
    good = notebook(IMPORTS, *ANSWERS)
    return {
        # what should simply work
        "good.ipynb": good,
        "blank.ipynb": notebook(IMPORTS, *BLANK.values()),
        "hardcoded.ipynb": notebook(IMPORTS, SOLUTION["add"], "def shout(word):\n    return 'HI!'", SOLUTION["answer"],
                                    SOLUTION["step"]),
        # files that are no notebook
        "truncated.ipynb": nbformat.writes(good)[:200].encode(),
        "report.ipynb": b"%PDF-1.7\n\x00\x01\x02\xff\xfe binary",
        "data.ipynb": b'{"hello": "world"}',
        "nothing.ipynb": notebook(),
        "essay.ipynb": notebook("An essay in a markdown cell.", markdown=(0,)),
        # cells deleted, duplicated, reordered, changed to markdown
        "deleted.ipynb": notebook(IMPORTS, SOLUTION["add"], SOLUTION["shout"], SOLUTION["step"]),
        "duplicated.ipynb": notebook(*[c for c in (IMPORTS, *ANSWERS) for _ in range(2)]),
        "reordered.ipynb": notebook("print(step(1), add(1, 2))", *reversed(ANSWERS), IMPORTS),
        "markdown.ipynb": notebook(IMPORTS, SOLUTION["add"], SOLUTION["shout"], SOLUTION["answer"], SOLUTION["step"],
                                   markdown=(2,)),
        # exceptions, loops, dying kernels, output, memory
        "exception.ipynb": notebook(IMPORTS, SOLUTION["add"], "raise ValueError('my bad')", "1 / 0", *ANSWERS[1:]),
        "loop.ipynb": notebook(IMPORTS, SOLUTION["add"], "while True:\n    pass", *ANSWERS[1:]),
        "stubborn.ipynb": notebook(IMPORTS, SOLUTION["add"],
                                   "import time\nwhile True:\n    try:\n        time.sleep(5)\n    except KeyboardInterrupt:\n        pass",
                                   *ANSWERS[1:]),
        "exit.ipynb": notebook(IMPORTS, SOLUTION["add"], "import os\nos._exit(3)", *ANSWERS[1:]),
        "segfault.ipynb": notebook(IMPORTS, SOLUTION["add"], "import ctypes\nctypes.string_at(0)", *ANSWERS[1:]),
        "slow.ipynb": notebook(IMPORTS, SOLUTION["add"], *["import time\ntime.sleep(1.9)"] * 14, *ANSWERS[1:]),
        "huge_output.ipynb": notebook(IMPORTS, "print('x' * 30_000_000)",
                                      "from IPython.display import HTML\ndisplay(HTML('<b>' * 3_000_000))",
                                      "for i in range(300_000):\n    print(i)", *ANSWERS),
        "memory.ipynb": notebook(IMPORTS, "hog = bytearray(3 * 2**30)", *ANSWERS),
        "stdout.ipynb": notebook(IMPORTS, *ANSWERS, "import io, sys\nsys.stdout = sys.stderr = io.StringIO()"),
        # answers that crash or hang the kernel when the grader calls them
        "crash_on_call.ipynb": notebook(IMPORTS, "def add(a, b):\n    import ctypes\n    ctypes.string_at(0)", *ANSWERS[1:]),
        "hang_on_call.ipynb": notebook(IMPORTS, SOLUTION["add"], """
def shout(word):
    import time
    while True:
        try:
            time.sleep(1)
        except BaseException:  # swallows the grader's time limit and its interrupt
            pass
""", *ANSWERS[2:]),
        # a right answer that takes most of --test-timeout (40 s) on its third call, its second hidden test: the
        # --grading-timeout (15 s) stops it there, and the hidden tests of the questions after it do not run
        "dawdle.ipynb": notebook(IMPORTS, "import time\ncalls = []\ndef add(a, b):\n    calls.append(1)\n"
                                 "    if len(calls) == 3:\n        time.sleep(30)\n    return a + b", *ANSWERS[1:]),
        # add's visible test takes 8 s of the 15, then shout kills the kernel: too little time is left for a new one,
        # and the questions after it are out of time (not tested on the dead kernel)
        "late_crash.ipynb": notebook(IMPORTS, "import time\ndef add(a, b):\n    time.sleep(8)\n    return a + b",
                                     "import os\ndef shout(word):\n    os._exit(3)", *ANSWERS[2:]),
        # the wrong lab
        "lab98.ipynb": notebook(IMPORTS, *ANSWERS, lab="lab98"),
        "other_course.ipynb": notebook("x = 1\nprint(x)", lab=None),
        # one student, two files: the newer one (blank) counts
        "carol.ipynb": good,
        "carol (1).ipynb": notebook(IMPORTS, *BLANK.values()),
        # add fails its visible test and is right only on seven-digit (hidden) inputs; shout shows whether add was
        # ever called on one: hidden inputs go in only for answers that passed every visible test
        "gated.ipynb": notebook(IMPORTS, """
seen = []
def add(a, b):
    seen.append(float(np.abs(a).max()))
    return a + b if seen[-1] > 1000 else a - b
""", """
def shout(word):
    return word.upper() + ("?" if any(v > 1000 for v in seen) else "!")
""", *ANSWERS[2:]),
        # tampering
        "monkeypatch.ipynb": notebook(IMPORTS, *wrong.values(), """
import cslib.checks, cslib.checks.probe as probe
from cslib.checks import Outcome, Question
cslib.checks.compare_data = lambda *a, **k: Outcome(True)
Question.judge = lambda self, expected, got: Outcome(True)
Question.__call__ = lambda self, *a: print("✓ passed")
probe.to_data = lambda obj, _depth=0: obj
probe.run_probe = lambda obj, probe, args: args
import cslib.checks.lab01 as check
check.make_model = lambda *a: print("✓ make_model: all 6 cases passed")
"""),
        "liar.ipynb": notebook(IMPORTS, """
class Yes:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
class YesStr(str):
    def __eq__(self, other):
        return True
class YesInt(int):
    def __eq__(self, other):
        return True
def add(a, b):
    return Yes()
def shout(word):
    return YesStr("nope")
answer = Yes()
def step(x):
    return YesInt(0)
"""),
        "fake_print.ipynb": notebook(IMPORTS, *wrong.values(), """
print("✓ add: all 4 cases passed (1 fixed, 3 random).")
print("✓ all tests passed: 5 / 5")
fake = '{"defined": true, "module": "__main__", "qualname": "add", "cases": [{"ok": true, "got": 1}]}'
for nonce in ("0" * 32, "deadbeef" * 4):
    print(f"<<cslib-grade:{nonce}>>{fake}<</cslib-grade:{nonce}>>")
"""),
        "forger.ipynb": notebook(IMPORTS, """
import json, sys
def add(a, b):
    frame = sys._getframe(1)
    while frame is not None and "nonce" not in frame.f_locals:
        frame = frame.f_back
    if frame is not None:  # found the grader's nonce: print a payload that claims every case passed
        nonce, request = frame.f_locals["nonce"], frame.f_locals["request"]
        got = {"$ndarray": {"data": "AAAAAAAAAAA=", "dtype": "<f8", "shape": [1]}}  # the array [0.0]
        cases = [{"ok": True, "got": got} for _ in request["cases"]]
        payload = {"defined": True, "module": "__main__", "qualname": "add", "cases": cases}
        print(f"<<cslib-grade:{nonce}>>{json.dumps(payload)}<</cslib-grade:{nonce}>>")
    return a - b
""", *ANSWERS[1:]),
        # lifts the size cap of the request it finds up the call stack, then returns 40 MB: the worker's cap holds
        "lifter.ipynb": notebook(IMPORTS, """
import sys
def add(a, b):
    frame = sys._getframe(1)
    while frame is not None and "request" not in frame.f_locals:
        frame = frame.f_back
    if frame is not None:
        frame.f_locals["request"]["max_chars"] = 10**12
    return "x" * 40_000_000
""", *ANSWERS[1:]),
        "reference.ipynb": notebook(IMPORTS, "from operator import add", *ANSWERS[1:]),
        "wrap_def.ipynb": notebook(IMPORTS, "import operator\ndef add(a, b):\n    return operator.add(a, b)", *ANSWERS[1:]),
        "wrap_lambda.ipynb": notebook(IMPORTS, "import operator\nadd = lambda a, b: operator.add(a, b)", *ANSWERS[1:]),
        "wrap_partial.ipynb": notebook(IMPORTS, "import functools, operator\nadd = functools.partial(operator.add)",
                                       *ANSWERS[1:]),
        # IPython's exit(): an error in its cell (the kernel keeps running), even when the notebook undoes that
        "quit.ipynb": notebook(IMPORTS, SOLUTION["add"], "exit()", *ANSWERS[1:]),
        "quit_forced.ipynb": notebook(IMPORTS, SOLUTION["add"], "del get_ipython().ask_exit\nquit()", *ANSWERS[1:]),
        # (only in the sandbox: without it these cells would do what they say)
        **({} if sandboxing.problem() else {"snoop.ipynb": notebook(IMPORTS, *ANSWERS,
                                f"open({str(ROOT / 'solutions' / 'lab01_dropout_batchnorm.ipynb')!r}).read()",
                                f"open({str(subs / 'good.ipynb')!r}).read()",
                                f"import os\nos.listdir({str(subs)!r})",
                                f"open({str(outside / 'pwned.txt')!r}, 'w').write('pwned')",
                                f"open({str(subs / 'snoop.ipynb')!r}, 'w').write('{{}}')",
                                "import os\nos.rename('submission.ipynb', '../stolen.ipynb')",
                                "open('../job.json').read()",
                                "import subprocess\nsubprocess.run(['echo', 'hello'])",
                                "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
                                "open('notes.txt', 'w').write('inside the scratch copy is fine')")}),
    }


TIMING = ("loop.ipynb", "stubborn.ipynb", "slow.ipynb", "hang_on_call.ipynb")  # graded by a second run with short time limits
SLOW_TESTS = ("dawdle.ipynb", "late_crash.ipynb")  # graded by a third run: they sleep most of the time, next to the others


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the class: the time-limit notebooks by the command line in a subprocess (short limits),
    the others at the same time in this process; (CSV rows by student id, paths, printed summary)."""
    base = tmp_path_factory.mktemp("class")
    subs, outside, out, timing, timing_out = base / "submissions", base / "outside", base / "out", base / "timing", base / "timing_out"
    for folder in (subs, outside, timing, base / "slow"):
        folder.mkdir()
    files = class_notebooks(subs, outside)
    for name, content in files.items():
        path = (timing if name in TIMING else base / "slow" if name in SLOW_TESTS else subs) / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            nbformat.write(content, path)
    os.utime(subs / "carol.ipynb", (1_600_000_000, 1_600_000_000))
    os.utime(subs / "carol (1).ipynb", (1_700_000_000, 1_700_000_000))
    # a link to a notebook outside the submission folders (a full-marks one), and a pipe: failed rows, nothing read
    nbformat.write(notebook(IMPORTS, *ANSWERS), outside / "elsewhere.ipynb")
    (subs / "linked.ipynb").symlink_to(outside / "elsewhere.ipynb")
    os.mkfifo(subs / "pipe.ipynb")
    originals = {p.name: p.read_bytes() for p in subs.iterdir() if p.is_file() and not p.is_symlink()}
    common = ["--questions", QUESTIONS, "--seed", str(SEED), "--test-timeout", "5", "-q", *sandboxing.grade_args()]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cli = subprocess.Popen([sys.executable, "-m", "cslib.grade", "lab99", *map(str, sorted(timing.iterdir())),
                            "--out", str(timing_out / "grades.csv"), "-j", "4", "--cell-timeout", "2",
                            "--timeout", "25", *common, "--test-timeout", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    slow = subprocess.Popen([sys.executable, "-m", "cslib.grade", "lab99", str(base / "slow"), "-j", "2", "--out",
                             str(timing_out / "slow.csv"), *common, "--test-timeout", "40", "--grading-timeout", "15"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    argv = ["lab99", str(subs), "--out", str(out / "grades.csv"), "--gradescope", str(out / "gradescope"),
            "-j", "3", "--cell-timeout", "30", "--timeout", "60", "--memory", "2", "--max-output", "1", *common]
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert grade.main(argv) == 0
    cli_output = cli.communicate(timeout=120)[0]
    assert cli.returncode == 0, cli_output
    slow_output = slow.communicate(timeout=120)[0]
    assert slow.returncode == 0, slow_output
    rows = {}
    for csv_file in (out / "grades.csv", timing_out / "grades.csv", timing_out / "slow.csv"):
        with open(csv_file, newline="", encoding="utf-8") as f:
            rows.update({row["student_id"]: row for row in csv.DictReader(f)})
    return {"rows": rows, "out": out, "subs": subs, "outside": outside, "printed": printed.getvalue(),
            "originals": originals, "cli_output": cli_output, "timing_out": timing_out}


def feedback(graded, name: str) -> str:
    return (graded["out"] / "grades-feedback" / name).read_text(encoding="utf-8")


def assert_points(row: dict, **points: str) -> None:
    for key, value in points.items():
        assert row[key] == value, f"{row['student_id']}: {key} is {row[key]!r}, expected {value!r}; notes: {row['notes']}"


# --------------------------------------------------------------------------- the basics
def test_one_row_per_student_with_all_columns(graded):
    rows = graded["rows"]
    assert len(rows) == 43  # 44 files, carol twice (38 files in one run, 4 in the second, 2 in the third)
    assert list(next(iter(rows.values()))) == ["student_id", "file", "add", "shout", "answer", "step", "total",
                                               "max_total", "status", "notes", "seed", "isolation"]
    isolation = "none" if sandboxing.grade_args() else "bubblewrap"
    assert all(r["max_total"] == "5" and r["seed"] == str(SEED) and r["isolation"] == isolation for r in rows.values())


def test_a_correct_notebook_gets_full_marks(graded):
    row = graded["rows"]["good"]
    assert_points(row, status="ran", notes="", **FULL)
    text = feedback(graded, "good.md")
    assert "score: **5 / 5**" in text and "hidden test 3: passed" in text and "✗" not in text


def test_the_blank_lab_gets_zero_and_status_ran(graded):
    row = graded["rows"]["blank"]
    assert_points(row, status="ran", add="0", shout="0", answer="0", step="0", total="0")
    assert "not written yet" in row["notes"]
    assert "not written yet (it still raises NotImplementedError)" in feedback(graded, "blank.md")


def test_partial_credit_and_hidden_tests_catch_a_hardcoded_answer(graded):
    row = graded["rows"]["hardcoded"]  # shout returns 'HI!': passes the visible test only
    assert_points(row, status="ran", add="2", shout="0.33", answer="1", step="1", total="4.33")
    text = feedback(graded, "hardcoded.md")
    assert "✓ test 1 (shout('hi')): passed" in text
    assert "✗ hidden test 1: failed (wrong result)" in text and "✗ hidden test 2: failed (wrong result)" in text


def test_hidden_tests_run_only_for_answers_that_passed_every_visible_test(graded):
    row = graded["rows"]["gated"]
    assert_points(row, status="ran", add="0", shout="1", answer="1", step="1", total="3")
    text = feedback(graded, "gated.md")
    assert "✗ test 1 (A = I, B = ones): failed" in text
    assert "✗ hidden test 1: not run: the visible tests did not all pass" in text
    assert "hidden test 2: passed" in text  # shout's: add never saw a hidden input


def test_feedback_never_reveals_hidden_inputs_or_expected_values(graded):
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    secrets = []
    for question, cases in zip(lab.questions, grade_lab.draw_cases(lab, SEED)):
        for case in cases:
            if not case.hidden:
                continue
            if question.answer == "add":
                secrets += [str(int(v)) for v in np.ravel(case.expected)] + [case.shown]
            if question.answer == "shout":
                secrets += [case.expected, case.expected[:-1].lower(), case.shown]
    assert len(secrets) > 10
    texts = [p.read_text(encoding="utf-8") for p in (graded["out"] / "grades-feedback").glob("*.md")]
    texts += [p.read_text(encoding="utf-8") for p in (graded["out"] / "gradescope").glob("*/results.json")]
    texts += [(graded["out"] / "grades.csv").read_text(encoding="utf-8"), graded["printed"]]
    leaks = [s for s in secrets for t in texts if s in t]
    assert leaks == []
    # the visible tests do show what was expected and what came back
    assert "expected: 'HI!'" in feedback(graded, "monkeypatch.md") and "got:      'hi'" in feedback(graded, "monkeypatch.md")


# --------------------------------------------------------------------------- files that are no notebook
@pytest.mark.parametrize("student, reason", [
    ("truncated", "not a notebook: invalid JSON"),
    ("report", "not a notebook: not a text file"),
    ("data", "not a notebook: JSON without notebook cells"),
    ("nothing", "empty notebook: no code cells"),
    ("essay", "empty notebook: no code cells"),
    ("lab98", "wrong lab: this notebook is lab98 (its metadata), not lab99"),
    ("other_course", "wrong lab: none of this lab's answers (add, shout, answer, step) appear"),
    ("linked", "a symbolic link to a file outside the submission folders: not read"),
    ("pipe", "not a regular file (a folder, a pipe or a device): not read"),
])
def test_ungradable_files_fail_with_their_reason_and_no_points(graded, student, reason):
    row = graded["rows"][student]
    assert row["status"] == "failed"
    assert row["notes"].startswith("failed: " + reason)
    assert all(row[k] == "" for k in ("add", "shout", "answer", "step", "total"))  # never a silent 0
    text = feedback(graded, f"{student}.md")
    assert "status: failed" in text and reason in text
    gs = json.loads((graded["out"] / "gradescope" / student / "results.json").read_text())
    assert gs["extra_data"]["status"] == "failed" and reason in gs["output"]
    assert reason in graded["printed"]


# --------------------------------------------------------------------------- edited notebooks
def test_deleted_cell_loses_only_its_question(graded):
    row = graded["rows"]["deleted"]
    assert_points(row, status="ran", add="2", shout="1", answer="0", step="1", total="4")
    assert "`answer` is not defined after running the notebook" in feedback(graded, "deleted.md")


def test_duplicated_and_reordered_cells_still_get_full_marks(graded):
    assert_points(graded["rows"]["duplicated"], status="ran", **FULL)
    row = graded["rows"]["reordered"]  # the first cell uses answers defined later: an error, not a failure
    assert_points(row, status="ran", **FULL)
    assert "cell 1 (`print(step(1), add(1, 2))`) raised NameError" in row["notes"]


def test_a_cell_changed_to_markdown_loses_only_its_question(graded):
    assert_points(graded["rows"]["markdown"], status="ran", add="2", shout="0", answer="1", step="1", total="4")


# --------------------------------------------------------------------------- exceptions, time, crashes, output, memory
def test_exceptions_in_cells_do_not_stop_later_questions(graded):
    row = graded["rows"]["exception"]
    assert_points(row, status="ran", **FULL)
    assert "cell 3 (`raise ValueError('my bad')`) raised ValueError: my bad" in row["notes"]
    assert "cell 4 (`1 / 0`) raised ZeroDivisionError" in row["notes"]


def test_an_infinite_loop_is_interrupted_at_the_cell_time_limit(graded):
    row = graded["rows"]["loop"]
    assert_points(row, status="ran", **FULL)
    assert "cell 3 (`while True:`) ran longer than its time limit (2 s) and was interrupted" in row["notes"]


def test_a_loop_that_ignores_interrupts_gets_its_kernel_killed_and_later_cells_run(graded):
    row = graded["rows"]["stubborn"]
    assert_points(row, status="ran", **FULL)
    assert "cell 3 (`import time`) ignored the interrupt at its time limit; its kernel was killed" in row["notes"]


@pytest.mark.parametrize("student, how", [("exit", "exit code 3"), ("segfault", "SIGSEGV, segmentation fault")])
def test_a_dying_kernel_is_restarted_and_later_questions_are_graded(graded, student, how):
    row = graded["rows"][student]
    assert_points(row, status="ran", **FULL)  # add was defined before the crash and re-run after it
    assert f"cell 3 (`import {'os' if student == 'exit' else 'ctypes'}`) killed the kernel ({how})" in row["notes"]


def test_the_notebook_time_limit_stops_the_cells_and_grades_what_ran(graded):
    row = graded["rows"]["slow"]  # 14 cells of 1.9 s against a 25 s notebook limit: the last answers never run
    assert_points(row, status="ran", add="2", shout="0", answer="0", step="0", total="2")
    assert "notebook time limit (25 s) reached: cells" in row["notes"]


def test_huge_outputs_are_dropped_and_noted(graded):
    row = graded["rows"]["huge_output"]
    assert_points(row, status="ran", **FULL)
    for cell in ("cell 2 (`print('x' * 30_000_000)`)", "cell 3 (`from IPython.display import HTML`)",
                 "cell 4 (`for i in range(300_000):`)"):
        assert f"{cell} printed more than 1 MB of output; the rest was dropped" in row["notes"]


def test_excessive_memory_hits_the_limit_and_is_noted(graded):
    row = graded["rows"]["memory"]
    assert_points(row, status="ran", **FULL)
    assert "cell 2 (`hog = bytearray(3 * 2**30)`) ran out of memory (limit 2 GiB)" in row["notes"]


def test_a_notebook_that_replaces_sys_stdout_is_still_graded(graded):
    assert_points(graded["rows"]["stdout"], status="ran", notes="", **FULL)


def test_an_answer_that_kills_the_kernel_when_called_loses_only_its_question(graded):
    row = graded["rows"]["crash_on_call"]
    assert_points(row, status="ran", add="0", shout="1", answer="1", step="1", total="3")
    assert "add: the kernel died while testing this answer (SIGSEGV, segmentation fault)" in row["notes"]


def test_an_answer_that_hangs_when_called_loses_only_its_question(graded):
    row = graded["rows"]["hang_on_call"]  # it swallows even KeyboardInterrupt: its kernel is killed
    assert_points(row, status="ran", add="2", shout="0", answer="1", step="1", total="4")
    assert "shout: testing this answer did not stop when interrupted" in row["notes"]


def test_answers_that_each_take_most_of_the_test_time_limit_meet_the_limit_of_all_the_tests(graded):
    """The visible test of add and its first hidden one pass at once; the second sleeps 30 s, under --test-timeout
    (40 s), and is stopped at --grading-timeout (15 s); the hidden tests of shout and step are not run."""
    row = graded["rows"]["dawdle"]
    assert_points(row, status="ran", add="1", shout="0.33", answer="1", step="0.33")
    assert "shout: its hidden tests did not run: the time for all the grading tests of this notebook (--grading-timeout) ran out" in row["notes"]
    text = (graded["timing_out"] / "slow-feedback" / "dawdle.md").read_text(encoding="utf-8")
    assert "- ✗ hidden test 1: not run: the time for all the tests of this notebook ran out" in text


def test_a_kernel_death_near_the_grading_deadline_leaves_the_later_questions_out_of_time(graded):
    row = graded["rows"]["late_crash"]
    assert_points(row, status="ran", add="0.5", shout="0", answer="0", step="0")
    assert "answer: not tested: the time for all the grading tests of this notebook (--grading-timeout) ran out" in row["notes"]


# --------------------------------------------------------------------------- the same student twice
def test_the_newest_file_of_a_student_counts_and_the_others_are_noted(graded):
    row = graded["rows"]["carol"]
    assert row["file"] == "carol (1).ipynb"  # newer mtime, even though the older file was better
    assert_points(row, status="ran", total="0")
    assert "carol submitted 2 files; counted the newest, carol (1).ipynb (not counted: carol.ipynb)" in row["notes"]
    assert "score: **0 / 5**" in feedback(graded, "carol.md")
    older = feedback(graded, "carol.not-counted.carol.md")
    assert "not counted" in older and "score: **5 / 5**" in older
    assert "submitted more than once (newest counted): carol" in graded["printed"]


# --------------------------------------------------------------------------- tampering earns nothing
@pytest.mark.parametrize("student", ["monkeypatch", "liar", "fake_print"])
def test_tampering_with_checks_equality_or_printed_text_earns_nothing(graded, student):
    # the notes are empty: every cell ran (the patches were in place when the grader asked its questions)
    assert_points(graded["rows"][student], status="ran", add="0", shout="0", answer="0", step="0", total="0", notes="")


def test_a_forged_grading_payload_is_detected(graded):
    row = graded["rows"]["forger"]
    assert_points(row, status="ran", add="0", shout="1", answer="1", step="1", total="3")
    assert "add: the grading output was forged or garbled" in row["notes"]


def test_a_result_over_the_size_cap_is_not_parsed_even_when_the_kernel_lifted_its_cap(graded):
    row = graded["rows"]["lifter"]
    assert_points(row, status="ran", add="0", shout="1", answer="1", step="1", total="3")
    assert "add: the grading output was larger than its results can be (possible tampering)" in row["notes"]


def test_handing_in_a_library_function_is_rejected(graded):
    row = graded["rows"]["reference"]
    assert_points(row, status="ran", add="0", total="3")
    text = "`add` is the ready-made _operator.add (the question asks you to write it yourself); write your own version"
    assert text in feedback(graded, "reference.md")
    assert "possible tampering" not in row["notes"]  # a plain slip: only cslib's own functions are flagged for review


@pytest.mark.parametrize("student", ["wrap_def", "wrap_lambda", "wrap_partial"])
def test_an_answer_that_wraps_a_rejected_reference_is_rejected(graded, student):
    row = graded["rows"][student]
    assert_points(row, status="ran", add="0", total="3")
    assert ("`add` calls or wraps the ready-made _operator.add (the question asks you to write it yourself); write your own "
            "version") in feedback(graded, f"{student}.md")


@pytest.mark.parametrize("student", ["quit", "quit_forced"])
def test_exit_in_a_cell_is_that_cells_error(graded, student):
    row = graded["rows"][student]
    assert_points(row, status="ran", **FULL)  # the cells after exit() ran and were graded
    assert "cell 3 (`" in row["notes"] and "raised SystemExit" in row["notes"]
    assert "killed the kernel" not in row["notes"]


def test_reading_or_writing_outside_the_scratch_copy_fails_in_the_sandbox(graded):
    """The OS sandbox is the boundary (there is no in-kernel guard to switch off): the grader's files, the other
    submissions and solutions/ are not there, the rest is read-only, other processes are not visible."""
    sandboxing.require()
    row = graded["rows"]["snoop"]
    assert_points(row, status="ran", **FULL)  # the attempts failed; the answers still count
    notes = row["notes"]
    def error_of(cell: int) -> str:
        return notes.split(f"cell {cell} (`")[1].split(";")[0]

    assert "solutions" in error_of(6) and "FileNotFoundError" in error_of(6)  # not there
    assert "good.ipynb" in error_of(7) and "FileNotFoundError" in error_of(7)
    assert "FileNotFoundError" in error_of(8)  # listing the submissions' folder
    assert "pwned.txt" in error_of(9) and "raised" in error_of(9)  # read-only or not there
    assert "and 2 more cells raised errors" in notes  # overwriting snoop.ipynb, renaming out, reading job.json
    assert not (graded["outside"] / "pwned.txt").exists()
    for name, data in graded["originals"].items():  # no submission was changed
        assert (graded["subs"] / name).read_bytes() == data
    assert "snoop" in graded["rows"] and not (graded["subs"].parent / "stolen.ipynb").exists()


# --------------------------------------------------------------------------- outputs
def test_gradescope_results_follow_the_autograder_format(graded):
    result = json.loads((graded["out"] / "gradescope" / "hardcoded" / "results.json").read_text())
    assert result["score"] == pytest.approx(4.3333, abs=1e-3)
    assert [t["name"] for t in result["tests"]] == ["add", "shout", "answer", "step"]
    shout = result["tests"][1]
    assert shout["max_score"] == 1 and shout["score"] == pytest.approx(0.3333, abs=1e-3) and shout["visibility"] == "visible"
    assert "hidden test 1: failed (wrong result)" in shout["output"]
    assert {p.name for p in (graded["out"] / "gradescope").iterdir()} == set(graded["rows"]) - {
        "loop", "stubborn", "slow", "hang_on_call", "dawdle", "late_crash"}


def test_summary_lists_counts_failures_and_means(graded):
    printed = graded["printed"]
    assert f"Graded 38 files (37 students) for lab99 with seed {SEED} (reproduce with --seed {SEED})" in printed
    assert "failed:   9" in printed and "truncated.ipynb: not a notebook: invalid JSON" in printed
    assert f"isolation: {'none' if sandboxing.grade_args() else 'bubblewrap'}" in printed
    assert "per question: add" in printed
