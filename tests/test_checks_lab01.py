"""Lab 1's checks: the model solution passes every case for many seeds; known-wrong answers fail with a
message that names the problem; right answers written another way (other types, styles, helpers) pass; view_shape never
shows its answer."""
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import cslib  # noqa: E402
from check_properties import index, model_solution_failures, seeds_for, verdict  # noqa: E402
from cslib.checks import lab01 as check  # noqa: E402
from model_solutions import answers  # noqa: E402

SOLUTION = answers("lab01")
COSTLY = {"make_model", "train_and_evaluate", "plot_results"}  # build a 784x1000 network, train, or draw per case


# --------------------------------------------------------------------------- the model solution passes, whatever the seed
@pytest.mark.parametrize("question", [q for q in check.QUESTIONS if q.answer in SOLUTION], ids=lambda q: q.answer)
def test_model_solution_passes_every_case_for_many_seeds(question):
    seeds = seeds_for(question.answer in COSTLY)
    failures = model_solution_failures(check.QUESTIONS, question, SOLUTION[question.answer], seeds)
    assert not failures, f"{len(failures)} failure(s) over {len(seeds)} seeds:\n" + "\n".join(failures[:5])


def test_results_has_no_random_cases_and_the_solution_notebook_checks_it():
    """`results` holds trainings of the notebook's data: nbval re-runs the solution, whose stored check says ✓."""
    assert check.results.random is None and "results" not in SOLUTION


# --------------------------------------------------------------------------- known-wrong answers
make_model, train_and_evaluate, plot_results = (SOLUTION[n] for n in ("make_model", "train_and_evaluate", "plot_results"))


def bn_after_relu(batch_norm=True, dropout=0.25):
    layers = [nn.Linear(784, 1000), nn.ReLU()] + ([nn.BatchNorm1d(1000)] if batch_norm else [])
    return nn.Sequential(*layers, *([nn.Dropout(dropout)] if dropout > 0 else []), nn.Linear(1000, 10))


class MakeModelNet(nn.Module):
    """make_model's layers in a class of one's own (the question asks for one nn.Sequential)."""

    def __init__(self, batch_norm=True, dropout=0.25):
        super().__init__()
        self.body = make_model(batch_norm, dropout)

    def forward(self, x):
        return self.body(x)


def off_by_one_inputs(batch_norm=True, dropout=0.25):
    model = make_model(batch_norm, dropout)
    model[0] = nn.Linear(28 * 28 + 1, 1000)
    return model


def in_percent(model, train, test, n_epochs):
    result = train_and_evaluate(model, train, test, n_epochs)
    return {**result, "train_acc": 100 * result["train_acc"], "test_acc": 100 * result["test_acc"]}


def untrained(model, train, test, n_epochs):
    return {"seconds": 0.1, "train_acc": cslib.evaluate(model, *train)[1], "test_acc": cslib.evaluate(model, *test)[1]}


def trains_a_copy(model, train, test, n_epochs):
    import copy

    return train_and_evaluate(copy.deepcopy(model), train, test, n_epochs)


def swaps_train_and_test(model, train, test, n_epochs):
    result = train_and_evaluate(model, train, test, n_epochs)
    return {**result, "train_acc": result["test_acc"], "test_acc": result["train_acc"]}


def typed_numbers(model, train, test, n_epochs):
    train_and_evaluate(model, train, test, n_epochs)
    return {"seconds": 2.0, "train_acc": 0.97, "test_acc": 0.95}  # what the run "should" give, typed in


def train_acc_before_training(model, train, test, n_epochs):
    before = cslib.evaluate(model, *train)[1]
    return {**train_and_evaluate(model, train, test, n_epochs), "train_acc": before}


def trains_on_test(model, train, test, n_epochs):
    return train_and_evaluate(model, test, test, n_epochs)


