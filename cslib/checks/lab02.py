"""Checks for lab 2 (convolutions by hand, max-pool backward, the CNN's shapes). In the lab:
``from cslib.checks import lab02 as check``.

Expected values come from :mod:`cslib.conv` (by-hand NumPy, itself tested against PyTorch), from
PyTorch's autograd, and from :func:`cslib.models.cnn`.
"""
from __future__ import annotations

import numpy as np

from cslib.checks import Case, Outcome, Question, as_int, as_number, compare_data, compare_models, count_problem, describe, fmt
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
    hint="each output entry is the largest value of one size×size window of A; the windows start every `stride` rows "
         "and columns, and the output has ⌊(n − size)/stride⌋ + 1 entries in each direction: rows or columns that do "
         "not fill a window are dropped (lecture 2, section 6).",
    fixed=lambda: [_maxpool_case(np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]), 2, 2, "the lecture's 4×4 example"),
                   _maxpool_case(np.arange(25).reshape(5, 5), 2, 2, "a 5×5 input: the last row and column are dropped")],
    random=_random_maxpool,
    reject=("cslib.conv.maxpool2d", "torch.nn.functional.max_pool2d", "torch.max_pool2d"),
)


# --------------------------------------------------------------------------- Q2 pad
def _pad_case(A, p, shown="") -> Case:
    from cslib.conv import pad as reference

    return Case((A, p), reference(A, p), shown or f"A {_shape_text(A)}, p = {p}")


def _compare_pad(expected, got) -> Outcome:
    """The values, and the type the question asks to keep: integers stay integers."""
    outcome = compare_data(expected, got)
    if (outcome.passed and isinstance(expected, np.ndarray) and expected.dtype.kind in "iu"
            and isinstance(got, np.ndarray) and got.dtype.kind == "f"):
        return Outcome(False, "the right values, but the entries became floats while A holds integers: keep the "
                              "type of A's entries (the array you start from decides it)")
    return outcome


