"""Data augmentation for whole batches, on the device, with a different random transform per image.

Lecture 3 augments the data in ``Dataset.__getitem__``, one image at a time, as the slides do,
and pays for it (the slides: 6 minutes instead of 53 s). The functions here do the same work
on a whole batch at once, on the device the batch is on (CPU, CUDA or Apple's MPS), and still
draw a different random shift or affine transform for every image of the batch::

    augment = cslib.augment.RandomShift(max_shift=5)           # the slides' random horizontal shifts
    history = cslib.fit(model, train, test, augment=augment)   # called on every batch

- :func:`shift` moves images by whole pixels, exactly as ``np.roll`` does (``mode="wrap"``), or
  fills the uncovered border with zeros (``mode="zeros"``).
- :func:`random_shift` draws one integer shift per image and calls :func:`shift`.
- :func:`affine` and :func:`random_affine` rotate, translate, scale and shear with the same
  conventions as torchvision's ``RandomAffine`` (built on ``F.affine_grid``/``F.grid_sample``).
- :class:`RandomShift` and :class:`RandomAffine` wrap them as ``nn.Module`` s, so they print well
  and compose with ``nn.Sequential`` (the batched twin of ``transforms.Compose``).

Why not torchvision's transforms on the batch? A torchvision transform called on a batch draws
ONE random transform and applies it to every image of the batch; augmentation needs one per image.
(The library kornia does this too; these few functions avoid a dependency for it.)

All functions take float or integer images shaped (N, C, H, W) (affine transforms need floats),
return the same shape, dtype and device, and accept a ``torch.Generator`` for repeatable draws.
"""
from __future__ import annotations

import numbers
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("wrap", "zeros")
INTERPOLATIONS = ("bilinear", "nearest")


