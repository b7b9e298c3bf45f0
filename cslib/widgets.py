"""Interactive explorers for the lectures, built with ipywidgets (JupyterLab, Jupyter Notebook, Colab).

Each explorer is a thin layer of sliders over a plain function that draws one matplotlib figure for
one setting. The notebooks also call that function once for a static figure (so they read well on
GitHub and in nbval), and the tests call it directly. Only the API shared by ipywidgets 7 and 8 is
used, so the explorers work in Colab too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # for the type hints only: torch and ipywidgets are imported when needed
    import ipywidgets
    import torch
    from matplotlib.figure import Figure
    from torch import nn


def _ipywidgets():
    """ipywidgets, imported when an explorer is built (the rest of cslib does not need it)."""
    import ipywidgets

    return ipywidgets


EXPLORER_TEXT = "Interactive explorer: run this cell to move its sliders (until then, a picture of one setting)."
_explorer_box_class = None


def _explorer_box(children: list, picture) -> ipywidgets.VBox:
    """A ``VBox`` whose display also carries a PNG of its current setting (``picture()``: a Figure or None).

    A notebook someone else executed is untrusted when you open it in JupyterLab (trust is per user),
    and JupyterLab then never draws a stored widget: it falls back to the richest safe format. With
    this PNG that is a picture of the explorer instead of ``VBox(children=...)``; GitHub and nbviewer
    show it too. Once the cell runs, the live widget is drawn as usual. (ipywidgets 7, as in Colab,
    displays widgets another way and ignores this.)
    """
    global _explorer_box_class
    if _explorer_box_class is None:
        widgets = _ipywidgets()

        class ExplorerBox(widgets.VBox):
            def _repr_mimebundle_(self, **kwargs):
                import base64

                bundle = super()._repr_mimebundle_(**kwargs)
                if isinstance(bundle, dict):
                    bundle["text/plain"] = EXPLORER_TEXT
                    try:
                        fig = self.picture()
                        png = None if fig is None else figure_png(fig, caption=EXPLORER_TEXT)
                    except Exception:  # a picture is a courtesy: never let it break the display
                        png = None
                    if png:
                        bundle["image/png"] = base64.b64encode(png).decode("ascii")
                return bundle

        _explorer_box_class = ExplorerBox
    box = _explorer_box_class(children)
    box.picture = picture
    return box


def figure_png(fig: Figure, dpi: int = 80, caption: str = "") -> bytes:
    """A matplotlib figure as PNG bytes, with ``caption`` under it; the figure is closed, so it is not shown twice."""
    import io

    import matplotlib.pyplot as plt

    if caption:
        fig.text(0.5, -0.02, caption, ha="center", va="top", fontsize=11, style="italic")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


# --------------------------------------------------------------------------- Lecture 2: stride and padding explorer
# The text line is plain text in an HTML widget of its own (DOM class "cslib-conv-shape"), in one of two
# fixed formats, so that a browser test can read it back:
#   "output: 3 × 3 — formula ⌊(5 + 2·0 − 3)/1⌋ + 1 = 3; nn.Conv2d gives (1, 1, 3, 3)"
#   "impossible: kernel 7 × 7 does not fit in the padded input 5 × 5 (n + 2p = 5 + 2·0); use a smaller kernel or more padding"
CONV_SLIDERS = {  # label: (min, max, start value)
    "input size": (1, 12, 5),
    "kernel size": (1, 7, 3),
    "stride": (1, 4, 1),
    "padding": (0, 3, 0),
}


def conv2d_shape(n: int, k: int, stride: int = 1, padding: int = 0) -> tuple[int, ...]:
    """The shape ``nn.Conv2d(1, 1, k, stride, padding)`` really gives for one ``n × n`` image: (1, 1, H, W)."""
    import torch
    from torch import nn

    layer = nn.Conv2d(1, 1, kernel_size=k, stride=stride, padding=padding, bias=False)
    with torch.no_grad():
        return tuple(layer(torch.zeros(1, 1, n, n)).shape)


def describe_convolution(n: int, k: int, stride: int = 1, padding: int = 0) -> str:
    """One line: the output shape from the formula, next to the shape ``nn.Conv2d`` produces (or why it is impossible)."""
    from cslib.conv import output_size

    padded = n + 2 * padding
    if k > padded:
        return (f"impossible: kernel {k} × {k} does not fit in the padded input {padded} × {padded} "
                f"(n + 2p = {n} + 2·{padding}); use a smaller kernel or more padding")
    m = output_size(n, k, stride, padding)
    return (f"output: {m} × {m} — formula ⌊({n} + 2·{padding} − {k})/{stride}⌋ + 1 = {m}; "
            f"nn.Conv2d gives {conv2d_shape(n, k, stride, padding)}")


def convolution_png(n: int, k: int, stride: int = 1, padding: int = 0, dpi: int = 80) -> bytes:
    """:func:`cslib.plot.draw_convolution` as PNG bytes (the figure is closed, so it is not shown twice)."""
    from cslib.plot import draw_convolution

    return figure_png(draw_convolution(n, k, stride, padding), dpi)


def conv_explorer(n: int = 5, k: int = 3, stride: int = 1, padding: int = 0) -> ipywidgets.VBox:
    """Sliders for input size, kernel size, stride and padding; the output shape (formula and nn.Conv2d); the picture.

    Returns an ipywidgets ``VBox``: sliders, then the HTML line of :func:`describe_convolution`, then an
    ``Output`` with the figure of :func:`cslib.plot.draw_convolution`. Settings where the kernel does
    not fit show a message instead of a figure. ``box.update()`` redraws for the current slider values.
    """
    import base64
    import html

    widgets = _ipywidgets()
    starts = {"input size": n, "kernel size": k, "stride": stride, "padding": padding}
    sliders = {}
    for label, (low, high, _) in CONV_SLIDERS.items():
        value = min(max(int(starts[label]), low), high)
        slider = widgets.IntSlider(value=value, min=low, max=high, step=1, description=label,
                                   continuous_update=False, style={"description_width": "initial"})
        slider.add_class("cslib-conv-" + label.replace(" ", "-"))
        sliders[label] = slider
    shape_line = widgets.HTML(value="")
    shape_line.add_class("cslib-conv-shape")
    figure_area = widgets.Output()
    figure_area.add_class("cslib-conv-figure")

    def update(change=None) -> None:
        values = [sliders[label].value for label in CONV_SLIDERS]
        try:
            text = describe_convolution(*values)
            picture = None if text.startswith("impossible") else convolution_png(*values)
        except Exception as e:  # never a traceback in the widget: say what went wrong instead
            text, picture = f"error: {type(e).__name__}: {e}", None
        shape_line.value = html.escape(text)
        if picture is None:
            message = "No picture: the kernel has no position on the padded input." if text.startswith("impossible") else text
            figure_area.outputs = ({"output_type": "display_data", "data": {"text/plain": message}, "metadata": {}},)
        else:
            figure_area.outputs = ({"output_type": "display_data", "metadata": {},
                                    "data": {"image/png": base64.b64encode(picture).decode("ascii"),
                                             "text/plain": f"<convolution picture: {text}>"}},)

    for slider in sliders.values():
        slider.observe(update, names="value")
    def picture() -> Figure | None:
        from cslib.plot import draw_convolution

        values = [sliders[label].value for label in CONV_SLIDERS]
        return None if describe_convolution(*values).startswith("impossible") else draw_convolution(*values)

    box = _explorer_box([widgets.HBox(list(sliders.values())[:2]), widgets.HBox(list(sliders.values())[2:]),
                         shape_line, figure_area], picture)
    box.add_class("cslib-conv-explorer")
    box.sliders, box.shape_line, box.figure_area, box.update = sliders, shape_line, figure_area, update
    update()
    return box


# --------------------------------------------------------------------------- Lecture 3: shift explorer
# Move a test image left/right (and up/down) and watch each model's class probabilities: the plain
# CNN and the MLP change their minds, the CNN trained with shifted images does not. The text line
# (DOM class "cslib-shift-predictions") starts with its setting, so that a browser test can read it:
#   "shift +5 px, down +0 px (np.roll): plain CNN: Trouser (0.99) · MLP: Ankle boot (0.94) · ..."
SHIFT_TEXT_CLASS = "cslib-shift-predictions"  # CSS class of the text line, for browser tests
EDGES = {"wrap": "np.roll", "zeros": "zero-fill"}  # mode -> how the line and the figure name it
BARS_KEY = "★ = the true class; the predicted class is green when right, red when wrong"


def _shift_batch(image, shift: int, vertical: int, mode: str):
    from cslib.augment import shift as shift_images
    from cslib.shifts import as_batch

    return shift_images(as_batch(image), int(shift), int(vertical), mode=mode)


def _check_shift_inputs(models, classes, *, max_shift: int | None = None, labels=()) -> None:
    """The shift explorer's arguments, checked before any widget is built (one clear message each)."""
    if not models:
        raise ValueError("models is empty: pass a dict such as {'CNN': cnn_model, 'MLP': mlp_model}")
    if len(classes) == 0:
        raise ValueError("classes is empty: pass the class names, e.g. train.classes")
    if max_shift is not None and (isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0):
        raise ValueError(f"max_shift must be a whole number of pixels >= 0, got {max_shift!r}")
    for y in (labels if labels is not None else []):
        if not 0 <= int(y) < len(classes):
            raise ValueError(f"label {int(y)} is outside the {len(classes)} classes (0..{len(classes) - 1})")