def loop(model, train, test, n_epochs, *, optimizer=torch.optim.Adam, lr=1e-2, epochs=None, measure_in_eval=True):
    """train_and_evaluate written by hand, with one knob per slip students make."""
    import time

    opt = optimizer(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    x, y = train
    start = time.perf_counter()
    for _ in range(n_epochs if epochs is None else epochs):
        order = torch.randperm(len(x))
        model.train()
        for i in range(0, len(x), 32):
            batch = order[i:i + 32]
            opt.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            opt.step()
    seconds = time.perf_counter() - start
    if measure_in_eval:
        model.eval()
    with torch.no_grad():
        train_acc = (model(x).argmax(1) == y).float().mean().item()
        test_acc = (model(test[0]).argmax(1) == test[1]).float().mean().item()
    return {"seconds": seconds, "train_acc": train_acc, "test_acc": test_acc}


def _networks():
    """A trained network per run of the exercise (each key, three seeds), and the data the judge measures them on,
    which it loads itself (fast mode: the bundled MNIST samples). Each trains a few steps from its own start, so that
    the runs score differently and every accuracy is well above chance (a third of that for dropout 0.9)."""
    from cslib.data import load_mnist, prepare

    data = {}
    for split, train in (("train", True), ("test", False)):
        images = load_mnist(train=train, download=False, verbose=False)
        data[f"x_{split}"], data[f"y_{split}"] = prepare(images.data, flatten=True), images.targets
    networks = {}
    for number, (name, (batch_norm, dropout)) in enumerate(check.NETWORKS.items()):
        for seed in range(3):
            torch.manual_seed(10 * number + seed)
            network = cslib.models.mlp(batch_norm=batch_norm, dropout=dropout)
            opt = torch.optim.Adam(network.parameters(), lr=1e-3)
            for start in range(0, 800 + 400 * seed, 100):
                cslib.train_batch(data["x_train"][start:start + 100], data["y_train"][start:start + 100], network, opt,
                                  nn.CrossEntropyLoss())
            networks[name, seed] = network.eval()
    return networks, data


NETWORKS, DATA = _networks()


def measured(network, x, y):
    with torch.no_grad():
        return (network.eval()(DATA[x]).argmax(1) == DATA[y]).float().mean().item()


def good_run(seed=0, name="dropout 0.25"):
    """What train_and_evaluate returns for that seed's network, with the network added (as the question asks)."""
    network = NETWORKS[name, seed]
    return {"seconds": 3.0 + seed, "train_acc": measured(network, "x_train", "y_train"),
            "test_acc": measured(network, "x_test", "y_test"), "model": network}


def good_runs(name="dropout 0.25"):
    return [good_run(seed, name) for seed in range(3)]


RESULTS = {name: good_runs(name) for name in check.RUNS}


def runs(change):
    """RESULTS with ``change(name, seed, run)`` for every run."""
    return {name: [change(name, seed, run) for seed, run in enumerate(good_runs(name))] for name in check.RUNS}


OTHER_KIND = {name: "dropout 0.25" if batch_norm else "BN + dropout 0.25" for name, (batch_norm, _) in check.NETWORKS.items()}


def test_the_fixtures_networks_score_differently_and_well():
    for (name, seed), network in NETWORKS.items():
        assert (0.3 if name == "dropout 0.9" else 0.7) < measured(network, "x_test", "y_test") < 0.99, (name, seed)
    for name in check.RUNS:
        scores = [(measured(NETWORKS[name, seed], "x_train", "y_train"), measured(NETWORKS[name, seed], "x_test", "y_test"))
                  for seed in range(3)]
        assert all(abs(a[0] - b[0]) > 0.001 or abs(a[1] - b[1]) > 0.004 for a, b in zip(scores, scores[1:] + scores[:1])), scores


def means(results, key):
    return [np.mean([run[key] for run in runs]) for runs in results.values()]


def no_return_value(results):
    fig, ax = plt.subplots()
    ax.bar(range(len(results)), means(results, "test_acc"))
    plt.show()


def returns_axes(results):
    fig, ax = plt.subplots()
    names = list(results)
    ax.bar(np.arange(len(names)) - 0.2, means(results, "train_acc"), 0.4, yerr=0.01)
    ax.bar(np.arange(len(names)) + 0.2, means(results, "test_acc"), 0.4, yerr=0.01)
    ax.set_xticks(range(len(names)), names)
    return ax


def only_test_bars(results):
    fig, ax = plt.subplots()
    ax.bar(list(results), means(results, "test_acc"), yerr=0.01)
    return fig


def unlabeled(results):
    fig, ax = plt.subplots()
    values = [v for pair in zip(means(results, "train_acc"), means(results, "test_acc")) for v in pair]
    ax.bar(range(len(values)), values, yerr=0.01)
    ax.set_xticks([])
    return fig


def first_seed_only(results):
    return plot_results({name: runs[:1] for name, runs in results.items()})


def no_error_bars(results):
    fig = plot_results(results)
    for collection in list(fig.axes[0].collections):
        collection.remove()
    return fig


WRONG = [
    # make_model
    (check.make_model, bn_after_relu, "expected layers Linear, BatchNorm1d, ReLU"),
    (check.make_model, lambda batch_norm=True, dropout=0.25: make_model(True, dropout), "expected layers"),  # always batch norm
    (check.make_model, lambda batch_norm=True, dropout=0.25: make_model(batch_norm, 0.25), "expected p="),  # ignores dropout
    (check.make_model, off_by_one_inputs, "expected in_features=784, got 785"),
    (check.make_model, lambda batch_norm=True, dropout=0.25: nn.Sequential(*make_model(batch_norm, dropout), nn.Softmax(1)),
     "expected layers"),
    (check.make_model, lambda batch_norm=True, dropout=0.25: list(make_model(batch_norm, dropout)), "expected a torch nn.Module, got list"),
    (check.make_model, cslib.models.mlp, "cslib's own cslib.models.mlp"),
    (check.make_model, MakeModelNet, "the network is a MakeModelNet class with its own forward()"),
    (check.make_model, make_model(True, 0.25), "expected a function that returns a model, got a network (Sequential)"),
    # train_and_evaluate
    (check.train_and_evaluate, in_percent, "give a fraction in [0, 1]"),
    (check.train_and_evaluate, lambda *args: tuple(train_and_evaluate(*args).values()), "should return a dict"),
    (check.train_and_evaluate, untrained, "weights did not change"),
    (check.train_and_evaluate, trains_a_copy, "weights did not change: train the model that is passed in"),
    (check.train_and_evaluate, swaps_train_and_test, "but the trained model scores"),
    (check.train_and_evaluate, lambda *args: {"time": 1.0, "train_accuracy": 0.9, "test_accuracy": 0.9}, "lacks 'seconds'"),
    (check.train_and_evaluate, lambda *args: loop(*args, optimizer=torch.optim.SGD), "the question asks for Adam"),
    (check.train_and_evaluate, lambda *args: loop(*args, lr=1e-3), "learning rate should be 0.01"),
    (check.train_and_evaluate, lambda *args: loop(*args, epochs=1), "training batches for n_epochs = 2 epochs"),
    (check.train_and_evaluate, lambda *args: loop(*args, measure_in_eval=False), "after model.eval()"),
    (check.train_and_evaluate, typed_numbers, "but the trained model scores"),
    (check.train_and_evaluate, train_acc_before_training, "train_acc is"),
    (check.train_and_evaluate, trains_on_test, "training batches"),
    # results
    (check.results, {n: [{**good_run(), "test_acc": 95.0, "train_acc": 97.0}] * 3 for n in check.RUNS}, "give a fraction in [0, 1]"),
    (check.results, {n: r for n, r in RESULTS.items() if n != "dropout 0.9"}, "missing run(s): 'dropout 0.9'"),
    (check.results, {**{n: r for n, r in RESULTS.items() if n != "dropout 0.1"}, "dropout 0.10": good_runs()},
     "'dropout 0.10' should be 'dropout 0.1'"),
    (check.results, {n: torch.tensor(0.95) for n in check.RUNS}, "should be a list of 3 runs"),
    (check.results, {n: [torch.tensor(0.95)] * 3 for n in check.RUNS}, "got a single number in a 0-d tensor or array"),
    (check.results, {**RESULTS, "dropout 0.1": [{**run, "test_acc": 0.1} for run in good_runs()]}, "was it trained?"),
    (check.results, runs(lambda n, seed, run: {**run, "test_acc": round(run["test_acc"] - 0.05, 2)}),
     "but its model scores"),  # numbers typed in
    (check.results, runs(lambda n, seed, run: {**run, "train_acc": run["test_acc"], "test_acc": run["train_acc"]}),
     "are swapped: each is what its model scores on the other's data"),
    (check.results, runs(lambda n, seed, run: {**run, "train_acc": run["test_acc"]}),
     "is what its model scores on (x_test, y_test): measure train_acc on (x_train, y_train)"),  # train_acc on the test set
    (check.results, runs(lambda n, seed, run: {**run, "model": nn.Sequential(nn.Linear(784, 10), nn.Unflatten(1, (10, 1)))}),
     "has 2 tensors of weights and buffers where the network the question asks for has"),  # not the lab's network
    (check.results, runs(lambda n, seed, run: {**run, "model": NETWORKS[OTHER_KIND[n], seed]}),
     "is it that network?"),  # the batch-norm network where the question asks for none, and the other way round
    (check.results, runs(lambda n, seed, run: {**run, "model": NETWORKS[n, (seed + 1) % 3]}),
     "but its model scores"),  # the accuracies of another network than the run's
    (check.results, runs(lambda n, seed, run: {k: v for k, v in run.items() if k != "model"}), "lacks 'model'"),
    (check.results, runs(lambda n, seed, run: {**run, "model": run["model"].state_dict()}),
     "should be the trained model of that run (an nn.Module), got OrderedDict"),
    (check.results, list(RESULTS.values()), "results should be a dict of runs, got a list"),
    (check.results, {n: good_run() for n in check.RUNS}, "is one run: give a list of 3 runs"),  # one seed, as before
    (check.results, {n: good_runs()[:2] for n in check.RUNS}, "should be a list of 3 runs"),
    (check.results, {n: [good_run(0, n)] * 3 for n in check.RUNS}, "call cslib.set_seed(seed) with the run's own seed"),
    # plot_results
    (check.plot_results, no_return_value, "plt.show() returns None"),
    (check.plot_results, returns_axes, "return ax.figure"),
    (check.plot_results, only_test_bars, "no bar shows the mean accuracy of a run"),
    (check.plot_results, unlabeled, "appear nowhere in the figure"),
    (check.plot_results, first_seed_only, "a bar shows the accuracy of one seed"),
    (check.plot_results, no_error_bars, "error bar(s): show the spread over the seeds"),
    # view_shape (worked out by hand: see test_view_shape_never_shows_its_answer)
    (check.view_shape, (60000, 28, 28), "the shape of x_train before the view"),
    (check.view_shape, (784, 60000), "the wrong order"),
    (check.view_shape, (-1, 784), "-1 is what you pass to view()"),
    (check.view_shape, (60001, 784), "every element of x_train"),  # off by one
    (check.view_shape, (60000, 785), "the second dimension"),
    (check.view_shape, "(60000, 784)", "without quotes"),
    (check.view_shape, 47_040_000, "one number"),
    (check.view_shape, (60000, 784.5), "use integer division //"),
    (check.view_shape, (60000, 28 * 28, 1), "asks for 2 dimensions"),
]


@pytest.mark.parametrize("question, answer, message", WRONG, ids=[f"{q.answer}-{i}" for i, (q, _, _) in enumerate(WRONG)])
def test_wrong_answers_fail_with_a_message_that_names_the_problem(question, answer, message):
    text = verdict(question, answer)
    assert text.startswith(f"✗ {question.title}") and message in text, text
    if not question.reveals and "60000, 784" not in repr(answer):
        assert "60000, 784" not in text and "60000 × 784" not in text, text


@pytest.mark.parametrize("question, answer", [
    pytest.param(check.make_model, lambda batch_norm=True, dropout=0.25: cslib.models.mlp(batch_norm=batch_norm, dropout=dropout), id="make_model-wraps-mlp"),
])
def test_a_wrapped_course_function_is_not_an_answer(question, answer):
    text = verdict(question, answer)
    assert text.startswith("✗") and "cslib" in text, text


# --------------------------------------------------------------------------- right answers written another way
def named_layers(batch_norm=True, dropout=0.25):
    """make_model with named layers: nn.Sequential of an OrderedDict."""
    from collections import OrderedDict

    layers = [("hidden", nn.Linear(784, 1000))] + ([("batch_norm", nn.BatchNorm1d(1000))] if batch_norm else [])
    layers += [("relu", nn.ReLU())] + ([("dropout", nn.Dropout(dropout))] if dropout > 0 else [])
    return nn.Sequential(OrderedDict(layers + [("output", nn.Linear(1000, 10))]))


def appended(batch_norm=True, dropout=0.25):
    """make_model grown layer by layer with append (and `if dropout:` for `dropout > 0`)."""
    model = nn.Sequential()
    model.append(nn.Linear(28 * 28, 1000))
    if batch_norm:
        model.append(nn.BatchNorm1d(num_features=1000))
    model.append(nn.ReLU(inplace=True))
    if dropout:
        model.append(nn.Dropout(p=dropout))
    return model.append(nn.Linear(1000, 10))


def flatten_first(batch_norm=True, dropout=0.25):
    """An nn.Flatten() in front, as for 28×28 images (a batch of 784-vectors goes through it unchanged)."""
    return nn.Sequential(nn.Flatten(), *make_model(batch_norm, dropout))


def hidden_block(batch_norm=True, dropout=0.25):
    """The hidden layer as an nn.Sequential of its own inside the network (nested Sequentials are one Sequential)."""
    hidden = [nn.Linear(784, 1000), *([nn.BatchNorm1d(1000)] if batch_norm else []), nn.ReLU(),
              *([nn.Dropout(dropout)] if dropout > 0 else [])]
    return nn.Sequential(nn.Sequential(*hidden), nn.Linear(1000, 10))


def accuracies_as_tensors(model, train, test, n_epochs):
    result = train_and_evaluate(model, train, test, n_epochs)
    return {k: torch.tensor(v) for k, v in result.items()}  # 0-d tensors, as .float().mean() gives them


def with_a_data_loader(model, train, test, n_epochs):
    """A DataLoader for the mini-batches, time.time() for the clock, cslib.accuracy (the question allows it)."""
    import time

    from torch.utils.data import DataLoader, TensorDataset

    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(*train), batch_size=32, shuffle=True)
    start = time.time()
    for _ in range(n_epochs):
        for x, y in loader:
            cslib.train_batch(x, y, model, opt, loss_fn)
    seconds = time.time() - start
    return {"seconds": seconds, "train_acc": cslib.accuracy(*train, model), "test_acc": cslib.accuracy(*test, model)}