# --------------------------------------------------------------------------- checks
def _check_images(images, what: str = "images") -> torch.Tensor:
    if not torch.is_tensor(images):
        raise TypeError(f"{what} must be a torch tensor shaped (N, C, H, W), got {type(images).__name__}")
    if images.ndim != 4:
        hint = ""
        if images.ndim == 3:
            hint = " For one image use images[None]; for a batch of grayscale images (N, H, W) use images[:, None]."
        elif images.ndim == 2:
            hint = " Flat MLP inputs (N, 784) must be reshaped to (N, 1, 28, 28) first, e.g. x.view(-1, 1, 28, 28)."
        raise ValueError(f"{what} must be a batch shaped (N, C, H, W), got shape {tuple(images.shape)}.{hint}")
    return images


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _per_sample(value, n: int, device: torch.device, name: str) -> torch.Tensor | int:
    """An int stays an int (the same for every image); a sequence/tensor becomes a long tensor of N values."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    t = torch.as_tensor(value, device=device)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold whole numbers of pixels, got dtype {t.dtype}")
    if t.ndim == 0:
        return int(t)
    if t.shape != (n,):
        raise ValueError(f"{name} must be one int or one per image (shape ({n},)), got shape {tuple(t.shape)}")
    return t.long()


def _uniform(low_high: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return low_high[0] + (low_high[1] - low_high[0]) * u


def _random(n: int, k: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """(n, k) uniform numbers in [0, 1) on ``device``, drawn with ``generator`` if given (on its own device)."""
    if generator is None:
        return torch.rand(n, k, device=device)
    return torch.rand(n, k, device=generator.device, generator=generator).to(device)


# --------------------------------------------------------------------------- integer shifts
def shift(images: torch.Tensor, dx: int | Sequence[int] | torch.Tensor, dy: int | Sequence[int] | torch.Tensor = 0, *, mode: str = "wrap") -> torch.Tensor:
    """Move ``images`` (N, C, H, W) by ``dx`` pixels to the right and ``dy`` pixels down.

    ``dx`` and ``dy`` are ints (the same shift for all images) or one int per image. With
    ``mode="wrap"`` what leaves one side comes back on the other, exactly like
    ``np.roll(image, dx, axis=1)`` (the slides' test); with ``mode="zeros"`` the uncovered
    border is filled with zeros (black). Works for any dtype; no interpolation, so it is exact.
    """
    x = _check_images(images)
    _check_mode(mode)
    n, c, h, w = x.shape
    dx = _per_sample(dx, n, x.device, "dx")
    dy = _per_sample(dy, n, x.device, "dy")
    if isinstance(dx, int) and isinstance(dy, int):  # one shift for all: a plain roll, or a slice copy
        if mode == "wrap":
            return torch.roll(x, shifts=(dy, dx), dims=(2, 3))
        out = torch.zeros_like(x)
        if abs(dx) < w and abs(dy) < h:
            out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
                x[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
        return out
    out = x
    keep = None
    for dim, size, d in ((3, w, dx), (2, h, dy)):
        if isinstance(d, int) and d == 0:
            continue  # nothing to do along this axis (saves a gather)
        d = torch.full((n,), d, device=x.device, dtype=torch.long) if isinstance(d, int) else d
        source = torch.arange(size, device=x.device)[None, :] - d[:, None]  # (N, size): where each pixel comes from
        if mode == "zeros":
            inside = (source >= 0) & (source < size)
            inside = inside[:, None, None, :] if dim == 3 else inside[:, None, :, None]
            keep = inside if keep is None else keep & inside
        source = source % size
        index = source[:, None, None, :] if dim == 3 else source[:, None, :, None]
        out = out.gather(dim, index.expand(n, c, h, w))
    if keep is not None:
        out = out * keep.to(out.dtype) if out.is_floating_point() else torch.where(keep, out, torch.zeros_like(out))
    return out


def random_shift(images: torch.Tensor, max_shift: int = 5, max_shift_y: int = 0, *, mode: str = "wrap",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift every image by its own random whole number of pixels in [-max_shift, max_shift].

    ``max_shift`` is horizontal (as in the slides), ``max_shift_y`` vertical (0: no vertical shift).
    ``mode`` as in :func:`shift`. Each shift is equally likely, 0 included.
    """
    x = _check_images(images)
    for name, value in (("max_shift", max_shift), ("max_shift_y", max_shift_y)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{name} must be a whole number of pixels >= 0, got {value!r}")
    n = len(x)
    u = _random(n, 2, x.device, generator)
    dx = (u[:, 0] * (2 * max_shift + 1)).long().clamp_(max=2 * max_shift) - max_shift if max_shift else 0
    dy = (u[:, 1] * (2 * max_shift_y + 1)).long().clamp_(max=2 * max_shift_y) - max_shift_y if max_shift_y else 0
    if isinstance(dx, int) and isinstance(dy, int):
        return x.clone()
    return shift(x, dx, dy, mode=mode)


# --------------------------------------------------------------------------- affine transforms
def affine_matrices(angle: torch.Tensor, translate: torch.Tensor, scale: torch.Tensor, shear: torch.Tensor,
                    size: tuple[int, int]) -> torch.Tensor:
    """The (N, 2, 3) matrices ``F.affine_grid`` needs for per-image affine parameters.

    ``angle`` (N,) in degrees, clockwise as the image is shown; ``translate`` (N, 2) in pixels
    (right, down); ``scale`` (N,); ``shear`` (N, 2) in degrees (x, y). Same conventions as
    ``torchvision.transforms.functional.affine`` (rotation about the image center): the output pixel
    at p comes from the input pixel at M⁻¹ p, so the matrices hold the inverse transform.
    """
    h, w = size
    rot = torch.deg2rad(angle)
    sx, sy = torch.deg2rad(shear[:, 0]), torch.deg2rad(shear[:, 1])
    # rotation·shear without scaling (torchvision's _get_inverse_affine_matrix), then its inverse
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = -torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)
    inv = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / scale[:, None, None]  # (N, 2, 2)
    offset = -(inv @ translate[:, :, None])  # (N, 2, 1), in pixels from the center
    # affine_grid works in coordinates where the image spans [-1, 1]: x_pixels = x * w / 2, y_pixels = y * h / 2
    to_pixels = torch.tensor([w / 2, h / 2], dtype=inv.dtype, device=inv.device)
    inv = inv * to_pixels[None, None, :] / to_pixels[None, :, None]
    offset = offset / to_pixels[None, :, None]
    return torch.cat([inv, offset], dim=2)


def affine(images: torch.Tensor, angle: float | torch.Tensor, translate: tuple | torch.Tensor = (0.0, 0.0),
           scale: float | torch.Tensor = 1.0, shear: tuple | torch.Tensor = (0.0, 0.0), *,
           interpolation: str = "bilinear", fill: float = 0.0) -> torch.Tensor:
    """Rotate, translate, scale and shear float ``images`` (N, C, H, W), one set of parameters per image.

    Each parameter is one value for all images or one per image: ``angle`` degrees (clockwise as shown,
    torchvision's convention for ``affine``; its ``rotate`` counts the other way),
    ``translate`` (dx, dy) pixels (right, down), ``scale`` (1 = same size), ``shear`` (x, y) degrees.
    Pixels that come from outside the image get ``fill``. Matches ``torchvision.transforms.v2.functional.affine``.
    """
    x = _check_images(images)
    if not x.is_floating_point():
        raise TypeError(f"affine transforms interpolate, so images must be floats, got {x.dtype}; "
                        "use e.g. images.float() / 255 (or cslib.data.prepare) first")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    n, _, h, w = x.shape
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32

    def per_image(value, width: int, name: str) -> torch.Tensor:
        t = torch.as_tensor(value, dtype=dtype, device=x.device)
        shape = (n,) if width == 1 else (n, width)
        if t.ndim == 0 or (width > 1 and t.shape == (width,)):
            return t.expand(shape)
        if t.shape != shape:
            raise ValueError(f"{name} must be one value for all images or one per image (shape {shape}), got {tuple(t.shape)}")
        return t

    angle_t, translate_t = per_image(angle, 1, "angle"), per_image(translate, 2, "translate")
    scale_t, shear_t = per_image(scale, 1, "scale"), per_image(shear, 2, "shear")
    theta = affine_matrices(angle_t, translate_t, scale_t, shear_t, (h, w))
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    source = x.to(dtype)
    if fill:
        source = source - fill  # grid_sample fills with 0: shift the values so that 0 means `fill`
    out = F.grid_sample(source, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    if fill:
        out = out + fill
    return out.to(x.dtype)


def _range(value, name: str, symmetric: bool, low: float | None = None) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, numbers.Number):
        if symmetric:
            if value < 0:
                raise ValueError(f"{name} as a single number must be >= 0, got {value}")
            return (-float(value), float(value))
        return (float(value), float(value))
    if len(value) != 2:
        raise ValueError(f"{name} must be a number or a (min, max) pair, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if lo > hi:
        raise ValueError(f"{name}: min {lo} is larger than max {hi}")
    if low is not None and lo <= low:
        raise ValueError(f"{name} values must be > {low}, got {value!r}")
    return (lo, hi)


class _AffineRanges:
    """Parsed ``RandomAffine`` arguments (torchvision's meaning)."""

    def __init__(self, degrees, translate, scale, shear):
        self.degrees = _range(degrees, "degrees", symmetric=True)
        if translate is not None:
            if isinstance(translate, numbers.Number) or len(translate) != 2 or not all(0 <= float(t) <= 1 for t in translate):
                raise ValueError(f"translate must be a pair of fractions of the width and height in [0, 1], got {translate!r}")
            translate = (float(translate[0]), float(translate[1]))
        self.translate = translate
        self.scale = _range(scale, "scale", symmetric=False, low=0.0)
        if shear is None:
            self.shear = None
        elif isinstance(shear, numbers.Number):
            self.shear = _range(shear, "shear", symmetric=True) + (0.0, 0.0)
        elif len(shear) == 2:
            self.shear = _range(shear, "shear", symmetric=False) + (0.0, 0.0)
        elif len(shear) == 4:
            self.shear = _range(shear[:2], "shear x", symmetric=False) + _range(shear[2:], "shear y", symmetric=False)
        else:
            raise ValueError(f"shear must be a number, an (x_min, x_max) pair or 4 values, got {shear!r}")

    def draw(self, n: int, size: tuple[int, int], device: torch.device, dtype: torch.dtype,
             generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        h, w = size
        u = _random(n, 6, device, generator).to(dtype)
        zeros = torch.zeros(n, device=device, dtype=dtype)
        angle = _uniform(torch.tensor(self.degrees, device=device, dtype=dtype), u[:, 0])
        if self.translate is not None:
            max_d = torch.tensor([self.translate[0] * w, self.translate[1] * h], device=device, dtype=dtype)
            translate = (2 * u[:, 1:3] - 1) * max_d  # continuous, not rounded to whole pixels as torchvision does
        else:
            translate = torch.zeros(n, 2, device=device, dtype=dtype)
        scale = _uniform(torch.tensor(self.scale, device=device, dtype=dtype), u[:, 3]) if self.scale else zeros + 1
        if self.shear is not None:
            s = torch.tensor(self.shear, device=device, dtype=dtype)
            shear = torch.stack([_uniform(s[0:2], u[:, 4]), _uniform(s[2:4], u[:, 5])], dim=1)
        else:
            shear = torch.zeros(n, 2, device=device, dtype=dtype)
        return {"angle": angle, "translate": translate, "scale": scale, "shear": shear}


def random_affine(images: torch.Tensor, degrees: float | Sequence[float] = 0,
                  translate: Sequence[float] | None = None, scale: Sequence[float] | None = None,
                  shear: float | Sequence[float] | None = None, *,
                  interpolation: str = "bilinear", fill: float = 0.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """torchvision's ``RandomAffine`` with its arguments, but a different random transform for every image.

    - ``degrees``: d (angles in [-d, d]) or (min, max);
    - ``translate``: (a, b), horizontal shifts up to a·width, vertical up to b·height (not rounded);
    - ``scale``: (min, max) scale factors;
    - ``shear``: s (x-shear in [-s, s] degrees), (min, max) for x, or (xmin, xmax, ymin, ymax).
    """
    x = _check_images(images)
    ranges = _AffineRanges(degrees, translate, scale, shear)
    dtype = x.dtype if x.dtype == torch.float64 else torch.float32
    params = ranges.draw(len(x), tuple(x.shape[-2:]), x.device, dtype, generator)
    return affine(x, **params, interpolation=interpolation, fill=fill)


# --------------------------------------------------------------------------- modules for fit(augment=...)
class RandomShift(nn.Module):
    """Random whole-pixel shifts, one per image (see :func:`random_shift`); use as ``fit(..., augment=RandomShift(5))``."""

    def __init__(self, max_shift: int = 5, max_shift_y: int = 0, mode: str = "wrap",
                 generator: torch.Generator | None = None):
        super().__init__()
        _check_mode(mode)
        random_shift(torch.zeros(1, 1, 1, 1), max_shift, max_shift_y)  # validates the arguments now
        self.max_shift, self.max_shift_y, self.mode, self.generator = max_shift, max_shift_y, mode, generator

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return random_shift(images, self.max_shift, self.max_shift_y, mode=self.mode, generator=self.generator)

    def extra_repr(self) -> str:
        return f"max_shift={self.max_shift}, max_shift_y={self.max_shift_y}, mode={self.mode!r}"


class RandomAffine(nn.Module):
    """The batched twin of ``torchvision.transforms.RandomAffine``: same arguments, one transform per image.

    See :func:`random_affine`. Compose with others as ``nn.Sequential(RandomAffine(10), RandomShift(3))``.
    """

    def __init__(self, degrees=0, translate: Sequence[float] | None = None, scale: Sequence[float] | None = None,
                 shear=None, interpolation: str = "bilinear", fill: float = 0.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.ranges = _AffineRanges(degrees, translate, scale, shear)
        self.degrees, self.translate, self.scale, self.shear = degrees, translate, scale, shear
        self.interpolation, self.fill, self.generator = interpolation, fill, generator

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = _check_images(images)
        dtype = x.dtype if x.dtype == torch.float64 else torch.float32
        params = self.ranges.draw(len(x), tuple(x.shape[-2:]), x.device, dtype, self.generator)
        return affine(x, **params, interpolation=self.interpolation, fill=self.fill)

    def extra_repr(self) -> str:
        parts = [f"degrees={self.degrees}"]
        for name in ("translate", "scale", "shear"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={getattr(self, name)}")
        if self.interpolation != "bilinear":
            parts.append(f"interpolation={self.interpolation!r}")
        if self.fill:
            parts.append(f"fill={self.fill}")
        return ", ".join(parts)
