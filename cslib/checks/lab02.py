"""Checks for lab 2 (convolutions by hand, max-pool backward, the CNN's shapes). In the lab:
``from cslib.checks import lab02 as check``.

Expected values come from :mod:`cslib.conv` (by-hand NumPy, itself tested against PyTorch), from
PyTorch's autograd, and from :func:`cslib.models.cnn`.
"""
from __future__ import annotations

import numpy as np

from cslib.checks import Case, Outcome, Question, compare_data, compare_models, fmt
from cslib.checks.probe import describe_model

EXERCISE_B = np.array([[1, 1, 1], [1, -2, 1], [1, 1, 1]])  # the deck's matrix B
A_MIN, A_MAX = 4, 16  # sides of the student's matrix A


def _ints(rng: np.random.Generator, shape, low: int = -9, high: int = 10) -> np.ndarray:
    return rng.integers(low, high, size=shape)


def _shape_text(a) -> str:
    return f"{a.shape[0]}×{a.shape[1]}" if isinstance(a, np.ndarray) and a.ndim == 2 else str(getattr(a, "shape", "?"))


# --------------------------------------------------------------------------- Q1 maxpool2d
def _maxpool_case(A, size, stride, shown="") -> Case:
    from cslib.conv import maxpool2d

    return Case((A, size, stride), maxpool2d(A, size, stride), shown or f"A {_shape_text(A)}, size {size}, stride {stride}")


def _random_maxpool(rng):
    cases = []
    for _ in range(4):
        size, stride = int(rng.integers(2, 4)), int(rng.integers(1, 4))
        A = _ints(rng, tuple(int(s) for s in rng.integers(size, 9, size=2)))
        cases.append(_maxpool_case(A, size, stride))
    return cases


maxpool2d = Question(
    answer="maxpool2d",
    title="maxpool2d",
    points=1,
    hint="output size ⌊(n − size)/stride⌋ + 1 in each direction; entry (i, j) is the max of "
         "A[i*stride : i*stride+size, j*stride : j*stride+size]. Rows/columns that do not fill a window are dropped.",
    fixed=lambda: [_maxpool_case(np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]), 2, 2, "the lecture's 4×4 example"),
                   _maxpool_case(np.arange(25).reshape(5, 5), 2, 2, "a 5×5 input: the last row and column are dropped")],
    random=_random_maxpool,
    reject=("cslib.conv.maxpool2d",),
)


# --------------------------------------------------------------------------- Q2 pad
def _pad_case(A, p, shown="") -> Case:
    from cslib.conv import pad as reference

    return Case((A, p), reference(A, p), shown or f"A {_shape_text(A)}, p = {p}")


pad = Question(
    answer="pad",
    title="pad",
    points=1,
    hint="make np.zeros((m + 2*p, n + 2*p)) and copy A into its middle: padded[p:p+m, p:p+n] = A.",
    fixed=lambda: [_pad_case(np.array([[1, 2], [3, 4]]), 2, "[[1, 2], [3, 4]], p = 2"),
                   _pad_case(np.array([[5, -1, 3]]), 1, "a 1×3 row, p = 1"),
                   _pad_case(np.eye(3, dtype=int), 0, "p = 0 changes nothing")],
    random=lambda rng: [_pad_case(_ints(rng, tuple(int(s) for s in rng.integers(1, 7, size=2))), int(rng.integers(0, 4)))
                        for _ in range(3)],
    reject=("cslib.conv.pad",),
)


# --------------------------------------------------------------------------- Q3 conv2d
def _conv_case(A, B, stride, shown="") -> Case:
    from cslib.conv import conv2d as reference

    return Case((A, B, stride), reference(A, B, stride), shown or f"A {_shape_text(A)}, B {_shape_text(B)}, stride {stride}")


def _random_conv(rng):
    cases = []
    for _ in range(5):
        p, q = (int(s) for s in rng.integers(1, 5, size=2))
        m, n = int(rng.integers(p, 10)), int(rng.integers(q, 10))
        cases.append(_conv_case(_ints(rng, (m, n)), _ints(rng, (p, q), -3, 4), int(rng.integers(1, 4))))
    return cases


