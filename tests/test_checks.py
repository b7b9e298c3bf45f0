"""The checks machinery: plain-data comparison, ✓/✗ reports, and tampering that must not pass."""
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cslib.checks import Case, Outcome, Question, compare_data, from_data, report
from cslib.checks.probe import describe_model, run_probe, to_data


def add_reference(a, b):
    return np.asarray(a) + np.asarray(b)


ADD = Question(
    answer="add",
    title="add",
    hint="element-wise sum",
    fixed=lambda: [Case((np.eye(2), np.ones((2, 2))), np.eye(2) + 1, "A = I, B = ones")],
    random=lambda rng: [Case((a, b), a + b, f"shapes {a.shape}") for a, b in
                        (tuple(rng.normal(size=(2, 3)) for _ in range(2)) for _ in range(3))],
    reject=("test_checks.add_reference",),
)


class AlwaysEqual:
    def __eq__(self, other):
        return True


def test_correct_answer_passes_fixed_and_random_cases():
    assert report(ADD, lambda a, b: a + b) == "✓ add: all 4 cases passed (1 fixed, 3 random)."


def test_wrong_answer_shows_case_expected_got_and_hint():
    text = report(ADD, lambda a, b: a - b)
    assert text.startswith("✗ add: 4 of 4 cases failed (1 fixed, 3 random).")
    assert "case A = I, B = ones:" in text and "expected:" in text and "got:" in text
    assert "Hint: element-wise sum" in text and "... and 2 more." in text


def test_exceptions_and_unwritten_answers_are_reported_not_raised():
    def broken(a, b):
        raise KeyError("oops")

    def unwritten(a, b):
        raise NotImplementedError()

    assert "raised KeyError: 'oops'" in report(ADD, broken)
    assert report(ADD, unwritten) == "✗ add: not written yet (the cell still raises NotImplementedError)."
    assert "expected a function, got int" in report(ADD, 3)


def test_objects_that_claim_to_equal_everything_do_not_pass():
    text = report(ADD, lambda a, b: AlwaysEqual())
    assert text.startswith("✗") and "cannot be checked" in text
    with pytest.raises(TypeError):
        to_data(AlwaysEqual())

    class SneakyInt(int):
        def __eq__(self, other):
            return True

    assert to_data(SneakyInt(3)) == 3 and type(to_data(SneakyInt(3))) is int
    assert not compare_data(4, from_data(to_data(SneakyInt(3)))).passed


def test_handing_in_the_reference_is_rejected():
    assert "`add` is the ready-made test_checks.add_reference" in report(ADD, add_reference)  # a stand-in reference
    ready = Question(answer="add", title="add", fixed=ADD.fixed, reject=("operator.add",))
    import operator
    assert "the ready-made operator.add (the question asks you to write it yourself)" in report(ready, operator.add)


def test_inline_check_finds_the_answer_by_name(capsys):
    namespace = {"ADD": ADD}
    exec("ADD()", namespace)
    assert "`add` is not defined yet" in capsys.readouterr().out
    exec("def add(a, b):\n    return a + b\nADD()", namespace)
    assert capsys.readouterr().out.startswith("✓ add")


def test_plain_data_round_trip():
    value = {"t": torch.arange(6).reshape(2, 3), "f": np.float32(1.5), "s": torch.Size([2, 3]),
             "l": [1, (2, 3)], "b": np.bool_(True), "nan": float("nan")}
    back = from_data(to_data(value))
    assert isinstance(back["t"], np.ndarray) and back["t"].shape == (2, 3) and back["t"].dtype == np.int64
    assert back["f"] == 1.5 and back["s"] == [2, 3] and back["l"] == [1, [2, 3]] and back["b"] is True
    assert np.isnan(back["nan"])
    with pytest.raises(TypeError, match="use numbers"):
        to_data(np.array(["a"]))


@pytest.mark.parametrize("expected, got, passed, message", [
    (np.ones((2, 2)), np.ones((2, 3)), False, "wrong shape: expected (2, 2), got (2, 3)"),
    (np.ones(3), np.array([1, 1, 1.5]), False, "1 entries differ, first at index (2,)"),
    ([1, 2], [1, 2.0000001], True, ""),
    ({"a": 1}, {"b": 1}, False, "missing key(s): 'a'"),
    ((60000, 784), [60000, 784], True, ""),
    (True, 1, False, "expected True"),
])
def test_compare_data(expected, got, passed, message):
    outcome = compare_data(expected, got)
    assert outcome.passed is passed and message in outcome.detail


