"""Figures the lectures draw: image grids and training curves (more are added as lectures need them).

Every function returns its matplotlib Figure; in a notebook end the line with ``;`` so the
figure is shown once.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import ArrayLike
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cslib.train import History


def as_image_array(images: ArrayLike | torch.Tensor) -> np.ndarray:
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
        raise ValueError(f"cannot show images of shape {a.shape}: expected (N, H, W), (N, C, H, W) or (N, 784)")
    return a


def show_images(images: ArrayLike | torch.Tensor, labels: ArrayLike | torch.Tensor | None = None,
                classes: Sequence[str] | None = None, *, predictions: ArrayLike | torch.Tensor | None = None,
                ncols: int = 8, title: str | None = None, size: float = 1.5, cmap: str = "gray") -> Figure:
    """A grid of images titled with their labels (class names if ``classes`` is given).

    With ``predictions``, each title reads "predicted (true)", green when right, red when wrong.
    """
    a = as_image_array(images)
    n = len(a)
    if n == 0:
        raise ValueError("no images to show: the batch is empty")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a whole number of at least 1, got {ncols!r}")
    for what, values in (("labels", labels), ("predictions", predictions)):
        if values is not None:
            _check_labels(values, n, classes, what)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    row_height = size * (1.3 if labels is not None else 1.15)  # room for each image's title above it
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, row_height * nrows), squeeze=False)
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


def _check_labels(labels, n: int, classes: Sequence[str] | None, what: str = "labels") -> None:
    """One label per image, each a class number within ``classes`` (when given), or a one-line ValueError."""
    values = labels.detach().cpu().reshape(-1).tolist() if torch.is_tensor(labels) else np.asarray(labels).reshape(-1).tolist()
    if len(values) < n:
        raise ValueError(f"{n} images but only {len(values)} {what}: give one per image")
    for value in values[:n]:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{what} must be class numbers, got {value}")
        if classes is not None and not 0 <= int(value) < len(classes):
            raise ValueError(f"{what}: {int(value)} is outside the {len(classes)} classes (0..{len(classes) - 1})")


def _name(label, classes) -> str:
    label = int(label)
    return classes[label] if classes is not None else str(label)


def plot_history(histories: History | Mapping[str, History], *, title: str | None = None,
                 held_out: str = "test") -> Figure:
    """Loss and accuracy per epoch, side by side; pass ``{"MLP": h1, "CNN": h2}`` to compare runs.

    Solid lines are training, dashed lines the second data set ``fit`` was given, labelled ``held_out``
    ("validation" when that set was a validation split).
    """
    if isinstance(histories, History):
        histories = {"": histories}
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError("plot_history takes a History (what fit returns) or a non-empty dict {name: History}")
    for name, h in histories.items():
        if not isinstance(h, History):
            raise TypeError(f"histories[{name!r}] is a {type(h).__name__}, not a History (what fit returns)")
        if len(h) == 0:
            raise ValueError(f"the History{f' {name!r}' if name else ''} has no finished epoch to plot")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 3.5))
    for i, (name, h) in enumerate(histories.items()):
        color = f"C{i}"
        prefix = f"{name} " if name else ""
        ax_loss.plot(h.epochs, h.loss, "o-", color=color, label=f"{prefix}train")
        ax_acc.plot(h.epochs, h.train_acc, "o-", color=color, label=f"{prefix}train")
        if h.test_acc:
            ax_loss.plot(h.epochs, h.test_loss, "s--", color=color, label=f"{prefix}{held_out}")
            ax_acc.plot(h.epochs, h.test_acc, "s--", color=color, label=f"{prefix}{held_out}")
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


def plot_gaps(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, ylabel: str = "accuracy",
              title: str | None = None, ylim: tuple[float, float] | None = None) -> Figure:
    """One panel per run: training (solid) and test (dashed) values per epoch, the gap between them shaded.

    ``runs`` maps a name to ``(train_values, test_values)``, one value per epoch, e.g.
    ``{"no regularization": (h.train_acc, h.test_acc)}``. Each panel's title gives the last epoch's
    gap, train minus test, so that runs can be compared at a glance; the panels share their y axis.
    """
    if not runs:
        raise ValueError("runs is empty: pass {name: (train values, test values)}")
    for name, (train, test) in runs.items():
        if len(train) != len(test) or len(train) == 0:
            raise ValueError(f"runs[{name!r}]: {len(train)} training values and {len(test)} test values; "
                             "pass one of each per epoch")
    fig, axes = plt.subplots(1, len(runs), figsize=(4.3 * len(runs), 3.6), sharey=True, squeeze=False)
    for i, (ax, (name, (train, test))) in enumerate(zip(axes[0], runs.items())):
        epochs = np.arange(1, len(train) + 1)
        train, test = np.asarray(train, dtype=float), np.asarray(test, dtype=float)
        ax.plot(epochs, train, "-", color=f"C{i}", label="train")
        ax.plot(epochs, test, "--", color=f"C{i}", label="test")
        ax.fill_between(epochs, train, test, where=train >= test, interpolate=True, color=f"C{i}", alpha=0.15,
                        label="gap (train above)")
        if (train < test).any():  # a negative gap looks different: hatched, no fill
            ax.fill_between(epochs, train, test, where=train < test, interpolate=True, facecolor="none",
                            edgecolor="0.4", hatch="///", linewidth=0, label="gap (train below)")
        ax.set_title(f"{name}\nlast epoch: gap {train[-1] - test[-1]:+.3f}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0, 0].set_ylabel(ylabel)
    if ylim is not None:
        axes[0, 0].set_ylim(*ylim)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v")]


def plot_curves(panels: Mapping[str, Mapping[str, Sequence[float]]], *, marks: Mapping[str, int] | None = None,
                mark_label: str = "chosen epoch", xlabel: str = "epoch", ylabel: str = "accuracy",
                title: str | None = None, ylim: tuple[float, float] | None = None) -> Figure:
    """One panel per run, each with several curves over the epochs: ``{run: {curve: values}}``.

    The curves of a panel differ in line style and marker, not only in colour, and keep them across
    panels; ``marks`` draws a vertical line at an epoch of a run (e.g. the one chosen on validation).
    Epochs are numbered from 1; the panels share their y axis.
    """
    if not panels:
        raise ValueError("panels is empty: pass {run: {curve: values per epoch}}")
    names = list(dict.fromkeys(curve for curves in panels.values() for curve in curves))
    if len(names) > len(_STYLES):
        raise ValueError(f"at most {len(_STYLES)} curves per panel, got {len(names)}")
    for run, curves in panels.items():
        lengths = {len(v) for v in curves.values()}
        if not curves or len(lengths) != 1 or 0 in lengths:
            raise ValueError(f"panels[{run!r}]: give every curve one value per epoch, and at least one epoch")
    fig, axes = plt.subplots(1, len(panels), figsize=(max(7.0, 4.4 * len(panels)), 3.9), sharey=True, squeeze=False)
    for ax, (run, curves) in zip(axes[0], panels.items()):
        for name, values in curves.items():
            k = names.index(name)
            line, marker = _STYLES[k]
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, linestyle=line, marker=marker, markersize=3.5, markevery=max(1, len(epochs) // 10),
                    color=f"C{k}", label=name)
        heading = run
        if marks and run in marks:
            ax.axvline(marks[run], color="0.55", linewidth=2.5, alpha=0.6, zorder=0)
            heading += f"\n{mark_label} (gray bar): {marks[run]}"
        ax.set_title(heading, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0, 0].set_ylabel(ylabel)
    if ylim is not None:
        axes[0, 0].set_ylim(*ylim)
    handles = [plt.Line2D([], [], linestyle=_STYLES[k][0], marker=_STYLES[k][1], color=f"C{k}") for k in range(len(names))]
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 5), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def confusion_counts(y_true: ArrayLike | torch.Tensor, y_pred: ArrayLike | torch.Tensor, n_classes: int) -> np.ndarray:
    """The confusion matrix: entry [i, j] counts the examples of class i predicted as class j."""
    t = np.asarray(y_true.cpu() if torch.is_tensor(y_true) else y_true).reshape(-1).astype(int)
    p = np.asarray(y_pred.cpu() if torch.is_tensor(y_pred) else y_pred).reshape(-1).astype(int)
    if len(t) != len(p):
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    if len(t) and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"labels and predictions must be class numbers from 0 to {n_classes - 1}")
    counts = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(counts, (t, p), 1)
    return counts


def plot_confusion(matrices: Mapping[str, np.ndarray], classes: Sequence[str], *, title: str | None = None) -> Figure:
    """One confusion matrix per model, ``{name: confusion_counts(...)}``, side by side.

    The mistakes (off the diagonal) share one colour scale across the panels, so that the same shade means
    the same count everywhere; the diagonal (the correct predictions) is left white, its counts in bold.
    """
    if not matrices:
        raise ValueError("matrices is empty: pass {name: confusion_counts(y_true, y_pred, n_classes)}")
    k = len(classes)
    for name, m in matrices.items():
        if np.shape(m) != (k, k):
            raise ValueError(f"matrices[{name!r}] has shape {np.shape(m)}, expected ({k}, {k}) for {k} classes")
    off = [np.where(np.eye(k, dtype=bool), 0, m) for m in matrices.values()]
    vmax = max(1, max(int(o.max()) for o in off))
    fig, axes = plt.subplots(1, len(matrices), figsize=(5.6 * len(matrices) + 1.0, 5.4), squeeze=False)
    for n, (ax, (name, m), o) in enumerate(zip(axes[0], matrices.items(), off)):
        shown = np.ma.masked_where(np.eye(k, dtype=bool), o)
        image = ax.imshow(shown, cmap="Reds", vmin=0, vmax=vmax)
        for i in range(k):
            for j in range(k):
                value = int(m[i, j])
                if value or i == j:
                    dark = i != j and value > 0.6 * vmax
                    ax.text(j, i, str(value), ha="center", va="center", fontsize=7,
                            weight="bold" if i == j else "normal", color="white" if dark else "black")
        ax.set_xticks(range(k), classes, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(k), classes if n == 0 else [], fontsize=8)  # the rows are the same classes in every panel
        ax.set_xlabel("predicted class")
        if n == 0:
            ax.set_ylabel("true class")
        errors = int(m.sum() - np.trace(m))
        ax.set_title(f"{name}: {errors:,} mistakes", fontsize=10)
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.025, pad=0.02, label="mistakes (off the diagonal)")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


# --------------------------------------------------------------------------- Lecture 2: convolution pictures
# The arithmetic lives in cslib.conv (NumPy only, to read next to the lecture); the pictures live here
# with the course's other figures. Each cell of a grid is one matplotlib Rectangle whose gid says what
# it is ("input-cell", "padding-cell", "output-cell", "window-outline"; the window numbers are Text
# artists with gid "window-start"), so tests can count what a figure shows.
_PADDING_COLOR = "#d0d0d0"
_INPUT_COLOR = "#dfeaf6"
_UNUSED_HATCH_COLOR = "tab:red"


def _grid_axes(ax, rows: int, cols: int, title: str) -> None:
    ax.set_xlim(-0.05, cols + 0.05)
    ax.set_ylim(rows + 0.05, -0.05)  # row 0 at the top, like a matrix
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)


def _cell(ax, r: int, c: int, gid: str, face: str, text: str = "", *, hatch: str | None = None,
          edge: str = "0.45", fontsize: float = 9, color: str = "black", weight: str = "normal") -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((c, r), 1, 1, facecolor=face, edgecolor=edge, linewidth=0.8, hatch=hatch, gid=gid))
    if text:
        ax.text(c + 0.5, r + 0.5, text, ha="center", va="center", fontsize=fontsize, color=color, weight=weight)


def _outline(ax, r: int, c: int, h: int, w: int, color, gid: str = "window-outline", lw: float = 3.0, ls: str = "-") -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((c + 0.06, r + 0.06), w - 0.12, h - 0.12, fill=False, edgecolor=color,
                           linewidth=lw, linestyle=ls, gid=gid, zorder=5))


def draw_convolution(n: int, k: int, stride: int = 1, padding: int = 0) -> Figure:
    """Where a ``k × k`` kernel goes on an ``n × n`` input with ``stride`` and ``padding``, and the output it gives.

    Left, the padded **input**: padding zeros in gray, input cells in blue; the top-left cell of
    every window the kernel visits carries the window's number, windows 1 and 2 are outlined, and
    input cells that no window reaches are hatched in red. Right, the **output**: cell ``i`` is what
    window ``i`` computes. The title gives the output-size formula. Raises ValueError (from
    :func:`cslib.conv.output_size`) when the kernel does not fit.
    """
    from cslib.conv import output_size, window_positions

    m = output_size(n, k, stride, padding)
    positions = window_positions(n, k, stride, padding)
    size = n + 2 * padding
    covered = np.zeros((size, size), dtype=bool)
    for r, c in positions:
        covered[r:r + k, c:c + k] = True

    out_width = max(m, size * 0.35)
    cell = min(0.45, 9.0 / (size + out_width))  # inches per cell: large grids shrink to stay on screen
    height = cell * size + 1.9
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(max(7.0, cell * (size + out_width) + 2.5), height),
                                        gridspec_kw={"width_ratios": [size, out_width]})
    fontsize = max(5.0, min(9.0, 20 * cell))
    for r in range(size):
        for c in range(size):
            is_padding = not (padding <= r < padding + n and padding <= c < padding + n)
            unused = not covered[r, c] and not is_padding
            _cell(ax_in, r, c, "padding-cell" if is_padding else "input-cell",
                  _PADDING_COLOR if is_padding else _INPUT_COLOR, "0" if is_padding and size <= 12 else "",
                  hatch="///" if unused else None, edge=_UNUSED_HATCH_COLOR if unused else "0.45",
                  fontsize=fontsize, color="0.35")
    for number, (r, c) in enumerate(positions, 1):
        ax_in.text(c + 0.08, r + 0.1, str(number), ha="left", va="top", fontsize=max(4.5, fontsize - 2),
                   color="black", weight="bold", gid="window-start", zorder=6)
    colors = ["tab:blue", "tab:orange"]
    for (r, c), color, ls in zip(positions[:2], colors, ["-", "--"]):
        _outline(ax_in, r, c, k, k, color, ls=ls)
    pad_text = f", padding {padding} → {size}×{size}" if padding else ""
    _grid_axes(ax_in, size, size, f"input: {n}×{n}{pad_text}\nkernel {k}×{k}, stride {stride}: {len(positions)} window{'s' if len(positions) > 1 else ''}")

    fills = {0: "#bcd7ef", 1: "#fdd9b5"}
    for i in range(m):
        for j in range(m):
            number = i * m + j
            _cell(ax_out, i, j, "output-cell", fills.get(number, "white"), str(number + 1), fontsize=fontsize)
    _grid_axes(ax_out, m, m, f"output: {m}×{m}\n(cell i = window i)")
    ax_out.set_xlim(-0.05, out_width + 0.05)

    notes = []
    if padding:
        notes.append("gray: padding zeros")
    if (~covered[padding:padding + n, padding:padding + n]).any():
        notes.append("hatched: input cells no window reaches")
    notes.append("blue/orange: windows 1 and 2, a stride apart" if len(positions) > 1 else "blue: the only window")
    fig.suptitle(f"output size ⌊(n + 2p − k)/s⌋ + 1 = ⌊({n} + 2·{padding} − {k})/{stride}⌋ + 1 = {m}", fontsize=11)
    fig.text(0.5, 0.01, ";  ".join(notes), ha="center", va="bottom", fontsize=8, color="0.3")
    fig.tight_layout(rect=(0, 0.3 / height, 1, 1 - 0.35 / height))  # room for the note below and the title above
    return fig


def _matrix(ax, M: np.ndarray, title: str, *, fill=None, bold=None, gid: str = "cell") -> None:
    """Draw matrix ``M`` as a grid of numbers; ``fill`` maps (r, c) to a color, ``bold`` is a set of cells."""
    fill, bold = fill or {}, bold or set()
    for (r, c), value in np.ndenumerate(M):
        text = "" if value is None else (f"{value:g}" if isinstance(value, (float, np.floating)) else str(value))
        _cell(ax, r, c, gid, fill.get((r, c), "white"), text, weight="bold" if (r, c) in bold else "normal")
    _grid_axes(ax, M.shape[0], M.shape[1], title)


def draw_conv_step(A: ArrayLike, B: ArrayLike, i: int, j: int, stride: int = 1, padding: int = 0,
                   names: tuple[str, str, str] = ("A", "B", "C")) -> Figure:
    """One step of a convolution by hand: the window of input ``A`` that gives output entry ``(i, j)``, the kernel ``B``,
    and the output filled in up to that entry; the title writes the sum out (e.g. 1×1 + 2×2 + 5×3 + 6×4 = 44).

    ``names`` are what the input, the kernel and the output are called in the titles.
    """
    from cslib.conv import conv2d, explain_entry, pad

    A_padded, B = pad(A, padding), np.asarray(B)
    C = conv2d(A, B, stride, padding)
    p, q = B.shape
    window = {(i * stride + u, j * stride + v): "#bcd7ef" for u in range(p) for v in range(q)}
    partial = np.empty(C.shape, dtype=object)
    for r in range(C.shape[0]):
        for c in range(C.shape[1]):
            partial[r, c] = C[r, c] if (r, c) <= (i, j) else None
    widths = [A_padded.shape[1], B.shape[1], C.shape[1]]
    height = 0.55 * max(A_padded.shape[0], 3) + 1.5
    fig, axes = plt.subplots(1, 3, figsize=(2.2 + 0.55 * sum(widths), height), gridspec_kw={"width_ratios": widths})
    a, b, c = names
    settings = ", ".join(t for t in [f"padded by {padding}" if padding else "", f"stride {stride}" if stride > 1 else ""] if t)
    _matrix(axes[0], A_padded, f"input {a}" + (f" ({settings})" if settings else ""), fill=window, gid="input-cell")
    _matrix(axes[1], B, f"kernel {b}", fill={(u, v): "#fdd9b5" for u in range(p) for v in range(q)}, gid="kernel-cell")
    formula = f"{f'pad({a}, {padding})' if padding else a} ⊗ {b}" + (f", stride {stride}" if stride > 1 else "")  # what the output is
    _matrix(axes[2], partial, f"output {c} = {formula}\nentry ({i}, {j})", fill={(i, j): "#bcd7ef"}, bold={(i, j)}, gid="output-cell")
    fig.suptitle(f"{c}[{i}, {j}] = {explain_entry(A, B, i, j, stride, padding)}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / height))
    return fig


def draw_pooling(A: ArrayLike, size: int = 2, stride: int = 2, mode: str = "max") -> Figure:
    """Pooling of matrix ``A``: each window in its own color on the **input**, and the pooled **output** in the same colors.

    ``mode`` is "max" (the maximum of each window is printed in bold) or "average".
    """
    from cslib.conv import avgpool2d, maxpool2d

    if mode not in ("max", "average"):
        raise ValueError(f"mode must be 'max' or 'average', got {mode!r}")
    A = np.asarray(A)
    out = maxpool2d(A, size, stride) if mode == "max" else avgpool2d(A, size, stride)
    # 22 distinct light colours (tab20's light half, then Set3), so that windows that touch never share one
    palette = [matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab20").colors[1::2] + plt.get_cmap("Set3").colors]
    fill_in, fill_out, bold = {}, {}, set()
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            color = palette[(i * out.shape[1] + j) % len(palette)]
            fill_out[(i, j)] = color
            window = A[i * stride:i * stride + size, j * stride:j * stride + size]
            for u in range(size):
                for v in range(size):
                    fill_in.setdefault((i * stride + u, j * stride + v), color)
            if mode == "max":
                u, v = np.unravel_index(np.argmax(window), window.shape)
                bold.add((i * stride + u, j * stride + v))
    widths = [A.shape[1], max(out.shape[1], 2)]
    height = 0.6 * A.shape[0] + 1.4
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(2 + 0.6 * sum(widths), height), gridspec_kw={"width_ratios": widths})
    _matrix(ax_in, A, f"input: {A.shape[0]}×{A.shape[1]}", fill=fill_in, bold=bold, gid="input-cell")
    if stride >= size:  # windows that do not overlap: a frame around each, so that neighbours stay apart
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                _outline(ax_in, i * stride, j * stride, size, size, "0.25", lw=2.0)
    _matrix(ax_out, out, f"output: {out.shape[0]}×{out.shape[1]}", fill=fill_out, gid="output-cell")
    ax_out.set_xlim(-0.05, widths[1] + 0.05)
    fig.suptitle(f"{mode} pooling, {size}×{size} windows, stride {stride}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / height))
    return fig


def _slab(ax, x: float, y: float, rows: int, cols: int, face, gid: str, *, grid: bool = False, alpha: float = 1.0,
          edge: str = "0.3", lw: float = 0.8) -> None:
    """One channel of a tensor: a rows × cols rectangle with its top-left corner at (x, y), cells drawn if ``grid``."""
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x, y - rows), cols, rows, facecolor=face, edgecolor=edge, linewidth=lw, alpha=alpha, gid=gid))
    if grid:
        for r in range(1, rows):
            ax.plot([x, x + cols], [y - r, y - r], color=edge, linewidth=0.4, alpha=alpha)
        for c in range(1, cols):
            ax.plot([x + c, x + c], [y, y - rows], color=edge, linewidth=0.4, alpha=alpha)


def _lighter(color, amount: float = 0.55):
    """``color`` mixed with white (``amount`` = 1 gives white)."""
    from matplotlib.colors import to_rgb

    return tuple(1 - (1 - v) * (1 - amount) for v in to_rgb(color))


def draw_multichannel_convolution(channels: int = 8, height: int = 7, width: int = 6, filters: int = 8, k: int = 3,
                                  i: int = 1, j: int = 2) -> Figure:
    """A convolutional layer on a tensor, drawn as stacks of channels: input (channels, height, width),
    ``filters`` kernels of shape (channels, k, k), output (filters, height − k + 1, width − k + 1) (stride 1, no padding).

    The slides' example is the default, (8, 7, 6) with 8 filters of (8, 3, 3) giving (8, 5, 4). The window that gives
    output entry (i, j) is outlined on **every** input channel: filter 1 covers all of them at once, and its products
    over the ``channels`` × k × k numbers are summed (plus a bias) into **one** number, entry (i, j) of feature map 1.
    Each filter gives one feature map, drawn in the filter's colour. Patches carry gids ("input-channel",
    "filter-channel", "output-channel", "window") so tests can count them.
    """
    from matplotlib.patches import FancyArrowPatch, Rectangle

    from cslib.conv import output_size

    out_h, out_w = output_size(height, k), output_size(width, k)  # ValueError when the kernel does not fit
    if not (0 <= i < out_h and 0 <= j < out_w):
        raise ValueError(f"output entry ({i}, {j}) is outside the {out_h}×{out_w} output")
    colors = [plt.get_cmap("tab10")(f % 10) for f in range(filters)]
    depth = 0.45  # how far each channel behind the front one is drawn, up and to the right
    fig, ax = plt.subplots(figsize=(13, 5.2))

    def stack(x0: float, rows: int, cols: int, n: int, face, gid: str, window: tuple[int, int, int] | None = None):
        """n channels, the back one first so that the front one (channel 1) is on top; ``window`` = (row, col, size)."""
        for c in reversed(range(n)):
            x, y = x0 + c * depth, rows + c * depth
            _slab(ax, x, y, rows, cols, face(c) if callable(face) else face, gid, grid=c == 0)
            if window is not None:
                r, q, size = window
                ax.add_patch(Rectangle((x + q, y - r - size), size, size, fill=c == 0, facecolor="#fdd9b5",
                                       edgecolor="tab:orange", linewidth=2.2 if c == 0 else 1.2, gid="window"))

    # the input, with the window of output entry (i, j) on every channel
    stack(0, height, width, channels, _INPUT_COLOR, "input-channel", window=(i, j, k))
    back = (channels - 1) * depth  # the window goes through every channel: its edges, dashed, from front to back
    corners = [(j, height - i), (j + k, height - i), (j + k, height - i - k), (j, height - i - k)]
    for x, y in corners:
        ax.plot([x, x + back], [y, y + back], color="tab:orange", linewidth=1.2, linestyle="--", zorder=4)
    ax.add_patch(Rectangle((j + back, height - i - k + back), k, k, fill=False, edgecolor="tab:orange", linewidth=1.2,
                           linestyle="--", zorder=4))
    x_in_text = (width + channels * depth) / 2
    ax.text(x_in_text, -0.7, f"input: ({channels}, {height}, {width})\n{channels} channels of {height}×{width}",
            ha="center", va="top", fontsize=10)

    # the filters: filter 1 in full, the others small, each in its colour
    x_f = width + channels * depth + 2.2
    stack(x_f, k, k, channels, lambda c: colors[0], "filter-channel")
    ax.text(x_f + (k + channels * depth) / 2, -0.7,
            f"the first of {filters} filters: ({channels}, {k}, {k})\nas many channels as the input", ha="center", va="top", fontsize=10)
    small = 0.33
    for f in range(1, filters):
        row, col = divmod(f - 1, 4)
        xs, ys = x_f + col * 1.25, height + channels * depth - 0.2 - row * 1.35
        for c in reversed(range(channels)):
            ax.add_patch(Rectangle((xs + c * 0.06, ys - k * small + c * 0.06), k * small, k * small, facecolor=colors[f],
                                   edgecolor="0.3", linewidth=0.5, gid="other-filter"))
    ax.text(x_f + 2.4, height + channels * depth + 0.35, f"the other {filters - 1} filters", ha="center", va="bottom",
            fontsize=9, color="0.3")

    # the output: one feature map per filter, in the filter's colour; entry (i, j) of map 1 marked
    x_out = x_f + k + channels * depth + 3.4
    stack(x_out, out_h, out_w, filters, lambda f: _lighter(colors[f]), "output-channel")
    ax.add_patch(Rectangle((x_out + j, out_h - i - 1), 1, 1, facecolor=colors[0], edgecolor="black", linewidth=2,
                           gid="output-entry", zorder=3))
    ax.text(x_out + (out_w + filters * depth) / 2, -0.7,
            f"output: ({filters}, {out_h}, {out_w})\n{filters} feature maps of {out_h}×{out_w}, one per filter",
            ha="center", va="top", fontsize=10)

    # arrows: window -> filter -> output entry
    ax.add_patch(FancyArrowPatch((j + k + 0.1, height - i - k / 2), (x_f - 0.2, k / 2 + 0.5), arrowstyle="-|>",
                                 mutation_scale=14, color="tab:orange", linewidth=1.5))
    start, end = (x_f + k + channels * depth * 0.5, k / 2), (x_out + j + 0.1, out_h - i - 0.5)
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color="black", linewidth=1.5, zorder=4))
    ax.text((start[0] + x_out) / 2 + 0.4, start[1] - 0.35,
            f"window × filter: {channels}×{k}×{k} = {channels * k * k}\nproducts, summed, + bias\n= one number",
            ha="center", va="top", fontsize=9, color="0.2", zorder=5,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9, "pad": 1.5})  # readable where it meets the output maps
    ax.set_xlim(-0.5, x_out + out_w + filters * depth + 0.5)
    ax.set_ylim(-2.3, height + channels * depth + 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"A convolutional layer on a ({channels}, {height}, {width}) tensor: output[f, i, j] = "
                 f"Σ over the {channels} channels of (window · channel of filter f) + bias[f]\n"
                 f"marked: output[0, {i}, {j}], from the first filter (f = 0; indices count from 0) and the window at "
                 f"rows {i}–{i + k - 1}, columns {j}–{j + k - 1}", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- Lecture 3: class probabilities under shifts
def plot_probability_heatmap(probs: ArrayLike | torch.Tensor, shifts: Sequence[int], classes: Sequence[str], *, title: str | None = None,
                             annotate: bool = True, ax: Axes | None = None) -> Figure:
    """The slides' "Prob. of each class for various shifts": rows = shifts, columns = classes, values written in.

    ``probs`` is (len(shifts), len(classes)), e.g. from ``cslib.shifts.shift_probabilities``. The colors
    run from 0 to 1 whatever the values, so that two heatmaps can be compared by eye.
    """
    p = probs.detach().cpu().numpy() if torch.is_tensor(probs) else np.asarray(probs, dtype=float)
    shifts, classes = list(shifts), list(classes)
    if not shifts or not classes:
        raise ValueError(f"nothing to draw: {len(shifts)} shifts and {len(classes)} classes")
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
                          title: str | None = None, axes: Sequence[Axes] | None = None) -> Figure:
    """One bar chart of class probabilities per model, side by side (``{"CNN": p1, "MLP": p2}``, each of length classes).

    The predicted class of each model is drawn in a darker color; ``true_label`` marks the right class with a star.
    """
    if not probs:
        raise ValueError("probs is empty: pass a dict {model name: probabilities}")
    classes = list(classes)
    names = list(probs)
    if true_label is not None and not 0 <= int(true_label) < len(classes):
        raise ValueError(f"true_label {int(true_label)} is outside the {len(classes)} classes (0..{len(classes) - 1})")
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
