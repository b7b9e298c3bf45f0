"""cslib.shifts and lecture 3's models: predictions under np.roll shifts, the deep CNN, layer shapes."""
import numpy as np
import pytest
import torch
from torch import nn

from cslib import models
from cslib.shifts import as_batch, model_input, shift_accuracy, shift_probabilities
from toy_models import ColumnReader


def test_model_input_flattens_for_mlps_only():
    x = torch.zeros(2, 1, 28, 28)
    assert model_input(models.mlp(), x).shape == (2, 784)
    assert model_input(models.cnn(), x).shape == (2, 1, 28, 28)
    assert as_batch(torch.full((28, 28), 255, dtype=torch.uint8)).max() == 1.0
    with pytest.raises(ValueError, match="expected an image"):
        as_batch(torch.zeros(1, 1, 1, 2, 2))


def test_shift_probabilities_follow_np_roll():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[10, 12] = 255
    probs = shift_probabilities(ColumnReader(), torch.from_numpy(image), range(-5, 6))
    assert probs.shape == (11, 10) and torch.allclose(probs.sum(1), torch.ones(11))
    for row, px in zip(probs, range(-5, 6)):
        col = int(np.argmax(np.roll(image, px, axis=1).max(0)))  # the slides' np.roll(img, px, axis=1)
        assert int(row.argmax()) == col // 3
    down = shift_probabilities(ColumnReader(), torch.from_numpy(image), [3], axis="y")
    assert int(down.argmax()) == 12 // 3  # vertical shifts leave the column alone
    with pytest.raises(ValueError, match="one image"):
        shift_probabilities(ColumnReader(), torch.zeros(2, 1, 28, 28))


def test_shift_accuracy_of_a_shift_sensitive_model():
    x = torch.zeros(30, 1, 28, 28)
    y = torch.arange(30) % 9
    x[torch.arange(30), 0, 5, y * 3 + 1] = 1  # the pixel sits in the middle of its class's 3 columns
    accs = shift_accuracy(ColumnReader(), x, y, [-2, -1, 0, 1, 2], batch_size=7)
    assert accs == [0.0, 1.0, 1.0, 1.0, 0.0]
    model = models.mlp()
    model.train()
    shift_accuracy(model, x, y, [0])
    assert model.training  # the mode is given back


def test_deep_cnn_shapes_and_parameters():
    model = models.cnn_deep()
    assert models.count_parameters(model) == 421_306
    shapes = models.layer_output_shapes(model, (1, 28, 28))
    assert shapes[6] == (16, 14, 14) and shapes[13] == (32, 7, 7) and shapes[14] == (1568,) and shapes[-1] == (10,)
    assert models.count_parameters(models.cnn_deep((32, 64))) == 871_530
    assert model.eval()(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_layer_output_shapes_agree_with_a_real_forward_pass():
    layers = [nn.Conv2d(3, 8, 5, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
              nn.Conv2d(8, 4, (3, 1)), nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(), nn.Dropout(0.5), nn.Linear(24, 7)]
    x, real = torch.zeros(1, 3, 37, 29), []
    for layer in layers:
        x = layer(x)
        real.append(tuple(x.shape[1:]))
    assert models.layer_output_shapes(layers, (3, 37, 29)) == real
    assert all(p.device.type == "cpu" for p in layers[0].parameters())  # the caller's layers are untouched


def test_vgg16_output_shapes_and_counts():
    from torchvision.models import vgg13, vgg16, vgg19

    with torch.device("meta"):  # shapes only: no memory, no time
        nets = {"vgg13": vgg13(), "vgg16": vgg16(), "vgg19": vgg19()}
    counts = {name: models.count_parameters(net) for name, net in nets.items()}
    assert counts == {"vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240}
    v = nets["vgg16"]
    shapes = models.layer_output_shapes([*v.features, v.avgpool, nn.Flatten(), *v.classifier], (3, 224, 224))
    assert shapes[0] == (64, 224, 224) and shapes[4] == (64, 112, 112) and shapes[30] == (512, 7, 7)
    assert shapes[31] == (512, 7, 7) and shapes[32] == (25088,) and shapes[-1] == (1000,)


def test_shift_accuracy_with_a_number_for_shifts_says_what_to_give():
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    with pytest.raises(TypeError, match=r"range\(-5, 6\), not the number 5"):
        shift_accuracy(model, torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), shifts=5)
