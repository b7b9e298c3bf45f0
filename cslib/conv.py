"""Convolution arithmetic by hand, in plain NumPy loops you can read next to lecture 2.

What deep learning calls a "convolution" (``torch.nn.functional.conv2d``, ``nn.Conv2d``) is,
strictly speaking, a **cross-correlation**: the kernel slides over the input as it is, without
being flipped first. Every function here does the same, so its results equal PyTorch's::

    C[i, j] = sum over (u, v) of  B[u, v] * A[i * stride + u, j * stride + v]   (A zero-padded first)

- :func:`output_size` is the formula ``⌊(n + 2p − k) / s⌋ + 1`` (one dimension);
- :func:`window_positions` says where the kernel goes (top-left corners in the padded input);
- :func:`pad`, :func:`conv2d` and :func:`conv2d_multichannel` compute convolutions;
- :func:`maxpool2d`, :func:`avgpool2d` and :func:`maxpool2d_backward` pool and back-propagate.

The pictures of these operations are in :mod:`cslib.plot` (``draw_convolution``, ``draw_conv_step``,
``draw_pooling``), next to the course's other figures; this module needs nothing but NumPy.
"""
from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike


# --------------------------------------------------------------------------- sizes and positions
def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def output_size(n: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Output size of a convolution (or pooling) along one dimension: ``⌊(n + 2p − k) / s⌋ + 1``.

    ``n`` is the input size, ``k`` the kernel size, ``stride`` the step between two windows and
    ``padding`` the number of zeros added on *each* side. Raises ValueError when the kernel does
    not fit in the padded input, since then there is no position for it at all.
    """
    n, k = _check_int("input size n", n, 1), _check_int("kernel size k", k, 1)
    stride, padding = _check_int("stride", stride, 1), _check_int("padding", padding, 0)
    padded = n + 2 * padding
    if k > padded:
        raise ValueError(
            f"kernel size {k} is larger than the padded input: n + 2p = {n} + 2·{padding} = {padded} < {k}, "
            "so the kernel fits nowhere. Use a smaller kernel or more padding."
        )
    return (padded - k) // stride + 1


def window_positions(n: int, k: int, stride: int = 1, padding: int = 0) -> list[tuple[int, int]]:
    """The top-left corners ``(row, column)`` of the windows the kernel visits, row by row.

    Coordinates are in the *padded* input (its top-left padding cell is (0, 0)); an ``n × n``
    input padded by ``p`` is ``(n + 2p) × (n + 2p)``. Window number ``i`` (0-based) produces
    output entry ``divmod(i, output_size(n, k, stride, padding))``.
    """
    m = output_size(n, k, stride, padding)
    starts = [i * stride for i in range(m)]
    return [(r, c) for r in starts for c in starts]


# --------------------------------------------------------------------------- input checks
def _as_matrix(name: str, A) -> np.ndarray:
    """A 2-D NumPy array (tensors and nested lists are converted), or a clear error."""
    if hasattr(A, "detach"):  # a torch tensor
        A = A.detach().cpu().numpy()
    A = np.asarray(A)
    if A.dtype == object or not (np.issubdtype(A.dtype, np.number) or A.dtype == bool):
        raise TypeError(f"{name} must be a matrix of numbers, got an array of {A.dtype}")
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {A.shape}"
                         + (" (for (C, H, W) tensors use conv2d_multichannel)" if A.ndim == 3 else ""))
    if A.size == 0:
        raise ValueError(f"{name} is empty (shape {A.shape})")
    return A


def _wide(A: np.ndarray) -> np.ndarray:
    """Integers and booleans as int64, so that sums of products cannot overflow (uint8 images: 255·255·k² fits)."""
    return A.astype(np.int64) if A.dtype == bool or np.issubdtype(A.dtype, np.integer) else A


def _out_shape(shape: tuple[int, int], kernel: tuple[int, int], stride: int, padding: int = 0) -> tuple[int, int]:
    try:
        return (output_size(shape[0], kernel[0], stride, padding), output_size(shape[1], kernel[1], stride, padding))
    except ValueError as e:
        raise ValueError(f"a {kernel[0]}×{kernel[1]} window does not fit in a {shape[0]}×{shape[1]} input "
                         f"with padding {padding}: {e}") from None


# --------------------------------------------------------------------------- convolution
def pad(A: ArrayLike, p: int) -> np.ndarray:
    """``A`` with a frame of ``p`` zeros on every side: shape (m, n) becomes (m + 2p, n + 2p)."""
    A = _as_matrix("A", A)
    p = _check_int("padding p", p, 0)
    m, n = A.shape
    padded = np.zeros((m + 2 * p, n + 2 * p), dtype=A.dtype)
    padded[p:p + m, p:p + n] = A
    return padded


def conv2d(A: ArrayLike, B: ArrayLike, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The deep-learning "convolution" of matrix ``A`` with kernel ``B``: a cross-correlation.

    ``A`` is zero-padded by ``padding`` on each side, then the kernel ``B`` (shape (p, q), not
    flipped) slides over it in steps of ``stride``; each output entry is the sum of the window
    multiplied element-wise by ``B``. Equals ``torch.nn.functional.conv2d`` on (1, 1, H, W)
    tensors. The true mathematical convolution flips the kernel first: ``conv2d(A, B[::-1, ::-1])``.
    """
    A, B = _wide(_as_matrix("A", A)), _wide(_as_matrix("kernel B", B))  # uint8 inputs would overflow
    stride, padding = _check_int("stride", stride, 1), _check_int("padding", padding, 0)
    rows, cols = _out_shape(A.shape, B.shape, stride, padding)
    A = pad(A, padding)
    p, q = B.shape
    C = np.zeros((rows, cols), dtype=np.result_type(A, B))
    for i in range(rows):
        for j in range(cols):
            window = A[i * stride:i * stride + p, j * stride:j * stride + q]
            C[i, j] = np.sum(window * B)
    return C


def conv2d_multichannel(X: ArrayLike, W: ArrayLike, bias: ArrayLike | None = None, stride: int = 1, padding: int = 0) -> np.ndarray:
    """A convolutional layer by hand: input ``X`` of shape (C, H, W), filters ``W`` of shape (F, C, k, k).

    Each filter has as many channels as the input; filter ``f`` gives output channel ``f``, the
    sum over the input channels of their 2-D convolutions (plus ``bias[f]``). The output has
    shape (F, H_out, W_out): one **feature map** per filter. Equals ``F.conv2d(X[None], W, bias)[0]``.
    """
    X = X.detach().cpu().numpy() if hasattr(X, "detach") else np.asarray(X)
    W = W.detach().cpu().numpy() if hasattr(W, "detach") else np.asarray(W)
    if X.ndim != 3:
        raise ValueError(f"X must have shape (channels, height, width), got {X.shape}")
    if W.ndim != 4:
        raise ValueError(f"W must have shape (filters, channels, kernel height, kernel width), got {W.shape}")
    if W.shape[1] != X.shape[0]:
        raise ValueError(f"each filter must have as many channels as the input: X has {X.shape[0]} channels, "
                         f"the filters have {W.shape[1]} (W.shape = {W.shape})")
    n_filters = W.shape[0]
    if bias is not None:
        bias = bias.detach().cpu().numpy() if hasattr(bias, "detach") else np.asarray(bias)
        if bias.shape != (n_filters,):
            raise ValueError(f"bias must have one value per filter, shape ({n_filters},), got {bias.shape}")
    maps = []
    for f in range(n_filters):
        fmap = sum(conv2d(X[c], W[f, c], stride, padding) for c in range(X.shape[0]))
        maps.append(fmap + (bias[f] if bias is not None else 0))
    return np.stack(maps)


# --------------------------------------------------------------------------- pooling
def _pool(A, size: int, stride: int, reduce, name: str) -> np.ndarray:
    A = _as_matrix("A", A)
    size, stride = _check_int("size", size, 1), _check_int("stride", stride, 1)
    rows, cols = _out_shape(A.shape, (size, size), stride)
    out = np.zeros((rows, cols), dtype=np.float64 if name == "average" else A.dtype)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = reduce(A[i * stride:i * stride + size, j * stride:j * stride + size])
    return out


def maxpool2d(A: ArrayLike, size: int = 2, stride: int = 2) -> np.ndarray:
    """Max pooling: the largest entry of each ``size × size`` window, windows ``stride`` apart.

    No parameters to learn. Rows or columns that do not fill a last window are dropped (as in
    ``nn.MaxPool2d``): a 5×5 input gives a 2×2 output with the defaults.
    """
    return _pool(A, size, stride, np.max, "max")


def avgpool2d(A: ArrayLike, size: int = 2, stride: int = 2) -> np.ndarray:
    """Average pooling: the mean of each ``size × size`` window (as ``nn.AvgPool2d``)."""
    return _pool(A, size, stride, np.mean, "average")


def maxpool2d_backward(A: ArrayLike, grad_out: ArrayLike, size: int = 2, stride: int = 2) -> np.ndarray:
    """The gradient of a loss with respect to ``A``, given its gradient ``grad_out`` with respect to ``maxpool2d(A)``.

    Max pooling passes on one entry per window, so the derivative of an output with respect to an
    input is 1 for the entry that was the maximum of the window and 0 for the others: each
    upstream gradient goes back to the position of its window's maximum (the first one, row by
    row, if it appears twice, as in PyTorch), and everything else gets 0. Overlapping windows
    (``stride < size``) add up their contributions.
    """
    A = _as_matrix("A", A)
    size, stride = _check_int("size", size, 1), _check_int("stride", stride, 1)
    rows, cols = _out_shape(A.shape, (size, size), stride)
    grad_out = _as_matrix("grad_out", grad_out)
    if grad_out.shape != (rows, cols):
        raise ValueError(f"grad_out must have the shape of the pooled output, {(rows, cols)}, got {grad_out.shape}")
    grad = np.zeros(A.shape, dtype=np.float64)
    for i in range(rows):
        for j in range(cols):
            window = A[i * stride:i * stride + size, j * stride:j * stride + size]
            u, v = np.unravel_index(np.argmax(window), window.shape)  # where the maximum came from
            grad[i * stride + u, j * stride + v] += grad_out[i, j]
    return grad


# --------------------------------------------------------------------------- one entry, in words
def _number(x) -> str:
    x = x.item() if hasattr(x, "item") else x
    text = f"{x:g}" if isinstance(x, float) else str(x)
    return f"({text})" if text.startswith("-") else text


def explain_entry(A: ArrayLike, B: ArrayLike, i: int, j: int, stride: int = 1, padding: int = 0) -> str:
    """Output entry ``(i, j)`` of ``conv2d(A, B, stride, padding)`` written out, e.g. ``1×1 + 2×2 + 5×3 + 6×4 = 44``.

    Each term is (input value in the window) × (kernel value).
    """
    A, B = _wide(pad(A, padding)), _wide(_as_matrix("kernel B", B))
    i, j = _check_int("row i", i, 0), _check_int("column j", j, 0)
    rows, cols = _out_shape(A.shape, B.shape, stride)
    if not (0 <= i < rows and 0 <= j < cols):
        raise ValueError(f"entry ({i}, {j}) is outside the {rows}×{cols} output")
    window = A[i * stride:i * stride + B.shape[0], j * stride:j * stride + B.shape[1]]
    terms = " + ".join(f"{_number(a)}×{_number(b)}" for a, b in zip(window.ravel(), B.ravel()))
    return f"{terms} = {_number(np.sum(window * B))}"