conv2d = Question(
    answer="conv2d",
    title="conv2d",
    points=2,
    hint="output shape (⌊(m − p)/stride⌋ + 1, ⌊(n − q)/stride⌋ + 1); entry (i, j) is "
         "np.sum(A[i*stride : i*stride+p, j*stride : j*stride+q] * B). Do not flip B (deep learning's convolution).",
    fixed=lambda: [_conv_case(np.arange(1, 17).reshape(4, 4), np.array([[1, 2], [3, 4]]), 1, "the lecture's A (1..16) and B = [[1, 2], [3, 4]]"),
                   _conv_case(np.arange(1, 17).reshape(4, 4), np.array([[1, 2], [3, 4]]), 2, "the same, stride 2"),
                   _conv_case(np.arange(30).reshape(5, 6), EXERCISE_B, 3, "a 5×6 A, the exercise's B, stride 3")],
    random=_random_conv,
    reject=("cslib.conv.conv2d",),
)


# --------------------------------------------------------------------------- Q4 A (the student's matrix)
def _problems_with_A(A) -> str:
    """Why ``A`` (plain data) cannot be the exercise's matrix, or ''."""
    if not isinstance(A, np.ndarray):
        return f"A should be a NumPy array, e.g. A = np.array([[...], ...]); got {type(A).__name__}"
    if A.ndim != 2:
        return f"A should be a matrix (2-D), got shape {A.shape}"
    if A.dtype.kind not in "iu":
        return f"A should hold integers (dtype int), got dtype {A.dtype}: write whole numbers, or use .astype(int)"
    m, n = A.shape
    if not (A_MIN <= m <= A_MAX and A_MIN <= n <= A_MAX):
        return f"A should be between {A_MIN}×{A_MIN} and {A_MAX}×{A_MAX}, got {m}×{n}"
    if m % 2 or n % 2:
        return f"A's sides should be even, so that 2×2 windows cover it exactly; got {m}×{n}"
    if np.all(A == A.flat[0]):
        return "every entry of A is the same: choose a matrix with different values, so that the exercise shows something"
    return ""


def _judge_A(expected, got) -> Outcome:
    problem = _problems_with_A(got)
    return Outcome(not problem, problem)


A = Question(
    answer="A",
    title="A",
    points=1,
    probe="value",
    hint=f"for example A = np.array([[...], ...]) with integers, {A_MIN}×{A_MIN} up to {A_MAX}×{A_MAX}, even sides.",
    fixed=lambda: [Case((), None, "your matrix A")],
    compare=_judge_A,
)


# --------------------------------------------------------------------------- Q5-7 C, D, E (on the student's A)
def drive_exercise(answer):
    """The student's result next to the student's A, read from the notebook (the kernel's __main__ namespace)."""
    import __main__

    return {"A": getattr(__main__, "A", None), "answer": answer}


def exercise_results(A) -> dict:
    """The exercise on matrix ``A``, by trusted code: C = maxpool(A), D = pad(C, 2) ⊗ B, E = D ⊗ B with stride 3."""
    from cslib.conv import conv2d as conv, maxpool2d as pool, pad as padded

    C = pool(A, 2, 2)
    D = conv(padded(C, 2), EXERCISE_B)
    return {"C": C, "D": D, "E": conv(D, EXERCISE_B, stride=3)}


_HOW = {
    "C": "C = 2×2 max pooling of A with stride 2 (an m×n A gives an (m/2)×(n/2) C)",
    "D": "D = (C padded with 2 zeros on every side) convolved with B, stride 1: each side grows by 4, then shrinks by 3 − 1 = 2",
    "E": "E = D convolved with B with stride 3: ⌊(size − 3)/3⌋ + 1 along each side",
}


def _judge_result(name: str):
    def judge(expected, got) -> Outcome:
        A_value = got.get("A")
        if A_value is None:
            return Outcome(False, "A is not defined in this notebook: answer the question about A first")
        problem = _problems_with_A(A_value)
        if problem:
            return Outcome(False, f"fix A first ({problem})")
        want = exercise_results(A_value)[name]
        answer = got.get("answer")
        if not isinstance(answer, np.ndarray):
            return Outcome(False, f"{name} should be a NumPy array (the matrix), got {type(answer).__name__}")
        outcome = compare_data(want, answer)
        if outcome.passed:
            return outcome
        return Outcome(False, f"{_HOW[name]}.\nFor your {_shape_text(A_value)} A:\n{outcome.detail}")
    return judge


