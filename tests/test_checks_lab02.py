"""Lab 2's checks: the model solution passes every case for many seeds; known-wrong answers fail with a
message that names the problem; right answers written another way pass; the by-hand questions (C, D, E,
cnn_table) never show their expected values; cslib's own functions and tampering objects do not pass."""
import inspect
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from check_properties import index, model_solution_failures, put_in_notebook, seeds_for, verdict
from cslib import conv
from cslib.checks import lab02 as check
from cslib.checks import report
from model_solutions import answers

SEEDS = range(5)
SOLUTION = answers("lab02")


@pytest.fixture
def solution_notebook(monkeypatch):
    """The drivers of C, D and E read A, C and D from the notebook (the kernel's __main__): here, the solution's."""
    for name in ("A", "C", "D"):
        monkeypatch.setattr(sys.modules["__main__"], name, SOLUTION[name], raising=False)


@pytest.mark.parametrize("question", check.QUESTIONS, ids=lambda q: q.answer)
def test_model_solution_passes_every_case_for_many_seeds(question, solution_notebook):
    seeds = seeds_for(costly=False)
    failures = model_solution_failures(check.QUESTIONS, question, SOLUTION[question.answer], seeds)
    assert not failures, f"{len(failures)} failure(s) over {len(seeds)} seeds:\n" + "\n".join(failures[:5])


# --------------------------------------------------------------------------- a student's right answers
def maxpool2d(A, size=2, stride=2):
    rows, cols = (A.shape[0] - size) // stride + 1, (A.shape[1] - size) // stride + 1
    return np.array([[A[i * stride:i * stride + size, j * stride:j * stride + size].max() for j in range(cols)] for i in range(rows)])


def framed(A, p, value=0, at_end_only=False):
    """A with a frame of ``p`` entries of ``value`` (np.pad without np.pad, which the question refuses)."""
    A = np.asarray(A)
    m, n = A.shape
    out = np.full((m + 2 * p, n + 2 * p), value, dtype=A.dtype)
    top = 0 if at_end_only else p
    out[top:top + m, top:top + n] = A
    return out


def pad(A, p):
    return framed(A, p)


def autograd_backward(A, grad_out):
    """maxpool_backward by autograd: the question asks for the rule, written out."""
    x = torch.tensor(np.asarray(A, dtype=float), requires_grad=True)
    F.max_pool2d(x[None], 2, 2)[0].backward(torch.tensor(np.asarray(grad_out, dtype=float)))
    return x.grad.numpy()


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


TABLE = {  # the lecture's CNN for colour images, (3, 32, 32): the lecture prints the table of (1, 28, 28) inputs
    "Conv2d-1": ((64, 30, 30), 1_792), "MaxPool2d-2": ((64, 15, 15), 0), "ReLU-3": ((64, 15, 15), 0),
    "Conv2d-4": ((128, 13, 13), 73_856), "MaxPool2d-5": ((128, 6, 6), 0), "ReLU-6": ((128, 6, 6), 0),
    "Flatten-7": ((4608,), 0), "Linear-8": ((200,), 921_800), "ReLU-9": ((200,), 0), "Linear-10": ((10,), 2_010),
}
LECTURE_TABLE = {  # what lecture 2 prints: a copy of it is not this question's answer
    "Conv2d-1": ((64, 26, 26), 640), "MaxPool2d-2": ((64, 13, 13), 0), "ReLU-3": ((64, 13, 13), 0),
    "Conv2d-4": ((128, 11, 11), 73_856), "MaxPool2d-5": ((128, 5, 5), 0), "ReLU-6": ((128, 5, 5), 0),
    "Flatten-7": ((3200,), 0), "Linear-8": ((200,), 640_200), "ReLU-9": ((200,), 0), "Linear-10": ((10,), 2_010),
}


def bn_dropout_net():
    return nn.Sequential(nn.Linear(784, 1000), nn.BatchNorm1d(1000), nn.ReLU(), nn.Dropout(0.25), nn.Linear(1000, 10))


