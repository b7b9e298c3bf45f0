"""Lab 3's checks: the model solution passes every case for many seeds; reasonable answers pass whatever
their parameters, and right answers written another way; known-wrong answers fail with a message that names the
problem."""
import inspect

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torchvision.transforms import v2 as T  # noqa: E402

from check_properties import index, model_solution_failures, seeds_for, verdict  # noqa: E402
from cslib.checks import lab03  # noqa: E402
from cslib.models import layer_output_shapes  # noqa: E402
from model_solutions import answers  # noqa: E402

# imshow of a tensor (as the solution and students write it): matplotlib's NumPy 2 note, not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
SOLUTION = answers("lab03")
COSTLY = {"rotate_invert", "shift_scale", "my_transform", "plot_samples"}  # 40 calls of a transform, or a figure, per case


def passes(question, answer):
    text = verdict(question, answer)
    return text.startswith("✓"), text


# --------------------------------------------------------------------------- the model solution passes, whatever the seed
@pytest.mark.parametrize("question", lab03.QUESTIONS, ids=lambda q: q.answer)
def test_model_solution_passes_every_case_for_many_seeds(question):
    seeds = seeds_for(question.answer in COSTLY)
    failures = model_solution_failures(lab03.QUESTIONS, question, SOLUTION[question.answer], seeds)
    assert not failures, f"{len(failures)} failure(s) over {len(seeds)} seeds:\n" + "\n".join(failures[:5])


def test_plot_samples_cannot_fail_a_correct_grid_by_chance():
    """Issue 18: one row, two samples and a transform that rolled by up to 2 px could give two equal images, and
    a correct answer failed. Now every call of the check's transforms gives a new image."""
    def one_call_per_sample(transforms, image, n=5):
        fig, axes = plt.subplots(len(transforms), n, squeeze=False)
        for row, (name, t) in zip(axes, transforms.items()):
            row[0].set_title(name)
            for ax in row:
                ax.imshow(t(image)[0])
        return fig

    for seed in range(60):
        got = lab03.drive_plot_samples(one_call_per_sample, seed, 1, 2)
        assert got["distinct_images"] == 2 and lab03._judge_grid({"rows": 1, "n": 2}, got).passed, (seed, got)


# --------------------------------------------------------------------------- rotate_invert
ROTATE_INVERT_RIGHT = [
    (T.Compose([T.RandomAffine(180), T.RandomInvert()]), "affine"),
    (T.Compose([T.RandomRotation(10), T.RandomInvert(p=0.2)]), "small"),  # small angles, rare inverts
    (T.Compose([T.RandomInvert(), T.RandomRotation(45)]), "invert-first"),  # the other order
    (T.Compose([T.RandomRotation(30), T.RandomInvert(p=0.03)]), "rare"),  # so rare that 40 calls may not show one: still seen
    (T.Compose([T.RandomRotation(30), T.RandomInvert(p=0.97)]), "nearly-always"),  # nearly always
    (nn.Sequential(T.RandomRotation(90), T.RandomInvert()), "sequential"),
    (T.Compose([T.RandomRotation(90), T.RandomApply([T.RandomInvert(p=1.0)], p=0.5)]), "random-apply"),
]


@pytest.mark.parametrize("answer", [answer for answer, _ in ROTATE_INVERT_RIGHT], ids=[name for _, name in ROTATE_INVERT_RIGHT])
def test_rotate_invert_accepts_reasonable_choices(answer):
    ok, text = passes(lab03.rotate_invert, answer)
    assert ok, text


ROTATE_INVERT_WRONG = [
    (T.RandomAffine(180), "none of 40 outputs had inverted gray levels"),  # a single transform where two are asked
    (T.RandomInvert(), "kept its direction"),
    (T.Compose([T.RandomAffine(180), T.RandomInvert(p=1.0)]), "all 40 outputs were inverted"),
    (T.Compose([T.RandomAffine(180), lambda x: 255 - x]), "all 40 outputs were inverted"),
    (T.Compose([T.RandomAffine(180), T.RandomInvert(), T.ToDtype(torch.float32, scale=True)]), "dtype float32"),
    (T.Compose([T.RandomAffine(180), T.RandomInvert(), T.Resize(32)]), "shape (1, 32, 32)"),
    (lambda x: 255 - x, "only 1 different"),
    (lambda x: x.numpy(), "not a tensor"),
    (T.RandomRotation, "RandomRotation is a transform class, not a transform"),  # the class, not an instance
    (T.Compose([lambda x: torch.rot90(x, 1, (1, 2)), T.RandomInvert()]), "turned by the same angle"),  # one fixed angle, not a random one
]
ROTATE_INVERT_WRONG_IDS = ["rotation-only", "invert-only", "always-inverted", "lambda-invert", "float", "resized", "fixed", "numpy", "class",
        "fixed-90"]