def _result_question(name: str, title: str) -> Question:
    return Question(
        answer=name,
        title=name,
        points=1,
        probe=drive_exercise,
        hint=f"{title}; compute it by hand first, then with your functions, and compare.",
        fixed=lambda: [Case((), None, f"{name} for your A")],
        compare=_judge_result(name),
    )


C = _result_question("C", "C = maxpool2d(A, 2, 2)")
D = _result_question("D", "D = conv2d(pad(C, 2), B)")
E = _result_question("E", "E = conv2d(D, B, stride=3)")


# --------------------------------------------------------------------------- Q8 bn_dropout_net
NET_INPUT = (4, 784)


def _net_case() -> Case:
    from cslib.models import mlp

    return Case((NET_INPUT,), describe_model(mlp(batch_norm=True, dropout=0.25), NET_INPUT),
                "lecture 1's network with batch norm and dropout 0.25")


bn_dropout_net = Question(
    answer="bn_dropout_net",
    title="bn_dropout_net",
    points=1,
    probe="model",
    hint="nn.Sequential(nn.Linear(28 * 28, 1000), nn.BatchNorm1d(1000), nn.ReLU(), nn.Dropout(0.25), nn.Linear(1000, 10)): "
         "the layers of the class, in the order forward() uses them.",
    fixed=lambda: [_net_case()],
    compare=compare_models,
)


# --------------------------------------------------------------------------- Q9 maxpool_backward
def _backward_case(A, grad_out, shown="") -> Case:
    import torch
    import torch.nn.functional as F

    x = torch.tensor(np.asarray(A, dtype=np.float64), requires_grad=True)
    F.max_pool2d(x[None, None], 2, 2)[0, 0].backward(torch.as_tensor(np.asarray(grad_out, dtype=np.float64)))
    return Case((A, grad_out), x.grad.numpy(), shown or f"A {_shape_text(A)} (random), grad_out {_shape_text(grad_out)}")


