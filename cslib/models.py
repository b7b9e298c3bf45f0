"""The lectures' networks, exactly as the decks define them, for reuse in later lectures.

The notebooks write each network out the first time it appears; later notebooks, the labs'
checks and the benchmark take it from here.
"""
from __future__ import annotations

import copy

from torch import nn


def mlp(hidden: int = 1000, batch_norm: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """Lectures 1-2: 784 -> ``hidden`` -> 10, optionally with batch norm and dropout (795,010 parameters as is)."""
    layers: list[nn.Module] = [nn.Linear(28 * 28, hidden)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(hidden))
    layers.append(nn.ReLU())
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, 10))
    return nn.Sequential(*layers)


def cnn() -> nn.Sequential:
    """Lecture 2's CNN for (1, 28, 28) inputs: two conv/pool/ReLU blocks and a 200-unit dense layer (716,706 parameters)."""
    return nn.Sequential(
        nn.Conv2d(1, 64, kernel_size=3),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(64, 128, kernel_size=3),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(128 * 5 * 5, 200),
        nn.ReLU(),
        nn.Linear(200, 10),
    )


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (weights and biases) of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def summary(model: nn.Module, input_size: tuple[int, ...], batch_size: int = -1) -> None:
    """torchsummary's ``summary`` (as in the decks), without its side effects and on any device.

    It runs on the device the model lives on (a CPU copy for Apple's MPS, which torchsummary does
    not know) and in eval mode, so that its random test input does not move batch-norm statistics.
    """
    from torchsummary import summary as torchsummary_summary

    param = next(model.parameters(), None)
    device = param.device.type if param is not None else "cpu"
    if device not in ("cpu", "cuda"):
        model, device = copy.deepcopy(model).cpu(), "cpu"
    was_training = model.training
    model.eval()
    try:
        torchsummary_summary(model, input_size, batch_size=batch_size, device=device)
    finally:
        model.train(was_training)