@pytest.mark.parametrize("answer, reason", ROTATE_INVERT_WRONG, ids=ROTATE_INVERT_WRONG_IDS)
def test_rotate_invert_rejects_wrong_transforms(answer, reason):
    ok, text = passes(lab03.rotate_invert, answer)
    assert not ok and reason in text, text


# --------------------------------------------------------------------------- shift_scale
SHIFT_SCALE_RIGHT = [
    (T.RandomAffine(0, translate=(0.1, 0.1), scale=(0.8, 1.2)), "affine"),
    (T.Compose([T.RandomAffine(0, translate=(0.2, 0)), T.RandomAffine(0, scale=(0.7, 1.3))]), "two-affines"),
    (T.RandomResizedCrop(28, scale=(0.5, 1.0)), "resized-crop"),
    (T.RandomAffine(0, translate=(0.1, 0.1), scale=(0.9, 1.1), interpolation=T.InterpolationMode.BILINEAR), "bilinear"),
    (T.RandomAffine(degrees=(0, 0), translate=(0.2, 0.2), scale=(0.75, 1.25), fill=0), "degrees-as-a-range"),
    (nn.Sequential(T.RandomAffine(0, translate=(0, 0.15)), T.RandomAffine(0, scale=(0.8, 1.1))), "sequential-vertical-shift"),
]


@pytest.mark.parametrize("answer", [answer for answer, _ in SHIFT_SCALE_RIGHT], ids=[name for _, name in SHIFT_SCALE_RIGHT])
def test_shift_scale_accepts_reasonable_choices(answer):
    ok, text = passes(lab03.shift_scale, answer)
    assert ok, text


SHIFT_SCALE_WRONG = [
    (T.RandomAffine(0, translate=(0.1, 0.1)), "kept its size"),  # one of the two asked for
    (T.RandomAffine(0, scale=(0.8, 1.2)), "did not move"),
    (T.RandomAffine(40, translate=(0.1, 0.1), scale=(0.8, 1.2)), "changed direction"),
    (T.Compose([T.RandomAffine(0, (0.1, 0.1), (0.8, 1.2)), T.RandomInvert()]), "inverted"),
    (T.Compose([T.RandomAffine(0, (0.1, 0.1), (0.8, 1.2)), T.Resize(32)]), "shape (1, 32, 32)"),
    (T.RandomAffine(0, translate=(0.9, 0.9), scale=(0.8, 1.2)), "the content left the image"),
    (T.RandomAffine(0, translate=(0.1, 0.1), scale=(1.2, 1.2)), "scaled by the same factor"),  # a fixed zoom
    (T.Compose([T.RandomAffine(0, (0.1, 0.1), (0.8, 1.2)), T.RandomHorizontalFlip()]), "also flips the image"),
]


@pytest.mark.parametrize("answer, reason", SHIFT_SCALE_WRONG)
def test_shift_scale_rejects_wrong_transforms(answer, reason):
    ok, text = passes(lab03.shift_scale, answer)
    assert not ok and reason in text, text


# --------------------------------------------------------------------------- my_transform
MY_TRANSFORM_RIGHT = [
    (T.Compose([T.RandomPerspective(p=1), T.GaussianBlur(3)]), "perspective-blur"),
    (T.Compose([T.RandomHorizontalFlip(), T.RandomInvert()]), "flip-invert"),
    (nn.Sequential(T.RandomRotation(20), T.RandomErasing(p=0.5)), "sequential"),
    (T.Compose([T.RandomApply([T.RandomRotation(30)], p=0.5), T.RandomChoice([T.RandomVerticalFlip(1.0), T.RandomInvert(1.0)])]),
     "nested"),
    (T.Compose([T.RandomHorizontalFlip(p=0.05), T.GaussianBlur(3, sigma=1.0)]), "rare-flip"),  # a rare flip: random all the same
    (T.Compose([T.ToDtype(torch.float32, scale=True), T.GaussianNoise(sigma=0.05), T.RandomRotation(15),
                T.ToDtype(torch.uint8, scale=True)]), "float-inside"),  # float in the middle, uint8 at both ends
]


