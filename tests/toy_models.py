"""Tiny stand-in models for tests of lecture 3's shift tools (no training needed)."""
import torch
from torch import nn


class ColumnReader(nn.Module):
    """Predicts class = column of the brightest pixel // 3: a shift of 3 px changes its answer."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        col = x.flatten(2).argmax(-1)[:, 0] % x.shape[-1]
        return nn.functional.one_hot(col // 3, 10).float() * 20 + self.dummy
