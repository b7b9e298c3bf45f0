"""Lab 4's checks: the model solution passes every case for many seeds; known-wrong answers fail with a
message that names the mistake; right answers written another way pass; params_by_hand never shows PyTorch's counts."""
import copy
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from check_properties import index, model_solution_failures, seeds_for, verdict
import cslib
from cslib import transfer
from cslib.checks import lab04 as check
from cslib.checks import MEASURE_TOLERANCE, report
from cslib.models import class_test_cnn
from model_solutions import answers

SOLUTION = answers("lab04")
COSTLY = {"feature_extractor", "fine_tune_setup"}  # each case trains a small convnet for three steps


# --------------------------------------------------------------------------- the model solution passes, whatever the seed
@pytest.mark.parametrize("question", [q for q in check.QUESTIONS if q.answer in SOLUTION], ids=lambda q: q.answer)
def test_model_solution_passes_every_case_for_many_seeds(question):
    seeds = seeds_for(question.answer in COSTLY)
    failures = model_solution_failures(check.QUESTIONS, question, SOLUTION[question.answer], seeds)
    assert not failures, f"{len(failures)} failure(s) over {len(seeds)} seeds:\n" + "\n".join(failures[:5])


def test_transfer_results_has_no_random_cases_and_the_solution_notebook_checks_it():
    """`transfer_results` holds trainings on the notebook's digits: nbval re-runs the solution, whose stored check says ✓."""
    assert check.transfer_results.random is None and "transfer_results" not in SOLUTION


# --------------------------------------------------------------------------- class test network
class_test_net, params_by_hand = SOLUTION["class_test_net"], SOLUTION["params_by_hand"]
feature_extractor, fine_tune_setup = SOLUTION["feature_extractor"], SOLUTION["fine_tune_setup"]


def pool_first():
    """The ReLU after the max pooling (they commute), and 'same' padding as an explicit nn.ZeroPad2d."""
    return nn.Sequential(nn.Conv2d(1, 1, 2, stride=2), nn.ReLU(), nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(1, 2, 2),
                         nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 10), nn.ReLU(),
                         nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 3))


def named_layers():
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 1, kernel_size=(2, 2), stride=(2, 2), padding="valid"), relu1=nn.ReLU(),  # the slide's words
        conv2=nn.Conv2d(1, 2, kernel_size=(2, 2), stride=1, padding="same"), relu2=nn.ReLU(),
        pool=nn.MaxPool2d(2), flatten=nn.Flatten(start_dim=1),
        dense1=nn.Linear(2 * 2 * 2, 10), relu3=nn.ReLU(), dense2=nn.Linear(10, 10), relu4=nn.ReLU(), output=nn.Linear(10, 3)))


def features_and_classifier():
    """Two nn.Sequential parts, as torchvision's networks (nested Sequentials are one Sequential)."""
    features = nn.Sequential(nn.Conv2d(1, 1, 2, stride=2, padding=0), nn.ReLU(inplace=True),
                             nn.Conv2d(1, 2, 2, padding="same"), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2))
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(8, 10), nn.ReLU(inplace=True), nn.Linear(10, 10), nn.ReLU(inplace=True),
                               nn.Linear(10, 3))
    return nn.Sequential(features, classifier)


