"""Run one submitted notebook in a fresh Jupyter kernel inside the OS sandbox, then ask it the grading questions.

The instructor's grader (``cslib.grade``) starts one worker process per submission::

    python path/to/cslib/grade/worker.py JOB.json

(as a script, so that it starts without importing the ``cslib`` package and torch; the job
carries the source code the kernel needs and the sandbox to use) and reads back ``result.json``.
The worker is trusted and runs outside the sandbox; the kernel it starts is not trusted and runs
inside it (``sandbox.wrap``: bubblewrap, unless the instructor passed ``--no-sandbox``). The worker

1. limits the memory (``RLIMIT_DATA``) and file sizes of itself and so of the kernel it starts;
2. starts a kernel in the submission's scratch folder (its working directory and HOME), with
   its sockets, IPython and Jupyter settings in a fresh folder of its own for every start (so
   nothing a notebook wrote there runs in the next kernel), in a cgroup of its own (memory, tasks,
   CPU share), and prepares it (``kernelside.prepare_kernel``: output cap, ``exit()``) before any
   student cell;
3. runs the code cells in order with a time limit per cell (interrupt, then kill if the cell
   ignores the interrupt) and one for the whole notebook; errors do not stop the run. When the
   kernel dies (``os._exit``, a segfault, the OOM killer) it starts a new one, re-runs the cells
   that ran before, skips the fatal cell and goes on (a bounded number of times);
4. for each question sends ``kernelside.run_question`` with the question's cases and a
   fresh nonce, and keeps only the one payload framed by that nonce: every question's visible
   cases first; then it asks the grader (``NotebookRun.ask_gate``) which answers passed all of them, and
   sends the hidden cases of those only. It never judges: the grader compares the plain data it
   gets back with the expected values, in its own process.

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
import select  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from queue import Empty  # noqa: E402

def _load(name: str):
    """cslib/grade/<name>.py (cleanup, sandbox, limits), loaded by its path: the worker runs as a script and never
    imports the cslib package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_cslib_grade_{name}", Path(__file__).with_name(f"{name}.py"))
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


remove_tree = _load("cleanup").remove_tree  # never raises, even on a tree thousands of folders deep
GRADER_TAG = "[cslib grader]"
INTERRUPT_GRACE = 3.0  # seconds a cell gets to stop after an interrupt before its kernel is killed
STARTUP_TIMEOUT = 60.0
RESTART_MARGIN = 10.0  # seconds of grading time that a new kernel needs to be worth starting after a death
KEEP_CHARS = 96 * 2**20  # grading output kept while looking for the framed payload (at most; see payload_limit)
FRAME = re.compile(r"<<cslib-grade:([0-9a-f]+)>>(.*?)<</cslib-grade:\1>>", re.S)
MAX_SOCKET_PATH = 100  # Unix socket paths are limited to 107 bytes


class KernelStartError(RuntimeError):
    """The kernel could not be started, or not prepared for grading."""


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
    exit_requested: bool = False  # the code called IPython's exit()/quit(): the kernel is about to end


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
    status: str  # ok | crashed | timeout | no_result | tampered | not_graded | gated or gate_error (hidden not run)
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


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


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


def payload_limit(question: dict, result_chars: int) -> int:
    """The most characters one question's payload can take: its cases' results, each capped, and some room."""
    return (len(question["cases"]) + 1) * (result_chars + 1000) + 2**20


def parse_frames(text: str, nonce: str, limit: int | None = None) -> tuple[dict | None, str]:
    """(payload, problem) from a grading snippet's stdout: exactly one frame with this nonce counts. A frame over
    ``limit`` characters is not parsed ("too_large"): the cap the kernel applies is one the student can lift."""
    frames = [m.group(2) for m in FRAME.finditer(text) if m.group(1) == nonce]
    if not frames:
        return None, "no_result"
    if len(frames) > 1:
        return None, "tampered"
    if limit is not None and len(frames[0]) > limit:
        return None, "too_large"
    try:
        payload = json.loads(frames[0])
    except (ValueError, RecursionError):
        return None, "tampered"
    if not isinstance(payload, dict) or not isinstance(payload.get("cases"), list):
        return None, "tampered"
    return payload, ""