def numpy_accuracies(model, train, test, n_epochs):
    """Trained with cslib.train_batch; accuracies measured under torch.inference_mode, in NumPy (np.float64)."""
    result = train_and_evaluate(model, train, test, n_epochs)
    model.eval()
    with torch.inference_mode():
        accuracy = {key: np.mean(model(x).argmax(1).numpy() == y.numpy())
                    for key, (x, y) in (("train_acc", train), ("test_acc", test))}
    return {"seconds": np.float64(result["seconds"]), **accuracy}


class Network(nn.Module):
    """A run's network inside a class of one's own (results asks for the trained networks, not for nn.Sequential)."""

    def __init__(self, sequential):
        super().__init__()
        self.layers = sequential

    def forward(self, x):
        return self.layers(x)


def grown_in_a_defaultdict():
    from collections import defaultdict

    results = defaultdict(list)
    for seed in range(3):
        for name in check.RUNS:
            results[name].append(good_run(seed, name))
    return results


def bars_in_percent(results):
    fig = plot_results({n: [{**r, "train_acc": 100 * r["train_acc"], "test_acc": 100 * r["test_acc"]} for r in runs]
                        for n, runs in results.items()})
    fig.axes[0].set_ylim(0, 105)
    return fig


def errorbar_lowest_to_highest(results):
    names = list(results)
    fig, ax = plt.subplots()
    for offset, key in [(-0.2, "train_acc"), (0.2, "test_acc")]:
        values = [np.array([run[key] for run in results[n]]) for n in names]
        mean = np.array([v.mean() for v in values])
        ax.bar(np.arange(len(names)) + offset, mean, 0.4, label=key)
        ax.errorbar(np.arange(len(names)) + offset, mean, fmt="none", color="k",
                    yerr=[mean - [v.min() for v in values], [v.max() for v in values] - mean])
    ax.set_xticks(range(len(names)), names)
    return fig