@pytest.fixture
def student_A(monkeypatch):
    """The notebook's namespace is the kernel's __main__; in pytest we put A there by hand (and no C or D yet)."""
    for name in ("C", "D"):
        monkeypatch.delattr(sys.modules["__main__"], name, raising=False)

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
    assert sum(params for _, params in table.values()) == 999_458


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


# --------------------------------------------------------------------------- known-wrong answers
def ceil_maxpool(A, size=2, stride=2):  # keeps a partial last window
    rows, cols = -(-(A.shape[0] - size) // stride) + 1, -(-(A.shape[1] - size) // stride) + 1
    return np.array([[A[i * stride:i * stride + size, j * stride:j * stride + size].max() for j in range(cols)] for i in range(rows)])


def maxpool_one_short(A, size=2, stride=2):  # forgets the + 1 of the formula
    rows, cols = (A.shape[0] - size) // stride, (A.shape[1] - size) // stride
    return np.array([[A[i * stride:i * stride + size, j * stride:j * stride + size].max() for j in range(cols)] for i in range(rows)])


def conv_one_short(A, B, stride=1):
    p, q = B.shape
    rows, cols = (A.shape[0] - p) // stride, (A.shape[1] - q) // stride
    return np.array([[np.sum(A[i * stride:i * stride + p, j * stride:j * stride + q] * B) for j in range(cols)] for i in range(rows)])


def backward_skips_last_window(A, grad_out):  # range(n - 1): the last row of windows gets no gradient
    grad = maxpool_backward(A, grad_out)
    grad[2 * (grad_out.shape[0] - 1):] = 0
    return grad


def cslib_maxpool(A, size=2, stride=2):
    return conv.maxpool2d(A, size, stride)


WRONG = [
    (check.maxpool2d, lambda A, size=2, stride=2: maxpool2d(A, size, size), "wrong shape"),  # ignores the stride
    (check.maxpool2d, ceil_maxpool, "a 5×5 input: the last row and column are dropped"),
    (check.maxpool2d, maxpool_one_short, "wrong shape: expected (2, 2), got (1, 1)"),  # off by one
    (check.maxpool2d, lambda A, size=2, stride=2: conv.avgpool2d(A, size, stride), "wrong values"),
    (check.maxpool2d, lambda A, size=2, stride=2: None, "expected an array, got None"),
    (check.maxpool2d, conv.maxpool2d, "cslib's own cslib.conv.maxpool2d"),
    (check.pad, lambda A, p: framed(A, p, at_end_only=True), "wrong values"),  # all the zeros on one side
    (check.pad, lambda A, p: framed(A, p).astype(float) + 0.5, "wrong values"),
    (check.pad, lambda A, p: framed(A, p, value=1), "wrong values"),
    (check.pad, lambda A, p: framed(A, p + 1), "wrong shape"),  # off by one
    (check.pad, lambda A, p: str(framed(A, p)), "expected an array, got the string"),
    (check.pad, lambda A, p: np.pad(A, p), "the ready-made numpy.pad"),  # the question asks to write it
    (check.maxpool2d, lambda A, size=2, stride=2: F.max_pool2d(torch.tensor(A, dtype=torch.float64)[None], size, stride)[0].numpy(),
     "the ready-made torch"),
    (check.conv2d, lambda A, B, stride=1: F.conv2d(torch.tensor(A, dtype=torch.float64)[None, None],
                                                   torch.tensor(B, dtype=torch.float64)[None, None], stride=stride)[0, 0].numpy(),
     "the ready-made torch.conv2d"),
    (check.maxpool_backward, autograd_backward, "the ready-made torch"),
    (check.pad, conv.pad, "cslib's own cslib.conv.pad"),
    (check.pad, lambda A, p: framed(A, p).astype(float), "the entries became floats"),  # the question keeps the type
    (check.conv2d, lambda A, B, stride=1: conv2d(A, B[::-1, ::-1], stride), "B is not flipped"),  # true convolution
    (check.conv2d, lambda A, B, stride=1: conv2d(A, B), "the same, stride 2"),  # ignores the stride
    (check.conv2d, lambda A, B, stride=1: conv2d(A, B.T, stride), "wrong values"),
    (check.conv2d, lambda A, B, stride=1: conv2d(A, B[:, :1].repeat(B.shape[0], 1) if B.shape[0] != B.shape[1] else B, stride),
     "random case"),  # square kernels only: the fixed cases pass, random rectangular kernels catch it
    (check.conv2d, conv_one_short, "wrong shape: expected (3, 3), got (2, 2)"),  # off by one
    (check.conv2d, conv.conv2d, "cslib's own cslib.conv.conv2d"),
    (check.maxpool_backward, lambda A, g: np.kron(g, np.ones((2, 2)))[:A.shape[0], :A.shape[1]] / 4, "wrong values"),  # average pooling's
    (check.maxpool_backward, lambda A, g: np.kron(g, np.ones((2, 2))), "wrong shape"),  # odd sides forgotten
    (check.maxpool_backward, backward_skips_last_window, "wrong values"),  # off by one
    (check.maxpool_backward, lambda A, g: (maxpool_backward(A, np.ones_like(g)) > 0).astype(float), "wrong values"),  # 1, not grad_out
    (check.maxpool_backward, conv.maxpool2d_backward, "cslib's own cslib.conv.maxpool2d_backward"),
]


@pytest.mark.parametrize("question, answer, message", WRONG, ids=[f"{q.answer}-{i}" for i, (q, _, _) in enumerate(WRONG)])
def test_wrong_answers_fail_with_a_message_that_names_the_problem(question, answer, message):
    text = verdict(question, answer)
    assert text.startswith(f"✗ {question.title}") and message in text, text
    assert "Hint:" in text or "cslib's own" in text or "the ready-made" in text


@pytest.mark.parametrize("question, answer", [
    pytest.param(check.maxpool2d, cslib_maxpool, id="maxpool2d-def"),
    pytest.param(check.pad, lambda A, p: conv.pad(A, p), id="pad-lambda"),
    pytest.param(check.conv2d, __import__("functools").partial(conv.conv2d, padding=0), id="conv2d-partial"),
    pytest.param(check.maxpool_backward, lambda A, g: conv.maxpool2d_backward(A, g), id="maxpool_backward"),
])
def test_a_wrapped_course_function_is_not_an_answer(question, answer):
    text = verdict(question, answer)
    assert text.startswith("✗") and "cslib" in text, text


# --------------------------------------------------------------------------- right answers written another way
def maxpool_by_windows(A, size=2, stride=2):
    """Every size×size window at once (NumPy's sliding_window_view), every stride-th one kept."""
    return np.lib.stride_tricks.sliding_window_view(A, (size, size))[::stride, ::stride].max(axis=(2, 3))


def pad_by_stacking(A, p):
    """Blocks of zeros of A's dtype stacked around A (np.hstack, np.vstack)."""
    m, n = A.shape
    side, top = np.zeros((m, p), dtype=A.dtype), np.zeros((p, n + 2 * p), dtype=A.dtype)
    return np.vstack([top, np.hstack([side, A, side]), top])


def pad_zeros_like(A, p):
    padded = np.zeros_like(A, shape=(A.shape[0] + 2 * p, A.shape[1] + 2 * p))
    padded[p:p + A.shape[0], p:p + A.shape[1]] = A
    return padded


def conv_by_windows(A, B, stride=1):
    """Every window at once, multiplied with B and summed by np.einsum."""
    windows = np.lib.stride_tricks.sliding_window_view(A, B.shape)[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", windows, B)


def backward_by_masks(A, grad_out):
    """Each window's grad_out value where the window equals its maximum (the random cases have no ties)."""
    grad = np.zeros(A.shape)
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            window = A[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            grad[2 * i:2 * i + 2, 2 * j:2 * j + 2] = (window == window.max()) * grad_out[i, j]
    return grad


def backward_vectorised(A, grad_out):
    """No loop: each entry compared with its window's maximum (the student's own maxpool2d, spread by np.repeat)."""
    m, n = 2 * grad_out.shape[0], 2 * grad_out.shape[1]
    covered = A[:m, :n]  # a last odd row or column is in no window
    maxima = np.repeat(np.repeat(maxpool2d(covered), 2, axis=0), 2, axis=1)
    grad = np.zeros(A.shape)
    grad[:m, :n] = (covered == maxima) * np.kron(grad_out, np.ones((2, 2)))
    return grad


RIGHT = [  # (question, a right answer written another way than the model solution, its name)
    (check.maxpool2d, maxpool2d, "comprehension"),  # list comprehensions where the solution loops
    (check.maxpool2d, lambda A, size=2, stride=2: maxpool2d(A, size, stride).tolist(), "list"),  # a nested list
    (check.maxpool2d, lambda A, size=2, stride=2: torch.tensor(maxpool2d(A, size, stride)), "tensor"),
    (check.maxpool2d, maxpool_by_windows, "sliding-windows"),
    (check.pad, lambda A, p: torch.from_numpy(framed(A, p)), "tensor"),  # a tensor of the same integers
    (check.pad, pad_by_stacking, "stacked"),
    (check.pad, pad_zeros_like, "zeros-like"),
    (check.conv2d, conv2d, "comprehension"),
    (check.conv2d, lambda A, B, stride=1: conv2d(A.astype(float), B, stride), "float"),
    (check.conv2d, conv_by_windows, "einsum"),
    (check.maxpool_backward, lambda A, g: torch.tensor(maxpool_backward(A, g), dtype=torch.float32), "tensor"),
    (check.maxpool_backward, backward_by_masks, "masks"),
    (check.maxpool_backward, backward_vectorised, "vectorised"),
]


@pytest.mark.parametrize("question, answer", [pytest.param(q, a, id=f"{q.answer}-{name}") for q, a, name in RIGHT])
def test_right_answers_written_another_way_pass(question, answer):
    text = verdict(question, answer)
    assert text.startswith(f"✓ {question.title}"), text


A_RIGHT = [  # the question leaves A to the student: other choices than the model solution's 8×8 of π's digits
    (MY_A, "6x6"),
    (np.random.default_rng(0).integers(0, 10, size=(8, 8)), "random-integers"),
    (np.arange(64).reshape(4, 16), "4x16"),  # rectangular, the largest side allowed
    (MY_A.astype(np.int32), "int32"),
    (MY_A.astype(np.uint8), "uint8"),
]


@pytest.mark.parametrize("A", [A for A, _ in A_RIGHT], ids=[name for _, name in A_RIGHT])
def test_other_choices_of_A_pass(A):
    assert report(check.A, A).startswith("✓ A")


A_WRONG = [
    (MY_A[:5, :5], "sides should be even"),
    (MY_A[:2, :2], "between 4×4 and 16×16"),
    (MY_A.astype(float), "should hold integers"),
    (MY_A.tolist(), "should be a NumPy array"),
    (np.ones((4, 4), dtype=int), "every entry of A is the same"),
    (MY_A[None], "should be a matrix"),
]


@pytest.mark.parametrize("A, message", A_WRONG)
def test_bad_choices_of_A_are_explained(A, message):
    text = report(check.A, A)
    assert text.startswith("✗ A") and message in text, text


def test_exercise_results_are_checked_on_the_students_own_A(student_A):
    right = my_results(MY_A)
    assert report(check.D, right["D"]).startswith("✓")
    other = np.arange(36).reshape(6, 6)
    student_A(other)  # the student changed A after computing D: D no longer fits
    text = report(check.D, right["D"])
    assert text.startswith("✗ D") and "D has the right shape, but" in text and "the sum of the 3×3 window of the padded C" in text
    assert report(check.D, my_results(other)["D"]).startswith("✓")


def secrets(name, A):
    """How the expected value of C, D or E would appear in a message: the feedback must show none of these."""
    want = check.exercise_results(A)[name]
    return [f"{want.shape[0]}×{want.shape[1]}", f"({want.shape[0]}, {want.shape[1]})", np.array2string(want)]


EXERCISE_WRONG = [
    ("C", lambda A: maxpool2d(A, 2, 1), "C has the wrong shape, 5×5, for your 6×6 A: 2×2 max pooling with stride 2"),
    ("D", lambda A: conv2d(pad(maxpool2d(A), 1), check.EXERCISE_B), "D has the wrong shape"),  # padding 1
    ("D", lambda A: conv2d(maxpool2d(A), check.EXERCISE_B), "D has the wrong shape"),  # no padding
    ("D", lambda A: conv2d(pad(maxpool2d(A), 2), np.abs(check.EXERCISE_B)), "entries are wrong, the first at row"),  # +2 for −2
    ("E", lambda A: conv2d(my_results(A)["D"], check.EXERCISE_B), "E has the wrong shape"),  # stride 1
    ("E", lambda A: my_results(A)["E"] + 1, "1 of its 1 entries are wrong"),
    ("C", lambda A: maxpool2d(A).astype(float) + 0.5, "entries are wrong"),
    ("C", lambda A: str(maxpool2d(A)), "C should be a matrix (a 2-D NumPy array), got the string"),
    ("C", lambda A: maxpool2d(A)[0], "C should be a matrix"),
    ("D", lambda A: conv2d(pad(maxpool2d(A), 2), check.EXERCISE_B, stride=3), "D has the wrong shape"),  # E's stride
    ("D", lambda A: conv2d(pad(A, 2), check.EXERCISE_B), "D has the wrong shape"),  # from A instead of C
    ("D", lambda A: my_results(A)["D"].T, "entries are wrong"),  # transposed
    ("E", lambda A: conv2d(my_results(A)["D"], check.EXERCISE_B, stride=2), "E has the wrong shape"),
    ("E", lambda A: conv2d(pad(my_results(A)["D"], 2), check.EXERCISE_B, stride=3), "E has the wrong shape"),  # padded again
    ("E", lambda A: float(my_results(A)["E"][0, 0]), "E should be a matrix"),  # the one entry, not the 1×1 matrix
]
EXERCISE_WRONG_IDS = ["C-stride-1", "D-padding-1", "D-no-padding", "D-abs-kernel", "E-stride-1", "E-plus-one", "C-floats",
                      "C-string", "C-row", "D-stride-3", "D-from-A", "D-transposed", "E-stride-2", "E-padded",
                      "E-number"]


@pytest.mark.parametrize("name, wrong, message", EXERCISE_WRONG, ids=EXERCISE_WRONG_IDS)
def test_wrong_exercise_results_name_the_problem_without_the_answer(name, wrong, message, student_A):
    A = np.arange(36).reshape(6, 6) % 7  # a 6×6 A: C is 3×3, D is 5×5, E is 1×1
    student_A(A)
    question = getattr(check, name)
    assert not question.reveals
    text = report(question, wrong(A))
    assert text.startswith(f"✗ {name}") and message in text, text
    for secret in secrets(name, A):
        assert secret not in text, (secret, text)


def test_a_wrong_C_is_named_before_D_and_E(student_A):
    A = np.arange(36).reshape(6, 6) % 7
    student_A(A)
    put_in_notebook("C", maxpool2d(A, 2, 1))  # the student's C is wrong, and D was computed from it
    wrong_D = conv2d(pad(maxpool2d(A, 2, 1), 2), check.EXERCISE_B)
    assert "your C is not right yet: fix C first" in report(check.D, wrong_D)
    assert report(check.D, my_results(A)["D"]).startswith("✓")  # a right D is right, whatever C is


EXERCISE_RIGHT = [  # (which result, the right result of the student's A in another type, its name)
    ("C", lambda A: my_results(A)["C"].tolist(), "C-list"),  # a nested list of the right numbers
    ("C", lambda A: torch.from_numpy(my_results(A)["C"]), "C-tensor"),
    ("C", lambda A: A.reshape(len(A) // 2, 2, -1, 2).max(axis=(1, 3)).astype(np.int32), "C-reshaped-int32"),
    ("D", lambda A: my_results(A)["D"].astype(float), "D-float"),
    ("D", lambda A: my_results(A)["D"].tolist(), "D-list"),
    ("E", lambda A: torch.tensor(my_results(A)["E"]), "E-tensor"),
    ("E", lambda A: my_results(A)["E"].astype(np.float32), "E-float32"),
]


@pytest.mark.parametrize("name, right", [pytest.param(name, right, id=i) for name, right, i in EXERCISE_RIGHT])
def test_right_exercise_results_in_another_type_pass(name, right, student_A):
    assert report(getattr(check, name), right(MY_A)).startswith(f"✓ {name}")


def test_results_need_a_valid_A(student_A):
    student_A(MY_A[:5, :5])
    assert "fix A first" in report(check.C, my_results(MY_A)["C"])
    student_A(None)
    assert "A is not defined" in report(check.E, my_results(MY_A)["E"])


class MNISTNeuralNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(784, 1000), nn.BatchNorm1d(1000), nn.ReLU()
        self.d, self.e = nn.Dropout(0.25), nn.Linear(1000, 10)

    def forward(self, x):
        return self.e(self.d(self.c(self.b(self.a(x)))))


NETWORK_WRONG = [
    (nn.Sequential(nn.Linear(784, 1000), nn.ReLU(), nn.BatchNorm1d(1000), nn.Dropout(0.25), nn.Linear(1000, 10)), "expected layers"),
    (nn.Sequential(nn.Linear(784, 1000), nn.BatchNorm1d(1000), nn.ReLU(), nn.Linear(1000, 10)), "expected layers"),
    (nn.Sequential(nn.Linear(784, 1000), nn.BatchNorm1d(1000), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1000, 10)), "expected p=0.25"),
    (nn.Sequential(nn.Linear(784, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Dropout(0.25), nn.Linear(100, 10)), "out_features=1000"),
    (nn.Sequential(nn.Linear(784, 999), nn.BatchNorm1d(1000), nn.ReLU(), nn.Dropout(0.25), nn.Linear(1000, 10)), "out_features=1000"),
    (MNISTNeuralNet, "expected a torch nn.Module, got type"),  # the class, not a network
    ([nn.Linear(784, 1000), nn.BatchNorm1d(1000), nn.ReLU(), nn.Dropout(0.25), nn.Linear(1000, 10)], "got list"),
]
NETWORK_WRONG_IDS = ["relu-before-bn", "no-dropout", "p", "hidden-100", "off-by-one", "class", "list"]


@pytest.mark.parametrize("net, message", NETWORK_WRONG, ids=NETWORK_WRONG_IDS)
def test_wrong_networks_fail(net, message):
    text = report(check.bn_dropout_net, net)
    assert text.startswith("✗ bn_dropout_net") and message in text, text


def test_a_class_with_the_same_layers_fails_the_question_asks_for_nn_sequential():
    text = report(check.bn_dropout_net, MNISTNeuralNet())
    assert text.startswith("✗") and "the network is a MNISTNeuralNet class with its own forward()" in text, text


def with_the_class_names():
    """The layers named as the lecture's class names them, with add_module."""
    net = nn.Sequential()
    for name, layer in [("input_to_hidden_layer", nn.Linear(28 * 28, 1000)), ("batch_norm", nn.BatchNorm1d(1000)),
                        ("hidden_layer_activation", nn.ReLU()), ("dropout", nn.Dropout(0.25)),
                        ("hidden_to_output_layer", nn.Linear(1000, 10))]:
        net.add_module(name, layer)
    return net


NETWORK_RIGHT = [
    (nn.Sequential(nn.Sequential(nn.Linear(784, 1000), nn.BatchNorm1d(1000), nn.ReLU()),
                   nn.Sequential(nn.Dropout(0.25), nn.Linear(1000, 10))), "nested"),  # Sequentials inside a Sequential are one
    (nn.Sequential(OrderedDict(input_to_hidden_layer=nn.Linear(28 * 28, 1000), batch_norm=nn.BatchNorm1d(1000),
                               hidden_layer_activation=nn.ReLU(), dropout=nn.Dropout(p=0.25),
                               hidden_to_output_layer=nn.Linear(1000, 10))), "ordered-dict"),
    (with_the_class_names(), "add-module"),
    (nn.Sequential(nn.Flatten(), *bn_dropout_net()), "flatten-first"),  # for 28×28 images; 784-vectors pass unchanged
]


@pytest.mark.parametrize("net", [net for net, _ in NETWORK_RIGHT], ids=[name for _, name in NETWORK_RIGHT])
def test_networks_built_another_way_pass(net):
    assert report(check.bn_dropout_net, net).startswith("✓ bn_dropout_net")


def table_with(**rows):
    table = dict(TABLE)
    table.update({name.replace("_", "-"): row for name, row in rows.items()})
    return table


TABLE_WRONG = [
    (table_with(Conv2d_4=((128, 13, 13), 73_728)),
     ["1 wrong entry", "Conv2d-4: 73,728 parameters is wrong: each of its 128 filters has one 3×3 kernel per input channel (64), plus one bias"]),
    (table_with(Conv2d_1=((64, 32, 32), 1_792)), ["Conv2d-1: the output shape (64, 32, 32) is wrong: its input is the image, (3, 32, 32)",
                                                "⌊(n + 2·padding − kernel)/stride⌋ + 1"]),
    (table_with(Conv2d_1=((64, 31, 31), 1_792)), ["Conv2d-1: the output shape (64, 31, 31) is wrong"]),  # off by one
    (table_with(MaxPool2d_5=((128, 7, 7), 0)), ["MaxPool2d-5", "its input is the output of Conv2d-4, (128, 13, 13)",
                                                "a last odd row or column is dropped"]),
    (table_with(Conv2d_4=((128, 12, 12), 73_856), MaxPool2d_5=((128, 7, 7), 0)),
     ["its input is the output of Conv2d-4, which is not right yet: fix that row first"]),
    (table_with(Flatten_7=((-1, 4608), 0)), ["Flatten-7: leave out the batch dimension"]),
    (table_with(Linear_8=((200,), 921_600), ReLU_3=((64, 15, 15), 64)),
     ["2 wrong entries", "Linear-8: 921,600 parameters is wrong: one weight per input per output, plus one bias per output",
      "ReLU-3: 64 parameters is wrong"]),
    ({k: v for k, v in TABLE.items() if k != "ReLU-9"}, ["missing rows: ReLU-9"]),
    ({**TABLE, "Dropout-11": ((10,), 0)}, ["unknown rows: Dropout-11"]),
    (table_with(MaxPool2d_5=((128, 6.5, 6.5), 0)), ["MaxPool2d-5: the output shape", "use integer division //"]),
    (table_with(Linear_10=(10, 2010.5)), ["Linear-10: the parameter count is 2010.5, not a whole number"]),
    (table_with(Linear_10=(10, "2010")), ["Linear-10: the parameter count should be a whole number, got the string"]),
    (list(TABLE.items()), ["should be a dict", "got a list"]),
    (torch.tensor(999_458), ["should be a dict", "got a single number in a 0-d tensor"]),
    (LECTURE_TABLE, ["Conv2d-1: the output shape (64, 26, 26) is wrong: its input is the image, (3, 32, 32)"]),  # copied
]


@pytest.mark.parametrize("table, messages", TABLE_WRONG)
def test_wrong_cnn_tables_say_which_row_and_why_but_not_the_answer(table, messages):
    text = report(check.cnn_table, table)
    assert text.startswith("✗ cnn_table")
    for message in messages:
        assert message in text, text
    if isinstance(table, dict):  # the right values of the wrong entries appear nowhere
        for name, row in table.items():
            if name not in TABLE or row == TABLE[name]:
                continue
            shape, params = TABLE[name]
            if tuple(np.atleast_1d(row[0]).tolist()) != shape:
                assert str(shape) not in text, (name, text)
            if row[1] != params and params >= 100 and str(params) not in str(row[1]):  # (2010.5 holds 2010)
                assert f"{params:,}" not in text and str(params) not in text, (name, text)


TABLE_RIGHT = [
    (table_with(Flatten_7=(4608, 0), Linear_10=([10], 2010)), "flat-ints"),  # plain ints for flat shapes
    (table_with(Conv2d_1=((64, 30.0, 30.0), 1792), Linear_8=((200,), 921800.0)), "whole-floats"),  # whole numbers computed with /
    (table_with(Conv2d_1=(torch.Size([64, 30, 30]), torch.tensor(1792))), "torch"),  # what PyTorch gives
    ({name: [list(shape), params] for name, (shape, params) in TABLE.items()}, "lists"),  # lists instead of tuples
    ({name: (np.array(shape), np.int64(params)) for name, (shape, params) in TABLE.items()}, "numpy"),  # computed with NumPy
    (dict(reversed(TABLE.items())), "rows-in-another-order"),
]


@pytest.mark.parametrize("table", [table for table, _ in TABLE_RIGHT], ids=[name for _, name in TABLE_RIGHT])
def test_right_tables_in_another_type_pass(table):
    assert report(check.cnn_table, table).startswith("✓")


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


def test_no_lecture_output_holds_the_cnn_table_answer():
    """cnn_table is worked out by hand (reveals=False): no stored lecture prints its rows (lecture 2 prints the
    table of the (1, 28, 28) network, which is not this question's)."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    outputs = ""
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for out in cell.get("outputs", []):
                outputs += "".join(out.get("text") or out.get("data", {}).get("text/plain", ""))
    assert "640,200" in outputs  # the lecture's own table is there; this question's distinctive rows are not
    # (single numbers such as 1,792, the parameters of VGG16's first convolution too, are no table)
    for row in ("[-1, 64, 30, 30]", "[-1, 64, 15, 15]", "[-1, 128, 13, 13]", "[-1, 128, 6, 6]", "921,800", "999,458"):
        assert row not in outputs, row


# The wrong answers these tests build, by question, named by what the check must say about each.
WRONG_ANSWERS = index(*((question.answer, message) for question, _, message in WRONG),
                      *(("A", message) for _, message in A_WRONG),
                      *((name, wrong_id) for (name, _, _), wrong_id in zip(EXERCISE_WRONG, EXERCISE_WRONG_IDS)),
                      *(("bn_dropout_net", name) for name in NETWORK_WRONG_IDS),
                      *(("cnn_table", messages[0]) for _, messages in TABLE_WRONG))
# The right answers written another way that they build (other types, styles, choices), by question, named by their ids.
RIGHT_ANSWERS = index(*((question.answer, name) for question, _, name in RIGHT),
                      *(("A", name) for _, name in A_RIGHT),
                      *((result, name) for result, _, name in EXERCISE_RIGHT),
                      *(("bn_dropout_net", name) for _, name in NETWORK_RIGHT),
                      *(("cnn_table", name) for _, name in TABLE_RIGHT))
