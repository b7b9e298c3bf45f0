"""Lecture 2's pictures (cslib.plot.draw_convolution & co.) and the stride/padding explorer (cslib.widgets)."""
import base64
import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from cslib import plot, widgets  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def by_gid(fig, gid):
    found = []
    for ax in fig.axes:
        found += [p for p in ax.patches if p.get_gid() == gid] + [t for t in ax.texts if t.get_gid() == gid]
    return found


def all_text(fig):
    texts = [t.get_text() for t in fig.texts] + [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        texts += [ax.get_title()] + [t.get_text() for t in ax.texts]
    return "\n".join(texts)


@pytest.mark.parametrize("n, k, stride, padding", [(5, 3, 1, 0), (5, 3, 2, 0), (5, 3, 1, 1), (5, 3, 2, 1), (7, 2, 3, 0), (4, 4, 1, 0), (3, 5, 1, 1)])
def test_draw_convolution_shows_padded_input_windows_and_output(n, k, stride, padding):
    fig = plot.draw_convolution(n, k, stride, padding)
    size = n + 2 * padding
    m = (size - k) // stride + 1
    assert len(by_gid(fig, "input-cell")) == n * n
    assert len(by_gid(fig, "padding-cell")) == size * size - n * n
    assert len(by_gid(fig, "output-cell")) == m * m
    starts = by_gid(fig, "window-start")
    assert [t.get_text() for t in starts] == [str(i) for i in range(1, m * m + 1)]
    assert len(by_gid(fig, "window-outline")) == min(2, m * m)
    text = all_text(fig)
    assert f"input: {n}×{n}" in text and f"output: {m}×{m}" in text  # both grids say which is which
    assert f"⌊({n} + 2·{padding} − {k})/{stride}⌋ + 1 = {m}" in text
    assert ("padding zeros" in text) == (padding > 0)
    ARTIFACTS.mkdir(exist_ok=True)
    fig.savefig(ARTIFACTS / f"draw_convolution_{n}_{k}_{stride}_{padding}.png", dpi=60)
    plt.close(fig)


def test_draw_convolution_marks_input_cells_no_window_reaches():
    fig = plot.draw_convolution(7, 2, stride=3)  # windows start at 0 and 3: rows/columns 2, 5 and 6 are skipped
    hatched = [p for p in by_gid(fig, "input-cell") if p.get_hatch()]
    assert len(hatched) == 7 * 7 - 4 * 4 and "no window reaches" in all_text(fig)
    plt.close(fig)
    fig = plot.draw_convolution(5, 3)
    assert not [p for p in by_gid(fig, "input-cell") if p.get_hatch()] and "no window reaches" not in all_text(fig)
    plt.close(fig)


def test_draw_convolution_refuses_impossible_settings():
    with pytest.raises(ValueError, match="larger than the padded input"):
        plot.draw_convolution(3, 5)


def test_draw_conv_step_writes_the_sum_out():
    A, B = np.arange(1, 17).reshape(4, 4), np.array([[1, 2], [3, 4]])
    fig = plot.draw_conv_step(A, B, 1, 1)
    assert "C[1, 1] = 6×1 + 7×2 + 10×3 + 11×4 = 94" in all_text(fig) and "output C = A ⊗ B" in all_text(fig)
    shown = [t.get_text() for t in fig.axes[2].texts if t.get_text()]
    assert shown == ["44", "54", "64", "84", "94"]  # the output filled in up to the current entry
    highlighted = [p for p in by_gid(fig, "input-cell") if p.get_facecolor()[:3] != (1.0, 1.0, 1.0)]
    assert len(highlighted) == 4
    plt.close(fig)
    fig = plot.draw_conv_step(np.ones((2, 2), dtype=int), np.ones((3, 3), dtype=int), 0, 0, padding=2, names=("C", "B", "D"))
    text = all_text(fig)
    assert "D[0, 0] = 0×1 + 0×1 + 0×1 + 0×1 + 0×1 + 0×1 + 0×1 + 0×1 + 1×1 = 1" in text
    assert "input C (padded by 2)" in text and "output D = pad(C, 2) ⊗ B" in text and len(by_gid(fig, "input-cell")) == 36
    plt.close(fig)


@pytest.mark.parametrize("mode, values", [("max", ["6", "8", "3", "4"]), ("average", ["3.25", "5.25", "2", "2"])])
def test_draw_pooling(mode, values):
    A = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    fig = plot.draw_pooling(A, mode=mode)
    assert [t.get_text() for t in fig.axes[1].texts] == values and len(by_gid(fig, "input-cell")) == 16
    assert "input: 4×4" in all_text(fig) and "output: 2×2" in all_text(fig)
    plt.close(fig)
    with pytest.raises(ValueError, match="mode"):
        plot.draw_pooling(A, mode="min")


@pytest.mark.parametrize("shape, filters, k, out", [((8, 7, 6), 8, 3, (8, 5, 4)), ((3, 5, 5), 2, 2, (2, 4, 4))])
def test_draw_multichannel_convolution_draws_every_channel_and_feature_map(shape, filters, k, out):
    fig = plot.draw_multichannel_convolution(*shape, filters=filters, k=k, i=1, j=1)
    channels = shape[0]
    assert len(by_gid(fig, "input-channel")) == channels and len(by_gid(fig, "filter-channel")) == channels
    assert len(by_gid(fig, "output-channel")) == out[0] == filters  # one feature map per filter
    assert len(by_gid(fig, "window")) == channels  # the window covers every input channel
    assert len(by_gid(fig, "other-filter")) == (filters - 1) * channels and len(by_gid(fig, "output-entry")) == 1
    text = all_text(fig)
    assert f"input: {shape}" in text and f"output: {out}" in text and f"the first of {filters} filters: ({channels}, {k}, {k})" in text
    assert f"{channels}×{k}×{k} = {channels * k * k}\nproducts" in text
    assert "marked: output[0, 1, 1]" in text and "rows 1–" + str(k) in text  # the title names the entry, counting from 0
    ARTIFACTS.mkdir(exist_ok=True)
    fig.savefig(ARTIFACTS / f"draw_multichannel_{channels}.png", dpi=60)
    plt.close(fig)


def test_draw_multichannel_convolution_refuses_entries_outside_the_output():
    with pytest.raises(ValueError, match=r"output entry \(5, 0\) is outside the 5×4 output"):
        plot.draw_multichannel_convolution(i=5, j=0)
    with pytest.raises(ValueError):
        plot.draw_multichannel_convolution(8, 2, 2, k=3)  # the kernel does not fit


@pytest.mark.parametrize("n, k, stride, padding", list(itertools.product([1, 4, 5, 12], [1, 3, 7], [1, 2, 4], [0, 1, 3])))
def test_describe_convolution_agrees_with_nn_conv2d(n, k, stride, padding):
    text = widgets.describe_convolution(n, k, stride, padding)
    if k > n + 2 * padding:
        assert text == (f"impossible: kernel {k} × {k} does not fit in the padded input {n + 2 * padding} × {n + 2 * padding} "
                        f"(n + 2p = {n} + 2·{padding}); use a smaller kernel or more padding")
        return
    shape = tuple(nn.Conv2d(1, 1, k, stride=stride, padding=padding)(torch.zeros(1, 1, n, n)).shape)
    m = shape[-1]
    assert text == f"output: {m} × {m} — formula ⌊({n} + 2·{padding} − {k})/{stride}⌋ + 1 = {m}; nn.Conv2d gives {shape}"


def test_describe_convolution_example_from_the_docs():
    assert widgets.describe_convolution(5, 3, 1, 0) == "output: 3 × 3 — formula ⌊(5 + 2·0 − 3)/1⌋ + 1 = 3; nn.Conv2d gives (1, 1, 3, 3)"


def test_convolution_png_is_a_closed_png_figure():
    before = plt.get_fignums()
    data = widgets.convolution_png(5, 3, 2, 1)
    assert data.startswith(PNG_MAGIC) and plt.get_fignums() == before


def test_conv_explorer_builds_and_updates():
    pytest.importorskip("ipywidgets")
    box = widgets.conv_explorer()
    labels = [s.description for s in box.sliders.values()]
    assert labels == ["input size", "kernel size", "stride", "padding"]
    assert all(not s.continuous_update for s in box.sliders.values())
    assert box.shape_line.value.startswith("output: 3 × 3 — formula") and "cslib-conv-shape" in box.shape_line._dom_classes

    def picture():
        (out,) = box.figure_area.outputs
        return base64.b64decode(out["data"]["image/png"]) if "image/png" in out["data"] else None

    first = picture()
    assert first.startswith(PNG_MAGIC)
    box.sliders["stride"].value = 2
    box.sliders["padding"].value = 1
    assert box.shape_line.value == "output: 3 × 3 — formula ⌊(5 + 2·1 − 3)/2⌋ + 1 = 3; nn.Conv2d gives (1, 1, 3, 3)"
    assert picture().startswith(PNG_MAGIC) and picture() != first
    box.sliders["kernel size"].value = 7
    box.sliders["padding"].value = 0  # 7 > 5: impossible
    assert box.shape_line.value.startswith("impossible: kernel 7 × 7 does not fit in the padded input 5 × 5")
    assert picture() is None and "No picture" in box.figure_area.outputs[0]["data"]["text/plain"]
    box.sliders["input size"].value = 12
    assert box.shape_line.value.startswith("output: 3 × 3 — formula ⌊(12 + 2·0 − 7)/2⌋ + 1 = 3") and picture().startswith(PNG_MAGIC)


def test_conv_explorer_start_values_are_clamped_to_the_sliders():
    pytest.importorskip("ipywidgets")
    box = widgets.conv_explorer(n=99, k=0, stride=2, padding=1)
    assert [s.value for s in box.sliders.values()] == [12, 1, 2, 1]


def test_draw_pooling_gives_every_window_of_an_8x8_input_its_own_colour_and_frame():
    A = np.arange(64).reshape(8, 8)
    fig = plot.draw_pooling(A, 2, 2)
    cells = by_gid(fig, "output-cell")
    colours = {p.get_facecolor() for p in cells}
    assert len(cells) == 16 and len(colours) == 16  # 16 windows, 16 colours: no window shares its neighbour's
    assert len(by_gid(fig, "window-outline")) == 16
    plt.close(fig)
