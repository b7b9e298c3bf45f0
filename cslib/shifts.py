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
from cslib.train import evaluate, predict_proba


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


def shift_probabilities(model: nn.Module, image: torch.Tensor, shifts: Iterable[int] = range(-5, 6), *,
                        axis: str = "x", mode: str = "wrap") -> torch.Tensor:
    """Class probabilities of ``image`` shifted by each of ``shifts`` pixels: a (len(shifts), classes) tensor on the CPU.

    ``axis="x"`` shifts right (positive) and left (negative), ``axis="y"`` down and up. The model runs as in
    ``cslib.predict_proba``: in eval mode, without autograd, in the layout ``fit`` trains it in.
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    x = as_batch(image)
    if len(x) != 1:
        raise ValueError(f"shift_probabilities takes one image, got a batch of {len(x)}")
    shifts = [int(s) for s in shifts]
    batch = torch.cat([shift(x, s, 0, mode=mode) if axis == "x" else shift(x, 0, s, mode=mode) for s in shifts])
    return predict_proba(model, model_input(model, batch))


def shift_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, shifts: Iterable[int] = range(-5, 6), *,
                   axis: str = "x", mode: str = "wrap", batch_size: int | None = None) -> list[float]:
    """Accuracy of ``model`` on the images ``x`` (N, C, H, W floats) shifted by each of ``shifts`` pixels.

    Each shifted copy of the set is measured by ``cslib.evaluate`` (``batch_size`` as there).
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    x = as_batch(x)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    y = torch.as_tensor(y).long()
    accuracies = []
    for s in shifts:
        moved = shift(x, int(s), 0, mode=mode) if axis == "x" else shift(x, 0, int(s), mode=mode)
        accuracies.append(evaluate(model, model_input(model, moved), y, batch_size=batch_size)[1])
    return accuracies
