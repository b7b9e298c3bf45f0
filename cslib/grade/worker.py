"""Run one submitted notebook in a fresh, guarded Jupyter kernel, then ask it the grading questions.

The instructor's grader (``cslib.grade``) starts one worker process per submission::

    python path/to/cslib/grade/worker.py JOB.json

(as a script, so that it starts without importing the ``cslib`` package and torch; the job
carries the source code the kernel needs)

and reads back ``result.json``. The worker is trusted; the kernel it starts is not. The worker

1. limits the memory (``RLIMIT_DATA``) and file sizes of itself and so of the kernel it starts;
2. starts a kernel in the submission's scratch folder, with HOME, TMPDIR and the caches there,
   and installs the file guard (``kernelside.install_guard``) before any student cell;
3. runs the code cells in order with a time limit per cell (interrupt, then kill if the cell
   ignores the interrupt) and one for the whole notebook; errors do not stop the run. When the
   kernel dies (``os._exit``, a segfault, the OOM killer) it starts a new one, re-runs the cells
   that ran before, skips the fatal cell and goes on (a bounded number of times);
4. for each question sends ``kernelside.run_question`` with the question's cases and a
   fresh nonce, and keeps only the one payload framed by that nonce. It never judges: the
   grader compares the plain data it gets back with the expected values, in its own process.

Outputs are counted, never stored (the kernel also drops output beyond a limit per cell).
"""
from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # run as a script: cslib's own modules must not shadow others

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from queue import Empty  # noqa: E402

GUARD_TAG = "[cslib grader]"
INTERRUPT_GRACE = 3.0  # seconds a cell gets to stop after an interrupt before its kernel is killed
STARTUP_TIMEOUT = 60.0
KEEP_CHARS = 64 * 2**20  # grading output kept while looking for the framed payload
FRAME = re.compile(r"<<cslib-grade:([0-9a-f]+)>>(.*?)<</cslib-grade:\1>>", re.S)


class KernelStartError(RuntimeError):
    """The kernel could not be started, or the file guard could not be installed in it."""


@dataclass
class Execution:
    """What happened when one piece of code ran in the kernel."""

    status: str  # ok | error | timeout | unresponsive | died
    error: str = ""  # "ValueError: ..." for status error (and the error of an interrupted cell)
    output_chars: int = 0
    capped: bool = False  # the kernel dropped output beyond the limit
    seconds: float = 0.0
    exit: str = ""  # how the kernel ended, for died
    text: str = ""  # stdout, only when collected (grading snippets)


@dataclass
class CellRecord:
    index: int  # position in the notebook (0-based, markdown cells included)
    status: str
    error: str = ""
    output_chars: int = 0
    capped: bool = False
    seconds: float = 0.0
    exit: str = ""


@dataclass
class QuestionRecord:
    status: str  # ok | crashed | timeout | no_result | tampered | not_graded
    payload: dict | None = None
    detail: str = ""


@dataclass
class WorkerResult:
    cells: list[CellRecord] = field(default_factory=list)
    not_run: list[int] = field(default_factory=list)  # cells skipped by the notebook time limit
    time_limit_hit: bool = False
    fatal_cells: list[int] = field(default_factory=list)  # cells that killed the kernel (skipped on re-runs)
    restarts: int = 0
    replay_cut: bool = False  # a new kernel could not re-run every earlier cell in time
    questions: list[QuestionRecord] = field(default_factory=list)
    blocked: list[list[str]] = field(default_factory=list)  # [action, path] the file guard refused
    fatal: str | None = None  # set when the submission could not be graded at all
    seconds: float = 0.0


# --------------------------------------------------------------------------- code sent to the kernel
_BOOT = (
    "ns = {'__name__': '__cslib_grader__', '__builtins__': __builtins__}\n"
    "for source in _sources:\n"
    "    exec(compile(source, '<cslib grader>', 'exec'), ns)\n"
    "ns['_user_ns'] = _user_ns\n"
    "exec(_call, ns)\n"
)


