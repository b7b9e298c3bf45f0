"""cslib.augment: batched augmentation with one random transform per image, exact shifts, torchvision's conventions."""
import numpy as np
import pytest
import torch
from torch import nn

from cslib import augment

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + \
          (["mps"] if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else [])


def images(n=8, c=1, h=28, w=28, seed=0, dtype=torch.float32):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)).to(dtype)


# --------------------------------------------------------------------------- shift
@pytest.mark.parametrize("dx", [-5, -1, 0, 3, 27, 30])
def test_shift_wrap_is_np_roll(dx):
    x = images(3, 2, 28, 20)
    want = np.roll(x.numpy(), dx, axis=3)
    assert np.array_equal(augment.shift(x, dx).numpy(), want)  # the same shift for all
    per_image = augment.shift(x, torch.full((3,), dx))  # the gather route
    assert np.array_equal(per_image.numpy(), want)


def test_shift_per_image_and_vertical_match_np_roll_image_by_image():
    x = images(4, 1, 10, 12)
    dx, dy = torch.tensor([-3, 0, 2, 11]), torch.tensor([1, -4, 0, 2])
    out = augment.shift(x, dx, dy)
    for i in range(4):
        want = np.roll(np.roll(x[i, 0].numpy(), int(dx[i]), axis=1), int(dy[i]), axis=0)
        assert np.array_equal(out[i, 0].numpy(), want)


def test_shift_zeros_fills_the_uncovered_border():
    x = torch.arange(1, 17, dtype=torch.float32).view(1, 1, 4, 4).repeat(2, 1, 1, 1)
    out = augment.shift(x, torch.tensor([1, -2]), torch.tensor([0, 1]), mode="zeros")
    assert out[0, 0, :, 0].eq(0).all() and torch.equal(out[0, 0, :, 1:], x[0, 0, :, :3])
    assert out[1, 0, 0].eq(0).all() and out[1, 0, :, 2:].eq(0).all() and torch.equal(out[1, 0, 1:, :2], x[1, 0, :3, 2:])
    same_for_all = augment.shift(x, 1, 0, mode="zeros")
    assert torch.equal(same_for_all[0], out[0])
    assert augment.shift(x, 4, mode="zeros").eq(0).all()  # moved out entirely


def test_shift_keeps_integer_dtypes_exactly():
    x = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    out = augment.shift(x, torch.tensor([1, 2, 3]), mode="zeros")
    assert out.dtype == torch.uint8 and torch.equal(out[2, 0, :, 3:], x[2, 0, :, :-3])


def test_random_shift_draws_one_shift_per_image_within_range():
    x = torch.zeros(400, 1, 1, 21)
    x[:, 0, 0, 10] = 1  # one bright pixel in the middle: its new column is the shift
    out = augment.random_shift(x, 5, generator=torch.Generator().manual_seed(0))
    shifts = out[:, 0, 0].argmax(1) - 10
    assert shifts.min() == -5 and shifts.max() == 5  # every value in [-5, 5] is reachable...
    assert len(shifts.unique()) == 11  # ...and drawn, image by image
    counts = torch.bincount(shifts + 5)
    assert counts.min() > 15  # roughly uniform (expected 36 each)