@pytest.mark.parametrize("answer", [answer for answer, _ in MY_TRANSFORM_RIGHT], ids=[name for _, name in MY_TRANSFORM_RIGHT])
def test_my_transform_accepts_any_combination(answer):
    ok, text = passes(lab03.my_transform, answer)
    assert ok, text


MY_TRANSFORM_WRONG = [
    (T.RandomHorizontalFlip(), "a single transform"),  # passed before issue 18
    (T.Compose([T.RandomHorizontalFlip()]), "a single transform"),
    (T.RandomRotation(30), "a single transform"),
    (T.Compose([T.RandomHorizontalFlip(), T.Grayscale()]), "Grayscale left the test image as it was"),
    (T.Compose([T.RandomHorizontalFlip(), T.ToDtype(torch.float32, scale=True), T.ToDtype(torch.uint8, scale=True)]),
     "only RandomHorizontalFlip changes the image"),
    (lambda x: T.RandomInvert()(T.RandomRotation(30)(x)), "a plain function hides them"),
    (lambda x: x, "only 1 different"),
    (lambda x: x.numpy(), "not a tensor"),
    (T.Compose([T.RandomRotation(30), T.ToDtype(torch.float32, scale=True)]), "dtype float32"),
]
MY_TRANSFORM_WRONG_IDS = ["flip", "compose-of-one", "rotation", "grayscale", "conversions", "function", "identity", "numpy", "float"]


@pytest.mark.parametrize("answer, reason", MY_TRANSFORM_WRONG, ids=MY_TRANSFORM_WRONG_IDS)
def test_my_transform_rejects_a_single_transform_and_no_change(answer, reason):
    ok, text = passes(lab03.my_transform, answer)
    assert not ok and reason in text, text


# --------------------------------------------------------------------------- plot_samples
def good_grid(transforms, image, n=5):
    fig, axes = plt.subplots(len(transforms), n, squeeze=False)
    for row, (name, t) in zip(axes, transforms.items()):
        row[0].set_ylabel(name)
        for ax in row:
            ax.imshow(t(image)[0].numpy())
    return fig


def one_image_per_row(transforms, image, n=5):
    fig, axes = plt.subplots(len(transforms), n, squeeze=False)
    for row, (name, t) in zip(axes, transforms.items()):
        sample = t(image)  # called once per row
        row[0].set_title(name)
        for ax in row:
            ax.imshow(sample[0])
    return fig


def original_and_n_minus_1(transforms, image, n=5):
    fig, axes = plt.subplots(len(transforms), n, squeeze=False)
    for row, (name, t) in zip(axes, transforms.items()):
        row[0].imshow(image[0])
        row[0].set_title(name)
        for ax in row[1:]:
            ax.imshow(t(image)[0])
    return fig


def unnamed_rows(transforms, image, n=5):
    fig, axes = plt.subplots(len(transforms), n, squeeze=False)
    for row, t in zip(axes, transforms.values()):
        for ax in row:
            ax.imshow(t(image)[0])
    return fig


def always_four(transforms, image, n=5):
    return good_grid(transforms, image, 4)


def transposed(transforms, image, n=5):
    fig, axes = plt.subplots(n, len(transforms), squeeze=False)  # a column per transform
    for column, (name, t) in enumerate(transforms.items()):
        axes[0, column].set_title(name)
        for row in range(n):
            axes[row, column].imshow(t(image)[0].numpy() / 255)
    return fig


def ignores_n(transforms, image, n=5):
    return good_grid(transforms, image)


def returns_axes_array(transforms, image, n=5):
    return np.array(good_grid(transforms, image, n).axes).reshape(len(transforms), n)


def returns_axes(transforms, image, n=5):
    return good_grid(transforms, image, n).axes[0]


