"""Checks for lab 1 (dropout and batch normalization). In the lab: ``from cslib.checks import lab01 as check``."""
from __future__ import annotations

import difflib
import functools

from cslib.checks import (Case, Outcome, Question, as_int, as_number, compare_models, describe, fraction_problem,
                          measured_problem)
from cslib.checks.probe import describe_model
from cslib.checks.weights import not_shipped, same_network, seeds_problem, unwrap

MODEL_INPUT = (4, 784)
NETWORKS = {"BN + dropout 0.25": (True, 0.25), "dropout 0.25": (False, 0.25), "dropout 0.1": (False, 0.1),
            "dropout 0.9": (False, 0.9)}  # results' keys: (batch_norm, dropout) of each network
RUNS = tuple(NETWORKS)


# --------------------------------------------------------------------------- Q1 make_model
@functools.lru_cache(maxsize=256)
def _reference_model(batch_norm: bool, dropout: float) -> dict:
    from cslib.models import mlp

    return describe_model(mlp(batch_norm=batch_norm, dropout=dropout), MODEL_INPUT)


def _model_case(batch_norm: bool, dropout: float) -> Case:
    expected = {**_reference_model(batch_norm, dropout), "require_sequential": True}  # the question asks for one
    return Case((batch_norm, dropout, MODEL_INPUT), expected, f"make_model(batch_norm={batch_norm}, dropout={dropout})")


make_model = Question(
    answer="make_model",
    title="make_model",
    points=2,
    probe="call_model",
    hint="the lecture's network, 784 inputs, 1,000 hidden units, 10 outputs, as one nn.Sequential; batch norm goes "
         "between the first linear layer and the activation, dropout after the activation, and there is no dropout "
         "layer at all when dropout is 0 (lecture 1, sections 7 and 8).",
    fixed=lambda: [_model_case(True, 0.25), _model_case(False, 0.25), _model_case(False, 0.0)],
    random=lambda rng: [_model_case(bool(rng.integers(2)), round(float(rng.uniform(0.05, 0.95)), 2)) for _ in range(3)],
    compare=compare_models,
    reject=("cslib.models.mlp",),
)


