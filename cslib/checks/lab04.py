"""Checks for lab 4 (the deck's class test; feature extraction and fine-tuning). In the lab:
``from cslib.checks import lab04 as check``.

The expected values come from the reference code in cslib: ``cslib.models.class_test_cnn`` for the
class test, and ``cslib.transfer`` (freeze, unfreeze, replace_head) for the transfer questions.
"""
from __future__ import annotations

import functools

from cslib.checks import (Case, Outcome, Question, as_int, as_number, count_problem, describe, fraction_problem,
                          measured_problem, not_sequential)
from cslib.checks.weights import not_shipped, same_network, seeds_problem, unwrap

LAYERS = ("conv1", "conv2", "pool", "dense1", "dense2", "output")


# --------------------------------------------------------------------------- Q1 class_test_net
def drive_class_test_net(answer, size, batch):
    """Build the student's network, run a batch of (size x size) images through it, and describe each layer."""
    import warnings

    import torch
    from torch import nn

    model = answer()
    if not isinstance(model, nn.Module):
        return {"is_module": False, "type": type(model).__name__}
    weighted = (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d)
    layers, hooks = [], []

    def record(module, inputs, output):
        info = {"type": type(module).__name__, "out": [int(s) for s in output.shape[1:]]}
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            for key in ("kernel_size", "stride"):
                value = getattr(module, key)
                info[key] = list(value) if isinstance(value, tuple) else [value, value]
        info["params"] = int(sum(p.numel() for p in module.parameters(recurse=False)))
        layers.append(info)

    for module in model.modules():
        if len(list(module.children())) == 0:
            hooks.append(module.register_forward_hook(record))
    model.eval()
    out, error = None, ""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTorch warns that 'same' padding of a 2x2 kernel pads unevenly
            out = model(torch.zeros(batch, 1, size, size))
    except Exception as e:  # e.g. a Linear layer whose input size does not fit: report the layers that ran
        error = f"{type(e).__name__}: {e}"
    finally:
        for h in hooks:
            h.remove()
    # What follows each conv/linear layer before the next one: is there a ReLU?
    relu_after, main = [], []
    for layer in layers:
        if layer["type"] in {c.__name__ for c in weighted}:
            main.append(layer)
            relu_after.append(False)
        elif layer["type"] == "ReLU" and relu_after:
            relu_after[-1] = True
    last = layers[-1]["type"] if layers else ""
    sequential = (all(isinstance(m, nn.Sequential) for m in model.modules() if len(list(m.children())) > 0)
                  and type(model).forward is nn.Sequential.forward)
    return {"is_module": True, "sequential": sequential, "container": type(model).__name__,
            "main": main, "relu_after": relu_after, "last": last, "error": error,
            "out_shape": [int(s) for s in out.shape] if out is not None else None,
            "n_params": int(sum(p.numel() for p in model.parameters()))}


_LAYER_HINTS = {  # what the architecture says about each layer (the question's text), for the feedback
    "1st convolution": "one 2×2 kernel, 'valid' padding (none), stride 2",
    "2nd convolution": "two 2×2 kernels, 'same' padding (padding='same' keeps height and width), stride 1",
    "max-pooling": "2×2 windows, stride 2",
    "1st dense layer": "10 units", "2nd dense layer": "10 units", "output layer": "3 units, one per class",
}


def _size_text(sizes) -> str:
    return "×".join(str(s) for s in sizes)


def _layer_problem(name: str, w: dict, h: dict) -> str:
    """What is wrong with the student's layer ``h`` (``w`` is the reference's), or ''. The feedback names the
    setting to fix; it never gives output shapes or parameter counts, which question 2 asks to work out."""
    for key in ("kernel_size", "stride"):
        if w.get(key) != h.get(key):
            return (f"{name}: {key.replace('_', ' ')} {_size_text(h[key])} is wrong; the architecture asks for "
                    f"{_LAYER_HINTS[name]}")
    if w["out"] != h["out"]:
        if w["out"][0] != h["out"][0]:
            what = "units" if w["type"] == "Linear" else "channels"
            return f"{name}: it makes {h['out'][0]} {what}; the architecture asks for {_LAYER_HINTS[name]}"
        return (f"{name}: its output is {_size_text(h['out'])}, which is not what the architecture gives for 8×8 images: "
                f"{_LAYER_HINTS[name]}")
    if w["params"] != h["params"]:
        return (f"{name} has {h['params']} parameters, which does not fit the architecture: check its input size "
                "(in_channels or in_features) and that it has biases (bias=True, the default)")
    return ""


