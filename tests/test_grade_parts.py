"""The grader's parts: sending cases into a kernel, the kernel-side runner, judging,
student ids, pre-checks, and a worker that hangs, crashes or meets a bug in the grader."""
from __future__ import annotations

import csv
import inspect
import json
import math
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook

from cslib import grade
from cslib.grade import kernelside as grade_kernelside, lab as grade_lab, scoring as grade_score
from cslib.grade import submissions as grade_submissions, worker as grade_worker
from cslib.checks import Case, Question, probe
from cslib.grade.report import csv_rows, feedback_markdown

import sandboxing

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = str(ROOT / "tests" / "grading_lab.py")


def kernel_namespace() -> dict:
    """What the worker defines inside a kernel: probe.py and grade_kernelside.py, from their source."""
    ns: dict = {"__name__": "__cslib_grader__"}
    for source in (inspect.getsource(probe), inspect.getsource(grade_kernelside)):
        exec(compile(source, "<cslib grader>", "exec"), ns)
    return ns


# --------------------------------------------------------------------------- cases into the kernel
def test_case_arguments_are_rebuilt_exactly_in_the_kernel():
    value = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, -2], dtype=np.int64), np.array(True),
             np.float32(1.5), np.int16(7), torch.ones(2, 2, requires_grad=True), torch.zeros(3, dtype=torch.bfloat16),
             torch.Size([4, 5]), torch.float16, [1, (2, "x")], {3: None, "k": [float("nan"), float("inf")]}, True, 2.5)
    encoded = json.loads(json.dumps(grade_lab.encode_value(value)))  # through JSON, as in the job file
    back = kernel_namespace()["decode_value"](encoded)
    assert isinstance(back, tuple) and len(back) == len(value)
    assert back[0].dtype == np.float32 and np.array_equal(back[0], value[0])
    assert back[1].dtype == np.int64 and back[1].tolist() == [1, -2]
    assert back[2].shape == () and bool(back[2]) is True
    assert type(back[3]) is np.float32 and back[3] == 1.5 and type(back[4]) is np.int16
    assert torch.is_tensor(back[5]) and back[5].requires_grad and back[5].dtype == torch.float32
    assert back[6].dtype == torch.bfloat16 and back[6].shape == (3,)
    assert back[7] == torch.Size([4, 5]) and back[8] is torch.float16
    assert back[9] == [1, (2, "x")] and isinstance(back[9][1], tuple)
    assert list(back[10]) == [3, "k"] and math.isnan(back[10]["k"][0]) and back[10]["k"][1] == math.inf
    assert back[11] is True and back[12] == 2.5


def test_arguments_that_cannot_be_sent_are_a_clear_setup_error():
    with pytest.raises(TypeError, match="driver probe"):
        grade_lab.encode_value(torch.nn.Linear(2, 2))
    bad = Question("f", "f", fixed=lambda: [Case((object(),), 1)])
    lab = grade_lab.Lab("lab77", [bad], "test")
    with pytest.raises(grade_lab.GradingSetupError, match="cannot be prepared"):
        grade_lab.draw_cases(lab, 0)


def run_question(user_ns: dict, request: dict, capsys) -> dict:
    ns = kernel_namespace()
    nonce = "ab" * 16
    request = {"probe": "call", "driver": None, "timeout": 2.0, "max_chars": 10_000, **request}
    ns["run_question"](user_ns, request, nonce)
    payload, problem = grade_worker.parse_frames(capsys.readouterr().out, nonce)
    assert problem == ""
    return payload


def test_run_question_reports_each_case_as_plain_data(capsys):
    def add(a, b):
        if isinstance(a, int) and a == 3:
            raise ValueError("three")
        return a + b

    cases = [grade_lab.encode_value((1, 2)), grade_lab.encode_value((3, 4)), grade_lab.encode_value((np.ones(2), np.ones(2)))]
    payload = run_question({"add": add}, {"answer": "add", "cases": cases}, capsys)
    assert payload["defined"] is True and payload["qualname"].endswith("add")
    ok, error, array = payload["cases"]
    assert ok == {"ok": True, "got": 3}
    assert error["kind"] == "exception" and error["error"] == "ValueError: three"
    assert array["got"] == probe.encode_array(np.array([2.0, 2.0]))


def test_run_question_handles_missing_unwritten_slow_and_huge_answers(capsys):
    def unwritten(x):
        raise NotImplementedError()

    def slow(x):
        import time
        time.sleep(30)

    def huge(x):
        return list(range(100_000))

    case = [grade_lab.encode_value((1,))]
    assert run_question({}, {"answer": "f", "cases": case}, capsys)["cases"][0]["kind"] == "missing"
    assert run_question({"f": unwritten}, {"answer": "f", "cases": case}, capsys)["cases"][0]["kind"] == "not_written"
    timed = run_question({"f": slow}, {"answer": "f", "cases": case, "timeout": 0.3}, capsys)["cases"][0]
    assert timed["kind"] == "timeout" and "0.3 s" in timed["error"]
    assert run_question({"f": huge}, {"answer": "f", "cases": case}, capsys)["cases"][0]["kind"] == "too_large"