def snippet(sources: list[str], call: str) -> str:
    """Code for one execute request: run ``call`` in a private namespace where ``sources`` are defined.

    Only one name, random, touches the student's namespace (and is deleted again), so variables
    the student named ``json`` or ``exec`` do not matter, and ``cslib`` inside the kernel is not used.
    """
    alias = "__cslib_grader_" + secrets.token_hex(6)
    return (f"import builtins as {alias}\n"
            f"{alias}.exec({_BOOT!r}, {{'__builtins__': {alias}, '_sources': {sources!r}, "
            f"'_user_ns': {alias}.globals(), '_call': {call!r}}})\n"
            f"del {alias}\n")


def question_budget(question: dict, test_timeout: float) -> float:
    """Seconds one question may take in the kernel: its cases, plus setting up the probe."""
    return len(question["cases"]) * test_timeout + 10


def parse_frames(text: str, nonce: str) -> tuple[dict | None, str]:
    """(payload, problem) from a grading snippet's stdout: exactly one frame with this nonce counts."""
    frames = [m.group(2) for m in FRAME.finditer(text) if m.group(1) == nonce]
    if not frames:
        return None, "no_result"
    if len(frames) > 1:
        return None, "tampered"
    try:
        payload = json.loads(frames[0])
    except (ValueError, RecursionError):
        return None, "tampered"
    if not isinstance(payload, dict) or not isinstance(payload.get("cases"), list):
        return None, "tampered"
    return payload, ""


# --------------------------------------------------------------------------- the kernel
class GuardedKernel:
    """A Jupyter kernel in the scratch folder, with the file guard installed before anything else."""

    def __init__(self, job: dict):
        self.job = job
        self.km = None
        self.kc = None
        self.starts = 0
        self.spec_root = Path(job["job_dir"]) / "kernelspec"
        spec = self.spec_root / "cslib-grader"
        spec.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "cslib grader", "language": "python"}))

    def start(self) -> None:
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        self.starts += 1
        job = self.job
        connection = Path(job["job_dir"]) / f"kernel-{self.starts}.json"
        try:
            ksm = KernelSpecManager(kernel_dirs=[str(self.spec_root)])
            self.km = KernelManager(kernel_spec_manager=ksm, kernel_name="cslib-grader", connection_file=str(connection))
            self.km.start_kernel(env=job["env"], cwd=job["scratch"])
            process = getattr(self.km.provisioner, "process", None)
            if process is not None:  # the grader kills it (its own process group) if this worker is killed
                with open(job["kernel_pids"], "a") as f:
                    f.write(f"{process.pid}\n")
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
        except Exception as e:
            self.kill()
            raise KernelStartError(f"the kernel could not be started: {type(e).__name__}: {e}") from e
        config = {"scratch": job["scratch"], "deny": job["deny"], "log": job["guard_log"],
                  "output_limit": job["limits"]["output_chars"], "tag": GUARD_TAG}
        guard = self.execute(snippet(job["kernel_sources"], f"install_guard({config!r})"), 60, store_history=False)
        if guard.status != "ok":
            self.kill()
            raise KernelStartError(f"the file guard could not be installed: {guard.status} {guard.error}")

    def kill(self) -> None:
        """Stop the kernel and its process group, and close the channels."""
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:
                pass
        if self.km is not None:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:
                pass
            try:
                self.km.cleanup_resources()
            except Exception:
                pass
        self.km = self.kc = None

    def how_it_ended(self) -> str:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "it stopped responding"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            meaning = {"SIGSEGV": "segmentation fault", "SIGKILL": "killed, e.g. out of memory", "SIGABRT": "aborted",
                       "SIGBUS": "bus error", "SIGFPE": "arithmetic error", "SIGILL": "illegal instruction"}.get(name, "")
            return f"{name}{', ' + meaning if meaning else ''}"
        return f"exit code {code}"

    def execute(self, code: str, timeout: float, collect: bool = False, store_history: bool = True) -> Execution:
        """Run ``code``; interrupt it after ``timeout`` s and kill the kernel if it does not stop."""
        kc, km = self.kc, self.km
        msg_id = kc.execute(code, silent=False, store_history=store_history, allow_stdin=False, stop_on_error=False)
        start = time.monotonic()
        deadline = start + max(timeout, 0.1)
        interrupted = False
        reply = None
        idle = False
        reply_at = None
        result = Execution("ok")
        kept: list[str] = []
        kept_chars = 0
        next_check = start + 0.5
        while not (reply is not None and (idle or time.monotonic() - reply_at > 5)):
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 0.5
                if not km.is_alive():
                    result.status, result.exit = "died", self.how_it_ended()
                    break
            if now >= deadline and reply is None:
                if not interrupted:
                    interrupted = True
                    try:
                        km.interrupt_kernel()
                    except Exception:
                        pass
                    deadline = now + INTERRUPT_GRACE
                else:
                    result.status = "unresponsive"
                    self.kill()
                    break
            if reply is None:
                try:
                    msg = kc.get_shell_msg(timeout=0)
                    if msg["parent_header"].get("msg_id") == msg_id:
                        reply, reply_at = msg, time.monotonic()
                except Empty:
                    pass
            try:
                msg = kc.get_iopub_msg(timeout=0.05)
            except Empty:
                continue
            kind, content = msg["msg_type"], msg["content"]
            ours = msg["parent_header"].get("msg_id") == msg_id
            if kind == "status":
                idle = idle or (ours and content.get("execution_state") == "idle")
            elif kind == "stream":
                text = content.get("text", "")
                result.output_chars += len(text)
                if GUARD_TAG + " output over" in text:
                    result.capped = True
                # any parent: a notebook that replaced sys.stdout leaves the grader's stream with an old
                # parent header; the fresh nonce is what identifies the payload
                if collect and content.get("name") == "stdout":
                    kept.append(text)
                    kept_chars += len(text)
                    while kept_chars > KEEP_CHARS and len(kept) > 1:
                        kept_chars -= len(kept.pop(0))
            elif kind in ("display_data", "execute_result", "update_display_data"):
                result.output_chars += sum(len(v) if isinstance(v, str) else 1000 for v in content.get("data", {}).values())
            elif kind == "error" and ours:
                result.error = f"{content.get('ename', '')}: {content.get('evalue', '')}"[:300].rstrip(": ")
        result.seconds = time.monotonic() - start
        result.text = "".join(kept)
        # the kernel's cap is a courtesy a notebook can undo; what arrived here is what counts
        result.capped = result.capped or result.output_chars > self.job["limits"]["output_chars"] + 1000
        if result.status == "ok" and reply is not None:
            if reply["content"].get("status") == "error":
                result.status = "error"
                if not result.error:
                    result.error = f"{reply['content'].get('ename', '')}: {reply['content'].get('evalue', '')}"[:300]
            if interrupted:
                result.status = "timeout"
        return result