def one_subfigure_per_row(transforms, image, n=5):
    """A subfigure per transform, named by its suptitle (matplotlib's fig.subfigures)."""
    fig = plt.figure(layout="constrained")
    for subfig, (name, t) in zip(fig.subfigures(len(transforms), 1, squeeze=False)[:, 0], transforms.items()):
        subfig.suptitle(name)
        for ax in subfig.subplots(1, n, squeeze=False)[0]:
            ax.imshow(t(image)[0])
    return fig


def one_subfigure_per_column(transforms, image, n=5):
    """Subfigures again, one per column of samples, each holding one sample of every transform: drawn column by
    column, but on the figure still one row per transform."""
    fig = plt.figure(layout="constrained")
    for subfig in fig.subfigures(1, n, squeeze=False)[0]:
        for ax, (name, t) in zip(subfig.subplots(len(transforms), 1, squeeze=False)[:, 0], transforms.items()):
            ax.imshow(t(image)[0])
            ax.set_ylabel(name)
    return fig


def transposed_subfigures(transforms, image, n=5):
    """One subfigure per transform, side by side, each a column of its samples: the grid transposed."""
    fig = plt.figure(layout="constrained")
    for subfig, (name, t) in zip(fig.subfigures(1, len(transforms), squeeze=False)[0], transforms.items()):
        subfig.suptitle(name)
        for ax in subfig.subplots(n, 1, squeeze=False)[:, 0]:
            ax.imshow(t(image)[0])
    return fig


PLOT_SAMPLES_WRONG = [
    (lambda transforms, image, n=5: good_grid(dict(list(transforms.items())[:1]), image, n), "it shows 5"),
    (one_image_per_row, "each row repeats one image: call the transform once per sample"),
    (original_and_n_minus_1, "each row shows the original and 4 samples"),  # off by one
    (unnamed_rows, "does not name the row(s)"),
    (always_four, "should show 15 images"),  # ignores n
    (lambda transforms, image, n=5: None, "should return a matplotlib Figure, got NoneType (plt.show() returns None)"),
    (returns_axes, "not the Figure: return fig"),
    (transposed, "the samples of one transform are spread over several rows"),
    (ignores_n, "samples of its transform where n="),
    (returns_axes_array, "returned an array of axes, not the Figure: return fig"),
    (transposed_subfigures, "the samples of one transform are spread over several rows"),
]
PLOT_SAMPLES_WRONG_IDS = ["one-row", "once-per-row", "original-plus-n-1", "unnamed", "always-four", "none", "axes", "transposed", "ignores-n",
        "axes-array", "transposed-subfigures"]


@pytest.mark.parametrize("answer, reason", PLOT_SAMPLES_WRONG, ids=PLOT_SAMPLES_WRONG_IDS)
def test_plot_samples_names_the_mistake(answer, reason):
    ok, text = passes(lab03.plot_samples, answer)
    assert not ok and reason in text, text


def with_add_subplot(transforms, image, n=5):
    """fig.add_subplot(rows, n, k) for each sample, axes off, the name as the title of the row's first sample."""
    fig = plt.figure(figsize=(n, len(transforms)))
    for r, (name, t) in enumerate(transforms.items()):
        for c in range(n):
            ax = fig.add_subplot(len(transforms), n, r * n + c + 1)
            ax.imshow(t(image).squeeze(), cmap="gray")
            ax.axis("off")
            if c == 0:
                ax.set_title(name)
    return fig


def pyplot_state_machine(transforms, image, n=5):
    """plt.subplot and plt.imshow (the current axes), then plt.gcf()."""
    plt.figure()
    for r, (name, t) in enumerate(transforms.items()):
        for c in range(n):
            plt.subplot(len(transforms), n, r * n + c + 1)
            plt.imshow(t(image).permute(1, 2, 0).numpy()[:, :, 0], cmap="gray")
            plt.xticks([])
            plt.yticks([])
            if c == 0:
                plt.ylabel(name)
    return plt.gcf()


def names_as_text(transforms, image, n=5):
    """Each row's name written left of it with ax.text, every axis off."""
    fig, axes = plt.subplots(len(transforms), n, squeeze=False)
    for row, (name, t) in zip(axes, transforms.items()):
        row[0].text(-4, 14, name, ha="right", va="center")
        for ax in row:
            ax.imshow(t(image)[0])
            ax.set_axis_off()
    return fig