def _judge_class_test(expected: dict, got: dict) -> Outcome:
    if not got.get("is_module"):
        return Outcome(False, f"class_test_net() should return a torch model (nn.Sequential), got {got.get('type')}")
    if got.get("sequential") is False:
        return Outcome(False, not_sequential(got.get("container")))
    want, have = expected["main"], got["main"]
    names = ["1st convolution", "2nd convolution", "max-pooling", "1st dense layer", "2nd dense layer", "output layer"]
    kinds = [layer["type"] for layer in have]
    wrong_layers = Outcome(False, "expected the layers Conv2d, Conv2d, MaxPool2d, Linear, Linear, Linear (plus ReLUs and a "
                                  f"Flatten), got {', '.join(kinds) or 'none'}" + (" before it failed" if got["error"] else ""))
    for name, w, h in zip(names, want, have):
        if w["type"] != h["type"]:
            return wrong_layers
        problem = _layer_problem(name, w, h)
        if problem:
            return Outcome(False, problem)
    if got["error"]:
        return Outcome(False, f"a batch of 8x8 images does not go through the network: {got['error']}\n"
                              "work out the shape after each layer: the first nn.Linear takes the flattened pooled maps")
    if kinds != [layer["type"] for layer in want]:
        return wrong_layers
    relu = got["relu_after"]  # conv1, conv2, pool, dense1, dense2, output
    hidden = {names[0]: relu[0], names[1]: relu[1] or relu[2], names[3]: relu[3], names[4]: relu[4]}  # ReLU and max-pool commute
    for name, has_relu in hidden.items():
        if not has_relu:
            return Outcome(False, f"no nn.ReLU() after the {name}: every hidden layer has a ReLU activation")
    if got["last"] != "Linear":
        return Outcome(False, f"the network should end with the output nn.Linear (logits; the softmax is in nn.CrossEntropyLoss), "
                              f"but its last layer is {got['last']}")
    if got["out_shape"] != expected["out_shape"]:
        return Outcome(False, f"expected output shape {expected['out_shape']}, got {got['out_shape']}")
    return Outcome(True)


@functools.lru_cache(maxsize=64)
def _reference_class_test(batch: int) -> dict:
    from cslib.models import class_test_cnn

    return drive_class_test_net(class_test_cnn, 8, batch)


def _class_test_case(batch: int) -> Case:
    expected = _reference_class_test(batch)
    return Case((8, batch), expected, f"a batch of {batch} gray 8x8 images")


class_test_net = Question(
    answer="class_test_net",
    title="class_test_net",
    points=2,
    probe=drive_class_test_net,
    hint="nn.Conv2d(in_channels, out_channels, kernel_size, stride=..., padding=...) for each convolution ('valid' is "
         "padding=0, 'same' is padding='same'), nn.MaxPool2d(kernel_size, stride), nn.Flatten(), then nn.Linear(in, out) "
         "layers, with an nn.ReLU() after each hidden layer; work out the Flatten size from the shapes.",
    fixed=lambda: [_class_test_case(4)],
    random=lambda rng: [_class_test_case(int(rng.integers(1, 33)))],
    compare=_judge_class_test,
    reject=("cslib.models.class_test_cnn",),
)


# --------------------------------------------------------------------------- Q2 params_by_hand
@functools.lru_cache(maxsize=32)
def _reference_params(size: int) -> tuple[tuple[str, int], ...]:
    return tuple(reference_params(size).items())


def reference_params(size: int = 8) -> dict[str, int]:
    """Per-layer parameter counts of the class-test network for size x size inputs, counted by PyTorch."""
    from torch import nn

    from cslib.models import class_test_cnn

    counts = [sum(p.numel() for p in m.parameters()) for m in class_test_cnn(size) if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.Linear))]
    return dict(zip(LAYERS, counts))