def test_objects_that_lie_about_equality_never_leave_the_kernel_as_such(capsys):
    class Yes:
        def __eq__(self, other):
            return True

    payload = run_question({"f": lambda x: Yes()}, {"answer": "f", "cases": [grade_lab.encode_value((1,))]}, capsys)
    assert payload["cases"][0]["kind"] == "exception" and "cannot be checked" in payload["cases"][0]["error"]


def test_answers_that_call_or_wrap_a_rejected_reference_are_found(capsys):
    import functools

    import cslib.conv
    from cslib.conv import conv2d as reference

    def own(A, B, stride=1, padding=0):  # an own version that uses an allowed helper of cslib
        A = cslib.conv.pad(np.asarray(A, dtype=float), padding)
        k = len(B)
        n = (len(A) - k) // stride + 1
        return np.array([[np.sum(A[i * stride:i * stride + k, j * stride:j * stride + k] * B) for j in range(n)]
                         for i in range(n)])

    def wrapper(A, B, stride=1, padding=0):
        return reference(A, B, stride, padding)

    @functools.wraps(reference)
    def decorated(*args):
        return own(*args)

    answers = {"own": own, "wrapper": wrapper, "lambda": lambda A, B, s=1, p=0: cslib.conv.conv2d(A, B, s, p),
               "partial": functools.partial(reference), "itself": reference, "decorated": decorated,
               "copy": functools.update_wrapper(lambda *a: own(*a), own)}
    cases = [grade_lab.encode_value((np.eye(4), np.ones((2, 2)), 1, 0))]
    found = {}
    for name, answer in answers.items():
        payload = run_question({"conv2d": answer}, {"answer": "conv2d", "cases": cases, "reject": ["cslib.conv.conv2d"]},
                               capsys)
        assert payload["cases"][0]["ok"], (name, payload)
        found[name] = payload["references"]
    assert found == {"own": [], "wrapper": ["cslib.conv.conv2d"], "lambda": ["cslib.conv.conv2d"],
                     "partial": ["cslib.conv.conv2d"], "itself": ["cslib.conv.conv2d"],
                     "decorated": ["cslib.conv.conv2d"], "copy": []}
    lab = grade_lab.Lab("lab77", [Question("conv2d", "conv2d", reject=("cslib.conv.conv2d",))], "test")
    result, _ = grade_score.judge_question(lab.questions[0], [grade_lab.GradingCase(cases[0], np.ones((3, 3)), "", False)],
                                           {"status": "ok", "payload": {"defined": True, "module": "__main__",
                                                                        "qualname": "wrapper", "cases": [{"ok": True, "got": 1}],
                                                                        "references": found["wrapper"]}})
    assert result.points == 0 and result.problem == "`conv2d` calls or wraps cslib's own cslib.conv.conv2d; write your own version"


def test_only_one_frame_with_the_right_nonce_counts():
    good = '<<cslib-grade:aa>>{"cases": []}<</cslib-grade:aa>>'
    assert grade_worker.parse_frames("noise " + good + " noise", "aa") == ({"cases": []}, "")
    assert grade_worker.parse_frames(good.replace("aa", "bb"), "aa") == (None, "no_result")
    assert grade_worker.parse_frames(good + good, "aa") == (None, "tampered")
    assert grade_worker.parse_frames("<<cslib-grade:aa>>{not json<</cslib-grade:aa>>", "aa") == (None, "tampered")
    assert grade_worker.parse_frames('<<cslib-grade:aa>>[1]<</cslib-grade:aa>>', "aa") == (None, "tampered")
    big = '<<cslib-grade:aa>>{"cases": ["' + "x" * 5000 + '"]}<</cslib-grade:aa>>'
    assert grade_worker.parse_frames(big, "aa", limit=1000) == (None, "too_large")  # not even parsed
    assert grade_worker.parse_frames(big, "aa", limit=10_000)[1] == ""
    assert grade_worker.payload_limit({"cases": [1, 2]}, 100) == 3 * 1100 + 2**20


def test_snippets_touch_one_random_name_of_the_students_namespace():
    code = grade_worker.snippet(["def hello():\n    print('hi', _user_ns['x'])"], "hello()")
    user_ns = {"x": 5, "exec": None, "json": "mine", "print": "mine too"}
    before = dict(user_ns)
    exec(code, user_ns)
    user_ns.pop("__builtins__", None)
    assert user_ns == before


