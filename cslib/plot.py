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
