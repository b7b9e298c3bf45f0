"""Lecture 3's shift explorer: the plain functions, and a widget that builds and updates (no browser needed)."""
import matplotlib

matplotlib.use("Agg")
import re  # noqa: E402

import torch  # noqa: E402

from cslib import models, widgets  # noqa: E402
from toy_models import ColumnReader  # noqa: E402

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
LINE = re.compile(r"^[^:·]+: [^·]+ \(\d\.\d\d\)( · [^:·]+: [^·]+ \(\d\.\d\d\))*$")


def images():
    x = torch.zeros(2, 28, 28, dtype=torch.uint8)
    x[0, 10, 4] = 255  # class 1 for ColumnReader
    x[1, 3, 20] = 255  # class 6
    return x, torch.tensor([1, 6])


def test_probabilities_and_text_line():
    torch.manual_seed(0)
    nets = {"reader": ColumnReader(), "MLP": models.mlp(), "CNN": models.cnn()}
    x, _ = images()
    probs = widgets.shift_model_probabilities(nets, x[0], 0)
    assert set(probs) == set(nets) and all(p.shape == (10,) for p in probs.values())
    text = widgets.shift_prediction_text(probs, CLASSES)
    assert LINE.match(text) and text.startswith("reader: Trouser (1.00) · MLP: ")
    moved = widgets.shift_prediction_text(widgets.shift_model_probabilities({"reader": ColumnReader()}, x[0], 5), CLASSES)
    assert moved == "reader: Dress (1.00)"  # column 9 -> class 3


def test_static_figure_has_the_image_and_one_bar_chart_per_model():
    x, y = images()
    fig = widgets.plot_shift_explorer({"reader": ColumnReader(), "MLP": models.mlp()}, x[0], CLASSES, 5, label=int(y[0]))
    image_ax, *bar_axes = fig.axes
    assert len(bar_axes) == 2 and image_ax.images and image_ax.get_title().startswith("shift +5 px")
    assert "true class: Trouser" in image_ax.get_title()
    assert bar_axes[0].get_title() == "reader\nDress (1.00)"
    assert float(image_ax.images[0].get_array()[10, 9]) == 1.0  # the pixel moved from column 4 to 9
    matplotlib.pyplot.close(fig)


def test_explorer_builds_and_updates_on_slider_and_picker():
    x, y = images()
    box = widgets.shift_explorer({"reader": ColumnReader()}, x, y, CLASSES, vertical=True)
    c = box.controls
    assert c["shift"].min == -10 and c["shift"].max == 10 and c["shift"].continuous_update is False
    assert widgets.SHIFT_TEXT_CLASS in c["text"]._dom_classes
    assert c["text"].value == "shift +0 px, down +0 px: reader: Trouser (1.00)"
    c["shift"].value = 5
    assert c["text"].value == "shift +5 px, down +0 px: reader: Dress (1.00)"
    c["image"].value = 1
    assert c["text"].value == "shift +5 px, down +0 px: reader: Bag (1.00)"  # column 20 + 5 = 25 -> class 25 // 3 = 8
    c["vertical"].value = 3
    assert c["text"].value == "shift +5 px, down +3 px: reader: Bag (1.00)"  # moving down keeps the column
    assert len(box.children[0].children) == 3  # image picker, shift and vertical sliders


def test_explorers_carry_a_picture_for_front_ends_that_cannot_run_them():
    """An untrusted notebook (someone else's run) shows the PNG and a sentence, not VBox(children=...)."""
    import base64

    x, y = images()
    for box in (widgets.shift_explorer({"reader": ColumnReader()}, x, y, CLASSES), widgets.conv_explorer()):
        bundle = box._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle  # the live widget, when the cell runs
        assert bundle["text/plain"] == widgets.EXPLORER_TEXT
        assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    box = widgets.conv_explorer(n=3, k=7)  # kernel larger than the input: no picture, still a sentence
    assert "image/png" not in box._repr_mimebundle_() and box._repr_mimebundle_()["text/plain"] == widgets.EXPLORER_TEXT


def test_explorer_rejects_bad_input_with_one_message():
    import pytest

    x, y = images()
    reader = {"reader": ColumnReader()}
    with pytest.raises(ValueError, match="max_shift must be a whole number of pixels >= 0, got -3"):
        widgets.shift_explorer(reader, x, y, CLASSES, max_shift=-3)
    with pytest.raises(ValueError, match="need as many labels as images"):
        widgets.shift_explorer(reader, x, y[:1], CLASSES)
    with pytest.raises(ValueError, match="need as many labels as images"):
        widgets.shift_explorer(reader, x[:0], y[:0], CLASSES)
    with pytest.raises(ValueError, match=r"label 12 is outside the 10 classes \(0\.\.9\)"):
        widgets.shift_explorer(reader, x, torch.tensor([1, 12]), CLASSES)
    with pytest.raises(ValueError, match="models is empty"):
        widgets.shift_explorer({}, x, y, CLASSES)
    with pytest.raises(ValueError, match="classes is empty"):
        widgets.shift_explorer(reader, x, y, [])
    with pytest.raises(ValueError, match="label 10 is outside the 3 classes"):
        widgets.plot_shift_explorer(reader, x[0], CLASSES[:3], label=10)
    probs = widgets.shift_model_probabilities(reader, x[0])
    with pytest.raises(ValueError, match="'reader' gives 10 class probabilities but there are 3 class names"):
        widgets.shift_prediction_text(probs, CLASSES[:3])