_PARAM_HINTS = {
    "conv1": "a convolution has (kernel height × kernel width × input channels + 1 bias) parameters per filter",
    "conv2": "a convolution has (kernel height × kernel width × input channels + 1 bias) parameters per filter",
    "pool": "pooling takes a maximum: it learns nothing",
    "dense1": "a dense layer has (inputs + 1 bias) parameters per unit; its inputs are the flattened pooled maps, "
              "whose size follows from `size`: work out the side after each layer (the stride-2 convolution and the "
              "pooling round down)",
    "dense2": "a dense layer has (inputs + 1 bias) parameters per unit",
    "output": "a dense layer has (inputs + 1 bias) parameters per unit",
}


def _judge_params(expected: dict, got) -> Outcome:
    """Counted by hand: name the wrong layer and how to count it, never PyTorch's number (the module's policy)."""
    if isinstance(got, list):
        if len(got) != len(LAYERS):
            return Outcome(False, f"a list needs {len(LAYERS)} counts, one per layer ({', '.join(LAYERS)}), got {len(got)}")
        got = dict(zip(LAYERS, got))
    if not isinstance(got, dict):
        return Outcome(False, f"params_by_hand should return a dict {{'conv1': ..., ...}} (or a list of 6 counts), got {describe(got)}")
    missing = [k for k in LAYERS if k not in got]
    if missing:
        return Outcome(False, f"missing layer(s): {', '.join(missing)}; the dict has {list(got)}")
    for layer in LAYERS:
        problem = count_problem(layer, got[layer])
        if problem:
            return Outcome(False, problem)
        if as_int(got[layer]) != expected[layer]:
            return Outcome(False, f"{layer}: you counted {as_int(got[layer])}, which is not what PyTorch counts for this layer: "
                                  f"{_PARAM_HINTS[layer]}")
    return Outcome(True)


def _params_case(size: int) -> Case:
    return Case((size,), dict(_reference_params(size)), f"params_by_hand({size}) for {size}x{size} inputs")


params_by_hand = Question(
    answer="params_by_hand",
    title="params_by_hand",
    points=2,
    probe="call",
    hint="a conv layer has (kernel height * kernel width * input channels + 1) * filters parameters, a dense layer "
         "(inputs + 1) * units, pooling none; the 1st dense layer's inputs are the flattened pooled maps, whose size depends on `size`.",
    fixed=lambda: [_params_case(8)],
    # one size where a side is odd before the pooling (rounding matters), one where it is even
    random=lambda rng: [_params_case(int(rng.choice([10, 14, 18, 22, 26, 30]))), _params_case(int(rng.choice([12, 16, 20, 24, 32])))],
    compare=_judge_params,
    reveals=False,
    reject=("cslib.checks.lab04.reference_params", "cslib.models.class_test_cnn"),
)


