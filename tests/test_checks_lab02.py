"""Lab 2's checks: right answers pass (on many random cases), typical mistakes fail with a useful message,
cslib's own functions and tampering objects do not pass."""
import inspect
import sys

import numpy as np
import pytest
from torch import nn

from cslib import conv
from cslib.checks import lab02 as check
from cslib.checks import report

SEEDS = range(5)


# --------------------------------------------------------------------------- a student's right answers
def maxpool2d(A, size=2, stride=2):
    rows, cols = (A.shape[0] - size) // stride + 1, (A.shape[1] - size) // stride + 1
    return np.array([[A[i * stride:i * stride + size, j * stride:j * stride + size].max() for j in range(cols)] for i in range(rows)])


def pad(A, p):
    return np.pad(A, p)


def conv2d(A, B, stride=1):
    p, q = B.shape
    rows, cols = (A.shape[0] - p) // stride + 1, (A.shape[1] - q) // stride + 1
    return np.array([[np.sum(A[i * stride:i * stride + p, j * stride:j * stride + q] * B) for j in range(cols)] for i in range(rows)])


def maxpool_backward(A, grad_out):
    grad = np.zeros(A.shape)
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            window = A[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            u, v = np.unravel_index(np.argmax(window), window.shape)
            grad[2 * i + u, 2 * j + v] = grad_out[i, j]
    return grad


MY_A = np.array([[1, 5, 2, 0, 3, 3], [4, 2, 8, 1, 0, 7], [6, 6, 1, 9, 2, 2],
                 [0, 3, 5, 5, 4, 1], [9, 1, 2, 8, 6, 0], [2, 7, 3, 3, 1, 5]])


def my_results(A):
    B = check.EXERCISE_B
    C = maxpool2d(A)
    D = conv2d(pad(C, 2), B)
    return {"C": C, "D": D, "E": conv2d(D, B, stride=3)}


TABLE = {
    "Conv2d-1": ((64, 26, 26), 640), "MaxPool2d-2": ((64, 13, 13), 0), "ReLU-3": ((64, 13, 13), 0),
    "Conv2d-4": ((128, 11, 11), 73_856), "MaxPool2d-5": ((128, 5, 5), 0), "ReLU-6": ((128, 5, 5), 0),
    "Flatten-7": ((3200,), 0), "Linear-8": ((200,), 640_200), "ReLU-9": ((200,), 0), "Linear-10": ((10,), 2_010),
}


def bn_dropout_net():
    return nn.Sequential(nn.Linear(784, 1000), nn.BatchNorm1d(1000), nn.ReLU(), nn.Dropout(0.25), nn.Linear(1000, 10))


@pytest.fixture
def student_A(monkeypatch):
    """The notebook's namespace is the kernel's __main__; in pytest we put A there by hand."""
    def set_A(A):
        monkeypatch.setattr(sys.modules["__main__"], "A", A, raising=False)
    set_A(MY_A)
    return set_A


# --------------------------------------------------------------------------- right answers pass
@pytest.mark.parametrize("seed", SEEDS)
def test_right_answers_pass_every_question(seed, student_A):
    answers = {"maxpool2d": maxpool2d, "pad": pad, "conv2d": conv2d, "A": MY_A, **my_results(MY_A),
               "bn_dropout_net": bn_dropout_net(), "maxpool_backward": maxpool_backward, "cnn_table": TABLE}
    assert [q.answer for q in check.QUESTIONS] == list(answers)
    for question in check.QUESTIONS:
        text = report(question, answers[question.answer], np.random.default_rng(seed))
        assert text.startswith(f"✓ {question.title}"), text


def test_points_and_reference_table():
    assert sum(q.points for q in check.QUESTIONS) == 13
    table = check.cnn_reference_table()
    assert {name: (tuple(shape), params) for name, (shape, params) in table.items()} == TABLE
    assert sum(params for _, params in table.values()) == 716_706


def test_the_exercise_on_a_known_matrix():
    A = np.arange(16).reshape(4, 4)
    results = check.exercise_results(A)
    assert results["C"].tolist() == [[5, 7], [13, 15]]
    assert results["D"].shape == (4, 4) and results["E"].shape == (1, 1)
    assert results["D"][0, 0] == 5  # only C[0, 0] = 5 under the kernel's bottom-right 1
    assert results["E"].tolist() == [[results["D"][:3, :3].sum() - 3 * results["D"][1, 1]]]


# --------------------------------------------------------------------------- cslib's own functions are rejected
@pytest.mark.parametrize("name, reference", [("maxpool2d", conv.maxpool2d), ("pad", conv.pad), ("conv2d", conv.conv2d),
                                             ("maxpool_backward", conv.maxpool2d_backward)])
def test_handing_in_cslib_is_rejected(name, reference):
    question = next(q for q in check.QUESTIONS if q.answer == name)
    assert "cslib's own" in report(question, reference)


# --------------------------------------------------------------------------- typical mistakes
def ceil_maxpool(A, size=2, stride=2):  # keeps a partial last window
    rows, cols = -(-(A.shape[0] - size) // stride) + 1, -(-(A.shape[1] - size) // stride) + 1
    return np.array([[A[i * stride:i * stride + size, j * stride:j * stride + size].max() for j in range(cols)] for i in range(rows)])


@pytest.mark.parametrize("question, answer, message", [
    (check.maxpool2d, lambda A, size=2, stride=2: maxpool2d(A, size, size), "wrong shape"),  # ignores the stride
    (check.maxpool2d, ceil_maxpool, "a 5×5 input: the last row and column are dropped"),
    (check.pad, lambda A, p: np.pad(A, ((0, 2 * p), (0, 2 * p))), "wrong values"),  # all the zeros on one side
    (check.pad, lambda A, p: np.pad(A, p).astype(float) + 0.5, "wrong values"),
    (check.conv2d, lambda A, B, stride=1: conv2d(A, B[::-1, ::-1], stride), "Do not flip B"),  # true convolution
    (check.conv2d, lambda A, B, stride=1: conv2d(A, B), "the same, stride 2"),  # ignores the stride
    (check.conv2d, lambda A, B, stride=1: conv2d(A, B.T, stride), "wrong values"),
    (check.conv2d, lambda A, B, stride=1: conv2d(A, B[:, :1].repeat(B.shape[0], 1) if B.shape[0] != B.shape[1] else B, stride),
     "random case"),  # square kernels only: the fixed cases pass, random rectangular kernels catch it
    (check.maxpool_backward, lambda A, g: np.kron(g, np.ones((2, 2)))[:A.shape[0], :A.shape[1]] / 4, "wrong values"),  # average pooling's
    (check.maxpool_backward, lambda A, g: np.kron(g, np.ones((2, 2))), "wrong shape"),  # odd sides forgotten
])
def test_typical_mistakes_fail_with_a_message(question, answer, message):
    text = report(question, answer, np.random.default_rng(0))
    assert text.startswith(f"✗ {question.title}") and message in text, text
    assert "Hint:" in text


@pytest.mark.parametrize("A, message", [
    (MY_A[:5, :5], "sides should be even"),
    (MY_A[:2, :2], "between 4×4 and 16×16"),
    (MY_A.astype(float), "should hold integers"),
    (MY_A.tolist(), "should be a NumPy array"),
    (np.ones((4, 4), dtype=int), "every entry of A is the same"),
    (MY_A[None], "should be a matrix"),
])
def test_bad_choices_of_A_are_explained(A, message):
    text = report(check.A, A)
    assert text.startswith("✗ A") and message in text, text


def test_exercise_results_are_checked_on_the_students_own_A(student_A):
    right = my_results(MY_A)
    assert report(check.D, right["D"]).startswith("✓")
    other = np.arange(36).reshape(6, 6)
    student_A(other)  # the student changed A after computing D: D no longer fits
    text = report(check.D, right["D"])
    assert text.startswith("✗ D") and "For your 6×6 A" in text and "D = (C padded with 2 zeros" in text
    assert report(check.D, my_results(other)["D"]).startswith("✓")


@pytest.mark.parametrize("name, wrong, message", [
    ("C", lambda A: maxpool2d(A, 2, 1), "wrong shape: expected (3, 3), got (5, 5)"),
    ("D", lambda A: conv2d(pad(maxpool2d(A), 1), check.EXERCISE_B), "wrong shape"),  # padding 1
    ("D", lambda A: conv2d(maxpool2d(A), check.EXERCISE_B), "wrong shape"),  # no padding
    ("E", lambda A: conv2d(my_results(A)["D"], check.EXERCISE_B), "wrong shape"),  # stride 1
    ("E", lambda A: my_results(A)["E"] + 1, "wrong values"),
    ("C", lambda A: maxpool2d(A).tolist(), "should be a NumPy array"),
])
def test_wrong_exercise_results_fail(name, wrong, message, student_A):
    question = getattr(check, name)
    text = report(question, wrong(MY_A))
    assert text.startswith(f"✗ {name}") and message in text, text


def test_results_need_a_valid_A(student_A):
    student_A(MY_A[:5, :5])
    assert "fix A first" in report(check.C, my_results(MY_A)["C"])
    student_A(None)
    assert "A is not defined" in report(check.E, my_results(MY_A)["E"])


@pytest.mark.parametrize("net, message", [
    (nn.Sequential(nn.Linear(784, 1000), nn.ReLU(), nn.BatchNorm1d(1000), nn.Dropout(0.25), nn.Linear(1000, 10)), "expected layers"),
    (nn.Sequential(nn.Linear(784, 1000), nn.BatchNorm1d(1000), nn.ReLU(), nn.Linear(1000, 10)), "expected layers"),
    (nn.Sequential(nn.Linear(784, 1000), nn.BatchNorm1d(1000), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1000, 10)), "expected p=0.25"),
    (nn.Sequential(nn.Linear(784, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Dropout(0.25), nn.Linear(100, 10)), "out_features=1000"),
])
def test_wrong_networks_fail(net, message):
    text = report(check.bn_dropout_net, net)
    assert text.startswith("✗ bn_dropout_net") and message in text, text


def test_a_class_with_the_same_layers_passes():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(784, 1000), nn.BatchNorm1d(1000), nn.ReLU()
            self.d, self.e = nn.Dropout(0.25), nn.Linear(1000, 10)

        def forward(self, x):
            return self.e(self.d(self.c(self.b(self.a(x)))))

    assert report(check.bn_dropout_net, Net()).startswith("✓")


def table_with(**rows):
    table = dict(TABLE)
    table.update({name.replace("_", "-"): row for name, row in rows.items()})
    return table


@pytest.mark.parametrize("table, messages", [
    (table_with(Conv2d_4=((128, 11, 11), 73_728)),
     ["1 wrong entry", "Conv2d-4: 73728 parameters is wrong, expected 73,856: 128 filters × (64 channels × 3×3) weights + 128 biases"]),
    (table_with(Conv2d_1=((64, 28, 28), 640)), ["Conv2d-1: output shape (64, 28, 28) is wrong, expected (64, 26, 26)", "⌊(28 + 2·0 − 3)/1⌋ + 1 = 26"]),
    (table_with(MaxPool2d_5=((128, 6, 6), 0)), ["MaxPool2d-5", "rounding down: ⌊(11 − 2)/2⌋ + 1 = 5"]),
    (table_with(Flatten_7=((-1, 3200), 0)), ["Flatten-7: leave out the batch dimension (-1)"]),
    (table_with(Linear_8=((200,), 640_000), ReLU_3=((64, 13, 13), 64)),
     ["2 wrong entries", "3200 × 200 weights + 200 biases = 640,200", "ReLU-3: 64 parameters is wrong"]),
    ({k: v for k, v in TABLE.items() if k != "ReLU-9"}, ["missing rows: ReLU-9"]),
    ({**TABLE, "Dropout-11": ((10,), 0)}, ["unknown rows: Dropout-11"]),
    (table_with(Linear_10=(10, 2010.0)), ["Linear-10: 2010.0 parameters is wrong"]),
    (list(TABLE.items()), ["should be a dict"]),
])
def test_wrong_cnn_tables_say_which_row_and_why(table, messages):
    text = report(check.cnn_table, table)
    assert text.startswith("✗ cnn_table")
    for message in messages:
        assert message in text, text


def test_a_table_with_plain_ints_for_flat_shapes_passes():
    assert report(check.cnn_table, table_with(Flatten_7=(3200, 0), Linear_10=([10], 2010))).startswith("✓")


# --------------------------------------------------------------------------- tampering
class AlwaysEqual:
    def __eq__(self, other):
        return True

    shape = (2, 2)


class SneakyDict(dict):
    def __eq__(self, other):
        return True


def test_objects_that_claim_to_equal_everything_fail(student_A):
    for question in (check.C, check.D, check.E, check.A, check.cnn_table):
        assert report(question, AlwaysEqual()).startswith("✗"), question.title
    assert report(check.conv2d, lambda A, B, stride=1: AlwaysEqual()).startswith("✗")
    assert report(check.cnn_table, SneakyDict()).startswith("✗ cnn_table")
    assert report(check.cnn_table, SneakyDict(TABLE)).startswith("✓")  # a dict subclass with the right content is fine


def test_exceptions_in_student_code_are_reported():
    def broken(A, size=2, stride=2):
        raise IndexError("index 4 is out of bounds")

    text = report(check.maxpool2d, broken)
    assert "raised IndexError: index 4 is out of bounds" in text


def test_driver_is_self_contained_for_the_grader(student_A):
    """The grader sends the driver's source into the student's kernel and runs it in a fresh namespace."""
    namespace = {}
    exec(inspect.getsource(check.drive_exercise), namespace)
    result = namespace["drive_exercise"](np.eye(2))
    assert result["A"] is MY_A and result["answer"].shape == (2, 2)