def shift_model_probabilities(models: dict[str, nn.Module], image: torch.Tensor, shift: int = 0, *, vertical: int = 0, mode: str = "wrap") -> dict:
    """{model name: class probabilities (a 1-D tensor)} for ``image`` moved ``shift`` px right and ``vertical`` px down.

    ``mode="wrap"`` moves it as ``np.roll`` does (what leaves one side comes back on the other, as in the
    slides); ``mode="zeros"`` fills the uncovered border with black, as a real shift would.
    """
    from cslib.shifts import model_input
    from cslib.train import predict_proba

    if not models:
        raise ValueError("models is empty: pass a dict such as {'CNN': cnn_model, 'MLP': mlp_model}")
    x = _shift_batch(image, shift, vertical, mode)
    return {name: predict_proba(model, model_input(model, x))[0] for name, model in models.items()}


def shift_prediction_text(probabilities: dict[str, torch.Tensor], classes: Sequence[str]) -> str:
    """The explorer's predictions, e.g. "plain CNN: Trouser (0.99) · MLP: Bag (0.61) · augmented CNN: Trouser (1.00)"."""
    parts = []
    for name, p in probabilities.items():
        if len(p) != len(classes):
            raise ValueError(f"{name!r} gives {len(p)} class probabilities but there are {len(classes)} class names")
        best = int(p.argmax())
        parts.append(f"{name}: {classes[best]} ({float(p[best]):.2f})")
    return " · ".join(parts)