# --------------------------------------------------------------------------- judging
def test_hidden_failures_say_how_little_they_must(tmp_path):
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    add = lab.questions[0]
    cases = grade_lab.draw_cases(lab, 3)[0]
    wrong = {"ok": True, "got": probe.encode_array(np.array([0.0]))}
    raised = {"ok": False, "kind": "exception", "error": "IndexError: index 5123456 is out of bounds"}
    record = {"status": "ok", "payload": {"defined": True, "module": "__main__", "qualname": "add",
                                         "cases": [wrong, wrong, raised, {"ok": False, "kind": "timeout", "error": "x"}]}}
    result, notes = grade_score.judge_question(add, cases, record)
    assert result.points == 0 and notes == []
    visible, *hidden = result.cases
    assert "expected" in visible.detail and visible.shown == "A = I, B = ones"
    assert [c.detail for c in hidden] == ["wrong result", "your code raised IndexError", "took too long"]
    assert all(c.shown == "" for c in hidden)


def test_a_hidden_failure_never_shows_what_the_students_code_wrote():
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    add = lab.questions[0]
    cases = grade_lab.draw_cases(lab, 3)[0]
    wrong = {"ok": True, "got": probe.encode_array(np.array([0.0]))}
    leak = {"ok": False, "kind": "exception", "error": "Hidden_args_5_2_9: whatever"}  # an exception class named after the inputs
    record = {"status": "ok", "payload": {"defined": True, "module": "__main__", "qualname": "add",
                                         "cases": [wrong, leak, leak, leak]}}
    result, _ = grade_score.judge_question(add, cases, record)
    assert [c.detail for c in result.cases[1:]] == ["your code raised an error"] * 3


def test_a_question_with_hidden_tests_only_never_shows_the_exit_status_its_code_chose():
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    add = lab.questions[0]
    cases = [c for c in grade_lab.draw_cases(lab, 3)[0] if c.hidden]
    record = {"status": "crashed", "payload": None, "detail": "the kernel died while testing this answer (exit status 57)"}
    result, notes = grade_score.judge_question(add, cases, record)
    assert "57" not in result.problem and not any("57" in note for note in notes), (result.problem, notes)
    timeout = {"status": "out_of_time", "payload": None, "detail": "not tested: the time ran out"}
    assert grade_score.judge_question(add, cases, timeout)[0].problem == "not tested: the time ran out"  # the grader's words


def test_a_hidden_result_that_cannot_be_read_puts_none_of_its_text_in_the_notes():
    """An answer can return text dressed as a float (from_data's ValueError quotes it): for a hidden case, its inputs."""
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    add = lab.questions[0]
    cases = grade_lab.draw_cases(lab, 3)[0]
    leak = {"ok": True, "got": {"$float": "hidden_args_5_2_9"}}
    record = {"status": "ok", "payload": {"defined": True, "module": "__main__", "qualname": "add",
                                         "cases": [leak, leak, leak, leak]}}
    result, notes = grade_score.judge_question(add, cases, record)
    assert len(notes) == 4 and "hidden_args" in notes[0]  # the visible case's own text: the student wrote it, sees it
    assert all("hidden_args" not in note and "ValueError" in note for note in notes[1:]), notes
    assert all("hidden_args" not in c.detail for c in result.cases[1:])


def test_hidden_inputs_go_into_the_kernel_only_after_every_visible_case_and_the_records_are_merged_back():
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    cases = grade_lab.draw_cases(lab, 3)
    requests = grade_lab.question_requests(lab, cases)
    first_hidden = next(i for i, r in enumerate(requests) if r["phase"] == "hidden")
    assert all(r["phase"] == "hidden" for r in requests[first_hidden:]) and first_hidden == len(lab.questions)
    for r in requests:  # each request holds only its phase's inputs
        mine = [c.args for c in cases[r["question"]] if c.hidden == (r["phase"] == "hidden")]
        assert r["cases"] == mine
    ok = {"ok": True, "got": 1}
    records = [{"status": "ok", "payload": {"defined": True, "cases": [ok] * len(r["cases"]), "phase": r["phase"]}}
               for r in requests]
    records[first_hidden] = {"status": "timeout", "payload": None, "detail": "testing this answer took too long"}
    merged = grade_score.merge_phases(requests, records)
    assert len(merged) == len(lab.questions)
    q = requests[first_hidden]["question"]
    n_visible = sum(not c.hidden for c in cases[q])
    assert merged[q]["payload"]["cases"][:n_visible] == [ok] * n_visible
    assert {c["kind"] for c in merged[q]["payload"]["cases"][n_visible:]} == {"timeout"}
    assert grade_score.merge_phases(requests, records[:-1]) is None  # a record short: no result, not a wrong one