def horizontal_bars(results):
    """barh with xerr, the names as y tick labels, the population standard deviation (np.std's default)."""
    names = list(results)
    fig, ax = plt.subplots()
    for offset, key in [(-0.2, "train_acc"), (0.2, "test_acc")]:
        values = [[run[key] for run in results[n]] for n in names]
        ax.barh(np.arange(len(names)) + offset, [np.mean(v) for v in values], 0.4, xerr=[np.std(v) for v in values],
                label=key)
    ax.set_yticks(range(len(names)), names)
    ax.legend()
    return fig


def one_colour_per_network(results):
    """Each network's pair of bars in its own colour, named in the legend; the ticks say train and test."""
    fig, ax = plt.subplots()
    for i, (name, runs) in enumerate(results.items()):
        values = [[run[key] for run in runs] for key in ("train_acc", "test_acc")]
        ax.bar([3 * i, 3 * i + 1], [np.mean(v) for v in values], yerr=[np.std(v, ddof=1) for v in values], label=name)
    ax.set_xticks([3 * i + k for i in range(len(results)) for k in (0, 1)], ["train", "test"] * len(results))
    ax.legend()
    return fig


def one_panel_per_split(results):
    """Two axes side by side, train accuracy left and test accuracy right, the names as categorical x values."""
    names = list(results)
    fig, axes = plt.subplots(1, 2, sharey=True)
    for ax, key in zip(axes, ("train_acc", "test_acc")):
        values = [[run[key] for run in results[n]] for n in names]
        ax.bar(names, [np.mean(v) for v in values], yerr=[np.std(v, ddof=1) for v in values], capsize=3)
        ax.set_title(key)
    return fig


