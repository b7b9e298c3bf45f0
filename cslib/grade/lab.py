"""The lab a grading run scores: its questions, and their cases as data a student's kernel can rebuild.

The questions of lab NN live in ``cslib.checks.labNN.QUESTIONS`` (or any module passed with
``--questions``). Each question's fixed cases are its *visible* tests (the inline check shows
them too); its random cases, drawn with the run's seed, are its *hidden* tests. Expected values
stay in the grader's process; only the arguments travel into the kernel, encoded by
:func:`encode_value` and rebuilt there by ``kernelside.decode_value``.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cslib.checks import Question
from cslib.checks.probe import encode_array


class GradingSetupError(Exception):
    """The grading run itself cannot start (bad lab, bad options): reported before any submission runs."""



@dataclass
class GradingCase:
    """One test of a question: encoded arguments for the kernel, the expected plain data, how to show it."""

    args: Any
    expected: Any
    shown: str
    hidden: bool


@dataclass
class Lab:
    lab_id: str  # "lab01", or "" when unknown (custom questions without lab metadata)
    questions: list[Question]
    source: str  # where the questions came from, for messages

    @property
    def max_total(self) -> float:
        return float(sum(q.points for q in self.questions))


def load_lab(lab: str, questions_module: str | None = None) -> Lab:
    """The lab named by a lab notebook (metadata ``cslib.lab`` or its file name) or an id like ``lab01``."""
    from cslib.labs import LAB_NAME

    lab_id = ""
    path = Path(lab)
    if re.fullmatch(r"lab\d\d", lab):
        lab_id = lab
    elif path.exists():
        try:
            lab_id = str(json.loads(path.read_text(encoding="utf-8"))["metadata"]["cslib"]["lab"] or "")
        except (OSError, ValueError, KeyError, TypeError):
            lab_id = ""
        if not lab_id and LAB_NAME.match(path.name):
            lab_id = LAB_NAME.match(path.name).group(1)
    elif not questions_module:
        raise GradingSetupError(f"{lab}: no such file (give the lab notebook, e.g. labs/lab01_....ipynb, or a lab id like lab01)")
    if not lab_id and not questions_module:
        raise GradingSetupError(f"cannot tell which lab {lab} is: it has no cslib.lab metadata and is not named "
                                f"labNN_topic.ipynb; pass --questions MODULE")
    name = questions_module or f"cslib.checks.{lab_id}"
    try:
        if name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(name).stem, name)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {name}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(name)
    except ImportError as e:
        raise GradingSetupError(f"no questions for {lab_id or lab}: cannot import {name} ({e}); pass --questions MODULE") from e
    questions = getattr(module, "QUESTIONS", None)
    if not questions or not all(isinstance(q, Question) for q in questions):
        raise GradingSetupError(f"{name} has no QUESTIONS list of cslib.checks.Question")
    return Lab(lab_id, list(questions), name)


def encode_value(value: Any) -> Any:
    """Case arguments as tagged plain data the kernel rebuilds exactly (``kernelside.decode_value``)."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v) for v in value]}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {"$dict": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError("arrays of Python objects cannot be sent to the kernel")
        data = encode_array(array)["$ndarray"]
        return {"$npscalar" if isinstance(value, np.generic) else "$ndarray": data}
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.Size):
            return {"$size": [int(v) for v in value]}
        if isinstance(value, torch.dtype):
            return {"$torch_dtype": str(value).removeprefix("torch.")}
        if torch.is_tensor(value):
            tensor = value.detach().cpu()
            try:
                array = tensor.numpy()
            except TypeError:  # bfloat16 and friends: sent as float32, cast back in the kernel
                array = tensor.float().numpy()
            data = {**encode_array(array)["$ndarray"], "torch_dtype": str(tensor.dtype).removeprefix("torch."),
                    "requires_grad": bool(value.requires_grad)}
            return {"$tensor": data}
    if isinstance(value, (bool, int, float, str)):  # subclasses (IntEnum, ...); NumPy's are handled above
        return encode_value({bool: bool, int: int, float: float, str: str}[next(
            t for t in (bool, int, float, str) if isinstance(value, t))](value))
    raise TypeError(f"a case argument of type {type(value).__name__} cannot be sent to the student's kernel; "
                    f"use numbers, strings, lists, tuples, dicts, arrays or tensors, or a driver probe")


def draw_cases(lab: Lab, seed: int) -> list[list[GradingCase]]:
    """Every question's cases: its fixed (visible) ones, then its random ones drawn with ``seed`` (hidden)."""
    all_cases = []
    for number, question in enumerate(lab.questions):
        rng = np.random.default_rng([seed, number])
        try:
            fixed, randoms = question.cases(rng)
            cases = [GradingCase(encode_value(tuple(c.args)), c.expected, c.shown, hidden=False) for c in fixed]
            cases += [GradingCase(encode_value(tuple(c.args)), c.expected, c.shown, hidden=True) for c in randoms]
        except Exception as e:
            raise GradingSetupError(f"{lab.source}: the cases of question {question.answer!r} cannot be prepared: "
                                    f"{type(e).__name__}: {e}") from e
        if not cases:
            raise GradingSetupError(f"{lab.source}: question {question.answer!r} has no cases")
        all_cases.append(cases)
    return all_cases


def question_requests(lab: Lab, cases: list[list[GradingCase]]) -> list[dict]:
    """What the worker sends into the kernel (no expected values: those stay here), in two phases: every question's
    visible cases first, then every question's hidden cases. So no hidden input is in the student's kernel while a
    visible case runs, whose result and error text reach the feedback. ``question`` and ``phase`` say where each
    request belongs; :func:`cslib.grade.scoring.merge_phases` puts the records back together."""
    requests, hidden = [], []
    for number, (question, qcases) in enumerate(zip(lab.questions, cases)):
        request = {"answer": question.answer, "probe": None, "driver": None, "driver_source": None,
                   "reject": list(question.reject), "question": number, "max_chars": question.result_chars}
        if callable(question.probe):
            try:
                source = textwrap.dedent(inspect.getsource(question.probe))
            except (OSError, TypeError) as e:
                raise GradingSetupError(f"{lab.source}: the driver of {question.answer!r} has no source ({e})") from e
            if not source.lstrip().startswith("def "):
                raise GradingSetupError(f"{lab.source}: the driver of {question.answer!r} must be a plain `def` function")
            request.update(driver=question.probe.__name__, driver_source=source)
        else:
            request["probe"] = question.probe
        visible = [c.args for c in qcases if not c.hidden]
        secret = [c.args for c in qcases if c.hidden]
        if visible or not secret:
            requests.append({**request, "phase": "visible", "cases": visible})
        if secret:
            hidden.append({**request, "phase": "hidden", "cases": secret})
    return requests + hidden