pad = Question(
    answer="pad",
    title="pad",
    points=1,
    hint="the padded matrix has p more rows and columns on every side, zeros there and A unchanged in the middle, "
         "with A's own dtype (lecture 2, section 4: padding).",
    fixed=lambda: [_pad_case(np.array([[1, 2], [3, 4]]), 2, "[[1, 2], [3, 4]], p = 2"),
                   _pad_case(np.array([[5, -1, 3]]), 1, "a 1×3 row, p = 1"),
                   _pad_case(np.eye(3, dtype=int), 0, "p = 0 changes nothing")],
    random=lambda rng: [_pad_case(_ints(rng, tuple(int(s) for s in rng.integers(1, 7, size=2))), int(rng.integers(0, 4)))
                        for _ in range(3)],
    compare=_compare_pad,
    reject=("cslib.conv.pad", "numpy.pad._implementation", "torch.nn.functional.pad"),
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
    hint="the output shape comes from the formula of lecture 2, section 4; entry (i, j) multiplies B element by element "
         "with the window of A whose top-left corner is row i·stride, column j·stride, and sums. B is not flipped "
         "(deep learning's convolution, lecture 2, section 3).",
    fixed=lambda: [_conv_case(np.arange(1, 17).reshape(4, 4), np.array([[1, 2], [3, 4]]), 1, "the lecture's A (1..16) and B = [[1, 2], [3, 4]]"),
                   _conv_case(np.arange(1, 17).reshape(4, 4), np.array([[1, 2], [3, 4]]), 2, "the same, stride 2"),
                   _conv_case(np.arange(30).reshape(5, 6), EXERCISE_B, 3, "a 5×6 A, the exercise's B, stride 3")],
    random=_random_conv,
    reject=("cslib.conv.conv2d", "torch.nn.functional.conv2d", "torch.conv2d", "scipy.signal.correlate2d",
            "scipy.signal.convolve2d"),
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
    """The student's result next to the student's A, C and D, read from the notebook (the kernel's __main__ namespace)."""
    import __main__

    return {"A": getattr(__main__, "A", None), "C": getattr(__main__, "C", None), "D": getattr(__main__, "D", None),
            "answer": answer}


def exercise_results(A) -> dict:
    """The exercise on matrix ``A``, by trusted code: C = maxpool(A), D = pad(C, 2) ⊗ B, E = D ⊗ B with stride 3."""
    from cslib.conv import conv2d as conv, maxpool2d as pool, pad as padded

    C = pool(A, 2, 2)
    D = conv(padded(C, 2), EXERCISE_B)
    return {"C": C, "D": D, "E": conv(D, EXERCISE_B, stride=3)}


_SHAPE_HINT = {  # how the shape comes about, without the result (the student works it out)
    "C": "2×2 max pooling with stride 2 turns each 2×2 block of A into one entry: count the blocks along each side of A",
    "D": "padding C by 2 adds 2 rows and 2 columns on every side; a 3×3 kernel with stride 1 then fits (size − 3) + 1 "
         "times along each side",
    "E": "with stride 3, the 3×3 kernel fits ⌊(size − 3)/3⌋ + 1 times along each side of D",
}
_ENTRY_HINT = {
    "C": "entry (i, j) of C is the largest entry of the block A[2i:2i+2, 2j:2j+2]",
    "D": "entry (i, j) of D is the sum of the 3×3 window of the padded C whose top-left corner is (i, j), multiplied "
         "entry by entry with B (B is not flipped)",
    "E": "entry (i, j) of E is the sum of the 3×3 window of D whose top-left corner is (3i, 3j), multiplied entry by "
         "entry with B",
}


def _as_matrix(value):
    """A nested list of numbers as a 2-D array (the values count, not the container), else ``value`` unchanged."""
    if isinstance(value, list):
        try:
            array = np.array(value)
        except ValueError:
            return value
        if array.ndim == 2 and array.dtype.kind in "iuf":
            return array
    return value


def _judge_result(name: str):
    def judge(expected, got) -> Outcome:
        A_value = got.get("A")
        if A_value is None:
            return Outcome(False, "A is not defined in this notebook: answer the question about A first")
        problem = _problems_with_A(A_value)
        if problem:
            return Outcome(False, f"fix A first ({problem})")
        right = exercise_results(A_value)
        answer = _as_matrix(got.get("answer"))
        if not isinstance(answer, np.ndarray) or answer.ndim != 2:
            return Outcome(False, f"{name} should be a matrix (a 2-D NumPy array), got {describe(answer)}")
        want = right[name]
        if answer.shape == want.shape and np.allclose(answer.astype(float), want.astype(float)):
            return Outcome(True)
        for before in {"D": ["C"], "E": ["C", "D"]}.get(name, []):  # a wrong C makes D wrong: say so first
            value = _as_matrix(got.get(before))
            if value is not None and not (isinstance(value, np.ndarray) and compare_data(right[before], value).passed):
                return Outcome(False, f"{name} is computed from {before}, and your {before} is not right yet: "
                                      f"fix {before} first (run its check)")
        if answer.shape != want.shape:
            return Outcome(False, f"{name} has the wrong shape, {_shape_text(answer)}, for your {_shape_text(A_value)} A: "
                                  f"{_SHAPE_HINT[name]}")
        differ = np.argwhere(~np.isclose(answer.astype(float), want.astype(float)))
        i, j = (int(v) for v in differ[0])
        return Outcome(False, f"{name} has the right shape, but {len(differ)} of its {want.size} entries are wrong, "
                              f"the first at row {i}, column {j} (counting from 0): {_ENTRY_HINT[name]}")
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
        reveals=False,
    )


C = _result_question("C", "C = maxpool2d(A, 2, 2)")
D = _result_question("D", "D = conv2d(pad(C, 2), B)")
E = _result_question("E", "E = conv2d(D, B, stride=3)")