RIGHT = [  # (question, a right answer written another way than the model solution, its name)
    (check.make_model, named_layers, "ordered-dict"),
    (check.make_model, appended, "appended"),
    (check.make_model, flatten_first, "flatten-first"),
    (check.make_model, hidden_block, "nested-sequential"),
    (check.train_and_evaluate, loop, "by-hand"),  # without cslib
    (check.train_and_evaluate, accuracies_as_tensors, "0-d-tensors"),
    (check.train_and_evaluate, with_a_data_loader, "data-loader"),
    (check.train_and_evaluate, numpy_accuracies, "numpy-floats"),
    (check.results, runs(lambda n, seed, run: {k: v if k == "model" else torch.tensor(v) for k, v in run.items()}), "0-d-tensors"),
    (check.results, {n: tuple(good_runs(n)) for n in check.RUNS}, "tuples"),
    (check.results, runs(lambda n, seed, run: {**run, "model": Network(run["model"])}), "model-in-a-class"),
    (check.results, grown_in_a_defaultdict(), "defaultdict-in-seed-order"),
    (check.results, runs(lambda n, seed, run: {**run, "seconds": np.float64(run["seconds"]),
                                               "train_acc": np.float32(run["train_acc"]),
                                               "test_acc": np.float64(run["test_acc"])}), "numpy-floats"),
    (check.results, runs(lambda n, seed, run: {**run, "seed": seed, "network": n}), "extra-keys"),  # more than asked: fine
    (check.plot_results, bars_in_percent, "percent"),
    (check.plot_results, errorbar_lowest_to_highest, "errorbar-lowest-to-highest"),
    (check.plot_results, horizontal_bars, "horizontal"),
    (check.plot_results, one_colour_per_network, "legend-per-network"),
    (check.plot_results, one_panel_per_split, "two-panels"),
    (check.view_shape, (60000.0, 784.0), "whole-floats"),  # sizes computed with /
    (check.view_shape, torch.Size([60000, 784]), "torch-size"),
    (check.view_shape, [60000, 784], "list"),
    (check.view_shape, torch.tensor([60000, 784]), "tensor"),
    (check.view_shape, np.array([60000, 784]), "array"),
]