def _random_backward(rng):
    cases = []
    for _ in range(4):
        m, n = (int(s) for s in rng.integers(2, 9, size=2))
        A = np.round(rng.normal(size=(m, n)), 3)
        while any(np.sum(A[i:i + 2, j:j + 2] == A[i:i + 2, j:j + 2].max()) > 1
                  for i in range(0, m - 1, 2) for j in range(0, n - 1, 2)):  # no ties: the maximum is unique
            A = np.round(rng.normal(size=(m, n)), 3)
        cases.append(_backward_case(A, np.round(rng.normal(size=(m // 2, n // 2)), 3)))
    return cases


maxpool_backward = Question(
    answer="maxpool_backward",
    title="maxpool_backward",
    points=2,
    hint="start from np.zeros(A.shape); for each 2×2 window find where its maximum is (np.argmax + np.unravel_index) "
         "and put grad_out[i, j] there; all other entries stay 0.",
    fixed=lambda: [_backward_case(np.array([[1, 9, 2, 0], [3, 4, 5, 8], [7, 1, 1, 1], [2, 2, 6, 1]]),
                                  np.array([[10, 20], [30, 40]]), "a 4×4 A with grad_out [[10, 20], [30, 40]]"),
                   _backward_case(np.arange(25).reshape(5, 5)[::-1], np.ones((2, 2)),
                                  "a 5×5 A: the last row and column get gradient 0")],
    random=_random_backward,
    reject=("cslib.conv.maxpool2d_backward",),
)


# --------------------------------------------------------------------------- Q10 cnn_table
def cnn_reference_table() -> dict:
    """{"Conv2d-1": [[64, 26, 26], 640], ...}: torchsummary's names, output shapes without the batch dimension, parameters."""
    import torch

    from cslib.models import cnn

    table, x = {}, torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        for i, layer in enumerate(cnn(), 1):
            x = layer(x)
            table[f"{type(layer).__name__}-{i}"] = [list(x.shape[1:]), sum(p.numel() for p in layer.parameters())]
    return table


def _layer_settings() -> dict:
    from cslib.models import cnn

    return {f"{type(layer).__name__}-{i}": layer for i, layer in enumerate(cnn(), 1)}


def _why(name: str, table: dict) -> tuple[str, str]:
    """Why layer ``name`` has its output shape and its parameter count (for the feedback)."""
    layer = _layer_settings()[name]
    names = list(table)
    before = [1, 28, 28] if names.index(name) == 0 else table[names[names.index(name) - 1]][0]
    shape, params = table[name]
    kind = type(layer).__name__
    if kind == "Conv2d":
        k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
        return (f"its input is {tuple(before)}; a {k}×{k} kernel, stride {s}, padding {p}: ⌊({before[1]} + 2·{p} − {k})/{s}⌋ + 1 "
                f"= {shape[1]}, and its {layer.out_channels} filters give {layer.out_channels} channels",
                f"{layer.out_channels} filters × ({layer.in_channels} channels × {k}×{k}) weights + {layer.out_channels} biases "
                f"= {params:,}")
    if kind == "MaxPool2d":
        return (f"its input is {tuple(before)}; 2×2 windows with stride 2 halve height and width, rounding down: "
                f"⌊({before[1]} − 2)/2⌋ + 1 = {shape[1]}; the channels stay {shape[0]}", "pooling learns nothing: 0")
    if kind == "ReLU":
        return f"ReLU works entry by entry, so the shape stays {tuple(before)}", "an activation has no parameters: 0"
    if kind == "Flatten":
        return f"Flatten lines the {tuple(before)} tensor up: {' × '.join(map(str, before))} = {shape[0]}", "no parameters: 0"
    return (f"a Linear layer outputs out_features = {layer.out_features} numbers",
            f"{layer.in_features} × {layer.out_features} weights + {layer.out_features} biases = {params:,}")


def _shape_of(value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return [int(value)]
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return [int(v) for v in value]
    return None


def _judge_table(expected: dict, got) -> Outcome:
    if not isinstance(got, dict):
        return Outcome(False, f"cnn_table should be a dict {{layer name: (output shape, parameters)}}, got {type(got).__name__}")
    missing = [name for name in expected if name not in got]
    extra = [name for name in got if name not in expected]
    if missing or extra:
        return Outcome(False, (f"missing rows: {', '.join(missing)}. " if missing else "")
                       + (f"unknown rows: {', '.join(map(str, extra))}. " if extra else "")
                       + f"Use the summary's layer names: {', '.join(expected)}")
    wrong = []
    for name, (shape, params) in expected.items():
        row = got[name]
        if not (isinstance(row, (list, tuple)) and len(row) == 2):
            wrong.append(f"{name}: write a pair (output shape, parameters), got {fmt(row)}")
            continue
        got_shape, got_params = _shape_of(row[0]), row[1]
        why_shape, why_params = _why(name, expected)
        if got_shape is not None and len(got_shape) == len(shape) + 1 and got_shape[0] == -1:
            wrong.append(f"{name}: leave out the batch dimension (-1): write {tuple(shape)}")
        elif got_shape != shape:
            shown = tuple(got_shape) if got_shape is not None else fmt(row[0])
            wrong.append(f"{name}: output shape {shown} is wrong, expected {tuple(shape)}: {why_shape}")
        if isinstance(got_params, bool) or not isinstance(got_params, (int, np.integer)) or got_params != params:
            wrong.append(f"{name}: {fmt(got_params)} parameters is wrong, expected {params:,}: {why_params}")
    if wrong:
        return Outcome(False, f"{len(wrong)} wrong entr{'y' if len(wrong) == 1 else 'ies'}:\n" + "\n".join(wrong))
    return Outcome(True)


cnn_table = Question(
    answer="cnn_table",
    title="cnn_table",
    points=2,
    probe="value",
    hint="work layer by layer from the input (1, 28, 28); a convolution's parameters are "
         "filters × (input channels × k × k) + filters, a Linear layer's in × out + out.",
    fixed=lambda: [Case((), cnn_reference_table(), "the lecture's CNN, input (1, 28, 28)")],
    compare=_judge_table,
)

QUESTIONS = [maxpool2d, pad, conv2d, A, C, D, E, bn_dropout_net, maxpool_backward, cnn_table]