# --------------------------------------------------------------------------- Q3/Q4 transfer
def drive_transfer(answer, step, n_classes, seed):
    """Set a model up with the student's function, train it a few steps as cslib.fit does
    (``model.train()`` first), and report what is trainable, what changed and the batch-norm modes.

    ``step`` is "feature_extractor" (answer(base, n_classes) on a fresh base) or "fine_tune_setup"
    (answer(model) on a feature-extraction model built with cslib's reference helpers).
    """
    import torch
    from torch import nn

    from cslib.models import small_convnet

    torch.manual_seed(seed)
    base = small_convnet()  # a "pretrained" base the student did not build: random weights and BN statistics
    with torch.no_grad():
        for m in base.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    base.eval()
    names = {id(p): name for name, p in base.named_parameters()}  # the base's own tensors, by identity
    if step == "feature_extractor":
        model = answer(base, n_classes)
    else:
        from cslib import transfer

        model = transfer.replace_head(transfer.freeze(base), n_classes)
        returned = answer(model)
        if returned is None:  # the question says: return the model
            return {"is_module": False, "type": "NoneType"}
        model = returned
    if not isinstance(model, nn.Module):
        return {"is_module": False, "type": type(model).__name__}
    params = [(names.get(id(p), "new." + name), p) for name, p in model.named_parameters()]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    report = {
        "is_module": True,
        "trainable": {name: bool(p.requires_grad) for name, p in params},
        "n_trainable": int(sum(p.numel() for _, p in params if p.requires_grad)),
    }
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(32, 1, 28, 28, generator=g), torch.randint(0, n_classes, (32,), generator=g)
    first = next(model.parameters(), None)
    if first is not None:  # a model the student moved to the GPU gets its inputs there
        x, y = x.to(first.device), y.to(first.device)
    devices = sorted({str(p.device) for p in model.parameters()})
    if len(devices) > 1:
        report["devices"] = devices
        return report
    model.eval()
    with torch.no_grad():
        report["out_shape"] = [int(s) for s in model(x[:2]).shape]
    trainable = [p for _, p in params if p.requires_grad]
    if not trainable or report["out_shape"] != [2, n_classes]:
        return report
    before = {name: p.detach().clone() for name, p in params}
    stats = [(m.running_mean.clone(), m.running_var.clone()) for m in bns]
    opt = torch.optim.Adam(trainable, lr=1e-2)
    for i in range(3):
        model.train()  # what cslib.fit and every training loop do
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i * 8:(i + 1) * 8]), y[i * 8:(i + 1) * 8]).backward()
        opt.step()
    report["changed"] = {name: not torch.equal(before[name], p.detach()) for name, p in params}
    report["bn_stats_unchanged"] = all(torch.equal(a, m.running_mean) and torch.equal(b, m.running_var)
                                       for (a, b), m in zip(stats, bns))
    return report


def _judge_transfer(expected: dict, got: dict) -> Outcome:
    if not got.get("is_module"):
        if got.get("type") == "NoneType":
            return Outcome(False, "the function returned None: end it with `return model` (a function without a "
                                  "return statement gives None)")
        return Outcome(False, f"the function should return the model (an nn.Module), got {got.get('type')}")
    if got.get("devices"):
        return Outcome(False, f"the model's parameters are on different devices ({', '.join(got['devices'])}): create the new "
                              "head on the device of the layer it replaces, e.g. nn.Linear(...).to(old.weight.device)")
    if got["out_shape"] != expected["out_shape"]:
        return Outcome(False, f"the model's output shape for 2 images is {got['out_shape']}, expected {expected['out_shape']}: "
                              "the new head needs one output per class")
    base_names = [n for n in expected["trainable"] if not n.startswith("new.")]
    for name in base_names:
        if name not in got["trainable"]:
            return Outcome(False, f"the returned model does not contain the base's {name}: change the model you are given "
                                  "(requires_grad flags, head) and return it, rather than building or copying a new one")
    for name in base_names:
        want, have = expected["trainable"][name], got["trainable"][name]
        if want != have:
            layer = "a batch-norm layer" if _is_bn(name, expected) else "a convolution"
            if want:
                return Outcome(False, f"{name} ({layer} of the top block) should be trainable (requires_grad True), it is frozen")
            return Outcome(False, f"{name} ({layer}) should stay frozen (requires_grad False), it is trainable")
    new_params = {n: t for n, t in got["trainable"].items() if n.startswith("new.")}  # not the base's own tensors
    frozen_new = [n.removeprefix("new.") for n, t in new_params.items() if not t]
    if frozen_new:
        return Outcome(False, f"the new head is frozen ({', '.join(frozen_new)} has requires_grad False): the head must be "
                              "trained. Freeze the base before you put the new layer in, or set its requires_grad back to True")
    if got["n_trainable"] != expected["n_trainable"]:
        extra = sorted(n.removeprefix("new.") for n in new_params)
        return Outcome(False, f"{got['n_trainable']:,} trainable parameters, expected {expected['n_trainable']:,}: the trainable new "
                              f"parameters are {', '.join(extra) or 'none'}; replace the old last layer of the classifier by one "
                              "nn.Linear(in_features of the old layer, n_classes), rather than adding layers")
    if "changed" not in got:
        return Outcome(False, "nothing of the model is trainable: the new head must be")
    if not got["bn_stats_unchanged"]:
        return Outcome(False, "the batch-norm running statistics changed during training: model.train() puts batch norm back in "
                              "training mode, and requires_grad=False does not stop that. Use cslib.transfer.freeze_batchnorm(layer).")
    for name in base_names:
        if got["changed"].get(name) and not expected["changed"][name]:
            return Outcome(False, f"{name} changed during training although it should be frozen")
    if not any(changed for name, changed in got["changed"].items() if expected["changed"].get(name, True)):
        return Outcome(False, "training changed nothing: the new head (and the unfrozen layers) must be trainable")
    return Outcome(True)


