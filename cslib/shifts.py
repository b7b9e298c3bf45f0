"""How a model's predictions change when its input images are shifted (lecture 3).

- :func:`shift_probabilities`: class probabilities of ONE image shifted by each of several
  pixel amounts (the slides' ``np.roll`` loop; rows = shifts, columns = classes);
- :func:`shift_accuracy`: accuracy on a whole test set shifted by each amount;
- :func:`model_input`: the input shape a model wants (an MLP wants flat rows, a CNN images).

Shifts use ``cslib.augment.shift``: ``mode="wrap"`` is exactly ``np.roll`` as in the slides.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from cslib.augment import shift


def _first_layer(model: nn.Module) -> nn.Module | None:
    for module in model.modules():
        if len(list(module.children())) == 0:
            return module
    return None


def model_input(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``images`` (N, C, H, W) as ``model`` wants them: flat (N, C*H*W) if its first layer is ``nn.Linear``."""
    return images.flatten(1) if isinstance(_first_layer(model), nn.Linear) else images


def as_batch(images: torch.Tensor) -> torch.Tensor:
    """One image or a batch, (H, W), (C, H, W), (N, C, H, W) or uint8 0-255, as floats (N, C, H, W) in [0, 1]."""
    if not torch.is_tensor(images):
        images = torch.as_tensor(images)
    if images.ndim == 2:
        images = images[None, None]
    elif images.ndim == 3:
        images = images[None]
    elif images.ndim != 4:
        raise ValueError(f"expected an image (H, W) or (C, H, W), or a batch (N, C, H, W); got shape {tuple(images.shape)}")
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def shift_probabilities(model: nn.Module, image: torch.Tensor, shifts: Iterable[int] = range(-5, 6), *,
                        axis: str = "x", mode: str = "wrap") -> torch.Tensor:
    """Class probabilities of ``image`` shifted by each of ``shifts`` pixels: a (len(shifts), classes) tensor on the CPU.

    ``axis="x"`` shifts right (positive) and left (negative), ``axis="y"`` down and up. The model runs in eval mode.
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    x = as_batch(image)
    if len(x) != 1:
        raise ValueError(f"shift_probabilities takes one image, got a batch of {len(x)}")
    shifts = [int(s) for s in shifts]
    batch = torch.cat([shift(x, s, 0, mode=mode) if axis == "x" else shift(x, 0, s, mode=mode) for s in shifts])
    was_training = model.training
    model.eval()
    try:
        out = model(model_input(model, batch).to(_device(model)))
    finally:
        model.train(was_training)
    return torch.softmax(out, dim=1).cpu()


@torch.no_grad()
def shift_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, shifts: Iterable[int] = range(-5, 6), *,
                   axis: str = "x", mode: str = "wrap", batch_size: int = 1000) -> list[float]:
    """Accuracy of ``model`` on the images ``x`` (N, C, H, W floats) shifted by each of ``shifts`` pixels."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    x = as_batch(x)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    device = _device(model)
    was_training = model.training
    model.eval()
    accuracies = []
    try:
        for s in shifts:
            correct = torch.zeros((), dtype=torch.long, device=device)
            for i in range(0, len(x), batch_size):
                xb = x[i:i + batch_size].to(device)
                xb = shift(xb, int(s), 0, mode=mode) if axis == "x" else shift(xb, 0, int(s), mode=mode)
                correct += (model(model_input(model, xb)).argmax(1) == y[i:i + batch_size].to(device)).sum()
            accuracies.append(correct.item() / len(x))
    finally:
        model.train(was_training)
    return accuracies
