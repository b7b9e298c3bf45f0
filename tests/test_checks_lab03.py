"""Lab 3's checks: right answers pass (whatever reasonable parameters), wrong ones fail with a reason."""
import inspect

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torchvision.transforms import v2 as T  # noqa: E402

from cslib.checks import lab03, report  # noqa: E402
from cslib.models import layer_output_shapes  # noqa: E402


def passes(question, answer):
    text = report(question, answer, rng=np.random.default_rng(0))
    return text.startswith("✓"), text


@pytest.mark.parametrize("answer", [
    T.Compose([T.RandomAffine(180), T.RandomInvert()]),
    T.Compose([T.RandomRotation(10), T.RandomInvert(p=0.2)]),  # small angles, rare inverts
    T.Compose([T.RandomInvert(), T.RandomRotation(45)]),  # the other order
])
def test_rotate_invert_accepts_reasonable_choices(answer):
    ok, text = passes(lab03.rotate_invert, answer)
    assert ok, text


@pytest.mark.parametrize("answer, reason", [
    (T.RandomAffine(180), "no"),
    (T.RandomInvert(), "kept its direction"),
    (T.Compose([T.RandomAffine(180), T.RandomInvert(p=1.0)]), "all 40 outputs were inverted"),
    (T.Compose([T.RandomAffine(180), T.RandomInvert(), T.ToDtype(torch.float32, scale=True)]), "dtype float32"),
    (lambda x: 255 - x, "only 1 different"),
])
def test_rotate_invert_rejects_wrong_transforms(answer, reason):
    ok, text = passes(lab03.rotate_invert, answer)
    assert not ok and reason in text


@pytest.mark.parametrize("answer", [
    T.RandomAffine(0, translate=(0.1, 0.1), scale=(0.8, 1.2)),
    T.Compose([T.RandomAffine(0, translate=(0.2, 0)), T.RandomAffine(0, scale=(0.7, 1.3))]),
    T.RandomResizedCrop(28, scale=(0.5, 1.0)),
    T.RandomAffine(0, translate=(0.1, 0.1), scale=(0.9, 1.1), interpolation=T.InterpolationMode.BILINEAR),
])
def test_shift_scale_accepts_reasonable_choices(answer):
    ok, text = passes(lab03.shift_scale, answer)
    assert ok, text


@pytest.mark.parametrize("answer, reason", [
    (T.RandomAffine(0, translate=(0.1, 0.1)), "kept its size"),
    (T.RandomAffine(0, scale=(0.8, 1.2)), "did not move"),
    (T.RandomAffine(40, translate=(0.1, 0.1), scale=(0.8, 1.2)), "changed direction"),
    (T.Compose([T.RandomAffine(0, (0.1, 0.1), (0.8, 1.2)), T.RandomInvert()]), "inverted"),
    (T.Compose([T.RandomAffine(0, (0.1, 0.1), (0.8, 1.2)), T.Resize(32)]), "shape (1, 32, 32)"),
])
def test_shift_scale_rejects_wrong_transforms(answer, reason):
    ok, text = passes(lab03.shift_scale, answer)
    assert not ok and reason in text


def test_my_transform_needs_a_random_change_that_keeps_shape_and_dtype():
    assert passes(lab03.my_transform, T.Compose([T.RandomPerspective(p=1), T.GaussianBlur(3)]))[0]
    assert passes(lab03.my_transform, T.Compose([T.RandomHorizontalFlip(), T.RandomInvert()]))[0]
    assert "only 1 different" in passes(lab03.my_transform, lambda x: x)[1]
    assert "not a tensor" in passes(lab03.my_transform, lambda x: x.numpy())[1]


def good_grid(transforms, image, n=5):
    fig, axes = plt.subplots(len(transforms), n, squeeze=False)
    for row, t in zip(axes, transforms.values()):
        for ax in row:
            ax.imshow(t(image)[0].numpy())
    return fig


def test_plot_samples_counts_image_axes_and_distinct_images():
    assert passes(lab03.plot_samples, good_grid)[0]

    def one_row(transforms, image, n=5):
        return good_grid(dict(list(transforms.items())[:1]), image, n)

    def same_image(transforms, image, n=5):
        return good_grid({k: (lambda x: x) for k in transforms}, image, n)

    assert "it shows 5" in passes(lab03.plot_samples, one_row)[1]
    assert "all the same" in passes(lab03.plot_samples, same_image)[1]
    assert "should return a matplotlib Figure" in passes(lab03.plot_samples, lambda t, i, n=5: None)[1]


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


def test_vgg_output_shapes_formula_passes_on_fixed_and_random_networks():
    for seed in range(3):
        text = report(lab03.vgg_output_shapes, shapes_by_formula, rng=np.random.default_rng(seed))
        assert text.startswith("✓") and "5 cases" in text, text


def test_vgg_output_shapes_points_at_the_first_wrong_layer():
    def forgets_padding(layers, input_shape):
        for layer in layers:
            if isinstance(layer, nn.Conv2d):
                layer.padding = (0, 0)
        return shapes_by_formula(layers, input_shape)

    text = passes(lab03.vgg_output_shapes, forgets_padding)[1]
    assert "layer 1, Conv2d(3, 64" in text and "expected output shape (64, 224, 224), got (64, 222, 222)" in text
    with_batch = passes(lab03.vgg_output_shapes, lambda l, s: [(1, *t) for t in shapes_by_formula(l, s)])[1]
    assert "leave out the batch dimension" in with_batch
    assert "cslib's own" in passes(lab03.vgg_output_shapes, layer_output_shapes)[1]


def test_random_networks_are_valid_and_varied():
    rng = np.random.default_rng(1)
    specs = [lab03._random_spec(rng) for _ in range(20)]
    assert len({str(s) for s in specs}) == 20
    for spec, input_shape in specs:
        assert layer_output_shapes(lab03.drive_output_shapes(lambda layers, s: layers, spec, input_shape), input_shape)[-1][0] >= 2


@pytest.mark.parametrize("driver", [lab03.drive_transform, lab03.drive_plot_samples, lab03.drive_output_shapes])
def test_drivers_are_self_contained(driver):
    """The grader sends each driver's source into the student's kernel: it may use nothing from this module."""
    namespace = {}
    exec(inspect.getsource(driver), namespace)
    fresh = namespace[driver.__name__]
    if driver is lab03.drive_transform:
        out = fresh(T.RandomAffine(0, translate=(0.1, 0.1), scale=(0.8, 1.2)), 3, 5)
        assert len(out["outputs"]) == 5
    elif driver is lab03.drive_plot_samples:
        assert fresh(good_grid, 0, 2, 3)["n_image_axes"] == 6
    else:
        assert fresh(shapes_by_formula, lab03.CNN_SPEC, [1, 28, 28])[-1] == (10,)