def _is_bn(name: str, expected: dict) -> bool:
    return name in expected.get("bn_names", [])


def _reference_feature_extractor(base, n_classes):
    from cslib import transfer

    return transfer.replace_head(transfer.freeze(base), n_classes)


def _reference_fine_tune_setup(model):
    from cslib import transfer

    transfer.unfreeze(model.features.block3, keep_batchnorm_frozen=True)
    return model


def _bn_names() -> list[str]:
    from torch import nn

    from cslib.models import small_convnet

    base = small_convnet()
    return [f"{prefix}.{p}" for prefix, m in base.named_modules() if isinstance(m, nn.BatchNorm2d) for p in ("weight", "bias")]


@functools.lru_cache(maxsize=32)
def _reference_transfer(step: str, n_classes: int) -> dict:
    """What the reference setup gives: which tensors are trainable and change, the output shape... (the same
    for every random base, so computed once per step and number of classes)."""
    reference = _reference_feature_extractor if step == "feature_extractor" else _reference_fine_tune_setup
    expected = drive_transfer(reference, step, n_classes, 0)
    expected["bn_names"] = _bn_names()
    return expected


def _transfer_case(step: str, n_classes: int, seed: int) -> Case:
    return Case((step, n_classes, seed), _reference_transfer(step, n_classes),
                f"{n_classes} classes, a base with random weights (seed {seed})")


feature_extractor = Question(
    answer="feature_extractor",
    title="feature_extractor",
    points=2,
    probe=drive_transfer,
    hint="freeze every parameter of the base and keep its batch-norm statistics fixed (cslib.transfer.freeze_batchnorm), "
         "then replace the last layer of its classifier by a new linear layer with one output per class (as many "
         "inputs as the layer it replaces); freeze first, so that the new layer stays trainable; return the model.",
    fixed=lambda: [_transfer_case("feature_extractor", 10, 0)],
    random=lambda rng: [_transfer_case("feature_extractor", int(rng.integers(2, 9)), int(rng.integers(1, 10**6)))],
    compare=_judge_transfer,
    reject=("cslib.transfer.freeze", "cslib.transfer.replace_head"),
)

fine_tune_setup = Question(
    answer="fine_tune_setup",
    title="fine_tune_setup",
    points=2,
    probe=drive_transfer,
    hint="set requires_grad = True on the parameters of model.features.block3 only, then freeze its batch-norm layer again "
         "with cslib.transfer.freeze_batchnorm; the rest of the base stays frozen, the head stays trainable.",
    fixed=lambda: [_transfer_case("fine_tune_setup", 10, 0)],
    random=lambda rng: [_transfer_case("fine_tune_setup", int(rng.integers(2, 9)), int(rng.integers(1, 10**6)))],
    compare=_judge_transfer,
    reject=("cslib.transfer.unfreeze",),
)


# --------------------------------------------------------------------------- Q5 transfer_results
RUNS = ("feature extraction", "fine-tuning")


def expected_trainable(n_classes: int = 10) -> dict[str, int]:
    """Trainable parameters of the two runs, from cslib's reference helpers."""
    from cslib import transfer
    from cslib.models import small_convnet

    model = transfer.replace_head(transfer.freeze(small_convnet()), n_classes)
    first = transfer.count_trainable(model)
    transfer.unfreeze(model.features.block3)
    return {"feature extraction": first, "fine-tuning": transfer.count_trainable(model)}


SEEDS = 3  # runs per method: the seeds 0, 1 and 2