def as_pil_images(transforms, image, n=5):
    """The original first, then n samples, each shown as a PIL image (torchvision's to_pil_image)."""
    from torchvision.transforms.v2.functional import to_pil_image

    fig, axes = plt.subplots(len(transforms), n + 1, squeeze=False)
    for row, (name, t) in zip(axes, transforms.items()):
        row[0].imshow(to_pil_image(image), cmap="gray")
        row[0].set_title("original")
        row[1].set_title(name)
        for ax in row[1:]:
            ax.imshow(to_pil_image(t(image)), cmap="gray")
    return fig


def scaled_to_floats(transforms, image, n=5):
    """Each sample as floats in [0, 1] (T.ToDtype(torch.float32, scale=True)), a y-label per row."""
    to_float = T.ToDtype(torch.float32, scale=True)
    fig, axes = plt.subplots(len(transforms), n, squeeze=False, sharex=True, sharey=True)
    for i, (name, t) in enumerate(transforms.items()):
        axes[i, 0].set_ylabel(name, rotation=0, ha="right")
        for j in range(n):
            axes[i, j].imshow(to_float(t(image))[0], cmap="gray", vmin=0, vmax=1)
    return fig


def squeezed_axes_made_2d(transforms, image, n=5):
    """plt.subplots without squeeze=False, one row made 2-D again with np.atleast_2d."""
    fig, axes = plt.subplots(len(transforms), n)
    for row, (name, t) in zip(np.atleast_2d(axes), transforms.items()):
        row[0].set_title(name)
        for ax in row:
            ax.imshow(t(image)[0])
    return fig


def with_image_grid(transforms, image, n=5):
    """mpl_toolkits' ImageGrid (its axes have no subplot spec), a y-label per row."""
    from mpl_toolkits.axes_grid1 import ImageGrid

    fig = plt.figure()
    grid = ImageGrid(fig, 111, nrows_ncols=(len(transforms), n), axes_pad=0.1)
    for r, (name, t) in enumerate(transforms.items()):
        grid[r * n].set_ylabel(name)
        for c in range(n):
            grid[r * n + c].imshow(t(image)[0])
    return fig


PLOT_SAMPLES_RIGHT = [
    (good_grid, "y-labels"),
    (with_add_subplot, "add-subplot"),
    (pyplot_state_machine, "pyplot"),
    (names_as_text, "names-as-text"),
    (as_pil_images, "pil-images-with-originals"),
    (scaled_to_floats, "floats"),
    (squeezed_axes_made_2d, "atleast-2d"),
    (with_image_grid, "image-grid"),
    (one_subfigure_per_row, "subfigure-per-row"),
    (one_subfigure_per_column, "subfigure-per-column"),
]


@pytest.mark.parametrize("answer", [answer for answer, _ in PLOT_SAMPLES_RIGHT], ids=[name for _, name in PLOT_SAMPLES_RIGHT])
def test_plot_samples_accepts_grids_drawn_another_way(answer):
    ok, text = passes(lab03.plot_samples, answer)
    assert ok, text


# --------------------------------------------------------------------------- vgg_output_shapes
def shapes_by_formula(layers, input_shape):
    def pair(v):
        return tuple(v) if isinstance(v, tuple) else (v, v)

    shape, out = tuple(input_shape), []
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            k, s, p = pair(layer.kernel_size), pair(layer.stride), pair(layer.padding)
            c = layer.out_channels if isinstance(layer, nn.Conv2d) else shape[0]
            shape = (c,) + tuple((shape[i + 1] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(2))
        elif isinstance(layer, nn.AdaptiveAvgPool2d):
            shape = (shape[0],) + pair(layer.output_size)
        elif isinstance(layer, nn.Flatten):
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, nn.Linear):
            shape = (layer.out_features,)
        out.append(shape)
    return out


def runs_the_layers(layers, input_shape):  # "don't run the layers" on the meta device: passed before issue 18
    x, shapes = torch.zeros(1, *input_shape, device="meta"), []
    for layer in layers:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes


def runs_them_on_the_cpu(layers, input_shape):
    x = torch.zeros(1, *input_shape)
    return [tuple((x := layer(x)).shape[1:]) for layer in layers]


def runs_them_as_a_sequential(layers, input_shape):
    model = nn.Sequential(*layers)
    return layer_output_shapes(list(model), input_shape)


def forgets_padding(layers, input_shape):
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            layer.padding = (0, 0)
    return shapes_by_formula(layers, input_shape)


