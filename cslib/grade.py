"""The instructor's grader: run every submitted lab notebook, score each question, write the grades.

    python -m cslib.grade labs/lab01_dropout_batchnorm.ipynb submissions/*.ipynb --out grades.csv -j 4

For each submission: a scratch copy in its own folder, a fresh guarded kernel in a worker
process (``cslib.grade_worker``) with time and memory limits, then the lab's questions
(``cslib.checks.labNN.QUESTIONS``): the visible cases the students saw plus hidden cases drawn
with this run's seed. The kernel only returns plain data; every comparison happens here, in the
trusted process. Writes a CSV (one row per student), a markdown feedback file per submission and,
on request, Gradescope ``results.json`` files. A submission that cannot be graded gets status
"failed" and its reason, never a silent 0. See README.md, "Grading (instructors)".
"""
from __future__ import annotations

import argparse
import base64
import concurrent.futures
import importlib
import importlib.util
import inspect
import json
import math
import os
import re
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cslib import grade_kernelside, grade_worker
from cslib.grade_worker import GUARD_TAG
from cslib.checks import Question, from_data, probe

MAX_NOTEBOOK_BYTES = 100 * 2**20
FILE_SIZE_LIMIT = 4 * 2**30  # largest file a kernel may write (RLIMIT_FSIZE)
RESULT_CHARS = 2 * 2**20  # largest result of one test case, as JSON
CSLIB_ROOT = Path(__file__).resolve().parent.parent  # the folder that holds the cslib package
SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|API_?KEY|PRIVATE|^AWS_|^AZURE_|^GH_|^GITHUB_|^GOOGLE_APPLICATION", re.I)
# Not passed to kernels: startup code, and caches a kernel would write (their defaults lie in HOME/TMPDIR).
PRIVATE_CACHES = ("PYTHONSTARTUP", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "TORCH_EXTENSIONS_DIR", "CUDA_CACHE_PATH",
                  "PYTORCH_KERNEL_CACHE_PATH", "NUMBA_CACHE_DIR", "IPYTHONDIR", "JUPYTER_PATH")
COPY_PREFIX = re.compile(r"^copy of\s+", re.I)
COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\)|\s*-\s*copy(?:\s*\(?\d+\)?)?|[ _-](?:copy|final|late|resubmit(?:ted)?|resubmission)"
                         r"|[ _-]v\d{1,3}|[ _-]\d)$", re.I)


class GradingSetupError(Exception):
    """The grading run itself cannot start (bad lab, bad options): reported before any submission runs."""


# --------------------------------------------------------------------------- options
@dataclass
class Options:
    """Limits and switches of one grading run (the command line's options)."""

    jobs: int = 1
    seed: int | None = None
    timeout: float = 1200.0  # whole notebook, seconds
    cell_timeout: float = 300.0
    test_timeout: float = 60.0  # one grading test case
    memory_gb: float = 8.0  # data-segment limit of each kernel; 0 = none
    output_mb: float = 10.0  # output kept per cell (the rest is dropped and counted)
    max_restarts: int = 3
    full: bool = False
    id_pattern: str | None = None
    deny: list[str] = field(default_factory=list)
    workdir: str | None = None
    keep_scratch: bool = False
    quiet: bool = False
    hard_timeout: float | None = None  # when the grader kills a worker (default: from the limits above)
    worker_command: list[str] | None = None  # tests: another worker program (gets the job file's path)