@pytest.mark.parametrize("question, answer", [pytest.param(q, a, id=f"{q.answer}-{name}") for q, a, name in RIGHT])
def test_right_answers_written_another_way_pass(question, answer):
    text = verdict(question, answer)
    assert text.startswith(f"✓ {question.title}"), text


def test_view_shape_never_shows_its_answer():
    assert not check.view_shape.reveals
    for wrong in [(60000, 28, 28), (1, 784), (784,), (60000, 784, 1), "x", None, [[1, 2]]]:
        text = verdict(check.view_shape, wrong)
        assert text.startswith("✗") and "60000, 784" not in text and "(60000, 784)" not in check.view_shape.hint, text


def test_a_forged_training_payload_fails_in_the_trusted_judge():
    """What the kernel sends back for train_and_evaluate can be rewritten by the notebook; the judge measures
    the returned weights itself, on data rebuilt from the seed, so typed numbers with the kernel's measurements
    forged fail, whatever weights come with them."""
    case = check.train_and_evaluate.cases()[0][0]
    seed, shuffled = case.args
    train, test, _, model = check.synthetic_task(seed, shuffled)
    claimed = {"seconds": 2.0, "train_acc": 0.97, "test_acc": 0.95}
    forged = {"result": claimed, "training_batches": 20, "optimizers": [["Adam", 0.01]]}

    def judged(weights):
        return check.train_and_evaluate.judge(case.expected, {**forged, "weights": weights})

    initial = {k: v.numpy().astype(float) for k, v in model.state_dict().items()}
    assert "weights did not change" in judged(initial).detail
    assert "weights did not come back" in judged({}).detail
    assert "not a finite array" in judged({**initial, "0.bias": np.zeros(3)}).detail
    noise = {k: v + 0.01 for k, v in initial.items()}
    assert "but the trained model scores" in judged(noise).detail
    trained = train_and_evaluate(model, train, test, 2)  # real weights, honest numbers: passes
    weights = {k: v.numpy().astype(float) for k, v in model.state_dict().items()}
    assert check.train_and_evaluate.judge(case.expected, {**forged, "result": trained, "weights": weights}).passed