# --------------------------------------------------------------------------- one submission
class Run:
    """The state of one submission's run: the kernel, what ran in it, what killed it."""

    def __init__(self, job: dict):
        self.job = job
        self.limits = job["limits"]
        self.kernel = GuardedKernel(job)
        self.result = WorkerResult()
        self.start = time.monotonic()
        self.cells_deadline = self.start + self.limits["notebook_timeout"]
        # re-running cells in a new kernel after a crash may take as long again as the first run
        self.replay_deadline = self.start + 2 * self.limits["notebook_timeout"]
        self.hard_deadline = self.start + self.limits["hard_timeout"] - 15
        self.history: list[dict] = []  # cells run in the current kernel, to re-run after a restart
        self.dead = False

    def restart_and_replay(self, deadline: float) -> bool:
        """A new kernel with the cells of ``history`` re-run (fatal ones dropped); False if out of tries."""
        while True:
            if self.result.restarts >= self.limits["max_restarts"]:
                self.dead = True
                return False
            self.result.restarts += 1
            self.kernel.kill()
            self.kernel.start()
            for cell in list(self.history):
                left = deadline - time.monotonic()
                if left <= 0:
                    self.result.replay_cut = True
                    return True  # out of time: go on with what ran
                run = self.kernel.execute(cell["source"], min(self.limits["cell_timeout"], left))
                if run.status in ("died", "unresponsive"):
                    self.result.fatal_cells.append(cell["index"])
                    self.history.remove(cell)
                    break
            else:
                return True

    def run_cells(self) -> None:
        cells = self.job["cells"]
        for position, cell in enumerate(cells):
            left = self.cells_deadline - time.monotonic()
            if left <= 0:
                self.result.time_limit_hit = True
                self.result.not_run = [c["index"] for c in cells[position:]]
                return
            run = self.kernel.execute(cell["source"], min(self.limits["cell_timeout"], left))
            if run.status in ("timeout", "unresponsive") and left < self.limits["cell_timeout"]:
                self.result.time_limit_hit = True
                run.exit = run.exit or "notebook time limit"
            self.result.cells.append(CellRecord(cell["index"], run.status, run.error, run.output_chars,
                                                run.capped, round(run.seconds, 2), run.exit))
            if run.status in ("died", "unresponsive"):
                self.result.fatal_cells.append(cell["index"])
                if not self.restart_and_replay(self.replay_deadline):
                    self.result.not_run = [c["index"] for c in cells[position + 1:]]
                    return
            else:
                self.history.append(cell)

    def grade(self) -> None:
        questions = self.job["questions"]
        sources = self.job["kernel_sources"] + [q["driver_source"] for q in questions if q.get("driver_source")]
        test_timeout = self.limits["test_timeout"]
        for number, question in enumerate(questions):
            if self.dead:
                self.result.questions.append(QuestionRecord("not_graded", None, "the kernel died too often"))
                continue
            nonce = secrets.token_hex(16)
            request = {"answer": question["answer"], "probe": question["probe"], "driver": question.get("driver"),
                       "cases": question["cases"], "timeout": test_timeout, "max_chars": self.limits["result_chars"]}
            budget = question_budget(question, test_timeout)
            run = self.kernel.execute(snippet(sources, f"run_question(_user_ns, {request!r}, {nonce!r})"), budget,
                                      collect=True, store_history=False)
            payload, problem = parse_frames(run.text, nonce)
            if run.status in ("died", "unresponsive"):
                status = "crashed" if run.status == "died" else "timeout"
                detail = f"the kernel died while testing this answer ({run.exit})" if run.status == "died" else \
                    "testing this answer did not stop when interrupted"
                self.result.questions.append(QuestionRecord(status, None, detail))
                reserve = sum(question_budget(q, test_timeout) for q in questions[number + 1:])
                if not self.restart_and_replay(self.hard_deadline - reserve):
                    self.dead = True
            elif payload is not None:
                self.result.questions.append(QuestionRecord("ok", payload))
            elif run.status == "timeout":
                self.result.questions.append(QuestionRecord("timeout", None, "testing this answer took too long"))
            else:
                detail = ("the grading output was forged or garbled" if problem == "tampered" else
                          "no grading output arrived (did the notebook replace sys.stdout?)")
                self.result.questions.append(QuestionRecord(problem, None, detail))

    def read_guard_log(self) -> None:
        try:
            with open(self.job["guard_log"], encoding="utf-8", errors="replace") as f:
                lines = f.read(200_000).splitlines()
        except OSError:
            return
        seen = set()
        for line in lines:
            action, _, what = line.partition("\t")
            if (action, what) not in seen:
                seen.add((action, what))
                self.result.blocked.append([action, what])

    def run(self) -> WorkerResult:
        try:
            self.kernel.start()
            self.run_cells()
            if self.dead:
                self.result.fatal = (f"the kernel died {self.result.restarts + 1} times (cells "
                                     f"{', '.join(str(i + 1) for i in self.result.fatal_cells)}); gave up")
            else:
                self.grade()
        except KernelStartError as e:
            self.result.fatal = str(e)
        finally:
            self.kernel.kill()
            self.read_guard_log()
            self.result.seconds = round(time.monotonic() - self.start, 2)
        return self.result


def limit_resources(memory_bytes: int | None, file_bytes: int | None) -> None:
    """Memory (data segment) and file-size limits for this process and the kernels it starts."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a segfault must not write a core file
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    if file_bytes:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    os.umask(0o077)
    try:
        limit_resources(job["limits"].get("memory_bytes"), job["limits"].get("file_bytes"))
        result = asdict(Run(job).run())
    except Exception as e:  # a bug here: report it for this submission only
        traceback.print_exc()
        result = asdict(WorkerResult(fatal=f"grader error: {type(e).__name__}: {e}"))
    target = Path(job["result"])
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    tmp.replace(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