def test_only_answers_that_passed_every_visible_case_meet_their_hidden_cases():
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    cases = grade_lab.draw_cases(lab, 3)
    requests = grade_lab.question_requests(lab, cases)
    visible = [r for r in requests if r["phase"] == "visible"]

    def record(got):
        return {"status": "ok", "payload": {"defined": True, "module": "__main__", "qualname": "x",
                                           "cases": [{"ok": True, "got": got}]}}

    right = {"add": probe.encode_array(np.array([[2.0, 1.0], [1.0, 2.0]])), "shout": "HI!", "step": [4, 13]}
    records = [record(right.get(r["answer"], 42)) for r in visible]
    assert grade_score.visible_passed(lab, cases, requests, records) == [0, 1, 3]  # `answer` has no hidden cases
    records[1] = record("HI")  # shout fails its visible case
    records[3] = {"status": "timeout", "payload": None, "detail": "testing this answer took too long"}
    assert grade_score.visible_passed(lab, cases, requests, records) == [0]
    assert grade_score.visible_passed(lab, cases, requests, [None] * len(visible)) == []
    assert grade_score.visible_passed(lab, cases, requests, "garbage") == []


def test_a_result_the_question_cannot_judge_fails_that_case_with_a_note():
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    step = lab.questions[3]
    cases = grade_lab.draw_cases(lab, 3)[3]
    odd = {"ok": True, "got": {"$ndarray": {"data": "garbage", "shape": [1], "dtype": "nonsense"}}}
    record = {"status": "ok", "payload": {"defined": True, "cases": [odd] * len(cases)}}
    result, notes = grade_score.judge_question(step, cases, record)
    assert result.points == 0 and "could not be checked" in result.cases[0].detail and notes


# --------------------------------------------------------------------------- submissions
@pytest.mark.parametrize("name, expected", [
    ("alice.ipynb", "alice"), ("alice (1).ipynb", "alice"), ("alice-1.ipynb", "alice"), ("alice_v2.ipynb", "alice"),
    ("alice - Copy.ipynb", "alice"), ("Copy of alice.ipynb", "alice"), ("alice_final (2).ipynb", "alice"),
    ("s1234567.ipynb", "s1234567"), ("jdoe2.ipynb", "jdoe2"), ("1.ipynb", "1"), ("notes.txt", "notes"),
])
def test_student_ids_come_from_file_names_without_copy_suffixes(name, expected):
    assert grade_submissions.student_id(Path(name)) == (expected, "")


def test_id_pattern_overrides_the_default():
    canvas = Path("doejane_LATE_12345_678901_lab01_dropout_batchnorm.ipynb")
    assert grade_submissions.student_id(canvas, r"^(?P<id>[a-z]+)_") == ("doejane", "")
    assert grade_submissions.student_id(canvas, r"_(\d{5})_") == ("12345", "")
    sid, note = grade_submissions.student_id(Path("x.ipynb"), r"^\d+$")
    assert sid == "x" and "does not match" in note


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"), (b"  \n", "empty file"), (b"\x89PNG\r\n\x1a\n\x00\xff", "not a text file"),
    (b'{"cells": [', "invalid JSON"), (b"[1, 2]", "JSON without notebook cells"), (b'{"cells": 3}', "not a list"),
    (b'{"cells": [{"cell_type": "markdown", "source": "x"}]}', "no code cells"),
    (b'{"cells": [{"cell_type": "code", "source": ["  ", "\\n"]}]}', "no code cells"),
])
def test_files_that_are_no_gradable_notebook(data, reason):
    cells, metadata, failure = grade_submissions.read_notebook(data)
    assert reason in failure and cells == []


def test_a_notebook_with_list_sources_odd_cells_and_a_bom_is_read():
    data = b'\xef\xbb\xbf{"cells": [7, {"cell_type": "raw", "source": "x"}, {"cell_type": "code", "source": ["a = ", "1"]}], "metadata": {}}'
    cells, metadata, failure = grade_submissions.read_notebook(data)
    assert failure == "" and cells == [{"index": 2, "source": "a = 1"}]


def test_an_nbformat_3_notebook_is_read_in_one_pass_even_when_large():
    import time

    v3 = {"nbformat": 3, "metadata": {"cslib": {"lab": "lab99"}}, "worksheets": [{"cells": [
        {"cell_type": "markdown", "source": "x"}, {"cell_type": "code", "input": ["a = ", "1"], "outputs": []},
        *({"cell_type": "code", "input": "b = 2", "outputs": [{"output_type": "stream", "text": "y" * 8000}]}
          for _ in range(3_500))]}]}
    data = json.dumps(v3).encode()
    assert len(data) > 25 * 2**20  # like the notebook that stalled nbformat's converter for a minute
    start = time.perf_counter()
    cells, metadata, failure = grade_submissions.read_notebook(data)
    assert time.perf_counter() - start < 20 and failure == "" and metadata == {"cslib": {"lab": "lab99"}}
    assert cells[0] == {"index": 1, "source": "a = 1"} and len(cells) == 3_501
    assert "worksheets are not lists" in grade_submissions.read_notebook(b'{"worksheets": [{"cells": 3}]}')[2]