def appended_in_a_loop():
    """The dense layers appended in a loop over their sizes."""
    model = nn.Sequential(nn.Conv2d(1, 1, 2, 2), nn.ReLU(), nn.Conv2d(1, 2, 2, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten())
    sizes = [8, 10, 10, 3]
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        model.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            model.append(nn.ReLU())
    return model


CLASS_TEST_RIGHT = [(pool_first, "pool-before-relu"), (named_layers, "ordered-dict"),
                    (features_and_classifier, "features-and-classifier"), (appended_in_a_loop, "appended-in-a-loop")]


@pytest.mark.parametrize("answer", [answer for answer, _ in CLASS_TEST_RIGHT], ids=[name for _, name in CLASS_TEST_RIGHT])
def test_class_test_nets_built_another_way_pass(answer):
    text = verdict(check.class_test_net, answer)
    assert text.startswith("✓"), text


class AsAClass(nn.Module):
    """The right layers, written as a class where the question asks for one nn.Sequential."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def changed(change):
    def wrong():
        layers = list(class_test_net())
        change(layers)
        return nn.Sequential(*layers)
    return wrong


CLASS_TEST_WRONG = [
    (changed(lambda layers: layers.__setitem__(2, nn.Conv2d(1, 2, 2, padding=1))), "2nd convolution: its output is 2×5×5"),
    (changed(lambda layers: layers.__setitem__(2, nn.Conv2d(1, 2, 2))), "2nd convolution: its output is 2×3×3"),  # 'valid'
    (changed(lambda layers: layers.__setitem__(0, nn.Conv2d(1, 1, 2))), "1st convolution: stride 1×1 is wrong"),
    (changed(lambda layers: layers.__setitem__(0, nn.Conv2d(1, 1, 3, stride=2))), "1st convolution: kernel size 3×3 is wrong"),
    (changed(lambda layers: layers.__setitem__(2, nn.Conv2d(1, 1, 2, padding="same"))), "2nd convolution: it makes 1 channels"),
    (changed(lambda layers: layers.__setitem__(7, nn.Identity())), "no nn.ReLU() after the 1st dense layer"),
    (changed(lambda layers: layers.append(nn.Softmax(dim=1))), "its last layer is Softmax"),
    (changed(lambda layers: layers.__setitem__(10, nn.Linear(10, 4))), "output layer: it makes 4 units"),
    (changed(lambda layers: layers.__setitem__(6, nn.Linear(9, 10))), "does not go through the network"),  # off by one
    (changed(lambda layers: layers.__setitem__(8, nn.Linear(10, 10, bias=False))), "2nd dense layer has 100 parameters"),
    (lambda: list(class_test_net()), "should return a torch model (nn.Sequential), got list"),
    (lambda: AsAClass(class_test_net()), "the network is a AsAClass class with its own forward()"),
    (class_test_cnn, "cslib's own cslib.models.class_test_cnn"),
]


@pytest.mark.parametrize("answer, message", CLASS_TEST_WRONG, ids=[f"class_test_net-{i}" for i in range(len(CLASS_TEST_WRONG))])
def test_class_test_net_names_the_mistake_without_the_parameter_counts(answer, message):
    text = verdict(check.class_test_net, answer)
    assert text.startswith("✗") and message in text, text
    for count in (5, 10, 90, 110, 33, 248):  # question 2 asks for these: the feedback must not give them
        assert f" {count} parameters" not in text, text


# --------------------------------------------------------------------------- parameters by hand
def counted_with_helpers(size=8):
    """A helper per kind of layer, and the sides worked out in a loop."""
    def conv(k, c_in, filters):
        return (k * k * c_in + 1) * filters

    def dense(n_in, units):
        return (n_in + 1) * units

    side = size
    for kernel, stride in ((2, 2), (1, 1), (2, 2)):  # conv1 ('valid'), conv2 ('same' keeps the side), the pooling
        side = side if (kernel, stride) == (1, 1) else (side - kernel) // stride + 1
    return {"conv1": conv(2, 1, 1), "conv2": conv(2, 1, 2), "pool": 0, "dense1": dense(2 * side * side, 10),
            "dense2": dense(10, 10), "output": dense(10, 3)}


PARAMS_RIGHT = [
    (lambda size=8: list(params_by_hand(size).values()), "list"),
    (lambda size=8: {k: float(v) for k, v in params_by_hand(size).items()}, "whole-floats"),
    (lambda size=8: {k: torch.tensor(v) for k, v in params_by_hand(size).items()}, "0-d-tensors"),
    (lambda size=8: tuple(params_by_hand(size).values()), "tuple"),
    (lambda size=8: {k: np.int64(v) for k, v in params_by_hand(size).items()}, "numpy-ints"),
    (counted_with_helpers, "helpers"),
    (lambda size=8: {**params_by_hand(size), "total": sum(params_by_hand(size).values())}, "with-a-total"),  # a key more
]


def test_params_by_hand_counts_what_pytorch_counts():
    assert check.reference_params(8) == {"conv1": 5, "conv2": 10, "pool": 0, "dense1": 90, "dense2": 110, "output": 33}


@pytest.mark.parametrize("answer", [answer for answer, _ in PARAMS_RIGHT], ids=[name for _, name in PARAMS_RIGHT])
def test_params_by_hand_passes_as_dict_list_and_other_number_types(answer):
    text = verdict(check.params_by_hand, answer)
    assert text.startswith("✓"), text


def true_division(size=8):
    counts = params_by_hand(size)
    side = ((size - 2) / 2 + 1) / 2  # / instead of //
    return {**counts, "dense1": 2 * side * side * 10 + 10}


PARAMS_WRONG = [
    (lambda size=8: {**params_by_hand(size), "conv2": 8}, "conv2: you counted 8, which is not what PyTorch counts", "10"),
    (lambda size=8: {**params_by_hand(size), "conv2": 2 * 2 * 1 * 2}, "+ 1 bias", "10"),  # biases forgotten
    (lambda size=8: params_by_hand(8), "dense1: you counted 90", None),  # ignores the input size: the random cases catch it
    (lambda size=8: {**params_by_hand(size), "output": 10 * 3 + 1}, "output: you counted 31", "33"),  # off by one
    (lambda size=8: {**params_by_hand(size), "pool": 4}, "pooling takes a maximum: it learns nothing", None),
    (true_division, "the pooling round down", None),  # whole for 8x8, not for 10x10 (a random case)
    (lambda size=8: {**params_by_hand(size), "dense2": "110"}, "dense2 should be a whole number, got the string", None),
    (lambda size=8: list(params_by_hand(size).values())[:5], "a list needs 6 counts", None),
    (lambda size=8: {k: v for k, v in params_by_hand(size).items() if k != "pool"}, "missing layer(s): pool", None),
    (lambda size=8: sum(params_by_hand(size).values()), "should return a dict", None),
]


@pytest.mark.parametrize("answer, message, secret", PARAMS_WRONG, ids=[f"params_by_hand-{i}" for i in range(len(PARAMS_WRONG))])
def test_params_by_hand_names_the_wrong_layer_but_not_pytorchs_count(answer, message, secret):
    assert not check.params_by_hand.reveals
    text = verdict(check.params_by_hand, answer)
    assert text.startswith("✗") and message in text, text
    if secret:
        assert f" {secret}" not in text.split("Hint:")[0].replace(f"you counted {secret}", ""), text


@pytest.mark.parametrize("answer", [
    pytest.param(lambda size=8: check.reference_params(size), id="reference_params"),
    pytest.param(lambda: class_test_cnn(8), id="class_test_cnn"),
])
def test_a_wrapped_course_function_is_not_an_answer(answer):
    question = check.class_test_net if answer.__code__.co_argcount == 0 else check.params_by_hand
    text = verdict(question, answer)
    assert text.startswith("✗") and "cslib" in text, text


# --------------------------------------------------------------------------- feature extraction, fine-tuning
def rebuilt(base, n_classes):  # a new Sequential around the base's own (frozen) features: fine
    base.requires_grad_(False)
    for m in base.modules():
        if isinstance(m, nn.BatchNorm2d):
            transfer.freeze_batchnorm(m)
    return nn.Sequential(base.features, nn.Flatten(), nn.Linear(1152, n_classes))


def frozen_in_one_call(base, n_classes):  # freeze_batchnorm finds the batch-norm layers itself
    base.requires_grad_(False)
    transfer.freeze_batchnorm(base)
    base.classifier[1] = nn.Linear(1152, n_classes)
    return base


def head_first_then_unfrozen(base, n_classes):  # the head put in first, frozen with the rest, then made trainable again
    base.classifier[-1] = nn.Linear(base.classifier[-1].in_features, n_classes)
    for p in base.parameters():
        p.requires_grad = False
    transfer.freeze_batchnorm(base)
    base.classifier[-1].requires_grad_(True)
    return base


def new_classifier(base, n_classes):  # the whole classifier replaced: a new Flatten and the new Linear
    for name, p in base.named_parameters():
        p.requires_grad = False
    for m in base.modules():
        if isinstance(m, nn.BatchNorm2d):
            transfer.freeze_batchnorm(m)
    base.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128 * 3 * 3, n_classes))
    return base


def module_by_module(model):  # block3 unfrozen, then each of its batch-norm layers frozen again (unfreeze_all below)
    unfreeze_all(model.features.block3)
    return model


def then_train_mode(model):  # model.train() at the end: freeze_batchnorm's layers stay frozen in training
    return module_by_module(model).train()


def by_parameter_names(model):  # the names say where each parameter is: block3's convolution is block3.0
    for name, p in model.named_parameters():
        if name.startswith("features.block3.0."):
            p.requires_grad = True
    transfer.freeze_batchnorm(model.features.block3[1])
    return model


def unfrozen_then_batchnorm_refrozen(model):  # freeze_batchnorm also takes the requires_grad back from batch norm
    transfer.freeze_batchnorm(model.features.block3.requires_grad_(True))
    return model


TRANSFER_RIGHT = [
    (check.feature_extractor, rebuilt, "rebuilt"),
    (check.feature_extractor, frozen_in_one_call, "frozen-in-one-call"),
    (check.feature_extractor, head_first_then_unfrozen, "head-first-then-unfrozen"),
    (check.feature_extractor, new_classifier, "new-classifier"),
    (check.fine_tune_setup, module_by_module, "module-by-module"),
    (check.fine_tune_setup, then_train_mode, "then-train-mode"),
    (check.fine_tune_setup, by_parameter_names, "by-parameter-names"),
    (check.fine_tune_setup, unfrozen_then_batchnorm_refrozen, "unfrozen-then-batchnorm-refrozen"),
]


@pytest.mark.parametrize("question, answer", [pytest.param(q, a, id=f"{q.answer}-{name}") for q, a, name in TRANSFER_RIGHT])
def test_transfer_answers_written_other_ways_pass(question, answer):
    text = verdict(question, answer)
    assert text.startswith(f"✓ {question.title}"), text


def test_a_setup_that_returns_nothing_is_named():
    def returns_nothing(model):  # the question says: return the model
        module_by_module(model)

    text = verdict(check.fine_tune_setup, returns_nothing)
    assert text.startswith("✗") and "the function returned None: end it with `return model`" in text, text


def freeze_all(module):  # plain PyTorch (and the allowed freeze_batchnorm): no course function that a check rejects
    module.requires_grad_(False)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            transfer.freeze_batchnorm(m)
    return module


def unfreeze_all(module):  # its batch-norm layers stay frozen
    module.requires_grad_(True)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.requires_grad_(False)
            transfer.freeze_batchnorm(m)
    return module


def no_bn_hook(base, n_classes):  # requires_grad only, BN set to eval once: model.train() undoes it
    base.requires_grad_(False)
    base.eval()
    base.classifier[-1] = nn.Linear(1152, n_classes)
    return base


def not_frozen(base, n_classes):
    base.classifier[-1] = nn.Linear(1152, n_classes)
    return base


def head_frozen_too(base, n_classes):  # replaces the head first, then freezes everything
    base.classifier[-1] = nn.Linear(1152, n_classes)
    return freeze_all(base)


def head_added(base, n_classes):  # keeps the old 10-class layer and adds one after it
    freeze_all(base)
    base.classifier.append(nn.Linear(10, n_classes))
    return base


def head_on_another_device(base, n_classes):  # the new layer on another device than the base (the meta device here)
    model = feature_extractor(base, n_classes)
    model.classifier[-1] = nn.Linear(1152, n_classes, device="meta")
    return model


def bn_unfrozen(model):
    model.features.block3.requires_grad_(True)
    return model


def too_much(model):
    unfreeze_all(model.features)
    return model


def wrong_block(model):
    unfreeze_all(model.features.block2)
    return model


def head_frozen_in_fine_tuning(model):  # freezes everything, then unfreezes block3: the head is frozen now
    freeze_all(model)
    for p in model.features.block3.parameters():
        p.requires_grad = True
    transfer.freeze_batchnorm(model.features.block3)
    return model


TRANSFER_WRONG = [
    (check.feature_extractor, no_bn_hook, "running statistics changed"),
    (check.feature_extractor, not_frozen, "should stay frozen (requires_grad False), it is trainable"),
    (check.feature_extractor, lambda base, n: freeze_all(base), "output shape"),
    (check.feature_extractor, head_frozen_too, "the new head is frozen"),  # was told "use one nn.Linear(1152, ...)"
    (check.feature_extractor, head_added, "replace the old last layer of the classifier"),
    (check.feature_extractor, head_on_another_device, "on different devices"),
    (check.feature_extractor, lambda base, n: copy.deepcopy(feature_extractor(base, n)), "does not contain the base's"),
    (check.feature_extractor, lambda base, n: None, "the function returned None: end it with `return model`"),
    (check.fine_tune_setup, bn_unfrozen, "features.block3.1.weight (a batch-norm layer) should stay frozen"),
    (check.fine_tune_setup, too_much, "features.block1.0.weight (a convolution) should stay frozen"),
    (check.fine_tune_setup, wrong_block, "features.block2.0.weight (a convolution) should stay frozen"),
    (check.fine_tune_setup, lambda model: model, "should be trainable"),
    (check.fine_tune_setup, head_frozen_in_fine_tuning, "the new head is frozen"),
]


@pytest.mark.parametrize("question, answer, message", TRANSFER_WRONG, ids=[f"{q.answer}-{i}" for i, (q, _, _) in enumerate(TRANSFER_WRONG)])
def test_transfer_mistakes_are_named(question, answer, message):
    text = verdict(question, answer)
    assert text.startswith(f"✗ {question.title}") and message in text, text
    assert "one nn.Linear(1152" not in text  # the old hint that sent a frozen head the wrong way


@pytest.mark.parametrize("question, answer", [
    pytest.param(check.feature_extractor, lambda base, n: transfer.replace_head(transfer.freeze(base), n), id="feature_extractor"),
    pytest.param(check.fine_tune_setup, lambda model: (transfer.unfreeze(model.features.block3), model)[1], id="fine_tune_setup"),
])
def test_a_wrapped_course_function_is_not_an_answer_for_transfer(question, answer):
    text = verdict(question, answer)
    assert text.startswith("✗") and "cslib" in text, text


# --------------------------------------------------------------------------- transfer_results
def _trained_runs():
    """Models like the exercise's (the pretrained base with a new head trained a little on digits; the same, set up for
    fine-tuning) and the test set the judge measures them on, which it loads itself (fast mode: the bundled MNIST
    sample). Each seed's head leans towards class 0 a little more, so that the three seeds score differently."""
    from cslib.data import load, prepare

    test, train = (load("mnist", train=t, download=False, verbose=False) for t in (False, True))
    x_test, y_test = prepare(test.data), test.targets
    cslib.set_seed(0)
    first = check._reference_feature_extractor(transfer.load_pretrained_base(), 10)
    cslib.fit(first, (prepare(train.data[:1000]), train.targets[:1000]), epochs=2, lr=1e-2, progress=False)
    first.eval()
    with torch.no_grad():
        logits = first(x_test)
    margins = (logits.max(1).values - logits[:, 0])[logits.argmax(1) != 0]  # how far class 0 is from winning, where it does not
    models = {"feature extraction": [], "fine-tuning": []}
    for seed in range(3):
        extractor = copy.deepcopy(first)
        head = [m for m in extractor.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():  # seed 1 loses about 5 % of the digits to class 0, seed 2 about 10 %
            head.bias[0] += torch.quantile(margins, 0.05 * seed) + 1e-6 if seed else 0.0
        models["feature extraction"].append(extractor)
        tuned = check._reference_fine_tune_setup(copy.deepcopy(extractor))
        with torch.no_grad():  # fine-tuning changes block3's weights a little (not its batch-norm statistics)
            for parameter in tuned.features.block3.parameters():
                parameter += 1e-4 * torch.randn_like(parameter)
        models["fine-tuning"].append(tuned)
    return models, x_test, y_test


MODELS, X_TEST, Y_TEST = _trained_runs()


def accuracy(model) -> float:
    with torch.no_grad():
        return (model.eval()(X_TEST).argmax(1) == Y_TEST).float().mean().item()


GOOD = {name: [{"model": model, "test_acc": accuracy(model), "trainable": transfer.count_trainable(model), "seconds": 3.0 + seed}
               for seed, model in enumerate(runs)] for name, runs in MODELS.items()}
ONE = {name: runs[0] for name, runs in GOOD.items()}


def with_run(name, **values):
    """GOOD, with the values of one method's second seed changed."""
    runs = [dict(run) for run in GOOD[name]]
    runs[1].update(values)
    return {**GOOD, name: runs}


def test_the_fixtures_runs_pass_and_score_differently():
    assert check.expected_trainable(10) == {"feature extraction": 11_530, "fine-tuning": 11_530 + 73_856}
    assert len({run["test_acc"] for run in GOOD["feature extraction"]}) == 3, "the seeds must score differently"
    assert report(check.transfer_results, GOOD).startswith("✓")


def grown_in_a_defaultdict():
    from collections import defaultdict

    results = defaultdict(list)
    for seed in range(3):
        for name in ("feature extraction", "fine-tuning"):
            results[name].append(GOOD[name][seed])
    return results


TRANSFER_RESULTS_RIGHT = [
    ({name: [{k: v if k == "model" else torch.tensor(v) for k, v in run.items()} for run in runs] for name, runs in GOOD.items()},
     "0-d-tensors"),
    (with_run("fine-tuning", trainable=85_386.0), "whole-float-count"),
    ({name: tuple(runs) for name, runs in GOOD.items()}, "tuples"),
    (with_run("fine-tuning", test_acc=GOOD["fine-tuning"][1]["test_acc"] + MEASURE_TOLERANCE / 2),
     "within-the-tolerance"),  # measured with other batches: a last-digit difference
    ({name: [{**run, "test_acc": np.float32(run["test_acc"]), "trainable": np.int64(run["trainable"]),
              "seconds": np.float64(run["seconds"])} for run in runs] for name, runs in GOOD.items()}, "numpy-numbers"),
    (grown_in_a_defaultdict(), "defaultdict"),
    ({name: [{**run, "seed": seed} for seed, run in enumerate(runs)] for name, runs in GOOD.items()}, "extra-keys"),
]


@pytest.mark.parametrize("value", [value for value, _ in TRANSFER_RESULTS_RIGHT], ids=[name for _, name in TRANSFER_RESULTS_RIGHT])
def test_transfer_results_passes_in_other_number_types(value):
    text = report(check.transfer_results, value)
    assert text.startswith("✓"), text


def test_the_models_are_measured_where_they_are_and_left_as_they_were():
    model = GOOD["fine-tuning"][2]["model"].train()
    assert report(check.transfer_results, GOOD).startswith("✓")
    assert model.training  # the check measured in eval mode, then put the model back in training mode


def test_the_check_measures_on_the_test_set_it_loads_itself(monkeypatch):
    """A notebook without its test set, or with other digits under its name, changes nothing: the judge loads MNIST."""
    monkeypatch.delattr(sys.modules["__main__"], "x_test", raising=False)
    assert report(check.transfer_results, GOOD).startswith("✓")
    monkeypatch.setattr(sys.modules["__main__"], "x_test", X_TEST[:10], raising=False)
    assert report(check.transfer_results, GOOD).startswith("✓")


def test_the_judge_measures_in_the_notebooks_mode_whatever_its_own_process_says(monkeypatch, tmp_path):
    from cslib.checks import from_data
    from cslib.checks.probe import shipped_runs, to_data

    monkeypatch.setenv("CSLIB_FAST", "0")
    monkeypatch.setenv("CSLIB_DATA", str(tmp_path))  # no full MNIST here: the bundled sample must be used
    check._mnist_test.cache_clear()
    try:
        case = check.transfer_results.cases()[0][0]
        outcome = check.transfer_results.judge(case.expected, from_data(to_data({"fast": True, "results": shipped_runs(GOOD)})))
    finally:
        check._mnist_test.cache_clear()
    assert outcome.passed, outcome.detail


def test_a_model_of_another_architecture_is_not_measured():
    other = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    text = report(check.transfer_results, with_run("fine-tuning", model=other))
    assert text.startswith("✗") and "is it that network? (the course's convnet with a new head of 10 classes)" in text, text


TYPED = {name: [{**run, "test_acc": round(run["test_acc"] - 0.05, 2)} for run in runs] for name, runs in GOOD.items()}
OTHER_MODEL = with_run("fine-tuning", model=GOOD["feature extraction"][1]["model"])  # the extractor, not the tuned one


def _moved_heads():
    """GOOD, with each fine-tuned model's head moved away from its extractor's (as far as the seeds' extractors are
    apart, at least), its accuracy measured again: fine-tuning that did not go on from that seed's extractor at a
    lower learning rate (a new extractor from the base, or the extractor's learning rate) ends up like that."""
    torch.manual_seed(5)
    runs = []
    for run in GOOD["fine-tuning"]:
        model = copy.deepcopy(run["model"])
        head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():
            head.weight += 0.02 * torch.randn_like(head.weight)
        runs.append({**run, "model": model, "test_acc": accuracy(model)})
    return {**GOOD, "fine-tuning": runs}


MOVED = _moved_heads()


def with_model(name, model):
    """GOOD, with the model of one method's second seed replaced, its accuracy and count measured honestly."""
    return with_run(name, model=model, test_acc=accuracy(model), trainable=transfer.count_trainable(model))


def block3_trained(seed):
    model = copy.deepcopy(MODELS["feature extraction"][seed])
    with torch.no_grad():
        model.features.block3[0].weight += 1e-4
    return model


def untrained_copy(seed):
    """The extractor of that seed, set up for fine-tuning and never trained (its trainable count is right)."""
    return check._reference_fine_tune_setup(copy.deepcopy(MODELS["feature extraction"][seed]))


def changed_statistics(seed):
    model = copy.deepcopy(MODELS["fine-tuning"][seed])
    with torch.no_grad():
        model.features.block3[1].running_mean += 1e-3
    return model


TRANSFER_RESULTS_WRONG = [
    (with_run("fine-tuning", trainable=85_642), "is 85,642, which is not the number of trainable parameters of that setup"),
    (with_run("feature extraction", test_acc=0.1), "was it trained"),
    (with_run("feature extraction", test_acc=91.3), "give a fraction in [0, 1] (0.913), not a percentage"),
    (with_run("fine-tuning", trainable=85_386.5), "not a whole number"),
    ({"feature extraction": GOOD["feature extraction"]}, "missing run(s): 'fine-tuning'"),
    ({**GOOD, "fine-tuning": [torch.tensor(0.85)] * 3}, "got a single number in a 0-d tensor or array"),
    (with_run("fine-tuning", seconds=-1.0), "the training time in seconds"),
    ({**GOOD, "feature extraction": [{"test_acc": 0.8}] * 3}, "lacks 'model', 'trainable', 'seconds'"),
    (ONE, "is one run: give a list of 3 runs"),
    ({name: runs[:2] for name, runs in GOOD.items()}, "should be a list of 3 runs"),
    ({name: [ONE[name]] * 3 for name in ONE}, "call cslib.set_seed(seed) with the run's own seed"),
    (TYPED, "but its model scores"),  # numbers typed in (here: each 5 points too low)
    (with_run("feature extraction", test_acc=0.97), "on (x_test, y_test) now"),  # measured on the training digits
    (OTHER_MODEL, "is not the number of trainable parameters of transfer_results['fine-tuning'][1]['model']"),  # a run's count from another model than its own
    ({name: [{k: v for k, v in run.items() if k != "model"} for run in runs] for name, runs in GOOD.items()}, "lacks 'model'"),
    (with_run("fine-tuning", model=GOOD["fine-tuning"][1]["model"].state_dict()), "should be the trained model of that run"),
    (MOVED, "is not near the trained head of transfer_results['feature extraction'][0]['model']"),
    (with_model("fine-tuning", untrained_copy(1)), "has block3 exactly as in the pretrained base"),  # set up, not trained
    (with_model("feature extraction", block3_trained(1)), "changed block3.0.weight"),  # trained block3 too
    (with_model("fine-tuning", changed_statistics(1)), "changed block3.1.running_mean"),  # batch norm not kept fixed
    ({**GOOD, "fine-tuning": [GOOD["fine-tuning"][0], GOOD["fine-tuning"][0], GOOD["fine-tuning"][2]]},
     "are the same trained network"),
]
TRANSFER_RESULTS_WRONG_IDS = ["trainable", "untrained", "percent", "fraction", "missing", "0-d", "seconds", "keys", "one-seed",
                              "two-seeds", "same-seed", "typed", "other-data", "other-model", "no-model", "state-dict",
                              "not-from-its-extractor", "never-trained", "block3-in-extraction", "bn-statistics",
                              "one-network-twice"]


@pytest.mark.parametrize("value, message", TRANSFER_RESULTS_WRONG, ids=TRANSFER_RESULTS_WRONG_IDS)
def test_transfer_results_mistakes_are_named(value, message):
    text = report(check.transfer_results, value)
    assert text.startswith("✗") and message in text, text
    assert "85,386" not in text and "11,530" not in text  # question 7 asks for these counts


def test_drivers_are_self_contained():
    """The grader sends a driver's source into the student's kernel: no module globals may be used."""
    def names(code):
        found = set(code.co_names)
        for const in code.co_consts:
            if hasattr(const, "co_names"):
                found |= names(const)
        return found

    module_globals = {k for k in vars(check) if not k.startswith("__")}
    for driver in (check.drive_class_test_net, check.drive_transfer, check.drive_results):
        assert not names(driver.__code__) & module_globals, driver.__name__
    assert np.random  # the tests use NumPy's generators through check_properties


# The wrong answers these tests build, by question, named by what the check must say about each.
WRONG_ANSWERS = index(*(("class_test_net", message) for _, message in CLASS_TEST_WRONG),
                      *(("params_by_hand", message) for _, message, _ in PARAMS_WRONG),
                      *((question.answer, message) for question, _, message in TRANSFER_WRONG),
                      *(("transfer_results", message) for _, message in TRANSFER_RESULTS_WRONG))
# The right answers written another way (other types, styles, helpers) that they build, by question, named by their ids.
RIGHT_ANSWERS = index(*(("class_test_net", name) for _, name in CLASS_TEST_RIGHT),
                      *(("params_by_hand", name) for _, name in PARAMS_RIGHT),
                      *((question.answer, name) for question, _, name in TRANSFER_RIGHT),
                      *(("transfer_results", name) for _, name in TRANSFER_RESULTS_RIGHT))