def shift_setting_text(shift: int, vertical: int | None = None, mode: str = "wrap") -> str:
    """The setting the explorer's line starts with, e.g. "shift +5 px, down +0 px (np.roll)" (no "down" when ``vertical`` is None)."""
    from cslib.augment import MODES

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    down = f", down {int(vertical):+d} px" if vertical is not None else ""
    return f"shift {int(shift):+d} px{down} ({EDGES[mode]})"


def plot_shift_explorer(models: dict[str, nn.Module], image: torch.Tensor, classes: Sequence[str], shift: int = 0, *,
                        vertical: int = 0, label: int | None = None,
                        mode: str = "wrap") -> Figure:
    """The explorer's figure for one setting: the shifted image, then one bar chart of class probabilities per model.

    With ``label``, a ★ marks the true class in every chart and the predicted class is green when right,
    red when wrong (a line under the charts says so).
    """
    import matplotlib.pyplot as plt

    from cslib.plot import plot_probability_bars

    _check_shift_inputs(models, classes, labels=None if label is None else [label])
    probabilities = shift_model_probabilities(models, image, shift, vertical=vertical, mode=mode)
    n = len(probabilities)
    fig, axes = plt.subplots(1, n + 1, figsize=(2.8 + 3.1 * n, 3.7), gridspec_kw={"width_ratios": [0.9] + [1] * n})
    shifted = _shift_batch(image, shift, vertical, mode)[0, 0].cpu().numpy()
    axes[0].imshow(shifted, cmap="gray", vmin=0, vmax=1)
    where = f"shift {shift:+d} px" + (f", {vertical:+d} px down" if vertical else "") + f" ({EDGES[mode]})"
    axes[0].set_title(where + (f"\ntrue class: {classes[int(label)]}" if label is not None else ""), fontsize=10)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    plot_probability_bars(probabilities, classes, true_label=label, axes=axes[1:])
    for ax in axes[2:]:
        ax.tick_params(labelleft=False)
    if label is not None:
        fig.text(0.99, 0.01, BARS_KEY, ha="right", va="bottom", fontsize=8, color="0.3")
        fig.tight_layout(rect=(0, 0.04, 1, 1))
    else:
        fig.tight_layout()
    return fig