@pytest.mark.parametrize("version", [3, 4])
def test_the_pre_check_is_bounded_by_the_file_size_and_caps_on_cells_and_code(version):
    """A file at the size limit made of tiny cells (millions of them) fails quickly, with the count, before
    any cell is looked at; so does a notebook with more code than any lab."""
    def notebook(cells: list) -> bytes:
        key = "input" if version == 3 else "source"
        cells = [{"cell_type": "code", key: source} for source in cells]
        body = {"worksheets": [{"cells": cells}]} if version == 3 else {"cells": cells}
        return json.dumps({"nbformat": version, "metadata": {}, **body}).encode()

    tiny = notebook(["a"] * 2_000_000)
    assert len(tiny) > 50 * 2**20
    cells, _, failure = grade_submissions.read_notebook(tiny)
    assert failure == "too many cells (2,000,000; a lab has about a hundred, the limit is 5,000)" and cells == []
    assert grade_submissions.read_notebook(notebook(["a"] * grade_submissions.MAX_CELLS))[2] == ""
    cells, _, failure = grade_submissions.read_notebook(notebook(["x = 1  # " + "y" * 2**20] * 11))
    assert failure == "too much code (11 M characters; the limit is 10 M)" and cells == []


def test_duplicates_newest_counts_ties_by_name(tmp_path):
    subs = [grade_submissions.Submission(Path("b (1).ipynb"), "b", 5.0, 0), grade_submissions.Submission(Path("b.ipynb"), "b", 5.0, 1),
            grade_submissions.Submission(Path("a.ipynb"), "a", 9.0, 2), grade_submissions.Submission(Path("a-2.ipynb"), "a", 1.0, 3)]
    grade_submissions.resolve_duplicates(subs)
    assert [s.counted for s in subs] == [False, True, True, False]
    assert "counted the newest, b.ipynb" in subs[1].notes[0] and "not counted" in subs[0].notes[0]


def test_csv_cells_that_a_spreadsheet_would_run_are_defused():
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    sub = grade_submissions.Submission(Path("=HYPERLINK(1).ipynb"), "=HYPERLINK(1)", 0, 0)
    row = csv_rows([grade_score.Graded(sub, "failed", "not a notebook", [], ["-1 note"])], lab, 5)[0]
    assert row["student_id"] == "'=HYPERLINK(1)" and row["file"].startswith("'=")
    assert row["total"] == "" and row["status"] == "failed" and row["notes"] == "failed: not a notebook; -1 note"
    assert "could not be graded: not a notebook" in feedback_markdown(grade_score.Graded(sub, "failed", "not a notebook"), lab)


# --------------------------------------------------------------------------- a worker that hangs, crashes or hits a grader bug
FAKE_WORKER = textwrap.dedent("""
    import json, runpy, sys, time
    job = json.load(open(sys.argv[1]))
    code = "".join(c["source"] for c in job["cells"])
    if "HANG" in code:
        time.sleep(60)
    if "CRASH" in code:
        print("worker exploded")
        sys.exit(3)
    runpy.run_path(WORKER, run_name="__main__")
""")


def test_hangs_crashes_and_grader_bugs_fail_one_submission_and_keep_the_others(tmp_path, monkeypatch):
    def write(name: str, code: str) -> Path:
        nb = new_notebook(cells=[new_code_cell(code)])
        nb.metadata["cslib"] = {"lab": "lab99"}
        nbformat.write(nb, tmp_path / name)
        return tmp_path / name

    paths = [write("ok.ipynb", "answer = 42"), write("hang.ipynb", "# HANG\nanswer = 42"),
             write("crash.ipynb", "# CRASH\nanswer = 42"), write("bug.ipynb", "answer = 42")]
    original = grade.Grader.write_job

    def buggy(self, sub):
        if sub.student_id == "bug":
            raise KeyError("a bug in the grader")
        return original(self, sub)

    monkeypatch.setattr(grade.Grader, "write_job", buggy)
    script = FAKE_WORKER.replace("WORKER", repr(grade_worker.__file__))
    options = grade.Options(jobs=4, seed=1, hard_timeout=12, worker_command=[sys.executable, "-c", script], quiet=True,
                            sandbox=not sandboxing.grade_args())
    run = grade.grade_files(grade_lab.load_lab("lab99", QUESTIONS), paths, options)
    by_name = {g.submission.path.name: g for g in run.graded}
    assert by_name["ok.ipynb"].status == "ran" and by_name["ok.ipynb"].total == 1  # only `answer` is written
    assert by_name["hang.ipynb"].status == "failed"
    assert by_name["hang.ipynb"].reason == "time limit: grading did not finish within 12 s (the worker was killed)"
    assert by_name["crash.ipynb"].status == "failed"
    assert by_name["crash.ipynb"].reason.startswith("grader error: the worker exited with code 3 and no result: worker exploded")
    assert by_name["bug.ipynb"].status == "failed" and by_name["bug.ipynb"].reason == "grader error: KeyError: 'a bug in the grader'"