def drive_results(answer):
    """transfer_results with each run's model replaced by its weights as plain data (``cslib.checks.probe.shipped_runs``),
    and whether the notebook ran in fast mode: the judge loads the weights into the course's convnet with a 10-class
    head, built by itself, and measures that on the MNIST test set it loads itself. The number of trainable parameters
    comes from the kernel (``requires_grad`` is not in the weights): in the grader that count is advisory."""
    from cslib.checks.probe import shipped_runs
    from cslib.runtime import fast_mode

    return {"fast": fast_mode(), "results": shipped_runs(answer)}


@functools.lru_cache(maxsize=2)
def _mnist_test(fast: bool):
    """The notebook's (x_test, y_test), loaded here as its cell loads them."""
    from cslib.data import load, prepare

    images = load("mnist", train=False, download=False, verbose=False, fast=fast)
    return prepare(images.data), images.targets


@functools.lru_cache(maxsize=1)
def _base_weights() -> dict:
    """The pretrained base's features (``transfer.load_pretrained_base``), which both methods start from."""
    from cslib import transfer

    return {f"features.{k}": v for k, v in transfer.load_pretrained_base().features.state_dict().items()}


def remeasure_run(shipped, fast: bool) -> dict:
    """Trusted: a run's test accuracy, its shipped weights loaded into the course's convnet with a new 10-class head
    built here, on the MNIST test set loaded here (the bundled sample if ``fast``, as the notebook's), with its head
    and the parts of the pretrained base it changed; or why it cannot be measured."""
    import torch
    from torch import nn

    from cslib import transfer
    from cslib.checks import measure_tolerance
    from cslib.checks.weights import accuracy, load_shipped
    from cslib.models import small_convnet

    if not_shipped(shipped):
        return not_shipped(shipped)
    model = transfer.replace_head(small_convnet(), 10)
    problem = load_shipped(model, shipped)
    if problem:
        return {"not_this": f"{problem} (the course's convnet with a new head of 10 classes)"}
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    state = model.state_dict()
    changed = [k for k, v in _base_weights().items() if not k.endswith("num_batches_tracked") and not torch.equal(state[k], v)]
    x, y = _mnist_test(bool(fast))
    return {"test_acc": accuracy(model, x, y), "trainable": shipped.get("trainable"),
            "tolerance": {"test_acc": measure_tolerance(len(y))},
            "head": torch.cat([head.weight.detach().flatten(), head.bias.detach()]), "changed": changed}


def _frozen_problem(name: str, seed: int, changed: list[str]) -> str:
    """What a run changed of the pretrained base that its method keeps, or left that it trains (from its weights)."""
    what = f"transfer_results[{name!r}][{seed}]['model']"
    kept = [k for k in changed if not k.startswith("features.block3.") or "running_" in k or name == "feature extraction"]
    if kept:
        shown = ", ".join(k.removeprefix("features.") for k in kept[:3]) + (" ..." if len(kept) > 3 else "")
        return (f"{what} changed {shown} of the pretrained base, which {name} keeps as it is (frozen weights, and "
                "batch-norm statistics that stay fixed in training mode): set it up with your "
                f"{'feature_extractor' if name == 'feature extraction' else 'fine_tune_setup'} before training")
    if name == "fine-tuning" and not any(k.startswith("features.block3.") for k in changed):
        return (f"{what} has block3 exactly as in the pretrained base: fine-tuning trains block3 (set it up with "
                "fine_tune_setup, then train it)")
    return ""


# Fine-tuning goes on from that seed's trained feature extractor at a 10 times lower learning rate, so its head stays
# near that extractor's head. Measured with the model solution (3 seeds, fast and full mode): the distance to its own
# extractor's head is 0.05-0.08 of the distance to another seed's; fine-tuned from a new extractor made from the base,
# or at the extractor's learning rate, 0.22 and more.
START_RATIO = 0.15


def _start_problem(heads: dict) -> str:
    """Whether each fine-tuning run went on from its own seed's trained feature extractor (see START_RATIO), or ''."""
    for seed in range(SEEDS):
        tuned = heads["fine-tuning", seed]
        own = float((tuned - heads["feature extraction", seed]).norm())
        other = min(float((tuned - heads["feature extraction", s]).norm()) for s in range(SEEDS) if s != seed)
        if own > START_RATIO * other:
            return (f"the head of transfer_results['fine-tuning'][{seed}]['model'] is not near the trained head of "
                    f"transfer_results['feature extraction'][{seed}]['model']: fine-tune a copy of that seed's trained "
                    "feature extractor (not a new one made from the base), at a 10 times lower learning rate")
    return ""