def test_describe_model_lists_leaf_layers_with_settings():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 14 * 14, 10))
    d = describe_model(model, (2, 1, 28, 28))
    assert [layer["type"] for layer in d["layers"]] == ["Conv2d", "ReLU", "Flatten", "Dropout", "Linear"]
    assert d["layers"][0]["stride"] == [2, 2] and d["layers"][3]["p"] == 0.3
    assert d["n_params"] == 4 * 9 + 4 + 784 * 10 + 10 and d["output_shape"] == [2, 10]
    assert run_probe(lambda: model, "call_model", ((1, 1, 28, 28),))["output_shape"] == [1, 10]
    with pytest.raises(TypeError, match="nn.Module"):
        describe_model("not a model")


def test_custom_compare_is_used():
    q = Question("x", "x", probe="value", fixed=lambda: [Case((), 5)], compare=lambda e, g: Outcome(g > e, "too small"))
    assert report(q, 6).startswith("✓") and "too small" in report(q, 4)


@pytest.mark.parametrize("value, text", [
    (None, "None (a function that forgets to `return` gives None)"),
    (np.array(0.93), "a single number in a 0-d tensor or array (0.93"),
    (np.zeros((2, 3)), "a tensor or array of shape (2, 3)"),
    ([1, 2], "a list or tuple of 2 items"),
    ({"a": 1}, "a dict with the keys ['a']"),
    ("x", "the string 'x'"),
])
def test_describe_names_what_was_given(value, text):
    from cslib.checks import describe

    assert describe(from_data(to_data(value))).startswith(text)


def test_numbers_in_other_types_and_percentages():
    from cslib.checks import as_int, count_problem, fraction_problem

    assert as_int(26.0) == 26 and as_int(np.array(26)) == 26 and as_int(26.5) is None and as_int(True) is None
    assert count_problem("n", 640200.0) == "" and "use integer division //" in count_problem("n", 5.5)
    assert "should be a whole number, got the string" in count_problem("n", "5")
    assert fraction_problem("acc", 0.93) == "" and fraction_problem("acc", np.array(0.93)) == ""
    assert "give a fraction in [0, 1] (0.932), not a percentage" in fraction_problem("acc", 93.2)
    assert "not an accuracy" in fraction_problem("acc", -0.1)


@pytest.mark.parametrize("expected, got, passed, message", [
    ([64, 26, 26], [64, 26.0, 26.0], True, ""),  # (n - k) / s + 1: the value is right
    ([64, 26, 26], [64, 26.5, 26.5], False, "use integer division //"),
    ({"a": 1}, np.array(3.0), False, "expected a dict, got a single number in a 0-d tensor or array"),
    (np.ones(2), None, False, "expected an array, got None"),
])
def test_compare_data_accepts_whole_floats_and_names_types(expected, got, passed, message):
    outcome = compare_data(expected, got)
    assert outcome.passed is passed and message in outcome.detail


def test_a_model_whose_layers_do_not_fit_is_described_not_raised():
    from cslib.checks import compare_models

    d = describe_model(nn.Sequential(nn.Linear(785, 10)), (2, 784))
    assert "mat1 and mat2" in d["forward_error"] and "output_shape" not in d
    right = describe_model(nn.Sequential(nn.Linear(784, 10)), (2, 784))
    assert "in_features=784, got 785" in compare_models(right, d).detail


def test_a_judge_that_cannot_read_a_result_says_so_instead_of_raising():
    def fragile(expected, got):
        return Outcome(got["key"] == 1)

    q = Question("x", "x", probe="value", fixed=lambda: [Case((), 1)], compare=fragile)
    text = report(q, [1, 2])
    assert text.startswith("✗ x") and "could not read this result" in text and "a list or tuple of 2 items" in text
    assert "expected an array, got a list" in compare_data(np.ones((2, 2)), [[1, 2], [3]]).detail


WEIRD = [None, "x", 3, 2.5, True, [], {}, [None], {"a": None}, [[1, 2], [3]], np.array(0.5), np.zeros((2, 3)),
         {"x": np.zeros(2)}, [np.zeros(2)], float("nan"), {1: 2}, [["a", 1]], {"k": [1, "b"]}]


