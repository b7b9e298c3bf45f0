"""The decks' networks have the decks' parameter counts and output shapes."""
import torch

from cslib import models


def test_mlp_matches_the_decks():
    assert models.count_parameters(models.mlp()) == 795_010  # 785,000 + 10,010
    assert models.count_parameters(models.mlp(batch_norm=True)) == 795_010 + 2_000
    layers = [type(m).__name__ for m in models.mlp(batch_norm=True, dropout=0.25)]
    assert layers == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert models.mlp()(torch.zeros(3, 784)).shape == (3, 10)


def test_cnn_matches_the_decks_summary():
    model = models.cnn()
    assert models.count_parameters(model) == 716_706
    assert [p.numel() for p in model.parameters()] == [576, 64, 73_728, 128, 640_000, 200, 2_000, 10]
    shapes, x = [], torch.zeros(2, 1, 28, 28)
    for layer in model:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(64, 26, 26), (64, 13, 13), (64, 13, 13), (128, 11, 11), (128, 5, 5), (128, 5, 5),
                      (3200,), (200,), (200,), (10,)]
    model[0].weight.requires_grad_(False)
    assert models.count_parameters(model, trainable_only=True) == 716_706 - 576