def shift_explorer(models: dict[str, nn.Module], images: torch.Tensor, labels: Sequence[int] | torch.Tensor,
                   classes: Sequence[str], *, max_shift: int = 10, vertical: bool = False,
                   mode: str = "wrap") -> ipywidgets.VBox:
    """An image picker, a shift slider (a "down" slider too with ``vertical=True``) and an edges menu
    (``np.roll`` or zero-fill, starting at ``mode``) over :func:`plot_shift_explorer`, with the text line above it.

    ``images`` are a few test images ((N, 28, 28) uint8 or (N, 1, 28, 28) floats), ``labels`` their classes.
    Returns the widget box; its ``.controls`` dict holds the widgets ("shift", "vertical", "edges", "image",
    "text", "output").
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    from cslib.augment import MODES

    widgets = _ipywidgets()
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images (at least one), got {len(images)} images and {len(labels)} labels")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    _check_shift_inputs(models, classes, max_shift=max_shift, labels=labels)
    picker = widgets.Dropdown(options=[(f"test image {i}: {classes[int(y)]}", i) for i, y in enumerate(labels)],
                              value=0, description="image")
    slider = widgets.IntSlider(value=0, min=-max_shift, max=max_shift, step=1, description="shift (px)",
                               continuous_update=False)
    v_slider = widgets.IntSlider(value=0, min=-max_shift, max=max_shift, step=1, description="down (px)",
                                 continuous_update=False)
    edges = widgets.Dropdown(options=[("np.roll (wraps around)", "wrap"), ("zero-fill (black)", "zeros")],
                             value=mode, description="edges")
    text = widgets.Label(value="")
    text.add_class(SHIFT_TEXT_CLASS)
    output = widgets.Output()

    def update(_=None):
        i = picker.value
        dy = v_slider.value if vertical else 0
        probabilities = shift_model_probabilities(models, images[i], slider.value, vertical=dy, mode=edges.value)
        setting = shift_setting_text(slider.value, dy if vertical else None, edges.value)
        text.value = f"{setting}: {shift_prediction_text(probabilities, classes)}"
        with output:
            output.clear_output(wait=True)
            fig = plot_shift_explorer(models, images[i], classes, slider.value, vertical=dy, label=int(labels[i]), mode=edges.value)
            display(fig)
            plt.close(fig)

    for w in (picker, slider, v_slider, edges):
        w.observe(update, names="value")

    def picture() -> Figure:
        dy = v_slider.value if vertical else 0
        return plot_shift_explorer(models, images[picker.value], classes, slider.value, vertical=dy,
                                   label=int(labels[picker.value]), mode=edges.value)

    controls = [picker, slider] + ([v_slider] if vertical else []) + [edges]
    box = _explorer_box([widgets.HBox(controls), text, output], picture)
    box.controls = {"shift": slider, "vertical": v_slider, "edges": edges, "image": picker, "text": text, "output": output}
    update()
    return box