# --------------------------------------------------------------------------- Q8 bn_dropout_net
NET_INPUT = (4, 784)


def _net_case() -> Case:
    from cslib.models import mlp

    return Case((NET_INPUT,), {**describe_model(mlp(batch_norm=True, dropout=0.25), NET_INPUT), "require_sequential": True},
                "lecture 1's network with batch norm and dropout 0.25")


bn_dropout_net = Question(
    answer="bn_dropout_net",
    title="bn_dropout_net",
    points=1,
    probe="model",
    hint="nn.Sequential(...) takes the layers themselves as its arguments: the layers that the class creates in __init__, "
         "in the order its forward() uses them.",
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
    hint="the gradient has A's shape; in each 2×2 window only the entry that was the maximum passed its value on, so "
         "only it receives that window's grad_out value, and every other entry gets 0.",
    fixed=lambda: [_backward_case(np.array([[1, 9, 2, 0], [3, 4, 5, 8], [7, 1, 1, 1], [2, 2, 6, 1]]),
                                  np.array([[10, 20], [30, 40]]), "a 4×4 A with grad_out [[10, 20], [30, 40]]"),
                   _backward_case(np.arange(25).reshape(5, 5)[::-1], np.ones((2, 2)),
                                  "a 5×5 A: the last row and column get gradient 0")],
    random=_random_backward,
    reject=("cslib.conv.maxpool2d_backward", "torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward"),
)


# --------------------------------------------------------------------------- Q10 cnn_table
TABLE_INPUT = (3, 32, 32)  # colour images: the lecture prints the table of (1, 28, 28) inputs, so that one is not asked


def cnn_reference_table() -> dict:
    """{"Conv2d-1": [[64, 30, 30], 1792], ...}: torchsummary's names, output shapes without the batch dimension,
    parameters, of the lecture's CNN for ``TABLE_INPUT``."""
    import torch

    from cslib.models import cnn

    table, x = {}, torch.zeros(1, *TABLE_INPUT)
    with torch.no_grad():
        for i, layer in enumerate(cnn(TABLE_INPUT[0], TABLE_INPUT[1]), 1):
            x = layer(x)
            table[f"{type(layer).__name__}-{i}"] = [list(x.shape[1:]), sum(p.numel() for p in layer.parameters())]
    return table


def _layer_settings() -> dict:
    from cslib.models import cnn

    return {f"{type(layer).__name__}-{i}": layer for i, layer in enumerate(cnn(TABLE_INPUT[0], TABLE_INPUT[1]), 1)}


def _why(name: str, table: dict, got: dict) -> tuple[str, str]:
    """How layer ``name`` gets its output shape and its parameter count, without the results (the student
    works them out). The input is named by the student's own previous row when that row is right."""
    layer = _layer_settings()[name]
    names = list(table)
    index = names.index(name)
    if index == 0:
        source = f"its input is the image, {TABLE_INPUT}"
    else:
        previous = names[index - 1]
        mine = _row(got.get(previous))
        if mine is not None and mine[0] == table[previous][0]:
            source = f"its input is the output of {previous}, {tuple(mine[0])}"
        else:
            source = f"its input is the output of {previous}, which is not right yet: fix that row first"
    kind = type(layer).__name__
    if kind == "Conv2d":
        k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
        return (f"{source}; a {k}×{k} kernel with stride {s} and padding {p} fits ⌊(n + 2·padding − kernel)/stride⌋ + 1 "
                f"times along a side of n, and each of the {layer.out_channels} filters makes one channel",
                f"each of its {layer.out_channels} filters has one {k}×{k} kernel per input channel ({layer.in_channels}), "
                "plus one bias")
    if kind == "MaxPool2d":
        return (f"{source}; 2×2 windows with stride 2 fit ⌊(n − 2)/2⌋ + 1 times along a side of n (a last odd row or "
                "column is dropped), and the channels stay", "pooling takes a maximum and learns nothing")
    if kind == "ReLU":
        return f"{source}; ReLU works entry by entry, so its output has the shape of its input", "an activation learns nothing"
    if kind == "Flatten":
        return f"{source}; Flatten lines all of it up in one vector: multiply its sizes", "Flatten only reshapes: nothing to learn"
    return (f"a Linear layer outputs out_features numbers, the second number in nn.Linear({layer.in_features}, "
            f"{layer.out_features})", "one weight per input per output, plus one bias per output")


