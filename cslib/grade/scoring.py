"""Judging, in the grader's own (trusted) process: points per question, and notes for the instructor.

The worker brings back, per question, the plain data the student's answer produced on each
case; here each case is compared with its expected value by the question's own ``judge``.
Feedback for a hidden case says only whether it passed and, if not, roughly why ("wrong
result", "your code raised IndexError"): never its inputs, expected value or result.
"""
from __future__ import annotations

import builtins

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cslib.checks import Question, from_data, reference_label
from cslib.grade.lab import GradingCase, Lab
from cslib.grade.submissions import Submission

if TYPE_CHECKING:  # pragma: no cover
    from cslib.grade import Options


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
BUILTIN_ERRORS = {name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)}
HIDDEN_REASONS = {"timeout": "took too long", "not_written": "not written yet", "missing": "not defined",
                  "too_large": "the result was too large", "exception": "your code raised {name}",
                  "gated": "not run: the visible tests did not all pass",
                  "gate_error": "not run: a grader error (the instructor will regrade)",
                  "out_of_time": "not run: the time for all the tests of this notebook ran out"}
OUT_OF_TIME = "the time for all the grading tests of this notebook (--grading-timeout) ran out"


def _review(*names: str) -> str:
    """cslib's own functions are in every kernel: handing one in is flagged for a look; a ready-made one is a plain slip."""
    return " (possible tampering: review by hand)" if any(n.startswith("cslib.") for n in names) else ""


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
        if not n_visible and status == "crashed":  # the exit status the code tested on hidden inputs chose: not shown
            detail = "the kernel died while testing this answer"
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
        notes.append(f"{question.answer}: is {reference_label([reference])}{_review(reference)}")
        return all_failed(f"`{question.answer}` is {reference_label([reference])}; write your own version"), notes
    used = [str(r) for r in payload.get("references") or [] if r in question.reject]
    if used:
        notes.append(f"{question.answer}: calls or wraps {reference_label(used)}{_review(*used)}")
        return all_failed(f"`{question.answer}` calls or wraps {reference_label(used)}; write your own version"), notes
    kinds = {raw.get("kind") if isinstance(raw, dict) else None for raw in raw_cases}
    if "out_of_time" in kinds:
        notes.append(f"{question.answer}: its hidden tests did not run: {OUT_OF_TIME}")
    if "gate_error" in kinds:
        notes.append(f"{question.answer}: its hidden tests did not run (a grader error between the visible and the "
                     "hidden tests, see the worker's log): regrade this submission")
    if kinds - {"gated"} == {"not_written"}:  # gated: hidden cases not run, since the visible ones failed
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
                detail = "the result could not be checked"  # a hidden case's message may quote its inputs: not shown
                why = type(e).__name__ if case.hidden else f"{type(e).__name__}: {str(e)[:100]}"
                notes.append(f"{question.answer}: a result could not be checked ({why})")
        elif kind == "not_written":
            detail = "not written yet (the cell still raises NotImplementedError)"
        elif kind == "exception":
            detail = f"raised {str(raw.get('error', ''))[:300]}"
        elif kind in ("timeout", "too_large", "missing", "gated", "gate_error", "out_of_time"):
            detail = str(raw.get("error") or HIDDEN_REASONS[kind])
        else:
            detail = "no valid result"
        if case.hidden:  # nothing the student's code wrote, nor a comparison's words: an exception's name if Python's own
            name = str(raw.get("error", "")).split(":")[0].strip() if isinstance(raw, dict) else ""
            detail = "" if passed else HIDDEN_REASONS.get(kind or "", "wrong result").format(
                name=name if name in BUILTIN_ERRORS else "an error")
        results.append(CaseResult(numbered(i, case), case.hidden, passed, "" if case.hidden else case.shown, detail))
    points = question.points * sum(r.passed for r in results) / len(results)
    return QuestionResult(question, points, results), notes


def describe_cell(cells_by_index: dict[int, str], index: int) -> str:
    """'cell 9 (`def make_model(...`)': 1-based position in the notebook and its first line."""
    source = cells_by_index.get(index, "")
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    first = first if len(first) <= 50 else first[:47] + "..."
    return f"cell {index + 1}" + (f" (`{first}`)" if first else "")


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
        elif status == "error":
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
    return notes


def merge_phases(requests: list[dict], records: list) -> list[dict] | None:
    """One record per question from the records of its visible and its hidden request (see
    :func:`cslib.grade.lab.question_requests`); None if the worker's records do not match the requests."""
    if not isinstance(records, list) or len(records) != len(requests):
        return None
    merged: dict[int, dict] = {}
    for request, record in zip(requests, records):
        number = request["question"]
        if not isinstance(record, dict):
            record = {"status": "garbled", "detail": "the grading output was garbled"}
        if number not in merged:
            merged[number] = record
            continue
        first = merged[number]  # the visible phase's record; this one is the hidden phase's
        if first.get("status") != "ok" or not isinstance(first.get("payload"), dict):
            continue  # the visible phase decides: nothing to add
        payload = dict(first["payload"])
        cases = payload.get("cases") if isinstance(payload.get("cases"), list) else []
        more = (record.get("payload") or {}).get("cases") if record.get("status") == "ok" else None
        if not isinstance(more, list) or len(more) != len(request["cases"]):
            status = record.get("status")
            kind = status if status in ("timeout", "gated", "gate_error", "out_of_time") else "no_result"
            more = [{"kind": kind, "error": ""}] * len(request["cases"])
        payload["cases"] = cases + more
        merged[number] = {**first, "payload": payload}
    return [merged[n] for n in sorted(merged)]


def visible_passed(lab: Lab, cases: list[list[GradingCase]], requests: list[dict], records: list) -> list[int]:
    """The questions (their numbers) whose hidden cases may run: those whose every visible case passed, judged here
    from the worker's records of the visible phase (``records`` matches the first ``len(records)`` requests), and
    those that have no visible case. A malformed record lets nothing through."""
    allowed = {number for number, qcases in enumerate(cases) if all(c.hidden for c in qcases)}
    if not isinstance(records, list):
        return sorted(allowed)
    for request, record in zip(requests, records):
        number = request.get("question")
        if request.get("phase") != "visible" or not isinstance(number, int) or not 0 <= number < len(cases):
            continue
        visible = [c for c in cases[number] if not c.hidden]
        if not isinstance(record, dict) or not visible or len(visible) == len(cases[number]):
            continue  # nothing to decide for a question without hidden cases
        result, _ = judge_question(lab.questions[number], visible, record)
        if not result.problem and result.cases and all(c.passed for c in result.cases):
            allowed.add(number)
    return sorted(allowed)


def score(sub: Submission, lab: Lab, cases: list[list[GradingCase]], result: dict, options: Options,
          requests: list[dict] | None = None) -> Graded:
    """Turn the worker's result into points, status and notes (all judging happens here). ``requests``: what was
    sent to the worker, when a question's visible and hidden cases went in two requests."""
    notes = list(sub.notes) + run_notes(sub, result, options)
    if result.get("fatal"):
        return Graded(sub, "failed", str(result["fatal"]), [], notes, float(result.get("seconds", 0)))
    records = merge_phases(requests, result.get("questions", [])) if requests is not None else result.get("questions", [])
    if records is None or len(records) != len(lab.questions):
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
