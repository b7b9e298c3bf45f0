"""cslib.conv: the by-hand convolution arithmetic agrees with PyTorch and with the deck's numbers."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cslib import conv

DECK_A = np.arange(1, 17).reshape(4, 4)
DECK_B = np.array([[1, 2], [3, 4]])


def torch_conv(A, B, stride=1, padding=0):
    x = torch.as_tensor(np.asarray(A, dtype=np.float64))[None, None]
    w = torch.as_tensor(np.asarray(B, dtype=np.float64))[None, None]
    return F.conv2d(x, w, stride=stride, padding=padding)[0, 0].numpy()


def test_the_decks_hand_computed_convolution():
    C = conv.conv2d(DECK_A, DECK_B)
    assert C.shape == (3, 3) and C.dtype.kind == "i"
    assert C[0].tolist() == [44, 54, 64] and C[1, :2].tolist() == [84, 94]
    assert C.tolist() == [[44, 54, 64], [84, 94, 104], [124, 134, 144]]
    np.testing.assert_array_equal(C, torch_conv(DECK_A, DECK_B))
    assert conv.explain_entry(DECK_A, DECK_B, 0, 0) == "1×1 + 2×2 + 5×3 + 6×4 = 44"
    assert conv.explain_entry(DECK_A, DECK_B, 0, 1) == "2×1 + 3×2 + 6×3 + 7×4 = 54"
    assert conv.explain_entry(DECK_A, DECK_B, 1, 1) == "6×1 + 7×2 + 10×3 + 11×4 = 94"
    assert conv.explain_entry([[1, -2]], [[3, -1]], 0, 0) == "1×3 + (-2)×(-1) = 5"


def test_conv2d_matches_torch_on_random_inputs_with_stride_and_padding():
    rng = np.random.default_rng(0)
    for _ in range(60):
        m, n = rng.integers(1, 10, size=2)
        p, q = rng.integers(1, 5, size=2)
        stride, padding = int(rng.integers(1, 4)), int(rng.integers(0, 3))
        if p > m + 2 * padding or q > n + 2 * padding:
            continue
        A, B = rng.normal(size=(m, n)), rng.normal(size=(p, q))
        got = conv.conv2d(A, B, stride=stride, padding=padding)
        np.testing.assert_allclose(got, torch_conv(A, B, stride, padding), atol=1e-10,
                                   err_msg=f"A {A.shape}, B {B.shape}, stride {stride}, padding {padding}")


def test_conv2d_is_cross_correlation_and_flipping_gives_true_convolution():
    A = np.arange(9).reshape(3, 3)
    B = np.array([[1, 0], [0, 0]])  # picks the top-left of each window: no flip
    assert conv.conv2d(A, B).tolist() == [[0, 1], [3, 4]]
    assert conv.conv2d(A, B[::-1, ::-1]).tolist() == [[4, 5], [7, 8]]  # flipped: the mathematical convolution


def test_pad_adds_a_frame_of_zeros():
    P = conv.pad(DECK_B, 2)
    assert P.shape == (6, 6) and P[2:4, 2:4].tolist() == DECK_B.tolist() and P.sum() == DECK_B.sum()
    assert conv.pad(DECK_B, 0).tolist() == DECK_B.tolist()


@pytest.mark.parametrize("n, k, stride, padding", list(itertools.product([1, 4, 5, 7, 28], [1, 2, 3, 5], [1, 2, 3], [0, 1, 2])))
def test_output_size_matches_nn_conv2d(n, k, stride, padding):
    layer = nn.Conv2d(1, 1, k, stride=stride, padding=padding)
    if k > n + 2 * padding:
        with pytest.raises(ValueError, match="larger than the padded input"):
            conv.output_size(n, k, stride, padding)
        return
    m = conv.output_size(n, k, stride, padding)
    assert layer(torch.zeros(1, 1, n, n)).shape == (1, 1, m, m)
    positions = conv.window_positions(n, k, stride, padding)
    assert len(positions) == m * m and positions[0] == (0, 0)
    assert max(r for r, _ in positions) + k <= n + 2 * padding  # every window lies inside the padded input
    assert positions[1:m] == [(0, j * stride) for j in range(1, m)]


def test_output_size_formula_examples():
    assert conv.output_size(5, 3) == 3 and conv.output_size(5, 3, stride=2) == 2
    assert conv.output_size(5, 3, padding=1) == 5 and conv.output_size(5, 3, stride=2, padding=1) == 3
    assert conv.output_size(28, 3) == 26 and conv.output_size(11, 2, stride=2) == 5  # the lecture's CNN


@pytest.mark.parametrize("call, error, message", [
    (lambda: conv.output_size(3, 5), ValueError, "kernel size 5 is larger than the padded input"),
    (lambda: conv.output_size(5, 3, stride=0), ValueError, "stride must be at least 1"),
    (lambda: conv.output_size(5, 3, padding=-1), ValueError, "padding must be at least 0"),
    (lambda: conv.output_size(5.0, 3), TypeError, "input size n must be an integer"),
    (lambda: conv.output_size(5, True), TypeError, "kernel size k must be an integer"),
    (lambda: conv.conv2d(np.ones((2, 2)), np.ones((3, 3))), ValueError, "a 3×3 window does not fit in a 2×2 input"),
    (lambda: conv.conv2d(np.ones((2, 2, 2)), np.ones((1, 1))), ValueError, "use conv2d_multichannel"),
    (lambda: conv.conv2d([["a"]], np.ones((1, 1))), TypeError, "matrix of numbers"),
    (lambda: conv.pad(np.ones((2, 2)), -1), ValueError, "padding p must be at least 0"),
    (lambda: conv.maxpool2d_backward(np.ones((4, 4)), np.ones((3, 3))), ValueError, "shape of the pooled output"),
    (lambda: conv.conv2d_multichannel(np.ones((3, 5, 5)), np.ones((2, 2, 3, 3))), ValueError, "as many channels as the input"),
    (lambda: conv.explain_entry(DECK_A, DECK_B, 3, 0), ValueError, "outside the 3×3 output"),
])
def test_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_decks_multichannel_example():
    torch.manual_seed(0)
    X, W, b = torch.randn(8, 7, 6), torch.randn(8, 8, 3, 3), torch.randn(8)
    out = conv.conv2d_multichannel(X, W, b)
    assert out.shape == (8, 5, 4)
    np.testing.assert_allclose(out, F.conv2d(X[None], W, b)[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(conv.conv2d_multichannel(X, W, stride=2, padding=1),
                               F.conv2d(X[None], W, stride=2, padding=1)[0].numpy(), atol=1e-4)


def test_pooling_matches_torch():
    A = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    assert conv.maxpool2d(A).tolist() == [[6, 8], [3, 4]]
    assert conv.avgpool2d(A).tolist() == [[3.25, 5.25], [2.0, 2.0]]
    rng = np.random.default_rng(1)
    for _ in range(30):
        m, n = rng.integers(2, 9, size=2)
        size, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        if size > min(m, n):
            continue
        A = rng.normal(size=(m, n))
        x = torch.as_tensor(A)[None, None]
        np.testing.assert_allclose(conv.maxpool2d(A, size, stride), F.max_pool2d(x, size, stride)[0, 0].numpy())
        np.testing.assert_allclose(conv.avgpool2d(A, size, stride), F.avg_pool2d(x, size, stride)[0, 0].numpy())


def test_maxpool_backward_matches_autograd():
    rng = np.random.default_rng(2)
    for size, stride in [(2, 2)] * 10 + [(3, 2), (2, 1), (3, 3), (2, 3)] * 3:
        m, n = rng.integers(size, 10, size=2)
        A = rng.normal(size=(m, n))
        x = torch.tensor(A, requires_grad=True)
        y = F.max_pool2d(x[None, None], size, stride)[0, 0]
        G = rng.normal(size=tuple(y.shape))
        y.backward(torch.as_tensor(G))
        np.testing.assert_allclose(conv.maxpool2d_backward(A, G, size, stride), x.grad.numpy(), atol=1e-12,
                                   err_msg=f"A {A.shape}, size {size}, stride {stride}")


def test_maxpool_backward_routes_each_gradient_to_its_windows_maximum():
    A = np.array([[1, 9, 2, 0], [3, 4, 5, 8], [7, 1, 1, 1], [2, 2, 6, 1]])
    grad = conv.maxpool2d_backward(A, np.array([[10, 20], [30, 40]]))
    assert grad.tolist() == [[0, 10, 0, 0], [0, 0, 0, 20], [30, 0, 0, 0], [0, 0, 40, 0]]


def test_uint8_inputs_do_not_overflow():
    """255·255·4 does not fit in uint8 (it wrapped around: 32 where torch gives 800 for this one)."""
    A = np.array([[10, 20], [30, 40]], dtype=np.uint8)
    B = np.array([[10, 20], [0, 0]], dtype=np.uint8)
    assert conv.conv2d(A, B).tolist() == [[500]]
    big = np.full((5, 5), 255, dtype=np.uint8)
    C = conv.conv2d(big, big[:3, :3], padding=1)
    expected = torch.nn.functional.conv2d(torch.as_tensor(big, dtype=torch.float64)[None, None],
                                          torch.as_tensor(big[:3, :3], dtype=torch.float64)[None, None], padding=1)[0, 0]
    assert np.array_equal(C, expected.numpy()) and C.max() == 255 * 255 * 9
    assert conv.explain_entry(big, big[:2, :2], 0, 0).endswith(f"= {255 * 255 * 4}")
    X = np.full((2, 4, 4), 200, dtype=np.uint8)
    W = np.full((1, 2, 2, 2), 200, dtype=np.uint8)
    assert conv.conv2d_multichannel(X, W)[0, 0, 0] == 200 * 200 * 8
    assert conv.conv2d(np.array([[True, True]]), np.array([[True, True]])).tolist() == [[2]]  # booleans add up too


def test_explain_entry_wants_whole_numbers():
    with pytest.raises(TypeError, match=r"row i must be an integer, got 0.5"):
        conv.explain_entry(np.ones((3, 3)), np.ones((2, 2)), 0.5, 0)
    with pytest.raises(ValueError, match="column j must be at least 0, got -1"):
        conv.explain_entry(np.ones((3, 3)), np.ones((2, 2)), 0, -1)