def _shape_of(value):
    """A shape given as ints (or whole floats, or one int for a flat shape) as a list of ints, else None."""
    if as_int(value) is not None and not isinstance(value, (list, bool)):
        return [as_int(value)]
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, list) and value and all(as_int(v) is not None and not isinstance(v, bool) for v in value):
        return [as_int(v) for v in value]
    return None


def _row(row):
    """(shape, params) from a row of the student's table, or None if it is not such a pair."""
    if not (isinstance(row, list) and len(row) == 2):
        return None
    shape = _shape_of(row[0])
    return (shape, row[1]) if shape is not None else None


def _judge_table(expected: dict, got) -> Outcome:
    """Worked out by hand: name the wrong entries and how to get them, never the values (the module's policy)."""
    if not isinstance(got, dict):
        return Outcome(False, f"cnn_table should be a dict {{layer name: (output shape, parameters)}}, got {describe(got)}")
    missing = [name for name in expected if name not in got]
    extra = [name for name in got if name not in expected]
    if missing or extra:
        return Outcome(False, (f"missing rows: {', '.join(missing)}. " if missing else "")
                       + (f"unknown rows: {', '.join(map(str, extra))}. " if extra else "")
                       + f"Use the summary's layer names: {', '.join(expected)}")
    wrong = []
    for name, (shape, params) in expected.items():
        row = got[name]
        if not (isinstance(row, list) and len(row) == 2):
            wrong.append(f"{name}: write a pair (output shape, parameters), got {fmt(row)}")
            continue
        got_shape, got_params = _shape_of(row[0]), row[1]
        why_shape, why_params = _why(name, expected, got)
        if got_shape is not None and len(got_shape) == len(shape) + 1 and got_shape[0] == -1:
            wrong.append(f"{name}: leave out the batch dimension (the -1 of the summary)")
        elif got_shape is None:
            sizes = row[0].tolist() if isinstance(row[0], np.ndarray) else row[0]
            sizes = sizes if isinstance(sizes, list) else [sizes]
            if sizes and all(as_number(v) is not None for v in sizes):
                wrong.append(f"{name}: the output shape {fmt(row[0])} holds a size that is not a whole number: "
                             "sizes are integers (use integer division //)")
            else:
                wrong.append(f"{name}: the output shape should be a tuple of ints, got {describe(row[0])}")
        elif got_shape != shape:
            wrong.append(f"{name}: the output shape {tuple(got_shape)} is wrong: {why_shape}")
        problem = count_problem("the parameter count", got_params)
        if problem:
            wrong.append(f"{name}: {problem}")
        elif as_int(got_params) != params:
            wrong.append(f"{name}: {as_int(got_params):,} parameters is wrong: {why_params}")
    if wrong:
        return Outcome(False, f"{len(wrong)} wrong entr{'y' if len(wrong) == 1 else 'ies'}:\n" + "\n".join(wrong))
    return Outcome(True)


cnn_table = Question(
    answer="cnn_table",
    title="cnn_table",
    points=2,
    probe="value",
    hint="work layer by layer from the input (3, 32, 32), each row from the one before; a convolution's parameters "
         "are filters × (input channels × k × k) + filters, a Linear layer's in × out + out.",
    fixed=lambda: [Case((), cnn_reference_table(), "the lecture's CNN for colour images, input (3, 32, 32)")],
    compare=_judge_table,
    reveals=False,
)

QUESTIONS = [maxpool2d, pad, conv2d, A, C, D, E, bn_dropout_net, maxpool_backward, cnn_table]