def test_a_grader_error_between_the_phases_is_the_graders_not_the_students(tmp_path, monkeypatch):
    from grading_lab import SOLUTION

    def broken(*args):
        raise TypeError("a bug in judging the visible tests")

    monkeypatch.setattr(grade, "visible_passed", broken)
    nb = new_notebook(cells=[new_code_cell("import numpy as np"), *map(new_code_cell, SOLUTION.values())])
    nb.metadata["cslib"] = {"lab": "lab99"}
    nbformat.write(nb, tmp_path / "good.ipynb")
    options = grade.Options(jobs=1, seed=1, quiet=True, sandbox=not sandboxing.grade_args())
    (graded,) = grade.grade_files(grade_lab.load_lab("lab99", QUESTIONS), [tmp_path / "good.ipynb"], options).graded
    assert graded.status == "ran", graded.reason
    add = graded.questions[0]
    assert [c.passed for c in add.cases] == [True, False, False, False]
    assert {c.detail for c in add.cases if c.hidden} == {"not run: a grader error (the instructor will regrade)"}
    assert any("add: its hidden tests did not run" in note and "regrade" in note for note in graded.notes), graded.notes


def test_command_line_errors_are_reported_before_anything_runs(tmp_path, capsys):
    assert grade.main(["lab42", str(tmp_path), "--out", str(tmp_path / "g.csv")]) == 2
    assert "no questions for lab42" in capsys.readouterr().err
    assert grade.main(["nolab.ipynb", str(tmp_path / "x.ipynb")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert grade.main(["lab01", str(tmp_path / "missing.ipynb"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


def test_kernels_get_their_own_home_and_caches_and_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("MY_API_KEY", "secret")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_me")  # torch sets this in the grader's process
    monkeypatch.setenv("PYTHONSTARTUP", str(tmp_path / "startup.py"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "my-ipython"))
    monkeypatch.setenv("CSLIB_DATA", "/data/course")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    grader = grade.Grader(grade_lab.load_lab("lab99", QUESTIONS), grade.Options(jobs=2, workdir=str(tmp_path)), [])
    try:
        env = grader.kernel_env(tmp_path / "scratch")
    finally:
        grader.cleanup()
    for name in ("GITHUB_TOKEN", "MY_API_KEY", "TORCHINDUCTOR_CACHE_DIR", "PYTHONSTARTUP", "IPYTHONDIR", "MPLCONFIGDIR"):
        assert name not in env, name  # IPython's, Jupyter's and matplotlib's folders are new at each kernel start
    assert env["HOME"] == str(tmp_path / "scratch") and env["TMPDIR"] == str(tmp_path / "scratch" / "tmp")
    assert env["CSLIB_DATA"] == "/data/course" and not env["PYTHONUSERBASE"].startswith(env["HOME"])
    assert env["CSLIB_FAST"] == "1" and env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)
    assert env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))


def test_gradescope_single_results_file(tmp_path, capsys):
    from cslib.grade.report import write_gradescope

    lab = grade_lab.load_lab("lab99", QUESTIONS)
    sub = grade_submissions.Submission(Path("alice.ipynb"), "alice", 0, 0)
    write_gradescope(tmp_path / "results.json", [grade_score.Graded(sub, "failed", "empty file")], lab)
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["score"] == 0 and result["extra_data"] == {"status": "failed", "reason": "empty file",
                                                            "student_id": "alice", "file": "alice.ipynb",
                                                            "isolation": "none"}
    assert result["tests"][0]["max_score"] == 5 and "could not be graded: empty file" in result["output"]
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "b.ipynb").write_text("{}")
    code = grade.main(["lab99", str(tmp_path / "a.ipynb"), str(tmp_path / "b.ipynb"), "--questions", QUESTIONS,
                       "--gradescope", str(tmp_path / "r.json"), "--out", str(tmp_path / "g.csv")])
    assert code == 2 and "exactly one submission" in capsys.readouterr().err


def test_gradescope_folders_of_students_whose_names_look_alike_never_collide(tmp_path):
    from cslib.grade.report import distinct_names, write_gradescope

    assert distinct_names(["bo b", "bo_b", "alice"])[2] == "alice"
    first, second = distinct_names(["bo b", "bo_b"])
    assert first != second and first.startswith("bo_b-") and second.startswith("bo_b-")
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    graded = [grade_score.Graded(grade_submissions.Submission(Path(f"{sid}.ipynb"), sid, 0, n), "failed", f"reason {n}")
              for n, sid in enumerate(["bo b", "bo_b"])]
    write_gradescope(tmp_path / "results", graded, lab)
    reasons = sorted(json.loads(p.read_text())["extra_data"]["reason"] for p in (tmp_path / "results").glob("*/results.json"))
    assert reasons == ["reason 0", "reason 1"]  # two folders: neither result overwrote the other


def test_the_summary_names_every_file_taken_as_one_students(tmp_path):
    from cslib.grade.report import summary
    from cslib.grade.submissions import resolve_duplicates, student_id

    lab = grade_lab.load_lab("lab99", QUESTIONS)
    subs = [grade_submissions.Submission(Path(name), student_id(Path(name))[0], mtime, n)
            for n, (name, mtime) in enumerate([("chen_1.ipynb", 1.0), ("chen_2.ipynb", 2.0), ("alice (1).ipynb", 3.0),
                                               ("alice.ipynb", 1.0)])]
    resolve_duplicates(subs)
    text = summary([grade_score.Graded(sub, "failed", "x") for sub in subs], lab, 0, tmp_path / "g.csv", tmp_path / "f", None)
    assert "chen: counted chen_2.ipynb; not counted chen_1.ipynb" in text
    assert "alice: counted alice (1).ipynb; not counted alice.ipynb" in text
    assert "if they are different students, give --id-pattern" in text


def test_questions_that_share_an_answer_get_distinct_columns():
    from cslib.grade.report import question_columns

    q = Question("conv2d", "conv2d, stride", fixed=lambda: [Case((1,), 1)])
    lab = grade_lab.Lab("lab77", [q, Question("conv2d", "conv2d, padding"), Question("pool", "pool")], "test")
    assert question_columns(lab) == ["conv2d", "conv2d#2", "pool"]


def test_run_notes_say_what_happened_to_each_cell():
    sub = grade_submissions.Submission(Path("x.ipynb"), "x", 0, 0, cells=[
        {"index": i, "source": f"cell_{i} = 1"} for i in range(8)])
    result = {"cells": [
        {"index": 0, "status": "error", "error": "NotImplementedError: "},
        {"index": 1, "status": "error", "error": "RuntimeError: DefaultCPUAllocator: can't allocate memory"},
        {"index": 2, "status": "died", "exit": "SIGKILL, killed, e.g. out of memory"},
        {"index": 3, "status": "timeout", "exit": "notebook time limit", "capped": True},
        {"index": 4, "status": "error", "error": "OSError: [Errno 30] Read-only file system: '/x'"},
    ], "fatal_cells": [2, 1], "not_run": [5, 6, 7], "time_limit_hit": True}
    notes = grade_score.run_notes(sub, result, grade.Options(memory_gb=2, output_mb=1, timeout=60))
    assert notes == [
        "not written yet (NotImplementedError): cell 1",
        "cell 2 (`cell_1 = 1`) ran out of memory (limit 2 GiB): RuntimeError: DefaultCPUAllocator: can't allocate memory",
        "cell 3 (`cell_2 = 1`) killed the kernel (SIGKILL, killed, e.g. out of memory); a new kernel re-ran the cells "
        "before it and went on without it",
        "cell 4 (`cell_3 = 1`) was interrupted when the notebook's time limit was reached",
        "cell 4 (`cell_3 = 1`) printed more than 1 MB of output; the rest was dropped",
        "cell 5 (`cell_4 = 1`) raised OSError: [Errno 30] Read-only file system: '/x'",
        "cell 2 (`cell_1 = 1`) killed the kernel when re-run after a restart; it was skipped",
        "notebook time limit (60 s) reached: cells 6-8 did not run",
    ]


def test_the_kernel_drops_output_over_the_cap_in_every_cell(tmp_path):
    """The kernel's own cap, not only the worker's count: IPython puts back sys.stdout.write after each cell."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(scratch), "LANG": "C.UTF-8"}
    job = {"job_dir": str(tmp_path), "scratch": str(scratch), "env": env, "deny": [], "sandbox": sandboxing.job_sandbox(),
           **sandboxing.job_python(), "kernel_pids": str(tmp_path / "kernels.txt"),
           "kernel_sources": [inspect.getsource(probe), inspect.getsource(grade_kernelside)],
           "limits": {"output_chars": 10_000}}
    kernel = grade_worker.GradingKernel(job)
    kernel.start()
    try:
        for code in ("print('x' * 100_000)", "for i in range(30_000):\n    print(i)",
                     "import sys\nsys.stderr.write('y' * 100_000)", "print('x' * 100_000)"):
            run = kernel.execute(code, 60)
            assert run.status == "ok" and run.capped, (code, run)
            assert run.output_chars < 10_200, (code, run.output_chars)  # the limit and one notice
        small = kernel.execute("print('short')", 60)
        assert small.status == "ok" and not small.capped and small.output_chars == len("short\n")
    finally:
        kernel.kill()


def test_a_time_limit_of_zero_is_refused_before_anything_runs(tmp_path, capsys):
    argv = ["lab99", str(tmp_path), "--questions", QUESTIONS, "--out", str(tmp_path / "g.csv"), "--grading-timeout", "0"]
    assert grade.main(argv) == 2
    assert "error: --grading-timeout must be a finite number of seconds above 0, not 0" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


# --------------------------------------------------------------------------- no sandbox, outputs
def test_without_a_sandbox_the_grader_stops_unless_told_and_records_it(tmp_path, monkeypatch, capsys):
    from grading_lab import SOLUTION

    nb = new_notebook(cells=[new_code_cell("import numpy as np"), *map(new_code_cell, SOLUTION.values())])
    nb.metadata["cslib"] = {"lab": "lab99"}
    nbformat.write(nb, tmp_path / "alice.ipynb")
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no bwrap on the PATH
    argv = ["lab99", str(tmp_path / "alice.ipynb"), "--questions", QUESTIONS, "--out", str(tmp_path / "out" / "g.csv"),
            "--gradescope", str(tmp_path / "out" / "results.json"), "-q"]
    assert grade.main(argv) == 2
    err = capsys.readouterr().err
    assert "error: bubblewrap (bwrap) is not installed; install bubblewrap (Debian/Ubuntu: apt install bubblewrap" in err
    assert "pass --no-sandbox (recorded as isolation: none)" in err
    assert not (tmp_path / "out").exists()
    assert grade.main(argv + ["--no-sandbox"]) == 0
    printed = capsys.readouterr()
    assert printed.err.startswith("Isolation: none: WARNING: no sandbox (--no-sandbox)")
    assert "  isolation: none   (no sandbox: submissions could read and change your files)" in printed.out
    row = next(csv.DictReader(open(tmp_path / "out" / "g.csv", encoding="utf-8")))
    assert row["isolation"] == "none" and row["total"] == "5"
    assert json.loads((tmp_path / "out" / "results.json").read_text())["extra_data"]["isolation"] == "none"


def test_a_pipe_or_a_link_where_an_output_goes_is_an_error_not_a_hang(tmp_path):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "empty.ipynb").write_bytes(b"")
    out = tmp_path / "out"
    (out / "grades-feedback").mkdir(parents=True)
    os.mkfifo(out / "grades.csv")
    (tmp_path / "precious.txt").write_text("precious")
    (out / "grades-feedback" / "empty.md").symlink_to(tmp_path / "precious.txt")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "cslib.grade", "lab99", str(tmp_path / "subs"), "--questions", QUESTIONS,
                           "--out", str(out / "grades.csv"), "--gradescope", str(out / "gs"), "-q", *sandboxing.grade_args()],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1, done.stderr
    assert f"error: cannot write {out / 'grades.csv'}: it is a named pipe (FIFO), not a regular file" in done.stderr
    assert f"error: cannot write {out / 'grades-feedback' / 'empty.md'}: it is a symbolic link" in done.stderr
    assert stat.S_ISFIFO((out / "grades.csv").lstat().st_mode) and (tmp_path / "precious.txt").read_text() == "precious"
    assert json.loads((out / "gs" / "empty" / "results.json").read_text())["extra_data"]["reason"] == "empty file"
    # no temporary files left; the rows kept for --resume, since some outputs were not written
    assert sorted(p.name for p in out.iterdir()) == ["grades-feedback", "grades-progress.jsonl", "grades.csv", "gs"]
    assert "run the same command with --resume" in done.stderr


def test_the_grading_pages_run_autograder_runs_as_gradescope_runs_it(tmp_path):
    """docs/grading.md's run_autograder, verbatim, in a folder laid out like Gradescope's /autograder."""
    import re
    import shutil

    sandboxing.require()
    page = (ROOT / "docs" / "grading.md").read_text(encoding="utf-8")
    script = re.search(r"```bash\n(#!/usr/bin/env bash\n# run_autograder.*?)```", page, re.S).group(1)
    lab = re.search(r"python -m cslib\.grade (labs/\S+\.ipynb)", script).group(1)
    autograder = tmp_path / "autograder"
    source = autograder / "source"
    for folder in ("cslib", "labs", "solutions"):  # what `cd /autograder/source; python -m cslib.grade` uses
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (autograder / "submission").mkdir()
    (autograder / "results").mkdir()
    shutil.copy(ROOT / lab.replace("labs/", "solutions/"), autograder / "submission" / Path(lab).name)
    (autograder / "run_autograder").write_text(script.replace("/autograder", str(autograder)))
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    env.pop("PYTHONPATH", None)
    done = subprocess.run(["bash", str(autograder / "run_autograder")], cwd=autograder, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((autograder / "results" / "results.json").read_text())
    assert result["extra_data"]["status"] == "ran" and result["extra_data"]["isolation"] == "bubblewrap"
    assert result["score"] == sum(t["max_score"] for t in result["tests"]) > 0, result
    assert "Isolation: bubblewrap" in done.stderr