# --------------------------------------------------------------------------- the lab and its cases
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
    """Case arguments as tagged plain data the kernel rebuilds exactly (``grade_kernelside.decode_value``)."""
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
        data = {"data": base64.b64encode(np.ascontiguousarray(array).tobytes()).decode(), "dtype": array.dtype.str,
                "shape": list(array.shape)}
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
            data = {"data": base64.b64encode(np.ascontiguousarray(array).tobytes()).decode(), "dtype": array.dtype.str,
                    "shape": list(array.shape), "torch_dtype": str(tensor.dtype).removeprefix("torch."),
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
    """What the worker sends into the kernel per question (no expected values: those stay here)."""
    requests = []
    for question, qcases in zip(lab.questions, cases):
        request = {"answer": question.answer, "probe": None, "driver": None, "driver_source": None,
                   "cases": [c.args for c in qcases]}
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
        requests.append(request)
    return requests


# --------------------------------------------------------------------------- submissions
@dataclass
class Submission:
    """One submitted file: where it came from, who it belongs to and its code cells."""

    path: Path
    student_id: str
    mtime: float
    number: int  # position on the command line, for the work folder's name
    cells: list[dict] = field(default_factory=list)  # {"index": i, "source": ...} for each code cell
    failure: str = ""  # why it cannot be graded at all, found before running it
    notes: list[str] = field(default_factory=list)
    counted: bool = True  # False for an older file of a student who submitted twice
    feedback_name: str = ""


def student_id(path: Path, pattern: str | None = None) -> tuple[str, str]:
    """(student id, note) from a file name: the stem without copy suffixes, or ``pattern``'s match."""
    stem = path.name[: -len(".ipynb")] if path.name.lower().endswith(".ipynb") else path.stem
    if pattern:
        match = re.search(pattern, stem)
        if not match:
            return stem, f"file name does not match --id-pattern {pattern!r}: used {stem!r}"
        if "id" in match.re.groupindex:
            return match.group("id"), ""
        return (match.group(1) if match.re.groups else match.group(0)), ""
    name = COPY_PREFIX.sub("", stem).strip()
    while True:
        shorter = COPY_SUFFIX.sub("", name).strip()
        if shorter == name or not shorter:
            return name or stem, ""
        name = shorter


def read_notebook(data: bytes) -> tuple[list[dict], dict, str]:
    """(code cells, metadata, failure) of a submitted file's bytes; failure says why it is no notebook."""
    if not data.strip():
        return [], {}, "empty file"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], {}, "not a notebook: not a text file (a binary file, e.g. a PDF or a zip?)"
    try:
        nb = json.loads(text)
    except RecursionError:
        return [], {}, "not a notebook: JSON nested too deeply"
    except ValueError as e:
        where = f": line {e.lineno}, column {e.colno}" if hasattr(e, "lineno") else ""
        return [], {}, f"not a notebook: invalid JSON ({getattr(e, 'msg', e)}{where})"
    if not isinstance(nb, dict) or not ("cells" in nb or "worksheets" in nb):
        return [], {}, "not a notebook: JSON without notebook cells"
    if "worksheets" in nb:  # nbformat 3: let nbformat convert it
        try:
            import nbformat

            nb = json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
        except Exception as e:
            return [], {}, f"not a notebook: an old notebook format that cannot be read ({type(e).__name__})"
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return [], {}, "not a notebook: its cells are not a list"
    code = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if isinstance(source, str) and source.strip():
            code.append({"index": index, "source": source})
    metadata = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    if not code:
        return [], metadata, "empty notebook: no code cells"
    return code, metadata, ""


def check_lab(cells: list[dict], metadata: dict, lab: Lab) -> str:
    """Why this notebook is not this lab ('' if it may be)."""
    info = metadata.get("cslib") if isinstance(metadata.get("cslib"), dict) else {}
    theirs = info.get("lab")
    if isinstance(theirs, str) and theirs and lab.lab_id and theirs != lab.lab_id:
        return f"wrong lab: this notebook is {theirs} (its metadata), not {lab.lab_id}"
    if not theirs:
        code = "\n".join(c["source"] for c in cells)
        if not any(re.search(rf"\b{re.escape(q.answer)}\b", code) for q in lab.questions):
            names = ", ".join(q.answer for q in lab.questions)
            return f"wrong lab: none of this lab's answers ({names}) appear in the notebook's code"
    return ""


