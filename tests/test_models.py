"""The decks' networks have the decks' parameter counts and output shapes."""
import pytest
import torch
from torch import nn

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


# --------------------------------------------------------------------------- lecture 4
def test_digit_convnet_matches_the_decks_keras_summary():
    model = models.digit_convnet()
    assert models.count_parameters(model) == 104_202
    per_layer = [sum(p.numel() for p in m.parameters()) for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert per_layer == [320, 18_496, 73_856, 11_530]
    shapes, x = [], torch.zeros(2, 1, 28, 28)
    for layer in model:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert [s for s, m in zip(shapes, model) if not isinstance(m, nn.ReLU)] == [
        (32, 26, 26), (32, 13, 13), (64, 11, 11), (64, 5, 5), (128, 3, 3), (1152,), (10,)]


def test_small_convnet_is_the_digit_convnet_with_batchnorm_in_named_blocks():
    model = models.small_convnet()
    assert models.count_parameters(model) == 104_202 + 2 * (32 + 64 + 128)
    assert [name for name, _ in model.features.named_children()] == ["block1", "block2", "block3"]
    assert [type(m).__name__ for m in model.features.block3] == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert model.features(torch.zeros(2, 1, 28, 28)).shape == (2, 128, 3, 3)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10) and models.small_convnet(4)(torch.zeros(1, 1, 28, 28)).shape == (1, 4)


def test_lenet5_parameter_arithmetic():
    model = models.lenet5()
    per_layer = [sum(p.numel() for p in m.parameters()) for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert per_layer == [5 * 5 * 6 + 6, 5 * 5 * 6 * 16 + 16, 400 * 120 + 120, 120 * 84 + 84, 84 * 10 + 10]
    assert per_layer == [156, 2_416, 48_120, 10_164, 850] and models.count_parameters(model) == 61_706
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 10)


def test_class_test_cnn_shapes_and_counts():
    model = models.class_test_cnn()
    per_layer = [sum(p.numel() for p in m.parameters()) for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert per_layer == [5, 10, 90, 110, 33] and models.count_parameters(model) == 248
    x, shapes = torch.zeros(2, 1, 8, 8), []
    for layer in model:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes[0] == (1, 4, 4) and shapes[2] == (2, 4, 4) and shapes[4] == (2, 2, 2) and shapes[-1] == (3,)
    assert models.count_parameters(models.class_test_cnn(16)) == 248 - 90 + (2 * 4 * 4 + 1) * 10


@pytest.mark.parametrize("kwargs, message", [
    ({"hidden": 0}, "hidden must be a whole number of units, at least 1, got 0"),
    ({"hidden": 12.5}, "hidden must be a whole number of units"),
    ({"dropout": 1.5}, "dropout is the probability of dropping a unit, in [0, 1), got 1.5"),
])
def test_mlp_names_a_bad_argument(kwargs, message):
    with pytest.raises(ValueError) as info:
        models.mlp(**kwargs)
    assert message in str(info.value)


def test_summary_of_an_input_size_that_does_not_fit_is_one_line():
    with pytest.raises(ValueError, match=r"input of size \(3, 5\) \(give input_size without the batch dimension"):
        models.summary(models.small_convnet(), (3, 5))
