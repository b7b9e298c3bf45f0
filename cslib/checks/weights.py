"""Trained models measured by the judge, not by the kernel: weights that came back as plain data
(:func:`cslib.checks.probe.ship_model`) are loaded into a network built here and measured here, on
data loaded here. In the grader this runs in its own (trusted) process, so a notebook that forges
its accuracies, swaps its data or rewrites the measuring code in its kernel changes nothing: the
accuracies must be those of the weights it hands in. Nothing here unpickles: the weights are raw
float32/int64 bytes (``probe.encode_array``, rebuilt by ``checks.from_data``), checked for count, shape and finite
values before they are used.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

DTYPES = (np.dtype(np.float32), np.dtype(np.int64))


def unwrap(got: Any) -> tuple[bool, Any]:
    """(whether the notebook ran in fast mode, its results) from what a lab's results driver returns,
    ``{"fast": ..., "results": ...}``; a value without that wrapper was not made by a driver (a test handing it in
    directly): then the mode of this process."""
    if isinstance(got, dict) and set(got) == {"fast", "results"}:
        return bool(got["fast"]), got["results"]
    from cslib.runtime import fast_mode

    return fast_mode(), got


def not_shipped(shipped: Any) -> dict | None:
    """``{"type": ...}`` for a run's "model" that did not come back as weights (not an nn.Module in the notebook), as
    ``measured_problem`` reads it; None for shipped weights."""
    if isinstance(shipped, dict) and "weights" in shipped:
        return None
    from cslib.checks import describe

    return shipped if isinstance(shipped, dict) and "type" in shipped else {"type": describe(shipped)}


def load_shipped(model: nn.Module, shipped: Any) -> str:
    """Load ``shipped`` (what ``ship_model`` made of the student's model) into ``model``, built by trusted code: by name
    where the names are the network's own (an ``nn.Sequential`` as the question builds it), else tensor by tensor in
    ``state_dict`` order (a class with the same layers); '' or what does not fit. Nothing is loaded unless all fits."""
    if not isinstance(shipped, dict) or not isinstance(shipped.get("weights"), list):
        return "did not come back as a trained model"
    expected = model.state_dict()
    got = shipped["weights"]
    if len(got) != len(expected):
        return (f"has {len(got)} tensors of weights and buffers where the network the question asks for has "
                f"{len(expected)}: is it that network?")
    names = [_short(item[0]) if isinstance(item, list) and item and isinstance(item[0], str) else "?" for item in got]
    if set(names) == set(expected):  # the same names: each tensor goes where its name says
        place = {name: i for i, name in enumerate(expected)}
        got = sorted(got, key=lambda item: place[item[0]])
        names = list(expected)
    loaded = {}
    for (name, reference), theirs, item in zip(expected.items(), names, got):
        array = _decode(item)
        if isinstance(array, str):
            return f"has weights that cannot be read ({theirs}: {array})"
        if array.shape != tuple(reference.shape):
            return (f"has {theirs} of shape {array.shape} where the network the question asks for has {name} of shape "
                    f"{tuple(reference.shape)}: is it that network?")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            return f"has weights that are not finite numbers (in {theirs})"
        loaded[name] = torch.from_numpy(array.copy()).to(reference.dtype)
    model.load_state_dict(loaded)
    return ""


def fingerprint(shipped: Any) -> str | None:
    """A hash of a shipped model's weights (None if it has none): two runs with the same one are one trained network."""
    import hashlib

    if not isinstance(shipped, dict) or not isinstance(shipped.get("weights"), list):
        return None
    digest = hashlib.sha256()
    for item in shipped["weights"]:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[1], np.ndarray):
            digest.update(str((item[1].dtype.str, item[1].shape)).encode())
            digest.update(np.ascontiguousarray(item[1]).tobytes())
    return digest.hexdigest()


def seeds_problem(what: str, runs: Any, seeds: int, one_run: str = "") -> str:
    """What is wrong with ``runs`` as a list of one run per seed ("" if nothing); ``one_run`` ends the message for a
    single run handed in where the list belongs."""
    from cslib.checks import describe

    if isinstance(runs, dict):
        return f"{what} is one run: give a list of {seeds} runs, one per seed (seeds 0 to {seeds - 1}){one_run}"
    if not isinstance(runs, (list, tuple)) or len(runs) != seeds:
        return f"{what} should be a list of {seeds} runs, one per seed, got {describe(runs)}"
    return ""


def same_network(runs: dict[str, Any], fix: str) -> str:
    """The first two of ``{where: run}`` that hand in one trained network (the same weights), or "": the message
    names both and ends with ``fix``."""
    seen: dict[str, str] = {}
    for what, run in runs.items():
        key = fingerprint(run.get("model")) if isinstance(run, dict) else None
        if key is None:  # no weights: what is wrong with that run is said elsewhere
            continue
        first = seen.setdefault(key, what)
        if first != what:
            return f"{first} and {what} are the same trained network: {fix}"
    return ""


def _short(name: str, limit: int = 80) -> str:
    return name if len(name) <= limit else name[:limit] + "..."


def _decode(item: Any) -> np.ndarray | str:
    if not (isinstance(item, list) and len(item) == 2):
        return "not [name, tensor]"
    if not isinstance(item[1], np.ndarray) or item[1].dtype not in DTYPES:
        return "not an array of float32 or int64"
    return item[1]


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """The fraction of ``x`` that ``model`` classifies as ``y``, in evaluation mode, without gradients, on the CPU."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y), batch):
            correct += int((model(x[start:start + batch]).argmax(1) == y[start:start + batch]).sum())
    return correct / max(1, len(y))