def test_random_shift_is_repeatable_with_a_generator_and_random_without():
    x = images(16)
    a = augment.random_shift(x, 5, 5, generator=torch.Generator().manual_seed(1))
    b = augment.random_shift(x, 5, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    different = sum(not torch.equal(augment.random_shift(x, 5), augment.random_shift(x, 5)) for _ in range(5))
    assert different >= 4


def test_zero_ranges_are_the_identity():
    x = images(4)
    assert torch.equal(augment.random_shift(x, 0), x)
    assert torch.allclose(augment.random_affine(x), x, atol=1e-5)  # up to grid_sample's rounding
    assert torch.allclose(augment.random_affine(x, 0, translate=(0, 0), scale=(1, 1), shear=0), x, atol=1e-5)
    assert torch.allclose(augment.affine(x, 0.0), x, atol=1e-5)


# --------------------------------------------------------------------------- affine
def test_rotation_by_90_degrees_is_exact_on_a_pattern():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 1, 2:7] = 1  # a horizontal bar near the top
    turned = augment.affine(x, 90.0)  # clockwise, torchvision's convention for affine
    assert torch.allclose(turned, torch.rot90(x, -1, dims=(2, 3)), atol=1e-5)
    assert turned[0, 0, 2:7, 7].min() > 0.99  # the bar is now vertical, on the right
    assert torch.allclose(augment.affine(x, -90.0), torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(augment.affine(x, 180.0), torch.rot90(x, 2, dims=(2, 3)), atol=1e-5)


def test_affine_matches_torchvision_functional_affine():
    from torchvision.transforms.v2 import functional as TF

    x = images(2, 3, 24, 30)
    for angle, translate, scale, shear in [(30.0, (2.0, -3.0), 1.2, (10.0, 5.0)), (-45.0, (1.5, 0.5), 0.8, (0.0, 20.0))]:
        ours = augment.affine(x, angle, translate, scale, shear)
        theirs = TF.affine(x, angle=angle, translate=list(translate), scale=scale, shear=list(shear),
                           interpolation=TF.InterpolationMode.BILINEAR)
        assert torch.allclose(ours, theirs, atol=1e-4)
    near = augment.affine(x, 30.0, (3.0, 1.0), 1.0, (0.0, 0.0), interpolation="nearest", fill=0.5)
    theirs = TF.affine(x, angle=30.0, translate=[3.0, 1.0], scale=1.0, shear=[0.0, 0.0], fill=0.5)
    assert (near - theirs).abs().gt(1e-4).float().mean() < 0.01  # nearest may round a few border pixels differently


def test_affine_parameters_can_differ_per_image():
    x = images(3)
    angles = torch.tensor([0.0, 90.0, -90.0])
    out = augment.affine(x, angles)
    assert torch.allclose(out[0], x[0], atol=1e-5)
    for i in (1, 2):
        assert torch.allclose(out[i], augment.affine(x[i:i + 1], float(angles[i]))[0], atol=1e-5)


def test_translation_by_whole_pixels_is_a_zero_filled_shift():
    x = images(2)
    moved = augment.affine(x, 0.0, translate=(3.0, -2.0))
    assert torch.allclose(moved, augment.shift(x, 3, -2, mode="zeros"), atol=1e-5)


def test_fill_value_for_pixels_from_outside():
    x = torch.zeros(1, 1, 8, 8)
    out = augment.affine(x, 45.0, fill=1.0)
    assert out[0, 0, 0, 0] > 0.99 and out[0, 0, 4, 4] < 0.01


def test_random_affine_draws_per_image_parameters_in_range():
    x = torch.zeros(64, 1, 21, 21)
    x[:, 0, 10, 10] = 1  # the center: only translation moves it
    g = torch.Generator().manual_seed(0)
    out = augment.random_affine(x, translate=(0.2, 0), generator=g, interpolation="nearest")
    cols = out[:, 0].sum(1).argmax(1) - 10
    assert cols.abs().max() <= 5 and len(cols.unique()) > 5  # |dx| <= 0.2 * 21 = 4.2, one per image
    assert out[:, 0].sum(2).argmax(1).eq(10).all()  # no vertical translation asked for
    rotated = augment.random_affine(images(8), degrees=180, generator=g)
    firsts = [rotated[i] for i in range(8)]
    assert all(not torch.allclose(firsts[0], f) for f in firsts[1:])


def test_modules_plug_into_fit_and_compose():
    import cslib

    seq = nn.Sequential(augment.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5), augment.RandomShift(2))
    assert "RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5)" in repr(seq)
    assert "RandomShift(max_shift=2, max_shift_y=0, mode='wrap')" in repr(seq)
    calls = []

    def spy(xb):
        calls.append(xb.shape)
        return seq(xb)

    x, y = images(64, 1, 8, 8), torch.randint(0, 2, (64,))
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    cslib.fit(model, (x, y), epochs=1, batch_size=16, augment=spy, device="cpu", progress=False)
    assert calls == [torch.Size([16, 1, 8, 8])] * 4


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_and_dtype_are_kept(device, dtype):
    x = images(4, dtype=dtype).to(device)
    for out in (augment.random_shift(x, 3, 3), augment.random_affine(x, 20, (0.1, 0.1), (0.9, 1.1), 10),
                augment.RandomShift(2, mode="zeros")(x), augment.RandomAffine(5)(x)):
        assert out.device == x.device and out.dtype == dtype and out.shape == x.shape
    g = torch.Generator().manual_seed(0)  # a CPU generator also drives draws for another device
    assert augment.random_shift(x, 3, generator=g).device == x.device


@pytest.mark.parametrize("call, error, message", [
    (lambda: augment.random_shift(torch.zeros(28, 28), 2), ValueError, r"\(N, C, H, W\)"),
    (lambda: augment.random_shift(torch.zeros(5, 784), 2), ValueError, "Flat MLP inputs"),
    (lambda: augment.random_shift(torch.zeros(1, 28, 28), 2), ValueError, r"images\[None\]"),
    (lambda: augment.random_shift(np.zeros((1, 1, 4, 4)), 2), TypeError, "torch tensor"),
    (lambda: augment.random_shift(torch.zeros(1, 1, 4, 4), -1), ValueError, "max_shift"),
    (lambda: augment.random_shift(torch.zeros(1, 1, 4, 4), 1.5), ValueError, "max_shift"),
    (lambda: augment.shift(torch.zeros(1, 1, 4, 4), 1, mode="reflect"), ValueError, "mode must be one of"),
    (lambda: augment.shift(torch.zeros(2, 1, 4, 4), torch.tensor([1.5, 2.0])), TypeError, "whole numbers"),
    (lambda: augment.shift(torch.zeros(2, 1, 4, 4), torch.tensor([1, 2, 3])), ValueError, r"shape \(2,\)"),
    (lambda: augment.random_affine(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), 10), TypeError, "must be floats"),
    (lambda: augment.random_affine(torch.zeros(1, 1, 4, 4), translate=(1.5, 0)), ValueError, "translate"),
    (lambda: augment.random_affine(torch.zeros(1, 1, 4, 4), scale=(1.2, 0.8)), ValueError, "min 1.2 is larger"),
    (lambda: augment.random_affine(torch.zeros(1, 1, 4, 4), scale=(0, 1)), ValueError, "must be > 0"),
    (lambda: augment.random_affine(torch.zeros(1, 1, 4, 4), shear=(1, 2, 3)), ValueError, "shear"),
    (lambda: augment.RandomAffine(10, interpolation="bicubic"), ValueError, "interpolation"),
    (lambda: augment.affine(torch.zeros(2, 1, 4, 4), torch.zeros(3)), ValueError, "one per image"),
])
def test_bad_input_gives_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_more_bad_arguments_get_one_message():
    with pytest.raises(ValueError, match="translate must be a pair of fractions"):
        augment.RandomAffine(translate=0.1)
    with pytest.raises(ValueError, match="max_shift must be a whole number of pixels >= 0, got True"):
        augment.RandomShift(True)
    with pytest.raises(ValueError, match="max_shift must be a whole number of pixels >= 0, got -2"):
        augment.random_shift(torch.zeros(2, 1, 4, 4), -2)