def true_division(layers, input_shape):  # / instead of //: whole for VGG16 at 224, not for odd sizes
    def pair(v):
        return tuple(v) if isinstance(v, tuple) else (v, v)

    shape, out = tuple(input_shape), []
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            k, s, p = pair(layer.kernel_size), pair(layer.stride), pair(layer.padding)
            c = layer.out_channels if isinstance(layer, nn.Conv2d) else shape[0]
            shape = (c,) + tuple((shape[i + 1] + 2 * p[i] - k[i]) / s[i] + 1 for i in range(2))
        elif isinstance(layer, nn.AdaptiveAvgPool2d):
            shape = (shape[0],) + pair(layer.output_size)
        elif isinstance(layer, nn.Flatten):
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, nn.Linear):
            shape = (layer.out_features,)
        out.append(shape)
    return out


def no_plus_one(layers, input_shape):  # off by one: forgets the + 1 of the formula
    return [tuple(s - 1 if i > 0 and len(shape) == 3 else s for i, s in enumerate(shape))
            for shape in shapes_by_formula(layers, input_shape)]


SHAPES_WRONG = [
    (runs_the_layers, "the check's layers cannot be run"),
    (runs_them_on_the_cpu, "the check's layers cannot be run"),  # was: "Tensor on device meta ..."
    (runs_them_as_a_sequential, "calls or wraps cslib's own cslib.models.layer_output_shapes"),  # wrapped
    (layer_output_shapes, "cslib's own cslib.models.layer_output_shapes"),
    (forgets_padding, "expected output shape (64, 224, 224), got (64, 222, 222)"),
    (lambda layers, s: [(1, *t) for t in shapes_by_formula(layers, s)], "leave out the batch dimension"),
    (true_division, "use integer division //"),
    (no_plus_one, "expected output shape (64, 224, 224), got (64, 223, 223)"),
    (lambda layers, s: {i: t for i, t in enumerate(shapes_by_formula(layers, s))}, "should return a list with one shape per layer, got a dict"),
    (lambda layers, s: [str(t) for t in shapes_by_formula(layers, s)], "each shape should be a tuple of ints"),
]
SHAPES_WRONG_IDS = ["meta", "cpu", "wrapped", "reference", "padding", "batch", "division", "off-by-one", "dict", "strings"]


@pytest.mark.parametrize("answer, reason", SHAPES_WRONG, ids=SHAPES_WRONG_IDS)
def test_vgg_output_shapes_names_the_mistake(answer, reason):
    ok, text = passes(lab03.vgg_output_shapes, answer)
    assert not ok and reason in text, text


def shapes_with_math_floor(layers, input_shape):
    """math.floor of the true division, one branch per kind of layer, lists for shapes, `type(layer).__name__` tests."""
    import math

    shape, out = list(input_shape), []
    for layer in layers:
        kind = type(layer).__name__
        if kind in ("Conv2d", "MaxPool2d"):
            k, s, p = (v if isinstance(v, tuple) else (v, v) for v in (layer.kernel_size, layer.stride, layer.padding))
            channels = layer.out_channels if kind == "Conv2d" else shape[0]
            shape = [channels] + [math.floor((shape[1 + i] + 2 * p[i] - k[i]) / s[i]) + 1 for i in range(2)]
        elif kind == "AdaptiveAvgPool2d":
            size = layer.output_size
            shape = [shape[0], *(size if isinstance(size, tuple) else (size, size))]
        elif kind == "Flatten":
            shape = [math.prod(shape)]
        elif kind == "Linear":
            shape = [layer.out_features]
        out.append(list(shape))
    return out


SHAPES_RIGHT = [
    (shapes_by_formula, "tuples"),  # written otherwise than the model solution
    (lambda layers, s: [torch.Size(t) for t in shapes_by_formula(layers, s)], "torch-size"),
    (lambda layers, s: [list(map(float, t)) for t in shapes_by_formula(layers, s)], "whole-floats"),
    (lambda layers, s: [np.array(t) for t in shapes_by_formula(layers, s)], "arrays"),
    (shapes_with_math_floor, "lists-math-floor"),
    (lambda layers, s: tuple(shapes_by_formula(layers, s)), "a-tuple-of-shapes"),
]


