"""cslib's parameter counters against torchsummary (the decks' table): equal where torchsummary is right, and
right by hand where it is not (a shared layer, a bare nn.Parameter, a partly frozen layer, an LSTM).

The labs count trainable parameters with ``cslib.transfer.count_trainable`` (and ``cslib.models.count_parameters``);
the lectures keep torchsummary's table where the decks show it.
"""
from __future__ import annotations

import contextlib
import io
import re

import pytest
import torch
from torch import nn

from cslib import models, transfer


def torchsummary_counts(model: nn.Module, input_size: tuple[int, ...]) -> tuple[int, int]:
    """(total, trainable) as torchsummary's table prints them."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        models.summary(model, input_size)
    text = printed.getvalue()
    total = int(re.search(r"Total params: ([\d,]+)", text).group(1).replace(",", ""))
    trainable = int(re.search(r"Trainable params: ([\d,]+)", text).group(1).replace(",", ""))
    return total, trainable


def counts(model: nn.Module) -> tuple[int, int]:
    assert transfer.count_trainable(model) == models.count_parameters(model, trainable_only=True)
    return models.count_parameters(model), transfer.count_trainable(model)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("build, input_size, expected", [
    (models.cnn, (1, 28, 28), 716_706),
    (lambda: models.class_test_cnn(8), (1, 8, 8), 248),
])
def test_where_torchsummary_is_right_the_counts_agree(build, input_size, expected):
    model = build()
    assert counts(model) == torchsummary_counts(model, input_size) == (expected, expected)
    frozen = build()
    frozen[0].requires_grad_(False)  # a whole layer frozen: torchsummary gets this right
    first = sum(p.numel() for p in frozen[0].parameters())
    assert counts(frozen) == torchsummary_counts(frozen, input_size) == (expected, expected - first)


class Shared(nn.Module):
    """One linear layer applied twice (weight sharing): 10 * 10 + 10 = 110 parameters."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(10, 10)

    def forward(self, x):
        return self.layer(torch.relu(self.layer(x)))


class BareParameter(nn.Module):
    """A learned scale that is an nn.Parameter of the model itself, in no layer: 10 * 10 + 10 + 1 = 111."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(10, 10)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.scale * self.layer(x)


def test_a_shared_layer_counts_once():
    model = Shared()
    assert counts(model) == (110, 110)
    assert torchsummary_counts(model, (10,)) == (220, 220)  # torchsummary counts it at each call


def test_a_bare_parameter_counts():
    model = BareParameter()
    assert counts(model) == (111, 111)
    assert torchsummary_counts(model, (10,)) == (110, 110)  # torchsummary sees only layers' weight and bias


def test_a_partly_frozen_layer_counts_its_trainable_part():
    model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 3))
    model[0].weight.requires_grad_(False)  # the bias stays trainable (e.g. BitFit-style fine-tuning)
    assert counts(model) == (143, 10 + 33)
    assert torchsummary_counts(model, (10,)) == (143, 33)  # torchsummary files the whole layer under its weight


def test_an_lstm_is_counted_where_torchsummary_crashes():
    model = nn.Sequential(nn.LSTM(8, 16, batch_first=True))
    # by hand: 4 gates, each with input weights 16 x 8, hidden weights 16 x 16 and two biases of 16
    assert counts(model) == (4 * (16 * 8 + 16 * 16 + 16 + 16),) * 2 == (1_664, 1_664)
    with pytest.raises(AttributeError, match="'tuple' object has no attribute 'size'"):  # its hook reads the (h, c) tuple
        torchsummary_counts(model, (5, 8))
