"""Lab 4's checks: right answers pass, typical mistakes fail with a message that names the mistake."""
import numpy as np
import pytest
from torch import nn

from cslib import transfer
from cslib.checks import lab04 as check
from cslib.checks import report


def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- class test network
def class_test_net():
    return nn.Sequential(
        nn.Conv2d(1, 1, 2, stride=2), nn.ReLU(),
        nn.Conv2d(1, 2, 2, padding="same"), nn.ReLU(),
        nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(8, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 3),
    )


def test_class_test_net_passes_and_pool_before_relu_is_fine_too():
    assert report(check.class_test_net, class_test_net, rng()).startswith("✓")

    def pool_first():
        return nn.Sequential(nn.Conv2d(1, 1, 2, stride=2), nn.ReLU(), nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(1, 2, 2),
                             nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 10), nn.ReLU(),
                             nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 3))

    assert report(check.class_test_net, pool_first, rng()).startswith("✓")


@pytest.mark.parametrize("change, message", [
    (lambda layers: layers.__setitem__(2, nn.Conv2d(1, 2, 2, padding=1)), "2nd convolution: wrong output shape"),
    (lambda layers: layers.__setitem__(0, nn.Conv2d(1, 1, 2)), "1st convolution: wrong stride"),
    (lambda layers: layers.__setitem__(7, nn.Identity()), "no nn.ReLU() after the 1st dense layer"),
    (lambda layers: layers.append(nn.Softmax(dim=1)), "its last layer is Softmax"),
    (lambda layers: layers.__setitem__(10, nn.Linear(10, 4)), "output layer: wrong output shape"),
])
def test_class_test_net_names_the_mistake(change, message):
    def wrong():
        layers = list(class_test_net())
        change(layers)
        return nn.Sequential(*layers)

    text = report(check.class_test_net, wrong, rng())
    assert text.startswith("✗") and message in text, text


# --------------------------------------------------------------------------- parameters by hand
def params_by_hand(size=8):
    side = ((size - 2) // 2 + 1) // 2
    return {"conv1": 2 * 2 * 1 * 1 + 1, "conv2": (2 * 2 * 1 + 1) * 2, "pool": 0,
            "dense1": (2 * side * side + 1) * 10, "dense2": (10 + 1) * 10, "output": (10 + 1) * 3}


def test_params_by_hand_passes_as_dict_and_list():
    assert check.reference_params(8) == {"conv1": 5, "conv2": 10, "pool": 0, "dense1": 90, "dense2": 110, "output": 33}
    assert report(check.params_by_hand, params_by_hand, rng()).startswith("✓")
    assert report(check.params_by_hand, lambda size=8: list(params_by_hand(size).values()), rng()).startswith("✓")


def test_params_by_hand_names_the_wrong_layer():
    text = report(check.params_by_hand, lambda size=8: {**params_by_hand(size), "conv2": 8}, rng())
    assert "conv2: you counted 8, PyTorch counts 10" in text
    text = report(check.params_by_hand, lambda size=8: {**params_by_hand(8)}, rng())  # ignores the input size
    assert text.startswith("✗") and "dense1: you counted 90" in text and "random case" in text


# --------------------------------------------------------------------------- feature extraction, fine-tuning
def feature_extractor(base, n_classes):
    for p in base.parameters():
        p.requires_grad = False
    for m in base.modules():
        if isinstance(m, nn.BatchNorm2d):
            transfer.freeze_batchnorm(m)
    base.classifier[-1] = nn.Linear(base.classifier[-1].in_features, n_classes)
    return base


def fine_tune_setup(model):
    for p in model.features.block3.parameters():
        p.requires_grad = True
    transfer.freeze_batchnorm(model.features.block3)
    return model


def test_transfer_answers_pass():
    assert report(check.feature_extractor, feature_extractor, rng()).startswith("✓")
    assert report(check.fine_tune_setup, fine_tune_setup, rng()).startswith("✓")
    rebuilt = lambda base, n: nn.Sequential(transfer.freeze(base).features, nn.Flatten(), nn.Linear(1152, n))  # noqa: E731
    assert report(check.feature_extractor, rebuilt, rng()).startswith("✓")


def test_feature_extractor_mistakes():
    def no_bn_hook(base, n_classes):  # requires_grad only, BN set to eval once: model.train() undoes it
        base.requires_grad_(False)
        base.eval()
        base.classifier[-1] = nn.Linear(1152, n_classes)
        return base

    assert "running statistics changed" in report(check.feature_extractor, no_bn_hook, rng())

    def not_frozen(base, n_classes):
        base.classifier[-1] = nn.Linear(1152, n_classes)
        return base

    assert "should stay frozen (requires_grad False), it is trainable" in report(check.feature_extractor, not_frozen, rng())
    assert "output shape" in report(check.feature_extractor, lambda base, n: transfer.freeze(base), rng())


def test_fine_tune_setup_mistakes():
    def bn_unfrozen(model):
        model.features.block3.requires_grad_(True)
        return model

    text = report(check.fine_tune_setup, bn_unfrozen, rng())
    assert "features.block3.1.weight (a batch-norm layer) should stay frozen" in text

    def too_much(model):
        transfer.unfreeze(model.features)
        return model

    assert "features.block1.0.weight (a convolution of the top block) should" not in report(check.fine_tune_setup, too_much, rng())
    assert "features.block1.0.weight (a convolution) should stay frozen" in report(check.fine_tune_setup, too_much, rng())
    assert "should be trainable" in report(check.fine_tune_setup, lambda model: model, rng())


def test_transfer_results():
    expected = check.expected_trainable(10)
    assert expected == {"feature extraction": 11_530, "fine-tuning": 11_530 + 73_856}
    good = {"feature extraction": {"test_acc": 0.8, "trainable": 11_530, "seconds": 3.0},
            "fine-tuning": {"test_acc": 0.85, "trainable": 85_386, "seconds": 4.0}}
    assert report(check.transfer_results, good).startswith("✓")
    wrong = {**good, "fine-tuning": {**good["fine-tuning"], "trainable": 85_642}}
    assert "that setup trains 85,386" in report(check.transfer_results, wrong)
    assert "was it trained" in report(check.transfer_results, {**good, "feature extraction": {**good["feature extraction"], "test_acc": 0.1}})


def test_drivers_are_self_contained():
    """The grader sends a driver's source into the student's kernel: no module globals may be used."""
    def names(code):
        found = set(code.co_names)
        for const in code.co_consts:
            if hasattr(const, "co_names"):
                found |= names(const)
        return found

    module_globals = {k for k in vars(check) if not k.startswith("__")}
    for driver in (check.drive_class_test_net, check.drive_transfer):
        assert not names(driver.__code__) & module_globals, driver.__name__
