"""Figures the lectures draw: image grids and training curves (more are added as lectures need them).

Every function returns its matplotlib Figure; in a notebook end the line with ``;`` so the
figure is shown once.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from cslib.train import History


def as_image_array(images) -> np.ndarray:
    """Images as a NumPy array of shape (N, H, W) or (N, H, W, 3), whatever they came as.

    Accepts tensors or arrays shaped (N, H, W), (N, 1, H, W), (N, 3, H, W), (N, H, W, 3) or
    flat (N, 784) (taken as 28x28).
    """
    a = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    if a.ndim == 2 and a.shape[1] == 784:
        a = a.reshape(-1, 28, 28)
    if a.ndim == 4 and a.shape[1] in (1, 3):
        a = a[:, 0] if a.shape[1] == 1 else a.transpose(0, 2, 3, 1)
    if a.ndim not in (3, 4):
        raise ValueError(f"cannot show images of shape {images.shape}: expected (N, H, W), (N, C, H, W) or (N, 784)")
    return a


def show_images(images, labels=None, classes: Sequence[str] | None = None, *, predictions=None,
                ncols: int = 8, title: str | None = None, size: float = 1.5, cmap: str = "gray") -> Figure:
    """A grid of images titled with their labels (class names if ``classes`` is given).

    With ``predictions``, each title reads "predicted (true)", green when right, red when wrong.
    """
    a = as_image_array(images)
    n = len(a)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(a[i], cmap=None if a.ndim == 4 else cmap)
        if labels is not None:
            true = _name(labels[i], classes)
            if predictions is None:
                ax.set_title(true, fontsize=9)
            else:
                pred = _name(predictions[i], classes)
                ax.set_title(f"{pred} ({true})", fontsize=8, color="tab:green" if pred == true else "tab:red")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _name(label, classes) -> str:
    label = int(label)
    return classes[label] if classes is not None else str(label)


def plot_history(histories: History | Mapping[str, History], *, title: str | None = None) -> Figure:
    """Loss and accuracy per epoch, side by side; pass ``{"MLP": h1, "CNN": h2}`` to compare runs.

    Solid lines are training, dashed lines test (when ``fit`` was given test data).
    """
    if isinstance(histories, History):
        histories = {"": histories}
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 3.5))
    for i, (name, h) in enumerate(histories.items()):
        color = f"C{i}"
        prefix = f"{name} " if name else ""
        ax_loss.plot(h.epochs, h.loss, "o-", color=color, label=f"{prefix}train")
        ax_acc.plot(h.epochs, h.train_acc, "o-", color=color, label=f"{prefix}train")
        if h.test_acc:
            ax_loss.plot(h.epochs, h.test_loss, "s--", color=color, label=f"{prefix}test")
            ax_acc.plot(h.epochs, h.test_acc, "s--", color=color, label=f"{prefix}test")
    for ax, what in ((ax_loss, "Loss"), (ax_acc, "Accuracy")):
        ax.set_title(f"{what} over epochs")
        ax.set_xlabel("epoch")
        ax.set_ylabel(what.lower())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- lecture 3: class probabilities under shifts
def plot_probability_heatmap(probs, shifts: Sequence[int], classes: Sequence[str], *, title: str | None = None,
                             annotate: bool = True, ax=None) -> Figure:
    """The slides' "Prob. of each class for various shifts": rows = shifts, columns = classes, values written in.

    ``probs`` is (len(shifts), len(classes)), e.g. from ``cslib.shifts.shift_probabilities``. The colors
    run from 0 to 1 whatever the values, so that two heatmaps can be compared by eye.
    """
    p = probs.detach().cpu().numpy() if torch.is_tensor(probs) else np.asarray(probs, dtype=float)
    shifts, classes = list(shifts), list(classes)
    if p.shape != (len(shifts), len(classes)):
        raise ValueError(f"probs has shape {p.shape}, but there are {len(shifts)} shifts and {len(classes)} classes")
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.75 * len(classes) + 2.5, 0.42 * len(shifts) + 1.8))
    else:
        fig = ax.figure
    image = ax.imshow(p, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    if annotate:
        for (i, j), value in np.ndenumerate(p):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7.5,
                    color="black" if value > 0.6 else "white")
    ax.set_xticks(range(len(classes)), classes, rotation=40, ha="right")
    ax.set_yticks(range(len(shifts)), [f"{s:+d}" if s else "0" for s in shifts])
    ax.set_xlabel("class")
    ax.set_ylabel("shift (pixels, + = right)")
    ax.set_title(title or "Probability of each class for various shifts")
    fig.colorbar(image, ax=ax, label="probability", fraction=0.05, pad=0.02)
    fig.tight_layout()
    return fig


def plot_probability_bars(probs: Mapping[str, object], classes: Sequence[str], *, true_label: int | None = None,
                          title: str | None = None, axes=None) -> Figure:
    """One bar chart of class probabilities per model, side by side (``{"CNN": p1, "MLP": p2}``, each of length classes).

    The predicted class of each model is drawn in a darker color; ``true_label`` marks the right class with a star.
    """
    if not probs:
        raise ValueError("probs is empty: pass a dict {model name: probabilities}")
    classes = list(classes)
    names = list(probs)
    if axes is None:
        fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 3.2), sharey=True, squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    for ax, name in zip(axes, names):
        p = probs[name]
        p = p.detach().cpu().numpy().reshape(-1) if torch.is_tensor(p) else np.asarray(p, dtype=float).reshape(-1)
        if len(p) != len(classes):
            raise ValueError(f"probs[{name!r}] has {len(p)} values for {len(classes)} classes")
        best = int(p.argmax())
        colors = ["tab:blue"] * len(p)
        colors[best] = "tab:red" if true_label is not None and best != int(true_label) else "tab:green"
        ax.bar(range(len(p)), p, color=colors)
        ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
        ax.set_ylim(0, 1.08)
        ax.set_title(f"{name}\n{classes[best]} ({p[best]:.2f})", fontsize=10)
        if true_label is not None:
            ax.text(int(true_label), min(p[int(true_label)] + 0.02, 1.0), "★", ha="center", va="bottom", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("probability")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