def collect_files(paths: list[str]) -> list[Path]:
    """Files given on the command line; a folder stands for its files (not hidden ones, not recursive)."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        else:
            files.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in files))
    return unique


def resolve_duplicates(submissions: list[Submission]) -> None:
    """One counted file per student: the newest (mtime), ties broken by name; notes on all of them."""
    by_student: dict[str, list[Submission]] = {}
    for sub in submissions:
        by_student.setdefault(sub.student_id, []).append(sub)
    for student, subs in by_student.items():
        if len(subs) < 2:
            continue
        subs.sort(key=lambda s: (s.mtime, s.path.name))
        kept = subs[-1]
        others = [s.path.name for s in subs[:-1]]
        kept.notes.append(f"{student} submitted {len(subs)} files; counted the newest, {kept.path.name} "
                          f"(not counted: {', '.join(others)})")
        for sub in subs[:-1]:
            sub.counted = False
            sub.notes.append(f"not counted: {student} also submitted {kept.path.name}, which is newer")


# --------------------------------------------------------------------------- results
@dataclass
class CaseResult:
    number: int  # 1-based among the visible or among the hidden cases
    hidden: bool
    passed: bool
    shown: str  # how the visible case is described ('' for hidden cases)
    detail: str  # why it failed (visible cases only: hidden ones say as little as possible)


@dataclass
class QuestionResult:
    question: Question
    points: float
    cases: list[CaseResult]
    problem: str = ""  # about the whole question (not defined, rejected, crashed the kernel...)

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.cases)


@dataclass
class Graded:
    """The outcome for one submission."""

    submission: Submission
    status: str  # "ran" or "failed"
    reason: str = ""  # for failed
    questions: list[QuestionResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float | None:
        return None if self.status != "ran" else sum(q.points for q in self.questions)


# --------------------------------------------------------------------------- judging (trusted)
HIDDEN_REASONS = {"timeout": "took too long", "not_written": "not written yet", "missing": "not defined",
                  "too_large": "the result was too large", "exception": "your code raised {name}"}


def judge_question(question: Question, cases: list[GradingCase], record: dict) -> tuple[QuestionResult, list[str]]:
    """Score one question from the worker's record; (result, notes for the instructor)."""
    notes: list[str] = []
    status, payload = record.get("status"), record.get("payload")
    n_visible = sum(not c.hidden for c in cases)

    def numbered(i: int, case: GradingCase) -> int:
        return i + 1 if not case.hidden else i + 1 - n_visible

    def all_failed(problem: str) -> QuestionResult:
        return QuestionResult(question, 0.0, [CaseResult(numbered(i, c), c.hidden, False, "" if c.hidden else c.shown, "")
                                              for i, c in enumerate(cases)], problem)

    if status != "ok" or not isinstance(payload, dict):
        detail = str(record.get("detail") or status)
        notes.append(f"{question.answer}: {detail}")
        return all_failed(detail), notes
    raw_cases = payload.get("cases")
    if not isinstance(raw_cases, list) or len(raw_cases) != len(cases):
        notes.append(f"{question.answer}: the grading output was garbled (possible tampering)")
        return all_failed("the grading output was garbled"), notes
    if payload.get("defined") is not True:
        return all_failed(f"`{question.answer}` is not defined after running the notebook (deleted, renamed, "
                          f"or its cell failed before defining it?)"), notes
    reference = f"{payload.get('module')}.{payload.get('qualname')}"
    if reference in question.reject:
        return all_failed(f"`{question.answer}` is cslib's own {reference}; write your own version"), notes
    kinds = {raw.get("kind") if isinstance(raw, dict) else None for raw in raw_cases}
    if kinds == {"not_written"}:
        return all_failed("not written yet (it still raises NotImplementedError)"), notes
    results = []
    for i, (case, raw) in enumerate(zip(cases, raw_cases)):
        passed, detail = False, ""
        kind = raw.get("kind") if isinstance(raw, dict) else None
        if isinstance(raw, dict) and raw.get("ok") is True and "got" in raw:
            try:
                outcome = question.judge(case.expected, from_data(raw["got"]))
                passed, detail = outcome.passed is True, str(outcome.detail)
            except Exception as e:  # a malformed result, or a bug in the question's compare
                detail = "the result could not be checked"
                notes.append(f"{question.answer}: a result could not be checked ({type(e).__name__}: {str(e)[:100]})")
        elif kind == "not_written":
            detail = "not written yet (the cell still raises NotImplementedError)"
        elif kind == "exception":
            detail = f"raised {str(raw.get('error', ''))[:300]}"
        elif kind in ("timeout", "too_large", "missing"):
            detail = str(raw.get("error") or HIDDEN_REASONS[kind])
        else:
            detail = "no valid result"
        if case.hidden and not passed:
            name = str(raw.get("error", "")).split(":")[0][:60] if isinstance(raw, dict) else ""
            detail = HIDDEN_REASONS.get(kind or "", "wrong result").format(name=name or "an error")
        results.append(CaseResult(numbered(i, case), case.hidden, passed, "" if case.hidden else case.shown, detail))
    points = question.points * sum(r.passed for r in results) / len(results)
    return QuestionResult(question, points, results), notes


