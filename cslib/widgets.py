"""Interactive explorers for the lectures, built with ipywidgets (JupyterLab, Jupyter Notebook, Colab).

Each explorer is a thin layer of sliders over a plain function that draws one matplotlib figure for
one setting. The notebooks also call that function once for a static figure (so they read well on
GitHub and in nbval), and the tests call it directly. Only the API shared by ipywidgets 7 and 8 is
used, so the explorers work in Colab too.
"""
from __future__ import annotations


def _ipywidgets():
    """ipywidgets, imported when an explorer is built (the rest of cslib does not need it)."""
    import ipywidgets

    return ipywidgets


# --------------------------------------------------------------------------- lecture 3: shift explorer
# Move a test image left/right (and up/down) and watch each model's class probabilities: the plain
# CNN and the MLP change their minds, the CNN trained with shifted images does not.
SHIFT_TEXT_CLASS = "cslib-shift-predictions"  # CSS class of the text line, for browser tests


def _shift_batch(image, shift: int, vertical: int, mode: str):
    from cslib.augment import shift as shift_images
    from cslib.shifts import as_batch

    return shift_images(as_batch(image), int(shift), int(vertical), mode=mode)


def shift_model_probabilities(models: dict, image, shift: int = 0, *, vertical: int = 0, mode: str = "wrap") -> dict:
    """{model name: class probabilities (a 1-D tensor)} for ``image`` moved ``shift`` px right and ``vertical`` px down."""
    import torch

    from cslib.shifts import model_input

    if not models:
        raise ValueError("models is empty: pass a dict such as {'CNN': cnn_model, 'MLP': mlp_model}")
    x = _shift_batch(image, shift, vertical, mode)
    result = {}
    with torch.no_grad():
        for name, model in models.items():
            param = next(model.parameters(), None)
            was_training = model.training
            model.eval()
            out = model(model_input(model, x).to(param.device if param is not None else "cpu"))
            model.train(was_training)
            result[name] = torch.softmax(out, dim=1)[0].cpu()
    return result


def shift_prediction_text(probabilities: dict, classes) -> str:
    """The explorer's text line, e.g. "plain CNN: Trouser (0.99) · MLP: Bag (0.61) · augmented CNN: Trouser (1.00)"."""
    parts = []
    for name, p in probabilities.items():
        best = int(p.argmax())
        parts.append(f"{name}: {classes[best]} ({float(p[best]):.2f})")
    return " · ".join(parts)


def plot_shift_explorer(models: dict, image, classes, shift: int = 0, *, vertical: int = 0, label: int | None = None,
                        mode: str = "wrap"):
    """The explorer's figure for one setting: the shifted image, then one bar chart of class probabilities per model."""
    import matplotlib.pyplot as plt

    from cslib.plot import plot_probability_bars

    probabilities = shift_model_probabilities(models, image, shift, vertical=vertical, mode=mode)
    n = len(probabilities)
    fig, axes = plt.subplots(1, n + 1, figsize=(2.8 + 3.1 * n, 3.4), gridspec_kw={"width_ratios": [0.9] + [1] * n})
    shifted = _shift_batch(image, shift, vertical, mode)[0, 0].cpu().numpy()
    axes[0].imshow(shifted, cmap="gray", vmin=0, vmax=1)
    where = f"shift {shift:+d} px" + (f", {vertical:+d} px down" if vertical else "")
    axes[0].set_title(where + (f"\ntrue class: {classes[int(label)]}" if label is not None else ""), fontsize=10)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    plot_probability_bars(probabilities, classes, true_label=label, axes=axes[1:])
    for ax in axes[2:]:
        ax.tick_params(labelleft=False)
    fig.tight_layout()
    return fig


def shift_explorer(models: dict, images, labels, classes, *, max_shift: int = 10, vertical: bool = False,
                   mode: str = "wrap"):
    """Sliders for the shift (and an image picker) over :func:`plot_shift_explorer`, with the text line above it.

    ``images`` are a few test images ((N, 28, 28) uint8 or (N, 1, 28, 28) floats), ``labels`` their classes.
    Returns the widget box; its ``.controls`` dict holds the widgets ("shift", "vertical", "image", "text", "output").
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    widgets = _ipywidgets()
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images (at least one), got {len(images)} images and {len(labels)} labels")
    picker = widgets.Dropdown(options=[(f"test image {i}: {classes[int(y)]}", i) for i, y in enumerate(labels)],
                              value=0, description="image")
    slider = widgets.IntSlider(value=0, min=-max_shift, max=max_shift, step=1, description="shift (px)",
                               continuous_update=False)
    v_slider = widgets.IntSlider(value=0, min=-max_shift, max=max_shift, step=1, description="down (px)",
                                 continuous_update=False)
    text = widgets.Label(value="")
    text.add_class(SHIFT_TEXT_CLASS)
    output = widgets.Output()

    def update(_=None):
        i = picker.value
        dy = v_slider.value if vertical else 0
        probabilities = shift_model_probabilities(models, images[i], slider.value, vertical=dy, mode=mode)
        text.value = shift_prediction_text(probabilities, classes)
        with output:
            output.clear_output(wait=True)
            fig = plot_shift_explorer(models, images[i], classes, slider.value, vertical=dy, label=int(labels[i]), mode=mode)
            display(fig)
            plt.close(fig)

    for w in (picker, slider, v_slider):
        w.observe(update, names="value")
    controls = [picker, slider] + ([v_slider] if vertical else [])
    box = widgets.VBox([widgets.HBox(controls), text, output])
    box.controls = {"shift": slider, "vertical": v_slider, "image": picker, "text": text, "output": output}
    update()
    return box
