"""Inline checks for the labs, and the questions the instructor's grader scores.

A lab question is a :class:`Question`: the name of the student's answer (a function, a value or
a model), its points, fixed cases the student sees and random cases the student did not
choose. In a lab, ``check.conv2d()`` finds ``conv2d`` in the notebook, runs every case and
prints ✓, or ✗ with what is wrong and a hint. In a student's session it never raises (under a grader, see below).

The grader (``cslib.grade``) runs the same questions with random cases of its own ("hidden"),
calling the student's code inside the student's kernel and comparing here, on plain data.

What a check reveals (docs/students.md states the same policy for students):

- a question whose answer is a function (``conv2d``, ``vgg_output_shapes``...) shows, for a visible
  case, what was expected next to what came back: the student wrote the method, and seeing a
  worked example teaches;
- a question answered by hand (``view_shape``, the exercise's C, D and E, ``cnn_table``,
  ``params_by_hand``) has ``reveals=False``: its feedback says what is wrong and gives a hint, never
  the expected value, which could be copied;
- the grader's hidden cases never show their inputs, expected values or results (``cslib.grade``).

In an nbgrader course the same check cells are nbgrader's autograder tests. When a grader runs the
notebook (nbgrader's ``validate`` and ``autograde`` set ``NBGRADER_EXECUTION``; ``CSLIB_CHECKS_RAISE=1``
does the same for any other runner), a failed check raises :class:`CheckFailed` instead of printing,
so the grader sees the failure; the notebook shows the same ✗ text, without a traceback. In the
instructor's version, ``check.conv2d.hidden(seed=...)`` between ``### BEGIN HIDDEN TESTS`` and ``### END
HIDDEN TESTS`` runs the question's random cases with a seed the student never sees, and says only
whether each passed (nbgrader removes that region from the students' notebooks).

Each lab's questions live in ``cslib.checks.labNN``; import them as ``from cslib.checks import lab01 as check``.
"""
from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from cslib.checks.probe import decode_array, run_probe

_MISSING = object()
MAX_SHOWN_FAILURES = 2
GRADER_ENV = "NBGRADER_EXECUTION"  # nbgrader sets it to "validate" or "autograde" while it runs a notebook
RAISE_ENV = "CSLIB_CHECKS_RAISE"  # 1: failed checks raise, for graders other than nbgrader