def describe_cell(cells_by_index: dict[int, str], index: int) -> str:
    """'cell 9 (`def make_model(...`)': 1-based position in the notebook and its first line."""
    source = cells_by_index.get(index, "")
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    first = first if len(first) <= 50 else first[:47] + "..."
    return f"cell {index + 1}" + (f" (`{first}`)" if first else "")


BLOCKED_NOTES = {
    "read": "blocked (possible tampering): tried to read {what}",
    "signal": "blocked (possible tampering): tried to signal {what}",
    "write": "blocked: tried to write {what} (outside its scratch folder)",
    "run": "blocked: tried to start a program: {what}",
}
# Programs that libraries start on their own (ctypes.util.find_library, platform.processor, matplotlib):
# still blocked (the libraries fall back), but not worth a note.
QUIET_PROGRAMS = {"ldconfig", "gcc", "cc", "ld", "uname", "fc-list", "lscpu", "nvidia-smi", "objdump", "x86_64-linux-gnu-gcc"}
MEMORY_ERRORS = ("MemoryError", "can't allocate memory", "DefaultCPUAllocator", "out of memory", "Cannot allocate memory")


def run_notes(sub: Submission, result: dict, options: Options) -> list[str]:
    """What an instructor should know about how the notebook ran."""
    cells = {c["index"]: c["source"] for c in sub.cells}
    notes: list[str] = []
    unwritten, errors = [], []
    for cell in result.get("cells", []):
        where = describe_cell(cells, cell["index"])
        status, error = cell["status"], cell.get("error", "")
        if status == "error" and error.startswith("NotImplementedError"):
            unwritten.append(str(cell["index"] + 1))
        elif status == "error" and any(m in error for m in MEMORY_ERRORS):
            notes.append(f"{where} ran out of memory (limit {options.memory_gb:g} GiB): {error[:120]}")
        elif status == "error" and GUARD_TAG not in error:  # blocked actions are listed below
            errors.append(f"{where} raised {error[:160]}")
        elif status == "timeout" and cell.get("exit") == "notebook time limit":
            notes.append(f"{where} was interrupted when the notebook's time limit was reached")
        elif status == "timeout":
            notes.append(f"{where} ran longer than its time limit ({options.cell_timeout:g} s) and was interrupted")
        elif status == "unresponsive":
            notes.append(f"{where} ignored the interrupt at its time limit; its kernel was killed, a new kernel "
                         f"re-ran the cells before it and went on without it")
        elif status == "died":
            notes.append(f"{where} killed the kernel ({cell.get('exit') or 'unknown cause'}); a new kernel re-ran "
                         f"the cells before it and went on without it")
        if cell.get("capped"):
            notes.append(f"{where} printed more than {options.output_mb:g} MB of output; the rest was dropped")
    if unwritten:
        notes.insert(0, f"not written yet (NotImplementedError): cell{'s' if len(unwritten) > 1 else ''} {', '.join(unwritten)}")
    notes += errors[:5]
    if len(errors) > 5:
        notes.append(f"... and {len(errors) - 5} more cells raised errors")
    first_run_fatal = {c["index"] for c in result.get("cells", []) if c["status"] in ("died", "unresponsive")}
    for index in (i for i in result.get("fatal_cells", []) if i not in first_run_fatal):
        notes.append(f"{describe_cell(cells, index)} killed the kernel when re-run after a restart; it was skipped")
    if result.get("replay_cut"):
        notes.append("after a kernel died there was no time left to re-run every earlier cell: answers they "
                     "defined may be missing")
    if result.get("time_limit_hit"):
        skipped = result.get("not_run", [])
        tail = f": cells {skipped[0] + 1}-{skipped[-1] + 1} did not run" if skipped else ""
        notes.append(f"notebook time limit ({options.timeout:g} s) reached{tail}")
    blocked = [(action, what) for action, what in result.get("blocked", [])
               if not (action == "run" and Path(what.split(" ")[0]).name in QUIET_PROGRAMS)]
    for action, what in blocked[:12]:
        notes.append(BLOCKED_NOTES.get(action, "blocked: {action} {what}").format(action=action, what=what))
    if len(blocked) > 12:
        notes.append(f"... and {len(blocked) - 12} more blocked actions")
    return notes