def _weird_results(question, value):
    """What a question's judge receives when the student's part of the answer is ``value``."""
    from cslib.checks import lab01, lab02, lab03

    if question.probe in ("value", "call") or question.probe is lab03.drive_output_shapes:
        return value
    if question.probe is lab01.drive_train_and_evaluate:
        _, _, _, model = lab01.synthetic_task(0, False)
        return {"result": value, "weights": {k: v.numpy() + 1 for k, v in model.state_dict().items()}}
    if question.probe is lab02.drive_exercise:
        return {"A": np.arange(36).reshape(6, 6), "C": value, "D": value, "answer": value}
    return None  # drivers that only return their own measurements


@pytest.mark.parametrize("lab", sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "cslib" / "checks").glob("lab*.py")))
def test_judges_name_any_unexpected_result_without_raising(lab):
    """The grader judges whatever plain data a kernel sends back: a judge never raises on it."""
    import importlib

    module = importlib.import_module(f"cslib.checks.{lab}")
    for question in module.QUESTIONS:
        fixed, _ = question.cases(np.random.default_rng(0))
        for value in WEIRD:
            got = _weird_results(question, from_data(to_data(value)))
            if got is None:
                continue
            outcome = question.judge(fixed[0].expected, got)
            assert outcome.passed is False and outcome.detail, (question.answer, value)


def test_hints_say_what_to_do_without_the_line_to_type():
    """A failed check's hint says what is wrong and where to look, never the code to type (an assignment or a call
    with the answer's arguments). Lab 2's C, D and E restate the exercise's own definitions."""
    import importlib
    import re

    for lab in sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "cslib" / "checks").glob("lab*.py")):
        for question in importlib.import_module(f"cslib.checks.{lab}").QUESTIONS:
            if (lab, question.answer) in {("lab02", "C"), ("lab02", "D"), ("lab02", "E"), ("lab02", "A")}:
                continue
            hint = question.hint
            assert not re.search(r"\b[\w.\[\]-]+\s*=\s*[\w.]+\(", hint), (lab, question.answer, hint)  # x = f(...)
            assert not re.search(r"\b(?:ax|axes|fig|plt)\.\w+\(|return fig\b", hint), (lab, question.answer, hint)
            assert not re.search(r"\(degrees=|translate=\(|nn\.Linear\(\d", hint), (lab, question.answer, hint)


@pytest.mark.parametrize("lab", sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "cslib" / "checks").glob("lab*.py")))
def test_every_graded_question_has_at_least_four_wrong_answers_tested(lab):
    """Each lab's tests (tests/test_checks_labNN.py) list the wrong answers they build, by question (WRONG_ANSWERS): the
    slips students make, each failed with a message that names it. Every graded question has at least four, all different."""
    import importlib

    questions = [question.answer for question in importlib.import_module(f"cslib.checks.{lab}").QUESTIONS]
    wrong = getattr(importlib.import_module(f"test_checks_{lab}"), "WRONG_ANSWERS", None)
    assert wrong is not None, f"tests/test_checks_{lab}.py has no WRONG_ANSWERS (docs/contributing.md, step 4)"
    assert sorted(wrong) == sorted(questions), "WRONG_ANSWERS names a question the lab does not have, or lacks one"
    few = {question: names for question, names in wrong.items() if len(set(names)) < 4}
    assert few == {}, f"fewer than four different wrong answers: {few}"


@pytest.mark.parametrize("lab", sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "cslib" / "checks").glob("lab*.py")))
def test_every_graded_question_has_an_alternative_right_answer_tested(lab):
    """Each lab's tests also list, by question, the right answers they build written another way than the model
    solution (RIGHT_ANSWERS): another type, style or library where the question allows it, each asserted to pass.
    Every graded question has at least one, and the names of a question's answers are all different."""
    import importlib

    questions = [question.answer for question in importlib.import_module(f"cslib.checks.{lab}").QUESTIONS]
    right = getattr(importlib.import_module(f"test_checks_{lab}"), "RIGHT_ANSWERS", None)
    assert right is not None, f"tests/test_checks_{lab}.py has no RIGHT_ANSWERS (docs/contributing.md, step 4)"
    unknown, missing = sorted(set(right) - set(questions)), [q for q in questions if q not in right]
    assert not unknown, f"RIGHT_ANSWERS names questions the lab does not have: {unknown}"
    assert not missing, f"no alternative right answer tested for: {missing}"
    repeated = {question: names for question, names in right.items() if len(set(names)) != len(names)}
    assert repeated == {}, f"RIGHT_ANSWERS names an answer twice: {repeated}"
