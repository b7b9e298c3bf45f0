"""Lecture 3's figures: probability heatmaps and bar charts (saved as PNG artifacts)."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cslib import plot  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def save(fig, name):
    ARTIFACTS.mkdir(exist_ok=True)
    fig.savefig(ARTIFACTS / name, dpi=60)
    matplotlib.pyplot.close(fig)


def test_heatmap_has_shift_rows_class_columns_values_and_colorbar():
    probs = torch.softmax(torch.randn(11, 10, generator=torch.Generator().manual_seed(0)) * 3, dim=1)
    fig = plot.plot_probability_heatmap(probs, range(-5, 6), CLASSES, title="CNN")
    ax, colorbar = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert [t.get_text() for t in ax.get_yticklabels()] == ["-5", "-4", "-3", "-2", "-1", "0", "+1", "+2", "+3", "+4", "+5"]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 110 and texts[0] == f"{probs[0, 0]:.2f}" and texts[13] == f"{probs[1, 3]:.2f}"
    assert ax.get_title() == "CNN" and colorbar.get_ylabel() == "probability"
    assert ax.images[0].get_clim() == (0, 1)
    save(fig, "probability_heatmap.png")
    with pytest.raises(ValueError, match="11 shifts and 10 classes"):
        plot.plot_probability_heatmap(np.zeros((11, 9)), range(-5, 6), CLASSES)


def test_bars_one_panel_per_model_with_prediction_in_title():
    p1, p2 = np.eye(10)[1] * 0.9 + 0.01, np.eye(10)[8] * 0.6 + 0.04
    fig = plot.plot_probability_bars({"plain CNN": p1, "MLP": torch.tensor(p2)}, CLASSES, true_label=1)
    a, b = fig.axes
    assert a.get_title() == "plain CNN\nTrouser (0.91)" and b.get_title() == "MLP\nBag (0.64)"
    assert [round(bar.get_height(), 2) for bar in b.patches] == [round(v, 2) for v in p2]
    assert b.patches[8].get_facecolor() != a.patches[1].get_facecolor()  # wrong (red) vs right (green)
    save(fig, "probability_bars.png")
    with pytest.raises(ValueError, match="empty"):
        plot.plot_probability_bars({}, CLASSES)
    with pytest.raises(ValueError, match="3 values for 10 classes"):
        plot.plot_probability_bars({"x": [0.2, 0.3, 0.5]}, CLASSES)


def test_probability_figures_reject_bad_input_with_one_message():
    with pytest.raises(ValueError, match="nothing to draw: 0 shifts and 10 classes"):
        plot.plot_probability_heatmap(np.zeros((0, 10)), [], CLASSES)
    with pytest.raises(ValueError, match=r"true_label 10 is outside the 10 classes \(0\.\.9\)"):
        plot.plot_probability_bars({"CNN": np.full(10, 0.1)}, CLASSES, true_label=10)
    with pytest.raises(ValueError, match="probs is empty"):
        plot.plot_probability_bars({}, CLASSES)