def _run_problem(name: str, seed: int, run, expected: dict, measured: dict) -> str:
    """Why one run of transfer_results is not a run of that method, or ''; what its model measures goes into
    ``measured``."""
    what = f"transfer_results[{name!r}][{seed}]"
    if not isinstance(run, dict):
        return f"{what} should be a dict with test_acc, trainable and seconds, got {describe(run)}"
    lacking = [k for k in ("model", "test_acc", "trainable", "seconds") if k not in run]
    if lacking:
        return f"{what} lacks {', '.join(map(repr, lacking))}; it has {sorted(run)}"
    problem = fraction_problem(f"{what}['test_acc']", run["test_acc"]) or count_problem(f"{what}['trainable']", run["trainable"])
    if problem:
        return problem
    seconds = as_number(run["seconds"])
    if seconds is None or not seconds > 0:
        return f"{what}['seconds'] should be the training time in seconds, got {describe(run['seconds'])}"
    if as_int(run["trainable"]) != expected["trainable"][name]:
        return (f"{what}['trainable'] is {as_int(run['trainable']):,}, which is not the number of trainable parameters of "
                "that setup: count them with transfer.count_trainable(model) on the model of that run, after its setup")
    if as_number(run["test_acc"]) < expected["min_test_acc"]:
        return f"{what} has test_acc {as_number(run['test_acc']):.3f}: far too low for digits; was it trained?"
    measured[name, seed] = now = remeasure_run(run["model"], expected.get("fast"))
    return (measured_problem(what, {**run, "model": now}, {"test_acc": "(x_test, y_test)"})
            or _frozen_problem(name, seed, now["changed"]))


def _judge_results(expected: dict, got) -> Outcome:
    fast, got = unwrap(got)
    expected = {**expected, "fast": fast}
    if not isinstance(got, dict):
        return Outcome(False, f"transfer_results should be a dict of runs, got {describe(got)}")
    missing = [name for name in RUNS if name not in got]
    if missing:
        return Outcome(False, f"missing run(s): {', '.join(map(repr, missing))}; transfer_results has {list(got)}")
    measured = {}
    for name in RUNS:
        runs = got[name]
        problem = seeds_problem(f"transfer_results[{name!r}]", runs, SEEDS)
        if problem:
            return Outcome(False, problem)
        for seed, run in enumerate(runs):
            problem = _run_problem(name, seed, run, expected, measured)
            if problem:
                return Outcome(False, problem)
        if len({as_number(run["test_acc"]) for run in runs}) == 1:
            return Outcome(False, f"the {SEEDS} runs of transfer_results[{name!r}] have the same test accuracy: call "
                                  "cslib.set_seed(seed) with the run's own seed before each run")
    problem = same_network({f"transfer_results[{name!r}][{seed}]": run for name in RUNS for seed, run in enumerate(got[name])},
                           "train a new one for each run")
    if problem:
        return Outcome(False, problem)
    problem = _start_problem({key: now["head"] for key, now in measured.items()})
    return Outcome(not problem, problem)


transfer_results = Question(
    answer="transfer_results",
    title="transfer_results",
    points=2,
    probe=drive_results,
    hint=f"one entry per method, a list of {SEEDS} runs (seeds 0 to {SEEDS - 1}), each a dict with the run's trained "
         "model, its test accuracy, its number of trainable parameters and its training time (the question lists the keys)",
    fixed=lambda: [Case((), {"trainable": expected_trainable(10), "min_test_acc": 0.5}, "the two methods of the exercise, three seeds each")],
    compare=_judge_results,
    result_chars=16 * 2**20,  # six networks' weights (3.4 MB as base64): the judge measures them itself
)

QUESTIONS = [class_test_net, params_by_hand, feature_extractor, fine_tune_setup, transfer_results]