def graded_run() -> bool:
    """True while a grader runs the notebook: nbgrader's validate or autograde, or ``CSLIB_CHECKS_RAISE=1``."""
    if os.environ.get(GRADER_ENV, "").strip():
        return True
    return os.environ.get(RAISE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class CheckFailed(AssertionError):
    """A check that failed while a grader runs the notebook: its ✗ message, which Jupyter shows without a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of the traceback
        return str(self).splitlines()


def verdict(message: str) -> None:
    """Print a check's ✓/✗ message; in a graded run a ✗ is raised instead (:class:`CheckFailed`), so the grader sees it."""
    if graded_run() and not message.startswith("✓"):
        raise CheckFailed(message)
    print(message)


@dataclass
class Case:
    """Arguments for the student's answer, the expected result (plain data) and how to show it."""

    args: tuple = ()
    expected: Any = None
    shown: str = ""


@dataclass
class Outcome:
    passed: bool
    detail: str = ""


@dataclass
class Question:
    """One auto-checked lab question (see the module docstring)."""

    answer: str  # the name the student's function/value/model has in the notebook
    title: str
    points: float = 1.0
    probe: str | Callable = "call"  # "call", "value", "model", "call_model" or a driver (see probe.run_probe)
    hint: str = ""
    fixed: Callable[[], list[Case]] = field(default=lambda: [])
    random: Callable[[np.random.Generator], list[Case]] | None = None
    compare: Callable[[Any, Any], Outcome] | None = None
    reject: tuple[str, ...] = ()  # "module.qualname" of reference functions that may not be handed in
    reveals: bool = True  # False: answered by hand; feedback never shows the expected value (module docstring)
    result_chars: int | None = None  # the grader's cap on one case's result as JSON, where the default is too small

    def cases(self, rng: np.random.Generator | None = None) -> tuple[list[Case], list[Case]]:
        """(fixed cases, random cases); random ones are drawn with ``rng`` (fresh if None)."""
        fixed = [_normalize(c) for c in self.fixed()]
        randoms = [_normalize(c) for c in self.random(rng or np.random.default_rng())] if self.random else []
        return fixed, randoms

    def judge(self, expected: Any, got: Any) -> Outcome:
        return (self.compare or compare_data)(expected, got)

    def __call__(self, answer: Any = _MISSING) -> None:
        """The inline check: find the answer (or take it as given), run all cases, print the verdict.

        In a graded run (:func:`graded_run`) a failure raises :class:`CheckFailed` instead of printing.
        """
        if answer is _MISSING:
            caller = inspect.currentframe().f_back.f_globals
            if self.answer not in caller:
                return verdict(self._undefined())
            answer = caller[self.answer]
        verdict(report(self, answer))

    def hidden(self, seed: int, answer: Any = _MISSING) -> None:
        """The hidden tests of the instructor's version: the random cases drawn with ``seed``.

        The message never shows a hidden case's inputs, expected value or result, only whether it
        passed and roughly why not; in a graded run a failure raises :class:`CheckFailed`.
        """
        if answer is _MISSING:
            caller = inspect.currentframe().f_back.f_globals
            if self.answer not in caller:
                return verdict(self._undefined())
            answer = caller[self.answer]
        verdict(hidden_report(self, answer, np.random.default_rng(seed)))

    def _undefined(self) -> str:
        return f"✗ {self.title}: `{self.answer}` is not defined yet. Write it, run its cell, then run this check again."


def report(question: Question, answer: Any, rng: np.random.Generator | None = None) -> str:
    """Run every case of ``question`` on ``answer`` in this process; the ✓/✗ text for the student."""
    fixed, randoms = question.cases(rng)
    stop, failures = _run_cases(question, answer, [("", c) for c in fixed] + [("random ", c) for c in randoms])
    if stop:
        return stop
    total = len(fixed) + len(randoms)
    counts = f"{len(fixed)} fixed" + (f", {len(randoms)} random" if randoms else "")
    if not failures:
        return f"✓ {question.title}: passed." if total == 1 else f"✓ {question.title}: all {total} cases passed ({counts})."
    lines = [f"✗ {question.title}: {len(failures)} of {total} cases failed ({counts})."]
    for kind, case, outcome, _ in failures[:MAX_SHOWN_FAILURES]:
        lines.append(f"  {kind}case {case.shown}".rstrip() + ":")
        lines.extend("    " + line for line in outcome.detail.splitlines())
    if len(failures) > MAX_SHOWN_FAILURES:
        lines.append(f"  ... and {len(failures) - MAX_SHOWN_FAILURES} more.")
    if question.hint:
        lines.append(f"  Hint: {question.hint}")
    return "\n".join(lines)


def hidden_report(question: Question, answer: Any, rng: np.random.Generator) -> str:
    """Run the random cases of ``question`` drawn with ``rng``; the text says only which passed (as the grader's)."""
    _, randoms = question.cases(rng)
    if not randoms:
        raise ValueError(f"{question.answer} has no random cases to hide: give it a `random` or leave out its hidden tests")
    stop, failures = _run_cases(question, answer, [("hidden ", c) for c in randoms])
    if stop:
        return stop
    if not failures:
        return (f"✓ {question.title}: the hidden case passed." if len(randoms) == 1 else
                f"✓ {question.title}: all {len(randoms)} hidden cases passed.")
    lines = [f"✗ {question.title}: the hidden case failed." if len(randoms) == 1 else
             f"✗ {question.title}: {len(failures)} of {len(randoms)} hidden cases failed."]
    numbers = {id(c): i for i, c in enumerate(randoms, 1)}
    for _, case, _, error in failures:
        lines.append(f"  hidden case {numbers[id(case)]}: failed ({f'your code raised {error}' if error else 'wrong result'})")
    lines.append("  (Hidden cases do not show their inputs or expected values: run the visible check above for details.)")
    return "\n".join(lines)


def _run_cases(question: Question, answer: Any, cases: list[tuple[str, Case]]) -> tuple[str, list]:
    """(why the whole answer fails, or ''; the failed cases as (kind, case, outcome, name of the exception raised or ''))."""
    problem = rejected(question, answer)
    if problem:
        return f"✗ {question.title}: {problem}", []
    from cslib.checks.probe import find_references, watch_references, wrapped_references

    references = find_references(question.reject)
    used = wrapped_references(answer, references) if references else set()  # grows while the cases run
    failures = []
    for kind, case in cases:
        stop_watching = watch_references(references, used) if references else None
        outcome, error = None, ""
        try:
            got = from_data(run_probe(answer, question.probe, case.args))
        except NotImplementedError:
            return f"✗ {question.title}: not written yet (the cell still raises NotImplementedError).", []
        except Exception as e:  # the student's code failed: say how, without a cslib traceback
            outcome, error = Outcome(False, f"raised {type(e).__name__}: {e}"), type(e).__name__
        finally:
            if stop_watching is not None:
                stop_watching()
        if outcome is None:
            try:
                outcome = question.judge(case.expected, got)
            except Exception as e:  # a result of a shape no judge foresaw: say so, never a cslib traceback
                outcome = Outcome(False, f"the check could not read this result ({type(e).__name__}: {e}); "
                                         f"return what the question asks for (got {describe(got)})")
        if not outcome.passed:
            failures.append((kind, case, outcome, error))
    if used:  # the same rule, and the same words, as the grader's (cslib.grade.scoring)
        return f"✗ {question.title}: `{question.answer}` calls or wraps {reference_label(sorted(used))}; write your own version.", []
    return "", failures


def reference_label(names: list[str]) -> str:
    """How a message names the functions a question refuses: cslib's own, or ready-made ones (PyTorch's, NumPy's)."""
    names = list(dict.fromkeys(n.removesuffix("._implementation") for n in names))  # NumPy's dispatchers: numpy.pad
    own = [n for n in names if n.startswith("cslib.")]
    ready = [n for n in names if not n.startswith("cslib.")]
    return " and ".join(([f"cslib's own {', '.join(own)}"] if own else [])
                        + ([f"the ready-made {', '.join(ready)} (the question asks you to write it yourself)"] if ready else []))


def rejected(question: Question, answer: Any) -> str:
    """Why ``answer`` may not be handed in (it is one of the functions the question refuses), or ''."""
    name = f"{getattr(answer, '__module__', '')}.{getattr(answer, '__qualname__', '')}"
    if name in question.reject:
        return f"`{question.answer}` is {reference_label([name])}; write your own version."
    return ""


# --------------------------------------------------------------------------- plain data
def _normalize(case: Case) -> Case:
    from cslib.checks.probe import to_data

    return Case(case.args, from_data(to_data(case.expected)), case.shown)


def from_data(data: Any) -> Any:
    """Undo ``probe.to_data``: ``{"$ndarray": ...}`` becomes the NumPy array again (``probe.decode_array``, which
    raises ValueError for anything that is not one), ``{"$float": "nan"}`` the float."""
    if isinstance(data, dict):
        if set(data) == {"$ndarray"}:
            return decode_array(data["$ndarray"])
        if set(data) == {"$float"}:
            if data["$float"] not in ("nan", "inf", "-inf"):
                raise ValueError(f"not a float that JSON cannot hold: {str(data['$float'])[:40]!r}")
            return float(data["$float"])
        return {k: from_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [from_data(v) for v in data]
    return data


def describe(value: Any) -> str:
    """What the student handed in, in the student's terms (plain data: a tensor arrives as an array)."""
    if value is None:
        return "None (a function that forgets to `return` gives None)"
    if isinstance(value, bool):
        return f"the bool {value}"
    if isinstance(value, int):
        return f"the int {value}"
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, str):
        return f"the string {fmt(value, 60)}"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return f"a single number in a 0-d tensor or array ({fmt(value.item())}; .item() gives the Python number)"
        return f"a tensor or array of shape {tuple(value.shape)}"
    if isinstance(value, list):
        return f"a list or tuple of {len(value)} item{'s' if len(value) != 1 else ''}: {fmt(value, 120)}"
    if isinstance(value, dict):
        return f"a dict with the keys {fmt(list(value), 160)}"
    return type(value).__name__


def as_number(value: Any) -> float | None:
    """``value`` as a float if it is a number (an int, a float, or a one-number 0-d array or tensor), else None."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def as_int(value: Any) -> int | None:
    """``value`` as an int if it is a whole number (``26``, ``26.0``, a 0-d tensor holding 26), else None."""
    number = as_number(value)
    if number is None or not math.isfinite(number) or number != int(number):
        return None
    return int(number)


def count_problem(name: str, value: Any) -> str:
    """Why ``value`` cannot be a count or a size (``name`` says which), or '' if it is a whole number."""
    number = as_number(value)
    if number is None:
        return f"{name} should be a whole number, got {describe(value)}"
    if as_int(value) is None:
        return f"{name} is {number:g}, not a whole number: sizes and counts are integers (use integer division //)"
    return ""


def fraction_problem(name: str, value: Any) -> str:
    """Why ``value`` is not an accuracy given as a fraction in [0, 1], or ''; a percentage is named as such."""
    number = as_number(value)
    if number is None:
        return f"{name} should be a number (a fraction in [0, 1]), got {describe(value)}"
    if 1 < number <= 100:
        return f"{name} is {number:g}: give a fraction in [0, 1] ({number / 100:g}), not a percentage"
    if not 0 <= number <= 1:
        return f"{name} is {number:g}, which is not an accuracy: give a fraction in [0, 1]"
    return ""


MEASURE_TOLERANCE = 0.001  # a reported accuracy and its model's accuracy now: 10 of 10,000 test digits (at least)


def measure_tolerance(n: int) -> float:
    """How far a reported accuracy on ``n`` examples may be from the judge's: MEASURE_TOLERANCE, or two examples where
    that is less (a model measured on a GPU, where the judge measures on the CPU, may flip a prediction or two)."""
    return max(MEASURE_TOLERANCE, 2 / max(1, n))


def measured_problem(what: str, run: dict, sets: dict[str, str]) -> str:
    """Whether a run's own model, measured again by the judge (``run["model"]``: what a lab's ``remeasure_run`` made of
    the weights that came back, see ``cslib.checks.weights``), gives the accuracies the run reports (``sets``: each key
    and the notebook's data it is measured on, e.g. ``{"test_acc": "(x_test, y_test)"}``) and its number of trainable
    parameters; '' if so, else what is wrong."""
    now = run["model"]
    if not isinstance(now, dict) or "type" in now:
        kind = now.get("type") if isinstance(now, dict) else describe(now)
        return f"{what}['model'] should be the trained model of that run (an nn.Module), got {kind}"
    if "not_this" in now:
        return f"{what}['model'] {now['not_this']}"
    tolerance = now.get("tolerance") if isinstance(now.get("tolerance"), dict) else {}

    def close(a, b, key):  # within two images of that set, or MEASURE_TOLERANCE (another device may flip one or two)
        return a is not None and b is not None and abs(a - b) <= tolerance.get(key, MEASURE_TOLERANCE)

    for key, data in sets.items():
        reported, again = as_number(run[key]), as_number(now.get(key))
        if not close(reported, again, key):
            other = next((k for k in sets if k != key and close(reported, as_number(now.get(k)), k)), None)
            if other is not None and close(as_number(run[other]), again, key):
                return f"{what}[{key!r}] and {what}[{other!r}] are swapped: each is what its model scores on the other's data"
            if other is not None:
                return (f"{what}[{key!r}] is what its model scores on {sets[other]}: measure {key} on {data}")
            return (f"{what}[{key!r}] is {reported:.4f}, but its model scores {again:.4f} on {data} now: measure it with the "
                    "model of that run, after its training, in evaluation mode (not a number typed in, not other data)")
    if "trainable" in run and as_int(now.get("trainable")) != as_int(run["trainable"]):
        return (f"{what}['trainable'] is not the number of trainable parameters of {what}['model']: is 'model' the model "
                "of that run, the one that was set up, trained and counted?")
    return ""


def fmt(value: Any, limit: int = 300) -> str:
    """A short readable rendering of plain data for messages."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=4, suppress_small=True, threshold=60)
        text = f"array of shape {value.shape}:\n{text}" if value.ndim > 1 else text
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def compare_data(expected: Any, got: Any, rtol: float = 1e-4, atol: float = 1e-5) -> Outcome:
    """Structural comparison of plain data, with numbers compared up to a tolerance."""
    problem = _difference(expected, got, rtol, atol, path="")
    if problem is None:
        return Outcome(True)
    return Outcome(False, f"{problem}\nexpected: {fmt(expected)}\ngot:      {fmt(got)}")


def _difference(expected, got, rtol, atol, path) -> str | None:
    where = f" at {path}" if path else ""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict{where}, got {describe(got)}"
        missing = [k for k in expected if k not in got]
        if missing:
            return f"missing key(s){where}: {', '.join(map(repr, missing))}"
        for k in expected:
            problem = _difference(expected[k], got[k], rtol, atol, f"{path}[{k!r}]")
            if problem:
                return problem
        return None
    if isinstance(expected, list) and isinstance(got, np.ndarray) and got.ndim > 0:
        return _difference(expected, got.tolist(), rtol, atol, path)  # a tensor where a list (of shapes...) is expected
    if isinstance(expected, np.ndarray) or isinstance(got, np.ndarray):
        try:
            e, g = np.asarray(expected), np.asarray(got)
        except ValueError:  # a ragged list
            return f"expected an array{where}, got {describe(got)}"
        if g.dtype.kind not in "biuf":  # None, strings, objects
            return f"expected an array{where}, got {describe(got)}"
        if e.shape != g.shape:
            return f"wrong shape{where}: expected {e.shape}, got {g.shape}"
        if e.dtype == bool or g.dtype == bool:
            return None if np.array_equal(e, g) else f"wrong values{where}"
        if not np.allclose(g.astype(float), e.astype(float), rtol=rtol, atol=atol, equal_nan=True):
            bad = np.argwhere(~np.isclose(g.astype(float), e.astype(float), rtol=rtol, atol=atol, equal_nan=True))
            first = tuple(int(i) for i in bad[0]) if bad.size else ()
            return f"wrong values{where}: {len(bad)} entries differ, first at index {first}"
        return None
    if isinstance(expected, bool) or isinstance(got, bool):
        return None if type(expected) is type(got) and expected == got else f"expected {expected!r}{where}, got {got!r}"
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        if math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=atol):
            return None
        if isinstance(expected, int) and isinstance(got, float) and as_int(got) is None:
            return f"expected the whole number {expected!r}{where}, got {got!r} (use integer division //)"
        return f"expected {expected!r}{where}, got {got!r}"
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"expected a sequence{where}, got {describe(got)}"
        if len(expected) != len(got):
            return f"expected {len(expected)} items{where}, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = _difference(e, g, rtol, atol, f"{path}[{i}]")
            if problem:
                return problem
        return None
    return None if expected == got else f"expected {expected!r}{where}, got {got!r}"