def score(sub: Submission, lab: Lab, cases: list[list[GradingCase]], result: dict, options: Options) -> Graded:
    """Turn the worker's result into points, status and notes (all judging happens here)."""
    notes = list(sub.notes) + run_notes(sub, result, options)
    if result.get("fatal"):
        return Graded(sub, "failed", str(result["fatal"]), [], notes, float(result.get("seconds", 0)))
    records = result.get("questions", [])
    if len(records) != len(lab.questions):
        return Graded(sub, "failed", "grader error: the worker returned no result for some questions", [], notes)
    questions = []
    for question, qcases, record in zip(lab.questions, cases, records):
        qresult, qnotes = judge_question(question, qcases, record)
        questions.append(qresult)
        notes += qnotes
    not_graded = [q.answer for q, r in zip(lab.questions, records) if r.get("status") == "not_graded"]
    if not_graded:
        return Graded(sub, "failed", f"could not grade {', '.join(not_graded)}: the kernel died too often "
                                     f"({result.get('restarts', 0)} restarts)", questions, notes)
    return Graded(sub, "ran", "", questions, notes, float(result.get("seconds", 0)))


# --------------------------------------------------------------------------- running the workers
class Grader:
    """One grading run: the lab, its cases, the work folder, the running workers."""

    def __init__(self, lab: Lab, options: Options, outputs: list[Path]):
        self.lab = lab
        self.options = options
        self.seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
        self.cases = draw_cases(lab, self.seed)
        self.requests = question_requests(lab, self.cases)
        self.outputs = [p.resolve() for p in outputs]
        if options.workdir:
            Path(options.workdir).mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="cslib-grade-", dir=options.workdir)).resolve()
        self.processes: dict[int, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.font_cache = _font_cache_files()
        self.deny: list[str] = []
        self.kernel_sources = [inspect.getsource(probe), inspect.getsource(grade_kernelside)]
        self.hard_timeout = options.hard_timeout or (2 * options.timeout + sum(len(r["cases"]) * options.test_timeout + 20 for r in self.requests)
                             + 60 * (options.max_restarts + 1) + 30)

    def prepare(self, paths: list[Path]) -> list[Submission]:
        """Snapshot every file (so nothing can change it later), find ids, pre-check each one."""
        submissions = []
        for number, path in enumerate(paths):
            sid, note = student_id(path, self.options.id_pattern)
            sub = Submission(path, sid, 0.0, number)
            if note:
                sub.notes.append(note)
            job = self.job_dir(sub)
            (job / "scratch").mkdir(parents=True)
            try:
                stat = path.stat()
                sub.mtime = stat.st_mtime
                if stat.st_size > MAX_NOTEBOOK_BYTES:
                    sub.failure = f"file too large ({stat.st_size / 2**20:.0f} MB; the limit is {MAX_NOTEBOOK_BYTES // 2**20} MB)"
                    submissions.append(sub)
                    continue
                data = path.read_bytes()
            except OSError as e:
                sub.failure = f"cannot read the file ({e.strerror or e})"
                submissions.append(sub)
                continue
            (job / "scratch" / "submission.ipynb").write_bytes(data)
            cells, metadata, failure = read_notebook(data)
            sub.cells = cells
            sub.failure = failure or check_lab(cells, metadata, self.lab)
            submissions.append(sub)
        resolve_duplicates(submissions)
        self.deny = self.deny_list(paths)
        return submissions

    def job_dir(self, sub: Submission) -> Path:
        return self.work / f"{sub.number:04d}"

    def deny_list(self, paths: list[Path]) -> list[str]:
        """Paths a kernel may not read: the work folder, the submissions, the outputs, solutions/."""
        env = self.kernel_env(None)
        needed = [CSLIB_ROOT, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
                  *(Path(env[k]).resolve() for k in ("CSLIB_DATA", "TORCH_HOME", "PYTHONUSERBASE")),
                  *(Path(p).resolve() for p in env["PYTHONPATH"].split(os.pathsep) if p)]
        deny = {str(self.work)}
        for path in paths:
            folder = path.parent
            if any(n == folder or folder in n.parents for n in needed):
                deny.add(str(path))  # e.g. submissions in the repository's root: deny only the files
            else:
                deny.add(str(folder))
        deny.update(str(p) for p in self.outputs)
        solutions = CSLIB_ROOT / "solutions"
        if solutions.is_dir():
            deny.add(str(solutions))
        deny.update(str(Path(p).resolve()) for p in self.options.deny)
        return sorted(deny)

    def kernel_env(self, scratch: Path | None) -> dict[str, str]:
        """The kernel's environment: no secrets, HOME/TMPDIR/caches in the scratch folder, the course's settings.

        Without ``scratch`` only the settings that do not depend on it (to know which folders kernels read).
        """
        env = {k: v for k, v in os.environ.items() if not SECRET_ENV.search(k) and not k.startswith(("JPY_", "PYDEVD"))}
        for name in PRIVATE_CACHES:  # torch sets TORCHINDUCTOR_CACHE_DIR in this process: defaults in scratch instead
            env.pop(name, None)
        home = Path.home()
        env.setdefault("CSLIB_DATA", str(home / "data"))
        env.setdefault("TORCH_HOME", str(Path(os.environ.get("XDG_CACHE_HOME", home / ".cache")) / "torch"))
        env.setdefault("PYTHONUSERBASE", site.getuserbase())
        threads = str(max(1, (os.cpu_count() or 1) // max(1, self.options.jobs)))
        env.setdefault("OMP_NUM_THREADS", threads)
        env.setdefault("MKL_NUM_THREADS", threads)
        env["PYTHONPATH"] = os.pathsep.join([str(CSLIB_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
        env["CSLIB_FAST"] = "0" if self.options.full else "1"
        if scratch is None:
            return env
        dirs = {"HOME": "", "TMPDIR": "tmp", "TEMP": "tmp", "TMP": "tmp", "MPLCONFIGDIR": ".config/matplotlib",
                "IPYTHONDIR": ".ipython", "XDG_CACHE_HOME": ".cache", "XDG_CONFIG_HOME": ".config",
                "XDG_DATA_HOME": ".local/share", "JUPYTER_CONFIG_DIR": ".jupyter",
                "JUPYTER_DATA_DIR": ".local/share/jupyter", "JUPYTER_RUNTIME_DIR": ".local/share/jupyter/runtime"}
        for name, sub in dirs.items():
            path = scratch / sub
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        for cache in self.font_cache:  # matplotlib would otherwise rebuild it (and run fc-list) in every kernel
            shutil.copy(cache, scratch / ".config" / "matplotlib" / cache.name)
        return env

    def write_job(self, sub: Submission) -> dict:
        job_dir = self.job_dir(sub)
        scratch = job_dir / "scratch"
        job = {
            "job_dir": str(job_dir), "scratch": str(scratch), "cells": sub.cells, "questions": self.requests,
            "env": self.kernel_env(scratch), "deny": self.deny,
            "guard_log": str(job_dir / "guard.log"), "result": str(job_dir / "result.json"),
            "kernel_pids": str(job_dir / "kernels.txt"), "kernel_sources": self.kernel_sources,
            "limits": {"notebook_timeout": self.options.timeout, "cell_timeout": self.options.cell_timeout,
                       "test_timeout": self.options.test_timeout, "max_restarts": self.options.max_restarts,
                       "memory_bytes": int(self.options.memory_gb * 2**30) or None, "file_bytes": FILE_SIZE_LIMIT,
                       "output_chars": int(self.options.output_mb * 1e6), "result_chars": RESULT_CHARS,
                       "hard_timeout": self.hard_timeout},
        }
        (job_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
        return job

    def run_worker(self, sub: Submission, job: dict) -> tuple[dict | None, str]:
        """Run the worker for one submission: (its result, '') or (None, why there is none)."""
        job_dir = Path(job["job_dir"])
        command = [*(self.options.worker_command or [sys.executable, str(Path(grade_worker.__file__))]), str(job_dir / "job.json")]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(CSLIB_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        timed_out = False
        with open(job_dir / "worker.log", "wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       cwd=job_dir, env=env, start_new_session=True)
            with self.lock:
                self.processes[sub.number] = process
            try:
                process.wait(timeout=self.hard_timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_group(process.pid)
                process.wait()
                _kill_kernels(job)
                with self.lock:
                    self.processes.pop(sub.number, None)
        if timed_out:
            return None, f"time limit: grading did not finish within {self.hard_timeout:.0f} s (the worker was killed)"
        try:
            return json.loads(Path(job["result"]).read_text(encoding="utf-8")), ""
        except (OSError, ValueError):
            tail = _tail(job_dir / "worker.log")
            return None, f"grader error: the worker exited with code {process.returncode} and no result{': ' + tail if tail else ''}"

    def grade_one(self, sub: Submission) -> Graded:
        """Grade one submission; never raises (a grader bug becomes this submission's failure)."""
        start = time.monotonic()
        try:
            if sub.failure:
                return Graded(sub, "failed", sub.failure, [], list(sub.notes))
            job = self.write_job(sub)
            result, problem = self.run_worker(sub, job)
            if result is None:
                return Graded(sub, "failed", problem, [], list(sub.notes))
            graded = score(sub, self.lab, self.cases, result, self.options)
        except Exception as e:
            graded = Graded(sub, "failed", f"grader error: {type(e).__name__}: {e}", [], list(sub.notes))
        finally:
            if not self.options.keep_scratch:
                shutil.rmtree(self.job_dir(sub), ignore_errors=True)
        graded.seconds = round(time.monotonic() - start, 1)
        return graded

    def stop_all(self) -> None:
        with self.lock:
            processes = list(self.processes.items())
        for number, process in processes:
            _kill_group(process.pid)

    def cleanup(self) -> None:
        if not self.options.keep_scratch:
            shutil.rmtree(self.work, ignore_errors=True)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _kill_kernels(job: dict) -> None:
    """Kill the kernels a worker started (each runs in its own process group) if they outlived it."""
    try:
        pids = [int(line) for line in Path(job["kernel_pids"]).read_text().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        try:  # only a process that is still this job's kernel (pids can be reused)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if job["job_dir"].encode() in cmdline:
            _kill_group(pid)


def _tail(path: Path, chars: int = 300) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - chars))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return " ".join(text.split())[-chars:]


def _font_cache_files() -> list[Path]:
    try:
        import matplotlib
        from matplotlib import font_manager  # noqa: F401  (builds the cache once if it is missing)

        return sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
    except Exception:
        return []


@dataclass
class Run:
    """What ``grade_files`` returns."""

    graded: list[Graded]  # one per file, in the order given
    seed: int
    interrupted: bool = False


def grade_files(lab: Lab, paths: list[Path], options: Options, outputs: list[Path] = (),
                on_done: Callable[[Graded], None] | None = None) -> Run:
    """Grade ``paths``, ``options.jobs`` at a time. Ctrl-C stops the workers; what was graded is kept."""
    grader = Grader(lab, options, list(outputs))
    results: dict[int, Graded] = {}
    interrupted = False
    try:
        submissions = grader.prepare(paths)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.jobs))
        futures = [pool.submit(grader.grade_one, sub) for sub in submissions]
        try:
            for future in concurrent.futures.as_completed(futures):
                graded = future.result()
                results[graded.submission.number] = graded
                if on_done:
                    on_done(graded)
        except KeyboardInterrupt:
            interrupted = True
            for future in futures:
                future.cancel()
            grader.stop_all()
        pool.shutdown(wait=True)
        for sub in submissions:
            results.setdefault(sub.number, Graded(sub, "failed", "grading was interrupted", [], list(sub.notes)))
    finally:
        grader.cleanup()
    return Run([results[i] for i in sorted(results)], grader.seed, interrupted)


# --------------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cslib.grade", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("lab", help="the lab notebook (labs/labNN_topic.ipynb) or a lab id such as lab01")
    p.add_argument("submissions", nargs="+", help="submitted notebooks, or folders of them")
    p.add_argument("--out", default="grades.csv", help="the CSV file to write")
    p.add_argument("--feedback", help="folder for one markdown feedback file per submission (default: next to --out, "
                                      "named after it, e.g. grades-feedback/)")
    p.add_argument("--gradescope", help="also write Gradescope results: a folder (one <student>/results.json each) "
                                        "or, for one submission, a path ending in .json")
    p.add_argument("-j", "--jobs", type=int, default=max(1, min(4, (os.cpu_count() or 2) // 2)),
                   help="submissions graded in parallel")
    p.add_argument("--seed", type=int, help="seed of the hidden tests (default: a fresh one, printed and written to the CSV)")
    p.add_argument("--timeout", type=float, default=Options.timeout, help="seconds for all cells of one notebook")
    p.add_argument("--cell-timeout", type=float, default=Options.cell_timeout, help="seconds for one cell")
    p.add_argument("--test-timeout", type=float, default=Options.test_timeout, help="seconds for one grading test")
    p.add_argument("--memory", type=float, default=Options.memory_gb, help="GiB of memory (data segment) per kernel; 0: no limit")
    p.add_argument("--max-output", type=float, default=Options.output_mb, help="MB of output kept per cell")
    p.add_argument("--max-restarts", type=int, default=Options.max_restarts, help="new kernels after a kernel died")
    p.add_argument("--full", action="store_true", help="full mode (real data sets, long trainings); default: fast mode")
    p.add_argument("--questions", help="a module or .py file with QUESTIONS (for labs outside cslib.checks)")
    p.add_argument("--id-pattern", help="regex on the file name (without .ipynb) whose group 'id' (or group 1) is the student id")
    p.add_argument("--deny", action="append", default=[], help="another path kernels may not read (repeatable)")
    p.add_argument("--workdir", help="where the scratch folders go (default: the system's temporary folder)")
    p.add_argument("--keep-scratch", action="store_true", help="keep the scratch folders (for debugging)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    from cslib import grade_report

    args = build_parser().parse_args(argv)
    if sys.platform == "win32":
        print("error: grading needs Linux or macOS (process groups, resource limits); use WSL or a container",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    feedback = Path(args.feedback) if args.feedback else out.with_name(out.stem + "-feedback")
    options = Options(jobs=args.jobs, seed=args.seed, timeout=args.timeout, cell_timeout=args.cell_timeout,
                      test_timeout=args.test_timeout, memory_gb=args.memory, output_mb=args.max_output,
                      max_restarts=args.max_restarts, full=args.full, id_pattern=args.id_pattern, deny=args.deny,
                      workdir=args.workdir, keep_scratch=args.keep_scratch, quiet=args.quiet)
    try:
        if args.id_pattern:
            re.compile(args.id_pattern)
        lab = load_lab(args.lab, args.questions)
        paths = collect_files(args.submissions)
        if not paths:
            raise GradingSetupError("no submissions found")
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise GradingSetupError(f"no such file: {', '.join(missing)}")
        if args.gradescope and args.gradescope.endswith(".json") and len(paths) != 1:
            raise GradingSetupError("--gradescope FILE.json takes exactly one submission; give a folder for several")
    except (GradingSetupError, re.error) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    outputs = [out, feedback] + ([Path(args.gradescope)] if args.gradescope else [])
    out.parent.mkdir(parents=True, exist_ok=True)
    feedback.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(paths), desc=f"grading {lab.lab_id or lab.source}", unit="notebook", disable=args.quiet,
               file=sys.stderr)

    def done(graded: Graded) -> None:
        bar.update(1)
        bar.set_postfix_str(f"{graded.submission.path.name}: {graded.status}", refresh=True)

    try:
        run = grade_files(lab, paths, options, outputs, on_done=done)
    except GradingSetupError as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    bar.close()
    gradescope = Path(args.gradescope) if args.gradescope else None
    grade_report.write_all(run.graded, lab, run.seed, out, feedback, gradescope)
    print(grade_report.summary(run.graded, lab, run.seed, out, feedback, gradescope))
    return 130 if run.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