# The wrong answers these tests build, by question, named by what the check must say about each.
WRONG_ANSWERS = index(*((question.answer, message) for question, _, message in WRONG))
# The right answers written another way that they build, by question, named by their ids.
RIGHT_ANSWERS = index(*((question.answer, name) for question, _, name in RIGHT))


def test_the_results_check_measures_on_data_it_loads_itself(monkeypatch):
    """A notebook whose x_test is its x_train (so that train_acc measured on the test set would look right) changes
    nothing: the judge loads MNIST itself."""
    main = sys.modules["__main__"]
    for name, value in {"x_test": DATA["x_train"], "y_test": DATA["y_train"]}.items():
        monkeypatch.setattr(main, name, value, raising=False)
    assert verdict(check.results, RESULTS).startswith("✓")
    text = verdict(check.results, runs(lambda n, seed, run: {**run, "test_acc": run["train_acc"]}))
    assert text.startswith("✗") and "is what its model scores on (x_train, y_train)" in text, text


def test_one_trained_network_reported_as_several_runs_fails():
    same = runs(lambda n, seed, run: good_run(seed, "dropout 0.25") if n.startswith("dropout") else run)  # one for three
    text = verdict(check.results, same)
    assert text.startswith("✗") and "are the same trained network" in text, text


def test_the_judge_measures_in_the_notebooks_mode_whatever_its_own_process_says(monkeypatch, tmp_path):
    """The grader's process may run without CSLIB_FAST (or with another data folder): the driver says the notebook's
    mode, and the judge loads that data (here: the bundled samples, while its own environment says full mode)."""
    from cslib.checks import from_data
    from cslib.checks.probe import shipped_runs, to_data

    monkeypatch.setenv("CSLIB_FAST", "0")
    monkeypatch.setenv("CSLIB_DATA", str(tmp_path))  # no full MNIST here
    check._mnist.cache_clear()
    try:
        outcome = check.results.judge(check.results.cases()[0][0].expected, from_data(to_data({"fast": True, "results": shipped_runs(RESULTS)})))
    finally:
        check._mnist.cache_clear()
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("change, message", [
    (lambda w: w[:-1], "has 3 tensors of weights and buffers"),
    (lambda w: [w[0], [w[1][0], w[1][1].astype(np.float64)], *w[2:]], "cannot be read (0.bias: not an array of float32"),
    (lambda w: [w[0], [w[1][0], {"data": "AAAA"}], *w[2:]], "cannot be read (0.bias: not an array"),
    (lambda w: [w[0], [w[1][0], w[1][1][:999]], *w[2:]], "0.bias of shape (999,) where the network"),
    (lambda w: [["x" * 10**6, w[0][1].reshape(784, 1000)], *w[1:]], "x" * 80 + "... of shape (784, 1000)"),
    (lambda w: [[w[0][0], np.full((1000, 784), np.nan, np.float32)], *w[1:]], "not finite"),
])
def test_forged_weights_are_refused_before_they_are_used(change, message):
    """What the judge reads: the shipped weights after the one codec (``from_data``) rebuilt their arrays."""
    from cslib.checks import from_data
    from cslib.checks.probe import ship_model, to_data
    from cslib.checks.weights import load_shipped

    shipped = from_data(to_data(ship_model(NETWORKS["dropout 0.25", 0])))
    model = cslib.models.mlp(dropout=0.25)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    problem = load_shipped(model, {**shipped, "weights": change(shipped["weights"])})
    assert message in problem, problem
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing was loaded


