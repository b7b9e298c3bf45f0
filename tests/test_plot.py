"""cslib.plot: the figures have the panels, titles and lines they promise (saved as PNG artifacts)."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cslib import plot  # noqa: E402
from cslib.train import History  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def save(fig, name):
    ARTIFACTS.mkdir(exist_ok=True)
    fig.savefig(ARTIFACTS / name, dpi=60)
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("shape", [(10, 28, 28), (10, 1, 28, 28), (10, 784), (10, 3, 8, 8), (10, 8, 8, 3)])
def test_as_image_array_accepts_common_layouts(shape):
    a = plot.as_image_array(torch.rand(shape))
    assert a.shape[0] == 10 and a.ndim in (3, 4)


def test_show_images_titles_with_class_names_and_predictions():
    images = torch.randint(0, 255, (5, 28, 28), dtype=torch.uint8)
    fig = plot.show_images(images, [0, 1, 2, 3, 4], ["a", "b", "c", "d", "e"], predictions=[0, 1, 0, 3, 0], ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["a (a)", "b (b)", "a (c)", "d (d)", "a (e)"] and len(fig.axes) == 6
    colors = [ax.title.get_color() for ax in fig.axes[:5]]
    assert colors[2] == "tab:red" and colors[0] == "tab:green"
    save(fig, "show_images.png")
    with pytest.raises(ValueError, match="cannot show images"):
        plot.show_images(np.zeros((2, 5)))


def test_plot_history_compares_runs():
    h = History(loss=[1.0, 0.5], train_acc=[0.6, 0.8], test_loss=[1.1, 0.7], test_acc=[0.55, 0.75], seconds=[1, 1])
    fig = plot.plot_history({"MLP": h, "CNN": h})
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 4 and [line.get_label() for line in acc_ax.lines] == ["MLP train", "MLP test", "CNN train", "CNN test"]
    save(fig, "plot_history.png")


def test_plot_gaps_one_panel_per_run_with_train_test_and_the_gap():
    runs = {"no regularization": ([0.8, 0.95, 1.0], [0.85, 0.83, 0.8]), "dropout": ([0.7, 0.8, 0.85], [0.84, 0.86, 0.87])}
    fig = plot.plot_gaps(runs, title="gaps", ylim=(0.5, 1.0))
    assert len(fig.axes) == 2
    for ax in fig.axes:  # both runs have epochs with train below test: that part is hatched, not filled
        assert [line.get_label() for line in ax.lines] == ["train", "test"]
        assert [c.get_label() for c in ax.collections] == ["gap (train above)", "gap (train below)"]
        assert ax.collections[1].get_hatch() == "///" and ax.collections[0].get_hatch() is None
    only_above = plot.plot_gaps({"x": ([0.9, 1.0], [0.8, 0.85])})
    assert [c.get_label() for c in only_above.axes[0].collections] == ["gap (train above)"]
    assert fig.axes[0].get_title() == "no regularization\nlast epoch: gap +0.200"
    assert fig.axes[1].get_title() == "dropout\nlast epoch: gap -0.020"
    assert fig.axes[0].get_ylim() == (0.5, 1.0)
    save(fig, "plot_gaps.png")
    with pytest.raises(ValueError, match="one of each per epoch"):
        plot.plot_gaps({"x": ([1.0, 2.0], [1.0])})
    with pytest.raises(ValueError, match="empty"):
        plot.plot_gaps({})


def test_plot_curves_one_panel_per_run_styles_kept_across_panels_and_the_marked_epoch():
    panels = {"no regularization": {"train": [0.8, 0.9, 1.0], "validation": [0.7, 0.72, 0.7]},
              "dropout": {"validation": [0.6, 0.7, 0.75], "train": [0.7, 0.8, 0.85]}}
    fig = plot.plot_curves(panels, marks={"no regularization": 2}, mark_label="best validation epoch", ylim=(0, 1))
    first, second = fig.axes
    styles = {ax.get_title().split("\n")[0]: {line.get_label(): (line.get_linestyle(), line.get_marker(), line.get_color())
                                               for line in ax.lines if not line.get_label().startswith("_")} for ax in fig.axes}
    assert styles["no regularization"] == styles["dropout"]  # the same curve looks the same in every panel
    assert len({v[0] for v in styles["dropout"].values()}) == 2  # and curves differ by line style, not colour only
    assert first.get_title() == "no regularization\nbest validation epoch (gray bar): 2"
    assert second.get_title() == "dropout"
    assert [line.get_xdata()[0] for line in first.lines if line.get_label().startswith("_")] == [2]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["train", "validation"]
    save(fig, "plot_curves.png")
    with pytest.raises(ValueError, match="one value per epoch"):
        plot.plot_curves({"x": {"a": [1.0, 2.0], "b": [1.0]}})
    with pytest.raises(ValueError, match="empty"):
        plot.plot_curves({})


# --------------------------------------------------------------------------- bad input: one clear message each
def test_show_images_rejects_bad_input_with_one_message():
    images = torch.zeros(4, 28, 28)
    with pytest.raises(ValueError, match="no images to show"):
        plot.show_images(torch.zeros(0, 28, 28))
    with pytest.raises(ValueError, match="4 images but only 2 labels"):
        plot.show_images(images, [0, 1])
    with pytest.raises(ValueError, match=r"labels: 10 is outside the 3 classes \(0\.\.2\)"):
        plot.show_images(images, [0, 1, 2, 10], ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"labels: -1 is outside the 3 classes"):
        plot.show_images(images, torch.tensor([0, -1, 2, 1]), ["a", "b", "c"])
    with pytest.raises(ValueError, match="4 images but only 3 predictions"):
        plot.show_images(images, [0, 1, 2, 1], predictions=[0, 1, 2])
    with pytest.raises(ValueError, match="labels must be class numbers, got 1.5"):
        plot.show_images(images, [0, 1.5, 2, 1])
    with pytest.raises(ValueError, match="ncols must be a whole number of at least 1, got 0"):
        plot.show_images(images, ncols=0)
    fig = plot.show_images(images, np.array([0, 1, 2, 1, 7]))  # extra labels are fine (a slice of the images)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 4
    save(fig, "show_images_extra_labels.png")


def test_plot_history_rejects_empty_and_foreign_input():
    with pytest.raises(ValueError, match="no finished epoch to plot"):
        plot.plot_history(History())
    with pytest.raises(ValueError, match="non-empty dict"):
        plot.plot_history({})
    with pytest.raises(TypeError, match=r"histories\['CNN'\] is a list, not a History"):
        plot.plot_history({"CNN": [0.1, 0.2]})


def test_confusion_counts_and_its_figure():
    counts = plot.confusion_counts(torch.tensor([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    other = plot.confusion_counts([0, 1, 2], [1, 2, 0], 3)
    fig = plot.plot_confusion({"A": counts, "B": other}, ["x", "y", "z"], title="confusions")
    first, second = fig.axes[:2]
    assert first.get_title() == "A: 2 mistakes" and second.get_title() == "B: 3 mistakes"
    assert first.images[0].get_clim() == second.images[0].get_clim() == (0, 1)  # one colour scale for the mistakes
    assert not any(t.get_text() for t in second.get_yticklabels())  # the rows are named once, on the left
    assert "2" in [t.get_text() for t in first.texts]  # the counts are written in the cells
    save(fig, "plot_confusion.png")
    with pytest.raises(ValueError, match="3 true labels but 2 predictions"):
        plot.confusion_counts([0, 1, 2], [0, 1], 3)
    with pytest.raises(ValueError, match="class numbers from 0 to 2"):
        plot.confusion_counts([0, 1, 3], [0, 1, 2], 3)
    with pytest.raises(ValueError, match=r"expected \(3, 3\)"):
        plot.plot_confusion({"A": np.zeros((2, 2))}, ["x", "y", "z"])