# --------------------------------------------------------------------------- the kernel
class GradingKernel:
    """A Jupyter kernel in the scratch folder, inside the sandbox, with the kernel side installed first.

    Every start gets a fresh folder (random name, made while no kernel runs) for its connection file,
    sockets, IPython and Jupyter settings and matplotlib's settings: files a notebook leaves there or
    in its scratch folder (startup scripts, configuration, an ``ipykernel_launcher.py``) are never read
    by the next kernel. The launcher is started by absolute path, so the scratch folder (the working
    directory) is not searched for it.
    """

    def __init__(self, job: dict):
        self.job = job
        self.km = None
        self.kc = None
        self.starts = 0
        self.sandboxed = job["sandbox"]["kind"] != "none"
        self.start_dir: Path | None = None
        self.group = None  # this start's cgroup (limits.Group), when the job asks for OS limits
        self.oom_kills = 0  # processes the OOM killer ended in this kernel's cgroup, over all its starts

    def _start_dir(self) -> Path:
        base = Path(self.job["job_dir"])
        if len(str(base)) + len("/kernel-12345678/ipc-12") > MAX_SOCKET_PATH:  # a long --workdir: sockets go elsewhere
            base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
        run = Path(tempfile.mkdtemp(prefix="cslib-kernel-" if base != Path(self.job["job_dir"]) else "kernel-", dir=base))
        if self.job["limits"].get("start_bytes"):  # in memory: the kernel writes its settings here, and could fill a disk
            why = _load("limits").mount_in_memory(run, self.job["limits"]["start_bytes"])
            if why:  # the grader checked that it can: not the student's failure
                raise KernelStartError(f"grader error: the kernel's start folder could not be mounted in memory: {why}")
        return run

    def start(self) -> None:
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        self.starts += 1
        job = self.job
        run = self.start_dir = self._start_dir()
        env = dict(job["env"])
        for name, sub in (("IPYTHONDIR", "ipython"), ("JUPYTER_CONFIG_DIR", "jupyter"), ("JUPYTER_DATA_DIR", "jupyter-data"),
                          ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("MPLCONFIGDIR", "matplotlib"),
                          ("XDG_CONFIG_HOME", "config")):
            (run / sub).mkdir()
            env[name] = str(run / sub)
        for cache in job.get("font_cache", []):  # matplotlib would otherwise rebuild it (and run fc-list) in every kernel
            try:
                shutil.copy(cache, run / "matplotlib")
            except OSError:
                pass
        command = [job["python"], job["launcher"], "-f", "{connection_file}"]
        argv = _load("sandbox").wrap(job["sandbox"], command, [job["scratch"], str(run)], env, job["scratch"],
                                    scratch_bytes=job["limits"].get("scratch_bytes"))
        if job.get("cgroup"):  # memory (all of it), tasks and an equal CPU share for the kernel and all it starts
            limits = _load("limits")
            try:
                self.group = limits.create(f"{os.getpid()}-{self.starts}-{secrets.token_hex(3)}", **job["cgroup"])
            except limits.LimitsError as e:
                raise KernelStartError(f"the kernel's limits could not be set: {e}") from e
            argv = limits.enter_command(self.group, argv)
        spec_root = Path(job["job_dir"]) / "kernelspec"
        (spec_root / "cslib-grader").mkdir(parents=True, exist_ok=True)
        # inside the sandbox the kernel is in its own session: interrupt it with a message, not a signal
        spec = {"argv": argv, "display_name": "cslib grader", "language": "python",
                "interrupt_mode": "message" if self.sandboxed else "signal"}
        (spec_root / "cslib-grader" / "kernel.json").write_text(json.dumps(spec))
        try:
            ksm = KernelSpecManager(kernel_dirs=[str(spec_root)])
            self.km = KernelManager(kernel_spec_manager=ksm, kernel_name="cslib-grader",
                                    connection_file=str(run / "kernel.json"), transport="ipc", ip=str(run / "ipc"))
            outer_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} if self.sandboxed else env
            # the kernel's stdout and stderr go nowhere: inherited, they would be this worker's worker.log, which
            # the grader reads (a kernel could fill the disk through it, or write the failure note itself)
            self.km.start_kernel(env=outer_env, cwd=job["scratch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        config = {"output_limit": job["limits"]["output_chars"], "tag": GRADER_TAG}
        ready = self.execute(snippet(job["kernel_sources"], f"prepare_kernel({config!r})"), 60, store_history=False)
        if ready.status != "ok":
            self.kill()
            raise KernelStartError(f"the kernel could not be prepared for grading: {ready.status} {ready.error}")

    def kill(self) -> None:
        """Stop the kernel (with the sandbox, every process it started) and close the channels."""
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
        if self.group is not None:
            self.oom_kills += self.group.oom_kills()
            self.group.remove()  # kills anything left in it
            self.group = None
        if self.start_dir is not None:
            _load("limits").unmount_all(self.start_dir)
            if not _under(self.start_dir, Path(self.job["job_dir"])):
                remove_tree(self.start_dir)  # a short folder outside the job's
        self.km = self.kc = None

    def how_it_ended(self) -> str:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if self.group is not None and self.group.oom_kills():
            return (f"killed: it used more than its memory limit ({self.job['cgroup']['memory_bytes'] / 2**30:g} GiB for the "
                    f"kernel and all it started, files in /tmp, /dev/shm and its folder included)")
        if code is None:
            return "it stopped responding"
        if self.sandboxed and code > 128:  # bwrap exits with 128 + the signal that killed the kernel
            code = 128 - code
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
                if GRADER_TAG + " output over" in text:
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
        if reply is not None:
            payloads = reply["content"].get("payload") or []
            # IPython's exit()/quit(): the kernel sends this reply, then ends
            result.exit_requested = any(isinstance(p, dict) and p.get("source") == "ask_exit" and not p.get("keepkernel")
                                        for p in payloads if isinstance(payloads, list))
        if result.status == "ok" and reply is not None:
            if reply["content"].get("status") == "error":
                result.status = "error"
                if not result.error:
                    result.error = f"{reply['content'].get('ename', '')}: {reply['content'].get('evalue', '')}"[:300]
            if interrupted:
                result.status = "timeout"
        return result


# --------------------------------------------------------------------------- one submission
class NotebookRun:
    """The state of one submission's run: the kernel, what ran in it, what killed it."""

    def __init__(self, job: dict, gate_fd: int | None = None):
        self.job = job
        self.gate_fd = gate_fd  # a pipe to the grader, which says whose hidden cases may run (see ask_gate)
        self.limits = job["limits"]
        self.kernel = GradingKernel(job)
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
                if run.status in ("died", "unresponsive") or run.exit_requested:
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
            if run.exit_requested:  # IPython's exit() or quit(): this cell's error; the kernel is ending
                run.status = "error"
                run.error = "SystemExit: exit() or quit() ended the kernel (a new kernel re-ran the cells before it)"
            self.result.cells.append(CellRecord(cell["index"], run.status, run.error, run.output_chars,
                                                run.capped, round(run.seconds, 2), run.exit))
            if run.status in ("died", "unresponsive") or run.exit_requested:
                if not run.exit_requested:
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
        deadline = time.monotonic() + self.limits.get("grading_timeout", float("inf"))  # all the questions together
        asked, allowed = False, None  # the questions whose hidden cases may run (None: the grader did not say)
        for number, question in enumerate(questions):
            if self.dead:
                self.result.questions.append(QuestionRecord("not_graded", None, "the kernel died too often"))
                continue
            if question.get("phase") == "hidden" and self.gate_fd is not None:
                if not asked:
                    asked, allowed = True, self.ask_gate()
                if allowed is None:
                    self.result.questions.append(QuestionRecord("gate_error", None, "the grader did not say whether "
                                                                "the visible tests passed"))
                    continue
                if question.get("question") not in allowed:
                    self.result.questions.append(QuestionRecord("gated", None, "its visible tests did not all pass"))
                    continue
            left = deadline - time.monotonic()
            if left <= 0:
                self.result.questions.append(QuestionRecord("out_of_time", None, "not tested: the time for all the "
                                                            "grading tests of this notebook (--grading-timeout) ran out"))
                continue
            nonce = secrets.token_hex(16)
            max_chars = question.get("max_chars") or self.limits["result_chars"]
            request = {"answer": question["answer"], "probe": question["probe"], "driver": question.get("driver"),
                       "cases": question["cases"], "timeout": test_timeout, "max_chars": max_chars,
                       "reject": question.get("reject", [])}
            budget = min(question_budget(question, test_timeout), left)
            run = self.kernel.execute(snippet(sources, f"run_question(_user_ns, {request!r}, {nonce!r})"), budget,
                                      collect=True, store_history=False)
            payload, problem = parse_frames(run.text, nonce, payload_limit(question, max_chars))
            if run.status in ("died", "unresponsive"):
                status = "crashed" if run.status == "died" else "timeout"
                detail = f"the kernel died while testing this answer ({run.exit})" if run.status == "died" else \
                    "testing this answer did not stop when interrupted"
                self.result.questions.append(QuestionRecord(status, None, detail))
                if not self.new_kernel_for(questions[number + 1:], deadline):
                    deadline = time.monotonic()  # no kernel for the questions after it: they are out of time
            elif payload is not None:
                self.result.questions.append(QuestionRecord("ok", payload))
                if run.exit_requested and not self.new_kernel_for(questions[number + 1:], deadline):  # IPython's exit()
                    deadline = time.monotonic()  # no kernel for the questions after it: they are out of time
            elif run.status == "timeout":
                self.result.questions.append(QuestionRecord("timeout", None, "testing this answer took too long"))
            else:
                detail = {"tampered": "the grading output was forged or garbled (possible tampering)",
                          "too_large": "the grading output was larger than its results can be (possible tampering)"}.get(
                    problem, "no grading output arrived (did the notebook replace sys.stdout?)")
                self.result.questions.append(QuestionRecord(problem, None, detail))

    def new_kernel_for(self, later: list[dict], deadline: float) -> bool:
        """After the kernel died (or ended) while grading: a new one with the cells re-run, for the ``later``
        questions; False (no new kernel) if there are none or under RESTART_MARGIN s of the grading ``deadline`` is
        left. The re-run counts in the deadline and stops early enough to leave the later questions their budgets,
        or half the time left if less; ``dead`` is set if no new kernel could be started."""
        left = deadline - time.monotonic()
        if not later or left < RESTART_MARGIN:
            return False
        reserve = min(sum(question_budget(q, self.limits["test_timeout"]) for q in later), left / 2)
        if not self.restart_and_replay(min(self.hard_deadline, deadline) - reserve):
            self.dead = True
        return True

    def ask_gate(self) -> set | None:
        """Hidden cases run only for answers that passed every visible case, and only the grader can judge (this
        worker runs without cslib): write the visible phase's records to ``visible.json``, say so on the gate pipe,
        and wait (until the hard deadline) for the grader's line on stdin, the JSON list of the questions whose
        hidden cases may run. No answer, a garbled one or the grader's ``null``: None (a grader error, not the
        student's)."""
        target = Path(self.job["job_dir"]) / "visible.json"
        gated = {q.get("question") for q in self.job["questions"] if q.get("phase") == "hidden"}
        records = [asdict(record) if request.get("question") in gated else None  # only what the grader must judge
                   for request, record in zip(self.job["questions"], self.result.questions)]
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".visible-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(records))
        os.replace(tmp, target)
        try:
            os.write(self.gate_fd, b"visible\n")
        except OSError:
            return None
        line = b""
        while not line.endswith(b"\n"):
            remaining = self.hard_deadline - time.monotonic()
            if remaining <= 0 or not select.select([sys.stdin], [], [], remaining)[0]:
                return None
            chunk = os.read(sys.stdin.fileno(), 65536)
            if not chunk:
                break
            line += chunk
        try:
            allowed = json.loads(line.decode("utf-8"))
        except ValueError:
            return None
        return {n for n in allowed if isinstance(n, int)} if isinstance(allowed, list) else None

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
            self.result.seconds = round(time.monotonic() - self.start, 2)
        return self.result


def limit_resources(memory_bytes: int | None, file_bytes: int | None) -> None:
    """Memory (data segment) and file-size limits for this process and the kernels it starts."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a segfault must not write a core file
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    if file_bytes:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))


def die_with_grader() -> None:
    """On Linux, be killed when the grader's process dies (a crash, ``kill -9``): the kernel, started with
    bubblewrap's ``--die-with-parent``, then dies too, and nothing of a crashed run goes on grading."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the grader died before the line above
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    gate_fd = int(argv[argv.index("--gate-fd") + 1]) if "--gate-fd" in argv else None
    die_with_grader()
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    os.umask(0o077)
    why = _load("limits").private_mounts() if job["limits"].get("start_bytes") else ""  # mounts that end with it
    try:
        if why:  # the grader checked that it can: not the student's failure
            raise KernelStartError(f"no mount namespace for the kernel's in-memory folders: {why}")
        limit_resources(job["limits"].get("memory_bytes"), job["limits"].get("file_bytes"))
        result = asdict(NotebookRun(job, gate_fd).run())
    except Exception as e:  # a bug here: report it for this submission only
        traceback.print_exc()
        result = asdict(WorkerResult(fatal=f"grader error: {type(e).__name__}: {e}"))
    target = Path(job["result"])
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".result-", suffix=".tmp")  # a fresh private file
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(result))
    os.replace(tmp, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