@pytest.mark.parametrize("change, message", [
    (lambda a: {**a, "data": "not base64!"}, "not base64"),
    (lambda a: {**a, "dtype": "object"}, "not numbers"),
    (lambda a: {**a, "dtype": "no such type"}, "unknown dtype"),
    (lambda a: {**a, "shape": [999]}, "4000 bytes for a shape of 999 numbers of 4 bytes"),
    (lambda a: {**a, "data": "AAAAAAA="}, "5 bytes for a shape of 1000 numbers"),
    (lambda a: {**a, "shape": [-1]}, "a 'shape' list of sizes"),
    (lambda a: {**a, "shape": "1000"}, "a 'shape' list of sizes"),
])
def test_forged_arrays_are_refused_by_the_codec(change, message):
    """A kernel may send anything in place of an encoded array: the trusted side's decoder (``from_data``) refuses
    what is not one, and the grader counts that result as failed (cslib.grade.scoring)."""
    from cslib.checks import from_data
    from cslib.checks.probe import encode_array

    encoded = encode_array(np.zeros(1000, np.float32))
    with pytest.raises(ValueError, match=re.escape(message)):
        from_data({"bias": {"$ndarray": change(encoded["$ndarray"])}})


def test_the_results_driver_is_self_contained():
    """The grader sends a driver's source into the student's kernel: no module globals may be used."""
    names = set(check.drive_results.__code__.co_names)
    for const in check.drive_results.__code__.co_consts:
        names |= set(getattr(const, "co_names", ()))
    assert not names & {k for k in vars(check) if not k.startswith("__")}