IGNORED_LAYERS = {"Identity", "Flatten"}


def significant_layers(description: dict) -> list[dict]:
    """The layers that matter when comparing models: no Identity/Flatten, no dropout with p = 0."""
    return [layer for layer in description["layers"]
            if layer["type"] not in IGNORED_LAYERS and not (layer["type"] == "Dropout" and layer.get("p") == 0)]


def not_sequential(container: str | None) -> str:
    """The message for a network written as a class where the question asks for one ``nn.Sequential``."""
    return (f"the network is a {container or 'model'} class with its own forward(): the question asks for one "
            "nn.Sequential, the layers in the order the data goes through them (no class to write)")


def compare_models(expected: dict, got: dict) -> Outcome:
    """Same layers in the same order (types and settings), same parameter count and output shape."""
    def summary(layers):
        return ", ".join(layer["type"] + (f"(p={layer['p']})" if "p" in layer else "") for layer in layers)

    want, have = significant_layers(expected), significant_layers(got)
    if expected.get("require_sequential") and got.get("sequential") is False:
        return Outcome(False, not_sequential(got.get("container")))
    if [layer["type"] for layer in want] != [layer["type"] for layer in have]:
        return Outcome(False, f"expected layers {summary(want)}\ngot layers      {summary(have)}")
    for i, (w, h) in enumerate(zip(want, have)):
        for key, value in w.items():
            if key in ("params", "trainable"):
                continue
            if h.get(key) != value and not (isinstance(value, float) and abs(h.get(key, -1) - value) < 1e-9):
                return Outcome(False, f"layer {i + 1} ({w['type']}): expected {key}={value!r}, got {h.get(key)!r}")
    if got.get("forward_error"):
        return Outcome(False, f"a batch of inputs does not go through the model: {got['forward_error']}")
    if expected["n_params"] != got["n_params"]:
        return Outcome(False, f"expected {expected['n_params']:,} parameters, got {got['n_params']:,}")
    if "output_shape" in expected and expected["output_shape"] != got.get("output_shape"):
        return Outcome(False, f"expected output shape {expected['output_shape']}, got {got.get('output_shape')}")
    return Outcome(True)