# --------------------------------------------------------------------------- Q2 train_and_evaluate
def synthetic_task(seed: int, shuffle_test_labels: bool):
    """(train, test, held_out, model): easy synthetic data of 10 classes and a fresh model, the same for a seed
    wherever it is built (the driver in the student's kernel; the judge, in the grader's process, rebuilds it)."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(10, 784, generator=g).sign()

    def sample(n):
        y = torch.randint(0, 10, (n,), generator=g)
        return centers[y] + torch.randn(n, 784, generator=g), y

    train, (x_test, y_test), held_out = sample(320), sample(160), sample(400)  # the student never sees held_out
    if shuffle_test_labels:  # nothing to learn about the test set: its accuracy must be near chance
        y_test = y_test[torch.randperm(len(y_test), generator=g)]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 10), nn.Dropout(0.5))  # dropout on the outputs: training mode guesses worse
    return train, (x_test, y_test), held_out, model


def drive_train_and_evaluate(answer, seed, shuffle_test_labels):
    """Train a fresh model on easy synthetic data with the student's function; send back what it returned and
    the trained weights (the grader re-measures them itself, on data of its own).

    The model has dropout (so a test accuracy measured in training mode comes out lower than in evaluation
    mode); its training-mode forward passes are counted (one per mini-batch of every epoch); and the optimizers
    the function makes are recorded (their class and learning rate): these two are measured in the kernel."""
    import torch

    from cslib.checks.lab01 import synthetic_task  # the grader sends this function's source alone into the kernel

    train, test, _, model = synthetic_task(seed, shuffle_test_labels)
    steps, made = [0], []

    def count(module, args):  # a training batch: training mode, with gradients (not a measurement under no_grad)
        steps[0] += module.training and torch.is_grad_enabled() and len(args[0]) > 1

    model.register_forward_pre_hook(count)
    original_init = torch.optim.Optimizer.__init__

    def recording_init(self, params, defaults, *args, **kwargs):
        made.append([type(self).__name__, float(defaults.get("lr", float("nan")))])
        return original_init(self, params, defaults, *args, **kwargs)

    torch.optim.Optimizer.__init__ = recording_init
    try:
        result = answer(model, train, test, 2)
    finally:
        torch.optim.Optimizer.__init__ = original_init
    weights = {name: value.detach().cpu() for name, value in model.state_dict().items()}
    return {"result": result, "weights": weights, "training_batches": steps[0], "optimizers": made}


def remeasure(seed: int, shuffle_test_labels: bool, weights) -> dict | str:
    """Trusted: load the weights that came back into the same network, built here, and measure it (evaluation
    mode) on the train, test and held-out data rebuilt from the seed. A dict of accuracies, or what is wrong."""
    import numpy as np
    import torch

    train, test, held_out, model = synthetic_task(seed, shuffle_test_labels)
    initial = {name: value.clone() for name, value in model.state_dict().items()}
    if not isinstance(weights, dict) or set(weights) != set(initial):
        return "the trained model's weights did not come back (the network was replaced or changed)"
    loaded = {}
    for name, value in weights.items():
        if not isinstance(value, np.ndarray) or value.shape != tuple(initial[name].shape) or not np.isfinite(value).all():
            return f"the trained model's {name} is not a finite array of shape {tuple(initial[name].shape)}"
        loaded[name] = torch.as_tensor(value, dtype=torch.float32)
    model.load_state_dict(loaded)
    model.eval()
    with torch.no_grad():
        acc = {key: (model(x).argmax(1) == y).float().mean().item()
               for key, (x, y) in {"train": train, "test": test, "held_out": held_out}.items()}
    acc["changed"] = any(not torch.equal(initial[name], loaded[name]) for name in initial)
    return acc


def _run_problem(what: str, run, accuracy_keys=("train_acc", "test_acc")) -> str:
    """Why ``run`` is not what train_and_evaluate returns ({"seconds", "train_acc", "test_acc"}), or ''."""
    if not isinstance(run, dict):
        return f"{what} should be a dict with seconds, train_acc and test_acc (what train_and_evaluate returns), got {describe(run)}"
    missing = [k for k in ("seconds", *accuracy_keys) if k not in run]
    if missing:
        return f"{what} lacks {', '.join(map(repr, missing))}; it has {sorted(run)}"
    seconds = as_number(run["seconds"])
    if seconds is None:
        return f"{what}['seconds'] should be a number, got {describe(run['seconds'])}"
    if not 0 < seconds < 3600:
        return f"{what}['seconds'] should be the training time in seconds (time.perf_counter() after minus before), got {seconds:g}"
    for key in accuracy_keys:
        problem = fraction_problem(f"{what}[{key!r}]", run[key])
        if problem:
            return problem
    return ""


def _judge_training(expected: dict, got: dict) -> Outcome:
    result = got.get("result")
    if not isinstance(result, dict):
        return Outcome(False, f"train_and_evaluate should return a dict with seconds, train_acc and test_acc, got {describe(result)}")
    problem = _run_problem("the returned dict", result)
    if problem:
        return Outcome(False, problem)
    measured = remeasure(expected["seed"], expected["shuffled"], got.get("weights"))
    if isinstance(measured, str):
        return Outcome(False, f"{measured}: train the model that is passed in and return the dict")
    if not measured["changed"]:
        return Outcome(False, "the model's weights did not change: train the model that is passed in (not a copy or a new one)")
    optimizers = got.get("optimizers") or []
    if optimizers and not any(name == "Adam" for name, _ in optimizers):
        return Outcome(False, f"the training used {', '.join(sorted({n for n, _ in optimizers}))}: the question asks for Adam "
                              "(torch.optim.Adam), as in the lecture")
    if optimizers and not any(name == "Adam" and abs(lr - 1e-2) < 1e-9 for name, lr in optimizers):
        return Outcome(False, "Adam's learning rate should be 0.01 (lr=1e-2), as in the lecture")
    expected_batches = expected.get("batches")
    if expected_batches and got.get("training_batches") is not None and got["training_batches"] != expected_batches:
        return Outcome(False, f"the model ran {got['training_batches']} training batches for n_epochs = 2 epochs of 320 "
                              f"examples in mini-batches of 32; expected {expected_batches}: train for n_epochs epochs, "
                              "each over all of `train`, in mini-batches of 32")
    for key, data in (("test_acc", "test"), ("train_acc", "train")):
        claimed = as_number(result[key])
        if abs(claimed - measured[data]) > 0.02:
            return Outcome(False, f"{key} is {claimed:.3f}, but the trained model scores {measured[data]:.3f} on "
                                  f"`{data}` in evaluation mode: measure {key} on `{data}`, after training, after "
                                  "model.eval() (a network with dropout predicts differently in training mode)")
    if measured["train"] < expected["min_train_acc"]:
        return Outcome(False, f"on easy data train_acc should reach {expected['min_train_acc']}, got {measured['train']:.3f}: "
                              "train for n_epochs epochs on all of `train`")
    low, high = expected["test_acc_range"]
    if not low <= measured["test"] <= high:
        return Outcome(False, f"test_acc {measured['test']:.3f} is outside the expected range [{low}, {high}]")
    if measured["held_out"] < expected["min_train_acc"]:
        return Outcome(False, f"the trained model scores {measured['held_out']:.3f} on new data of the same task: "
                              "train it on `train` (not on `test`)")
    return Outcome(True)


def _training_case(seed: int, shuffled: bool, shown: str) -> Case:
    low, high = (0.0, 0.4) if shuffled else (0.8, 1.0)
    return Case((seed, shuffled), {"seed": seed, "shuffled": shuffled, "min_train_acc": 0.8,
                                   "test_acc_range": [low, high], "batches": 20}, shown)


train_and_evaluate = Question(
    answer="train_and_evaluate",
    title="train_and_evaluate",
    points=2,
    probe=drive_train_and_evaluate,
    hint="time the training with time.perf_counter(); train the model you are given for n_epochs; "
         "measure train_acc and test_acc in eval mode (accuracy() does that) and return the three numbers in a dict.",
    fixed=lambda: [_training_case(0, False, "easy synthetic data, 10 classes"),
                   _training_case(1, True, "test labels shuffled (nothing to learn)")],
    random=lambda rng: [_training_case(int(rng.integers(2, 10**6)), False, "other synthetic data")],
    compare=_judge_training,
)


# --------------------------------------------------------------------------- Q3 results
SEEDS = 3  # runs per network: the seeds 0, 1 and 2


DATA = {"train_acc": "(x_train, y_train)", "test_acc": "(x_test, y_test)"}  # where each accuracy of a run is measured


def drive_results(answer):
    """results with each run's model replaced by its weights as plain data (``cslib.checks.probe.shipped_runs``), and
    whether the notebook ran in fast mode: the judge loads the weights into the network it builds itself and measures
    that, on the MNIST it loads itself (the bundled samples in fast mode, as the notebook's)."""
    from cslib.checks.probe import shipped_runs
    from cslib.runtime import fast_mode

    return {"fast": fast_mode(), "results": shipped_runs(answer)}


@functools.lru_cache(maxsize=2)
def _mnist(fast: bool) -> dict:
    """The notebook's (x_train, y_train) and (x_test, y_test), loaded here as its first cell loads them."""
    from cslib.data import load_mnist, prepare

    sets = {}
    for key, train in (("train_acc", True), ("test_acc", False)):
        images = load_mnist(train=train, download=False, verbose=False, fast=fast)
        sets[key] = (prepare(images.data, flatten=True), images.targets)
    return sets


def remeasure_run(name: str, shipped, fast: bool) -> dict:
    """Trusted: the accuracies of a run's shipped model, loaded into the network of ``name`` built here, on the MNIST
    loaded here (the bundled samples if ``fast``, as the notebook's); or why it cannot be measured."""
    from cslib.checks import measure_tolerance
    from cslib.checks.weights import accuracy, load_shipped
    from cslib.models import mlp

    if not_shipped(shipped):
        return not_shipped(shipped)
    batch_norm, dropout = NETWORKS[name]
    model = mlp(batch_norm=batch_norm, dropout=dropout)
    problem = load_shipped(model, shipped)
    if problem:
        return {"not_this": f"{problem} (make_model({batch_norm}, {dropout}))"}
    sets = _mnist(bool(fast))
    return {**{key: accuracy(model, x, y) for key, (x, y) in sets.items()},
            "tolerance": {key: measure_tolerance(len(y)) for key, (_, y) in sets.items()}}


def _judge_results(expected: dict, got) -> Outcome:
    fast, got = unwrap(got)
    if not isinstance(got, dict):
        return Outcome(False, f"results should be a dict of runs, got {describe(got)}")
    missing = [name for name in expected["runs"] if name not in got]
    if missing:
        close = {name: difflib.get_close_matches(name, [str(k) for k in got], n=1) for name in missing}
        guesses = "; ".join(f"{m[0]!r} should be {name!r}" for name, m in close.items() if m)
        return Outcome(False, f"missing run(s): {', '.join(map(repr, missing))}; results has {list(got)}"
                       + (f" ({guesses}: use the keys exactly as the table writes them)" if guesses else ""))
    handed = {}  # every run so far, by where it is in results
    for name in expected["runs"]:
        runs = got[name]
        problem = seeds_problem(f"results[{name!r}]", runs, SEEDS, ", each what train_and_evaluate returns")
        if problem:
            return Outcome(False, problem)
        for seed, run in enumerate(runs):
            what = f"results[{name!r}][{seed}]"
            problem = _run_problem(what, run) or ("" if not isinstance(run, dict) or "model" in run else
                                                  f"{what} lacks 'model', the network of that run (the check measures it again)")
            if problem:
                return Outcome(False, problem)
            if name != "dropout 0.9" and as_number(run["test_acc"]) < 0.5:
                return Outcome(False, f"{what} has test_acc {as_number(run['test_acc']):.3f}: this network "
                                      "should do much better; was it trained?")
            problem = measured_problem(what, {**run, "model": remeasure_run(name, run["model"], fast)}, DATA)
            if problem:
                return Outcome(False, problem)
        handed.update({f"results[{name!r}][{seed}]": run for seed, run in enumerate(runs)})
        problem = same_network(handed, "build and train a new network for each run, and call cslib.set_seed(seed) with "
                                       "the run's own seed before it")
        if problem:
            return Outcome(False, problem)
        accuracies = [(as_number(run["train_acc"]), as_number(run["test_acc"])) for run in runs]
        if len(set(accuracies)) == 1:
            return Outcome(False, f"the {SEEDS} runs of results[{name!r}] have the same accuracies: call "
                                  "cslib.set_seed(seed) with the run's own seed before building each network")
    return Outcome(True)


results = Question(
    answer="results",
    title="results",
    points=2,
    probe=drive_results,
    hint=f"one entry per network, a list of {SEEDS} runs: for each seed, cslib.set_seed(seed), a new network, "
         "train_and_evaluate(...), and append what it returns with the network added under 'model'",
    fixed=lambda: [Case((), {"runs": list(RUNS)}, "the four networks of the exercise, three seeds each")],
    compare=_judge_results,
    result_chars=64 * 2**20,  # twelve networks' weights (51 MB as base64): the judge measures them itself
)


# --------------------------------------------------------------------------- Q4 plot_results
def drive_plot_results(answer, names, train_accs, test_accs):
    """Call the student's plotting function on made-up results (several seeds per run) and read back the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    runs = {n: [{"seconds": 1.0 + i + s, "train_acc": a[s], "test_acc": b[s]} for s in range(len(a))]
            for i, (n, a, b) in enumerate(zip(names, train_accs, test_accs))}
    fig = answer(runs)
    if not isinstance(fig, Figure):
        inside = list(getattr(fig, "flat", [fig]))  # an array of axes (fig, axes = plt.subplots(2, 2)) holds its figure too
        return {"is_figure": False, "type": "an array of axes" if hasattr(fig, "flat") else type(fig).__name__,
                "has_figure": any(isinstance(getattr(item, "figure", None), Figure) for item in inside)}
    bars, texts, error_bars = [], [], 0
    for ax in fig.axes:
        for patch in ax.patches:
            bars += [float(patch.get_height()), float(patch.get_width())]
        texts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()] + [ax.get_title()]
        for child in ax.texts:
            texts.append(child.get_text())
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
        for collection in ax.collections:  # error bars: one line segment each, of some length
            if isinstance(collection, LineCollection):
                error_bars += sum(1 for seg in collection.get_segments() if len(seg) == 2 and abs(seg[1] - seg[0]).max() > 1e-9)
    plt.close(fig)
    return {"is_figure": True, "bars": bars, "texts": texts, "error_bars": error_bars}


def _judge_plot(expected: dict, got: dict) -> Outcome:
    if not got.get("is_figure"):
        if got.get("has_figure"):
            return Outcome(False, f"plot_results returned {got.get('type')}, not the Figure: return ax.figure (or the fig of fig, ax = plt.subplots())")
        return Outcome(False, f"plot_results should return a matplotlib Figure (e.g. fig, ax = plt.subplots(); ...; return fig), "
                              f"got {got.get('type')}" + (" (plt.show() returns None)" if got.get("type") == "NoneType" else ""))
    bars = got["bars"]
    for values in expected["train_accs"] + expected["test_accs"]:
        mean = sum(values) / len(values)
        if not any(abs(b - mean) < 1e-6 or abs(b - 100 * mean) < 1e-4 for b in bars):
            if any(abs(b - v) < 1e-6 or abs(b - 100 * v) < 1e-4 for b in bars for v in values):
                return Outcome(False, "a bar shows the accuracy of one seed: each bar should show the mean over a run's seeds")
            return Outcome(False, "no bar shows the mean accuracy of a run: draw a bar for the mean train and the mean test "
                                  "accuracy of every run, over its seeds")
    text = " ".join(got["texts"])
    missing = [n for n in expected["names"] if n not in text]
    if missing:
        return Outcome(False, f"the run name(s) {missing} appear nowhere in the figure: label the bars (tick labels or legend)")
    needed = len(expected["train_accs"]) + len(expected["test_accs"])
    if got["error_bars"] < needed:
        return Outcome(False, f"{needed} bars but {got['error_bars']} error bar(s): show the spread over the seeds on every "
                              "bar (ax.bar(..., yerr=...), with the standard deviation or the lowest and highest value)")
    return Outcome(True)


def _plot_case(names, train_accs, test_accs, shown):
    return Case((names, train_accs, test_accs), {"names": names, "train_accs": train_accs, "test_accs": test_accs}, shown)


def _seeds(rng, n):
    return [[round(float(v), 3) for v in rng.uniform(0.5, 1, SEEDS)] for _ in range(n)]


plot_results = Question(
    answer="plot_results",
    title="plot_results",
    points=1,
    probe=drive_plot_results,
    hint="a grouped bar chart: for each network two bars side by side, the mean train and the mean test accuracy over "
         "the seeds, each with the spread over the seeds as an error bar, the networks' names under their bars and a "
         "legend; return the Figure (matplotlib's bar takes positions, heights, a width and yerr).",
    fixed=lambda: [_plot_case(list(RUNS), [[0.926, 0.904, 0.885], [0.957, 0.942, 0.913], [0.972, 0.902, 0.929], [0.89, 0.919, 0.977]],
                              [[0.92, 0.878, 0.888], [0.937, 0.893, 0.966], [0.867, 0.964, 0.935], [0.959, 0.903, 0.868]],
                              "the exercise's four runs, three seeds each")],
    random=lambda rng: [_plot_case([f"run {chr(65 + i)}{int(rng.integers(10, 99))}" for i in range(3)],
                                   _seeds(rng, 3), _seeds(rng, 3), "three made-up runs, three seeds each")],
    compare=_judge_plot,
)


# --------------------------------------------------------------------------- Q5 view_shape
X_TRAIN_SHAPE = (60000, 28, 28)


def _judge_view_shape(expected: list, got) -> Outcome:
    """Worked out by hand: say what is wrong, never the shape itself (the module's policy)."""
    if isinstance(got, str):
        return Outcome(False, f"view_shape is a string, {got!r}: write the shape as a tuple of ints, e.g. (2, 3), without quotes")
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        return Outcome(False, f"view_shape is one number, {got!r}: a shape is a tuple with one size per dimension")
    if hasattr(got, "ndim") and got.ndim == 1:  # torch.tensor([...]) or np.array([...]) of the sizes: fine
        got = got.tolist()
    if not isinstance(got, list):
        return Outcome(False, f"view_shape should be a tuple of ints (a shape), got {describe(got)}")
    sizes = [as_int(v) for v in got]
    if any(s is None for s in sizes):
        bad = next(v for v, s in zip(got, sizes) if s is None)
        if as_number(bad) is not None:
            return Outcome(False, f"{bad!r} in view_shape is not a whole number: sizes are integers (use integer division //)")
        return Outcome(False, f"view_shape should hold only ints, but it holds {describe(bad)}")
    if sizes == expected:
        return Outcome(True)
    elements = 1
    for s in X_TRAIN_SHAPE:
        elements *= s
    if -1 in sizes:
        why = "-1 is what you pass to view(), not a size: view works out the size it stands for; write that number"
    elif sizes == list(X_TRAIN_SHAPE):
        why = "that is the shape of x_train before the view: view(-1, 28*28) changes it"
    elif len(sizes) != 2:
        why = f"view(-1, 28*28) asks for 2 dimensions, your shape has {len(sizes)}"
    elif sizes[1] != 28 * 28 and sizes[0] == 28 * 28:
        why = "the dimensions are in the wrong order: the last one is what you wrote last in view(-1, 28*28)"
    elif sizes[1] != 28 * 28:
        why = "the second dimension is what you wrote second in view(-1, 28*28)"
    elif sizes[0] * sizes[1] != elements:
        why = (f"your shape holds {sizes[0] * sizes[1]:,} numbers, but view() keeps every element of x_train "
               "(60000 × 28 × 28 of them): -1 stands for the size that makes the count come out right")
    else:  # pragma: no cover - the product and the second size fix the first
        why = "that is not the shape after the view"
    return Outcome(False, why)


view_shape = Question(
    answer="view_shape",
    title="view_shape",
    points=1,
    probe="value",
    hint="view() keeps the number of elements of x_train and arranges them with the sizes you give; "
         "-1 is the one size it works out: the one that makes the number of elements come out the same.",
    fixed=lambda: [Case((), [60000, 784], "x_train of shape [60000, 28, 28]")],
    compare=_judge_view_shape,
    reveals=False,
)

QUESTIONS = [make_model, train_and_evaluate, results, plot_results, view_shape]
