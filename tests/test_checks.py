"""The checks machinery: plain-data comparison, ✓/✗ reports, and tampering that must not pass."""
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
    assert "cslib's own" in report(ADD, add_reference)


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
    assert [l["type"] for l in d["layers"]] == ["Conv2d", "ReLU", "Flatten", "Dropout", "Linear"]
    assert d["layers"][0]["stride"] == [2, 2] and d["layers"][3]["p"] == 0.3
    assert d["n_params"] == 4 * 9 + 4 + 784 * 10 + 10 and d["output_shape"] == [2, 10]
    assert run_probe(lambda: model, "call_model", ((1, 1, 28, 28),))["output_shape"] == [1, 10]
    with pytest.raises(TypeError, match="nn.Module"):
        describe_model("not a model")


def test_custom_compare_is_used():
    q = Question("x", "x", probe="value", fixed=lambda: [Case((), 5)], compare=lambda e, g: Outcome(g > e, "too small"))
    assert report(q, 6).startswith("✓") and "too small" in report(q, 4)
