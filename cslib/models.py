"""The lectures' networks, exactly as the decks define them, for reuse in later lectures.

The notebooks write each network out the first time it appears; later notebooks, the labs'
checks and the benchmark take it from here.
"""
from __future__ import annotations

import copy
from typing import Sequence

from torch import nn


def mlp(hidden: int = 1000, batch_norm: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """Lectures 1-2: 784 -> ``hidden`` -> 10, optionally with batch norm and dropout (795,010 parameters as is)."""
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"hidden must be a whole number of units, at least 1, got {hidden!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout is the probability of dropping a unit, in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = [nn.Linear(28 * 28, hidden)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(hidden))
    layers.append(nn.ReLU())
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, 10))
    return nn.Sequential(*layers)


def cnn(in_channels: int = 1, size: int = 28) -> nn.Sequential:
    """Lecture 2's CNN for (1, 28, 28) inputs: two conv/pool/ReLU blocks and a 200-unit dense layer (716,706 parameters).

    ``in_channels`` and ``size`` give the same network for other square images (lab 2: colour images of 32×32)."""
    side = ((size - 2) // 2 - 2) // 2  # after each 3x3 convolution (no padding) and 2x2 pooling
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=3),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(64, 128, kernel_size=3),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(128 * side * side, 200),
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
    except RuntimeError as e:  # the size does not fit the first layer: say so in one line
        reason = " ".join(str(e).split())[:300]
        raise ValueError(f"summary could not run the model on one input of size {tuple(input_size)} "
                         f"(give input_size without the batch dimension, e.g. (1, 28, 28)): {reason}") from None
    finally:
        model.train(was_training)


# --------------------------------------------------------------------------- lecture 4
# Lecture 4 (convnet intuition and transfer learning): the deck's small digit convnet, the same
# network with batch norm in named blocks (the course's pretrained base, see cslib.transfer),
# LeNet-5 for the deck's parameter arithmetic, and the lab's "class test" network.
from collections import OrderedDict  # noqa: E402


def digit_convnet() -> nn.Sequential:
    """Lecture 4's small digit convnet (the deck's Keras model): 104,202 parameters for (1, 28, 28) inputs.

    Conv 32 -> pool -> Conv 64 -> pool -> Conv 128 -> Flatten -> Dense 10, all 3x3 'valid'
    convolutions with ReLU. It returns logits: Keras' softmax output layer is, in PyTorch,
    ``nn.CrossEntropyLoss`` applied to the logits.
    """
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3),  # 3*3*1*32 + 32 = 320
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3),  # 3*3*32*64 + 64 = 18,496
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, kernel_size=3),  # 3*3*64*128 + 128 = 73,856
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(128 * 3 * 3, 10),  # 1152*10 + 10 = 11,530
    )


def _conv_bn_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, kernel_size=3), nn.BatchNorm2d(c_out), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def small_convnet(n_classes: int = 10) -> nn.Sequential:
    """The digit convnet with batch norm, in named parts: the course's pretrained base (``cslib.transfer``).

    ``model.features`` holds three blocks (``block1``..``block3``: conv, batch norm, ReLU, and
    max-pooling in the first two), ``model.classifier`` the head (Flatten, Linear(1152, n_classes)),
    like torchvision's VGG. 104,650 parameters for 10 classes: the 104,202 of :func:`digit_convnet`
    plus 448 batch-norm scales and shifts.
    """
    if not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    features = nn.Sequential(OrderedDict(
        block1=_conv_bn_block(1, 32, pool=True),  # (32, 13, 13)
        block2=_conv_bn_block(32, 64, pool=True),  # (64, 5, 5)
        block3=_conv_bn_block(64, 128, pool=False),  # (128, 3, 3)
    ))
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(128 * 3 * 3, n_classes))
    return nn.Sequential(OrderedDict(features=features, classifier=classifier))


def lenet5() -> nn.Sequential:
    """LeNet-5 for (1, 32, 32) inputs, as in the deck's parameter arithmetic (61,706 parameters).

    conv 5x5 x6 (156) -> pool -> conv 5x5 x16 (2,416) -> pool -> flatten 400 -> 120 (48,120)
    -> 84 (10,164) -> 10 (850). ReLU and max-pooling, as in today's networks (LeNet used tanh-like
    units and sub-sampling; the parameter counts are the same).
    """
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # (6, 28, 28) -> (6, 14, 14)
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # (16, 10, 10) -> (16, 5, 5)
        nn.Flatten(),  # 5*5*16 = 400
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def class_test_cnn(size: int = 8) -> nn.Sequential:
    """The deck's "class test" network (lab 4's reference) for (1, size, size) gray inputs, 3 classes.

    conv 2x2 'valid' stride 2 (one filter) -> conv 2x2 'same' (two filters) -> max-pool 2x2 stride 2
    -> dense 10 -> dense 10 -> 3 logits; ReLU after every hidden layer. 248 parameters for 8x8 inputs.
    """
    if not isinstance(size, int) or size < 4:
        raise ValueError(f"size must be an integer of at least 4, got {size!r}")
    side = (size - 2) // 2 + 1  # after the stride-2 convolution
    side //= 2  # after the pooling; 'same' keeps the size
    return nn.Sequential(
        nn.Conv2d(1, 1, kernel_size=2, stride=2), nn.ReLU(),
        nn.Conv2d(1, 2, kernel_size=2, padding="same"), nn.ReLU(),
        nn.MaxPool2d(2, stride=2),
        nn.Flatten(),
        nn.Linear(2 * side * side, 10), nn.ReLU(),
        nn.Linear(10, 10), nn.ReLU(),
        nn.Linear(10, 3),
    )

# --------------------------------------------------------------------------- lecture 3: a deeper CNN, layer shapes
def cnn_deep(channels: tuple[int, int] = (16, 32), hidden: int = 256, dropout: float = 0.25) -> nn.Sequential:
    """Lecture 3: a deeper CNN in VGG's style, with batch norm (421,306 parameters as is).

    Two blocks of two 3x3 convolutions (padding 1, so they keep the size) with batch norm and ReLU,
    each block ending in a 2x2 max-pool (28 -> 14 -> 7), then a dense layer of ``hidden`` units with
    batch norm and dropout. ``channels`` are the numbers of filters of the two blocks. Deeper than
    lecture 2's CNN but with fewer parameters and half its arithmetic; trained with random shifts it is
    shift-invariant and more accurate than lecture 2's CNN without them (92 % after 5 epochs).
    """
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.MaxPool2d(2)]

    c1, c2 = channels
    return nn.Sequential(
        *block(1, c1),
        *block(c1, c2),
        nn.Flatten(),
        nn.Linear(c2 * 7 * 7, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, 10),
    )


def layer_output_shapes(layers: Sequence[nn.Module] | nn.Sequential, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The output shape of every layer in ``layers`` (without the batch dimension) for inputs of ``input_shape``.

    The reference for lab 3: a real forward pass, on PyTorch's "meta" device (shapes without numbers,
    so even VGG16 at 224x224 costs nothing). ``layers`` is a list of modules or an ``nn.Sequential``.
    """
    import torch

    x = torch.empty((2, *input_shape), device="meta")  # 2: batch norm in training mode needs more than one
    shapes = []
    with torch.no_grad():
        for layer in layers:
            x = copy.deepcopy(layer).to("meta")(x) if _has_real_tensors(layer) else layer(x)
            shapes.append(tuple(int(s) for s in x.shape[1:]))
    return shapes


def _has_real_tensors(layer: nn.Module) -> bool:
    return any(t.device.type != "meta" for t in [*layer.parameters(), *layer.buffers()])