@pytest.mark.parametrize("answer", [answer for answer, _ in SHAPES_RIGHT], ids=[name for _, name in SHAPES_RIGHT])
def test_vgg_output_shapes_accepts_right_shapes_in_another_type(answer):
    for seed in range(3):
        text = verdict(lab03.vgg_output_shapes, answer, seed)
        assert text.startswith("✓") and "5 cases" in text, text


def test_the_drivers_vgg16_is_torchvisions():
    from torchvision.models import vgg16

    with torch.device("meta"):
        net = vgg16()
    layers = lab03.drive_output_shapes(lambda layers, s: layers, "vgg16", (3, 224, 224), runnable=True)
    assert [repr(m) for m in layers] == [repr(m) for m in [*net.features, net.avgpool, nn.Flatten(), *net.classifier]]
    assert lab03._describe("vgg16") == [repr(m) for m in layers]


def test_random_networks_are_valid_and_varied():
    rng = np.random.default_rng(1)
    specs = [lab03._random_spec(rng) for _ in range(20)]
    assert len({str(s) for s, _, _ in specs}) == 20
    for spec, input_shape, shapes in specs:
        layers = lab03.drive_output_shapes(lambda layers, s: layers, spec, input_shape, runnable=True)
        assert layer_output_shapes(layers, input_shape) == shapes and shapes[-1][0] >= 2


@pytest.mark.parametrize("driver", [lab03.drive_transform, lab03.drive_plot_samples, lab03.drive_output_shapes])
def test_drivers_are_self_contained(driver):
    """The grader sends each driver's source into the student's kernel: it may use nothing from this module."""
    namespace = {}
    exec(inspect.getsource(driver), namespace)
    fresh = namespace[driver.__name__]
    if driver is lab03.drive_transform:
        transform = T.Compose([T.RandomAffine(0, translate=(0.1, 0.1), scale=(0.8, 1.2)), T.RandomInvert(p=0.01)])
        out = fresh(transform, 3, 6, "invert")
        assert len(out["outputs"]) == 6 and not any(o["inverted"] for o in out["outputs"])
        assert len(out["always"]) == 3 and all(o["inverted"] for o in out["always"])  # seen although p = 0.01
        assert [p["name"] for p in fresh(transform, 3, 6, "parts")["parts"]] == ["RandomAffine", "RandomInvert"]
    elif driver is lab03.drive_plot_samples:
        assert fresh(good_grid, 0, 2, 3)["n_image_axes"] == 6
    else:
        assert fresh(shapes_by_formula, lab03.CNN_SPEC, [1, 28, 28])[-1] == (10,)


@pytest.mark.parametrize("answer", [transposed, ignores_n], ids=lambda f: f.__name__)
def test_every_draw_of_the_random_cases_catches_a_grid_that_ignores_n_or_is_transposed(answer):
    """The grader's hidden cases are the random ones: each seed's draw must expose these mistakes by itself."""
    for seed in range(30):
        _, random_cases = lab03.plot_samples.cases(np.random.default_rng(seed))
        case = random_cases[0]
        assert not lab03.plot_samples.judge(case.expected, lab03.drive_plot_samples(answer, *case.args)).passed, seed


# The wrong answers these tests build, by question, named by their ids or by what the check must say about each.
WRONG_ANSWERS = index(*(("rotate_invert", name) for name in ROTATE_INVERT_WRONG_IDS),
                      *(("shift_scale", reason) for _, reason in SHIFT_SCALE_WRONG),
                      *(("my_transform", name) for name in MY_TRANSFORM_WRONG_IDS),
                      *(("plot_samples", name) for name in PLOT_SAMPLES_WRONG_IDS),
                      *(("vgg_output_shapes", name) for name in SHAPES_WRONG_IDS))
# The right answers written another way (other choices, types, styles) that they build, by question, named by their ids.
RIGHT_ANSWERS = index(*(("rotate_invert", name) for _, name in ROTATE_INVERT_RIGHT),
                      *(("shift_scale", name) for _, name in SHIFT_SCALE_RIGHT),
                      *(("my_transform", name) for _, name in MY_TRANSFORM_RIGHT),
                      *(("plot_samples", name) for _, name in PLOT_SAMPLES_RIGHT),
                      *(("vgg_output_shapes", name) for _, name in SHAPES_RIGHT))
