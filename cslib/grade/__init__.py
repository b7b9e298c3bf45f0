"""The instructor's grader: run every submitted lab notebook, score each question, write the grades.

    python -m cslib.grade labs/lab01_dropout_batchnorm.ipynb submissions/*.ipynb --out grades.csv -j 4

For each submission: a scratch copy in its own folder, a fresh kernel in an OS sandbox
(bubblewrap: only the scratch folder writable, the grader's files, the other submissions and
``solutions/`` not mounted, no network, its own processes), started by a worker process with
time and memory limits, then the lab's questions: the visible cases the students saw plus
hidden cases drawn with this run's seed. The kernel only returns plain data; every comparison
happens in this (trusted) process. A submission that cannot be graded gets status "failed" and
its reason, never a silent 0. Without a sandbox the grader stops unless told ``--no-sandbox``,
and records ``isolation: none``. See docs/grading.md.

This module is the command line and the orchestration; the other modules of this package:

- ``lab``: the questions and their cases, encoded for the kernel;
- ``submissions``: student ids, pre-checks (is it a notebook of this lab?), duplicates;
- ``sandbox``: the OS sandbox (bubblewrap) each kernel runs in;
- ``worker``: runs one notebook in a sandboxed kernel (one process per submission);
- ``kernelside``: the code sent into the kernel (output cap, ``exit()``, question runner);
- ``scoring``: judging the kernel's answers, notes for the instructor;
- ``report``: the CSV, the feedback files, Gradescope results, the summary.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import inspect
import json
import math
import os
import re
import secrets
import select
import signal
import site
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cslib.grade import kernelside, limits as grade_limits, sandbox as grade_sandbox, worker
from cslib.checks import probe
from cslib.grade.cleanup import remove_tree
from cslib.grade.lab import GradingSetupError, Lab, draw_cases, load_lab, question_requests
from cslib.grade.progress import Progress, progress_path
from cslib.grade.scoring import Graded, score, visible_passed
from cslib.grade.submissions import (Submission, check_lab, collect_files, read_notebook, read_submission,
                                     resolve_duplicates, student_id)

MAX_NOTEBOOK_BYTES = 100 * 2**20
FILE_SIZE_LIMIT = 4 * 2**30  # largest file a kernel may write (RLIMIT_FSIZE)
RESULT_CHARS = 2 * 2**20  # largest result of one test case, as JSON
START_FOLDER_BYTES = 64 * 2**20  # in-memory folder of each kernel start: its settings (IPython, matplotlib) and sockets
CSLIB_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the cslib package
SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|API_?KEY|PRIVATE|^AWS_|^AZURE_|^GH_|^GITHUB_|^GOOGLE_APPLICATION", re.I)
# The only variables of the grader's environment a kernel gets (plus LC_* and CSLIB_*); the rest it
# does not see (secrets, startup code such as PYTHONSTARTUP, caches and settings folders).
KERNEL_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER",
              "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "PYTHONHASHSEED", "PYTHONIOENCODING", "PYTHONUTF8", "TORCH_HOME")


# --------------------------------------------------------------------------- options
@dataclass
class Options:
    """Limits and switches of one grading run (the command line's options)."""

    jobs: int = 1
    seed: int | None = None
    timeout: float = 1200.0  # whole notebook, seconds
    cell_timeout: float = 300.0
    test_timeout: float = 60.0  # one grading test case
    grading_timeout: float = 1200.0  # all the grading tests of one notebook together, seconds
    memory_gb: float = 8.0  # all the memory of one kernel and what it starts (cgroup); 0 = none
    tasks: int = 512  # processes and threads of one kernel (cgroup); 0 = none
    scratch_gb: float = 1.0  # size of the kernel's in-memory scratch folder (counted in its memory too)
    cgroups: bool = True  # False: --no-cgroups (memory limited per process only, no task limit, no equal CPU share)
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
    sandbox: bool = True  # False only when the instructor said --no-sandbox
    allow_read: list[str] = field(default_factory=list)  # more paths mounted read-only in the sandbox
    gpu: bool = False  # pass the NVIDIA devices into the sandbox


# --------------------------------------------------------------------------- the lab and its cases
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
        self.stopping = False  # set by Ctrl-C: running workers are killed, their submissions "interrupted"
        self.lock = threading.Lock()
        self.font_cache = _font_cache_files()
        self.deny: list[str] = []
        self.sandbox = grade_sandbox.Sandbox(grade_sandbox.NONE)  # set by prepare()
        self.kernel_sources = [inspect.getsource(probe), inspect.getsource(kernelside)]
        # a backstop only: cells, a re-run after a crash, a re-run while grading, every question, kernel starts
        tests = min(options.grading_timeout, sum(worker.question_budget(r, options.test_timeout) for r in self.requests))
        self.hard_timeout = options.hard_timeout or (3 * options.timeout + tests + 60 * (options.max_restarts + 1) + 30)

    def prepare(self, paths: list[Path]) -> list[Submission]:
        """Snapshot every file (so nothing can change it later), find ids, pre-check each one, find the sandbox."""
        submissions = []
        folders = sorted({p.parent.resolve() for p in paths})
        for number, path in enumerate(paths):
            sid, note = student_id(path, self.options.id_pattern)
            sub = Submission(path, sid, 0.0, number)
            if note:
                sub.notes.append(note)
            job = self.job_dir(sub)
            (job / "scratch").mkdir(parents=True)
            data, sub.mtime, sub.failure = read_submission(path, folders, MAX_NOTEBOOK_BYTES)
            if data is None:
                submissions.append(sub)
                continue
            (job / "scratch" / "submission.ipynb").write_bytes(data)
            sub.sha256 = hashlib.sha256(data).hexdigest()
            cells, metadata, failure = read_notebook(data)
            sub.cells = cells
            sub.failure = failure or check_lab(cells, metadata, self.lab)
            submissions.append(sub)
        resolve_duplicates(submissions)
        self.deny = self.deny_list(paths)
        if self.options.sandbox:
            try:
                self.sandbox = grade_sandbox.find([Path(p) for p in self.deny], self.kernel_env(None),
                                                  [Path(p) for p in self.options.allow_read], self.options.gpu)
            except grade_sandbox.SandboxError as e:
                raise GradingSetupError(f"{e}. Without a sandbox a submission can read solutions/ and the other "
                                        f"submissions and change files and grades; to grade anyway (e.g. your own "
                                        f"notebooks), pass --no-sandbox (recorded as isolation: none)") from e
        self.sandbox.cgroups, self.sandbox.cpu_share = grade_limits.check() if self.options.cgroups else ("--no-cgroups", False)
        self.sandbox.start_on_disk = self.check_start_folder() if self.sandbox.kind != grade_sandbox.NONE else "--no-sandbox"
        return submissions

    def check_start_folder(self) -> str:
        """'' if each kernel's start folder (its settings and sockets, which the sandbox must share with this
        process) can be an in-memory folder of its own, else why not."""
        folder = self.work / "mount-check"
        folder.mkdir()
        why = grade_limits.mount_in_memory(folder, 2**20)
        grade_limits.unmount_all(folder)
        remove_tree(folder)
        if not why:  # each worker also needs a mount namespace of its own (limits.private_mounts), tried in a new process
            code = ("import importlib.util as u, sys; s = u.spec_from_file_location('limits', {!r}); "
                    "m = sys.modules['limits'] = u.module_from_spec(s); s.loader.exec_module(m); print(m.private_mounts())"
                    ).format(grade_limits.__file__)  # as the worker loads it: by its path
            try:
                done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
                why = done.stdout.strip() if done.returncode == 0 else (done.stderr.strip()[-300:] or f"exit {done.returncode}")
            except (OSError, subprocess.SubprocessError) as e:
                why = f"{type(e).__name__}: {e}"
        return why

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
            folder = path.parent.resolve()
            if any(n == folder or folder in n.parents for n in needed):
                deny.add(str(folder / path.name))  # e.g. submissions in the repository's root: deny only the files
            else:
                deny.add(str(folder))
        deny.update(str(p) for p in self.outputs)
        solutions = CSLIB_ROOT / "solutions"
        if solutions.is_dir():
            deny.add(str(solutions))
        deny.update(str(Path(p).resolve()) for p in self.options.deny)
        return sorted(deny)

    def kernel_env(self, scratch: Path | None) -> dict[str, str]:
        """The kernel's environment: a few variables of ours (no secrets), HOME/TMPDIR/caches in the scratch folder,
        the course's settings. (The worker adds the folders of each kernel start: IPython, Jupyter, matplotlib.)

        Without ``scratch`` only the settings that do not depend on it (to know which folders kernels read).
        """
        env = {k: v for k, v in os.environ.items()
               if (k in KERNEL_ENV or k.startswith(("LC_", "CSLIB_"))) and not SECRET_ENV.search(k)}
        home = Path.home()
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent)] + [p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p])
        env.setdefault("LANG", "C.UTF-8")
        env.setdefault("CSLIB_DATA", str(home / "data"))
        env.setdefault("TORCH_HOME", str(Path(os.environ.get("XDG_CACHE_HOME", home / ".cache")) / "torch"))
        env["PYTHONUSERBASE"] = site.getuserbase()  # not the scratch folder: its packages would load at startup
        threads = str(max(1, (os.cpu_count() or 1) // max(1, self.options.jobs)))
        env.setdefault("OMP_NUM_THREADS", threads)
        env.setdefault("MKL_NUM_THREADS", threads)
        env["PYTHONPATH"] = os.pathsep.join([str(CSLIB_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
        env["CSLIB_FAST"] = "0" if self.options.full else "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # Python's own folders are read-only in the sandbox
        if scratch is None:
            return env
        dirs = {"HOME": "", "TMPDIR": "tmp", "TEMP": "tmp", "TMP": "tmp", "XDG_CACHE_HOME": ".cache",
                "XDG_DATA_HOME": ".local/share"}
        for name, sub in dirs.items():
            path = scratch / sub
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        return env

    def write_job(self, sub: Submission) -> dict:
        job_dir = self.job_dir(sub)
        scratch = job_dir / "scratch"
        memory_bytes = int(self.options.memory_gb * 2**30) or None
        job = {
            "job_dir": str(job_dir), "scratch": str(scratch), "cells": sub.cells, "questions": self.requests,
            "env": self.kernel_env(scratch), "deny": self.deny, "sandbox": self.sandbox.to_json(),
            "python": sys.executable, "launcher": grade_sandbox.kernel_launcher(),
            "font_cache": [str(p) for p in self.font_cache], "result": str(job_dir / "result.json"),
            "kernel_pids": str(job_dir / "kernels.txt"), "kernel_sources": self.kernel_sources,
            "cgroup": None if self.sandbox.cgroups else {"memory_bytes": memory_bytes, "tasks": self.options.tasks or None},
            "limits": {"notebook_timeout": self.options.timeout, "cell_timeout": self.options.cell_timeout,
                       "test_timeout": self.options.test_timeout, "grading_timeout": self.options.grading_timeout,
                       "max_restarts": self.options.max_restarts,
                       "memory_bytes": memory_bytes, "file_bytes": FILE_SIZE_LIMIT,
                       # --keep-scratch (debugging): the scratch folder on disk, to be read afterwards
                       "scratch_bytes": None if self.options.keep_scratch else int(self.options.scratch_gb * 2**30) or None,
                       "output_chars": int(self.options.output_mb * 1e6), "result_chars": RESULT_CHARS,
                       "hard_timeout": self.hard_timeout,
                       "start_bytes": None if self.sandbox.start_on_disk else START_FOLDER_BYTES},
        }
        _write_new(job_dir / "job.json", json.dumps(job).encode())
        return job

    def run_worker(self, sub: Submission, job: dict) -> tuple[dict | None, str]:
        """Run the worker for one submission: (its result, '') or (None, why there is none)."""
        job_dir = Path(job["job_dir"])
        command = [*(self.options.worker_command or [sys.executable, str(Path(worker.__file__))]), str(job_dir / "job.json")]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(CSLIB_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        timed_out = False
        deadline = time.monotonic() + self.hard_timeout
        gate_read, gate_write = os.pipe()  # the worker says when its visible phase is done (see serve_gate)
        with os.fdopen(_open_new(job_dir / "worker.log"), "wb") as log:
            try:
                process = subprocess.Popen([*command, "--gate-fd", str(gate_write)], stdin=subprocess.PIPE, stdout=log,
                                           stderr=subprocess.STDOUT, cwd=job_dir, env=env, start_new_session=True,
                                           pass_fds=(gate_write,))
            finally:
                os.close(gate_write)
            with self.lock:
                self.processes[sub.number] = process
            try:
                self.serve_gate(process, gate_read, job_dir, deadline)
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                os.close(gate_read)
                _kill_group(process.pid)
                process.wait()
                _kill_kernels(job)
                with self.lock:
                    self.processes.pop(sub.number, None)
        if self.stopping:
            return None, "grading was interrupted"
        if timed_out:
            return None, f"time limit: grading did not finish within {self.hard_timeout:.0f} s (the worker was killed)"
        try:
            return json.loads(_read_regular(Path(job["result"]))), ""
        except (OSError, ValueError):
            tail = _tail(job_dir / "worker.log")
            return None, f"grader error: the worker exited with code {process.returncode} and no result{': ' + tail if tail else ''}"

    def serve_gate(self, process: subprocess.Popen, gate: int, job_dir: Path, deadline: float) -> None:
        """Answer the worker's one question, after its visible phase: which answers passed every visible case and
        may be called on the hidden ones (judged here, from ``visible.json``). Returns when answered, when the
        worker closed the pipe (it ended) or at the deadline."""
        received = b""
        poller = select.poll()  # not select.select: a busy grader may hold file descriptors above 1024
        poller.register(gate, select.POLLIN)
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                return
            chunk = os.read(gate, 64)
            if not chunk:
                return
            received += chunk
        try:
            records = json.loads(_read_regular(job_dir / "visible.json"))
            allowed = visible_passed(self.lab, self.cases, self.requests, records)
        except Exception:  # noqa: BLE001 - the worker records it as a grader error, not as the student's failure
            allowed = None
        try:
            process.stdin.write(json.dumps(allowed).encode() + b"\n")
            process.stdin.close()
        except OSError:  # the worker is gone
            pass

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
            graded = score(sub, self.lab, self.cases, result, self.options, self.requests)
        except Exception as e:
            graded = Graded(sub, "failed", f"grader error: {type(e).__name__}: {e}", [], list(sub.notes))
        finally:
            if not self.options.keep_scratch:
                remove_tree(self.job_dir(sub))
        graded.seconds = round(time.monotonic() - start, 1)
        return graded

    def stop_all(self) -> None:
        self.stopping = True
        with self.lock:
            processes = list(self.processes.items())
        for number, process in processes:
            _kill_group(process.pid)

    def cleanup(self) -> None:
        if not self.options.keep_scratch:
            remove_tree(self.work)


# The job folder is the grader's own; without the sandbox (--no-sandbox) a kernel could still put a pipe or a
# link there: files in it are created exclusively and read only if they are regular files.
def _open_new(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)


def _write_new(path: Path, data: bytes) -> None:
    with os.fdopen(_open_new(path), "wb") as f:
        f.write(data)


def _read_regular(path: Path, limit: int = 256 * 2**20) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        return f.read(limit)


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
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return ""
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
    isolation: str = grade_sandbox.NONE  # "bubblewrap" or "none": how the kernels were isolated


ISOLATION_NOTES = {
    grade_sandbox.BUBBLEWRAP: "each kernel in an OS sandbox (bubblewrap): only its scratch folder writable, the "
                              "grader's files, other submissions and solutions/ not mounted, no network, its own processes",
    grade_sandbox.NONE: "WARNING: no sandbox (--no-sandbox): kernels run as you, with your files and your network; "
                        "a submission can read solutions/ and the other submissions and change files and grades",
}


def limits_note(options: Options, sandbox: grade_sandbox.Sandbox) -> str:
    """One line on the OS limits each kernel runs under."""
    memory = f"{options.memory_gb:g} GiB" if options.memory_gb else "no limit"
    if sandbox.kind == grade_sandbox.NONE:
        folder = "; WARNING: no sandbox, so no folder of its is in memory: a kernel can fill the disk"
    else:
        folder = (f"; its scratch folder in memory, {options.scratch_gb:g} GiB" if options.scratch_gb and not options.keep_scratch
                  else "; WARNING: its scratch folder is on the disk (--keep-scratch or --scratch 0): a kernel can fill the disk")
        folder += (f"; its start folder (settings, sockets) in memory, {START_FOLDER_BYTES // 2**20} MiB" if not sandbox.start_on_disk
                   else f"; WARNING: its start folder (settings, sockets) is on the disk ({sandbox.start_on_disk}): a "
                        f"kernel can fill the disk there" + (" (grade as root)" if os.geteuid() != 0 else ""))
    if not sandbox.cgroups:
        cpu = ("an equal share of the CPU" if sandbox.cpu_share else "WARNING: no cpu controller, so no equal share of "
               "the CPU: a kernel that starts many processes can slow down the others graded at the same time (-j 1)")
        return (f"each kernel in a cgroup of its own: memory {memory} (all its processes, shared memory and in-memory "
                f"files included), {options.tasks or 'any number of'} tasks, {cpu}{folder}")
    return (f"WARNING: no cgroups ({sandbox.cgroups}): memory limited per process ({memory} of data segment), tasks not "
            f"limited, and a kernel that starts many processes takes more of the CPU: one submission can slow down "
            f"the others graded at the same time (grade as root, or with -j 1){folder}")


def grade_files(lab: Lab, paths: list[Path], options: Options, outputs: list[Path] = (),
                on_done: Callable[[Graded], None] | None = None,
                on_start: Callable[[grade_sandbox.Sandbox], None] | None = None,
                progress: Progress | None = None) -> Run:
    """Grade ``paths``, ``options.jobs`` at a time. Ctrl-C stops the workers; what was graded is kept.

    Raises :class:`GradingSetupError` before any submission runs if no sandbox can be used (unless
    ``options.sandbox`` is False); ``on_start`` gets the sandbox used (its ``kind``: "bubblewrap" or "none") first.
    With ``progress``, each outcome is appended to the progress file as soon as it is known, and the files
    an earlier run graded (unchanged since) are not graded again (``progress.seed`` must then be ``options.seed``).
    """
    grader = Grader(lab, options, list(outputs))
    results: dict[int, Graded] = {}
    interrupted = False
    try:
        submissions = grader.prepare(paths)
        if progress:
            progress.start(grader.seed, grader.sandbox.kind)
        if on_start:
            on_start(grader.sandbox)
        todo = []
        for sub in submissions:
            restored = progress.restore(sub) if progress else None
            if restored is None:
                todo.append(sub)
                continue
            results[sub.number] = restored
            if on_done:
                on_done(restored)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.jobs))
        futures = [pool.submit(grader.grade_one, sub) for sub in todo]
        try:
            for future in concurrent.futures.as_completed(futures):
                graded = future.result()
                results[graded.submission.number] = graded
                if progress:
                    progress.add(graded)
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
    return Run([results[i] for i in sorted(results)], grader.seed, interrupted, grader.sandbox.kind)


# --------------------------------------------------------------------------- command line
GUARANTEES = """\
Guaranteed (the operating system or this process enforces it): the OS sandbox; per kernel, the limits
that the "Limits:" line at the start lists (memory, tasks, CPU share, in-memory scratch and start
folders; cgroups and mounts need root, and the line warns of each one missing); every time limit (cell,
notebook, test, all the tests of a notebook), from outside the kernel; points computed here from
size-capped plain data (trained models' accuracies measured here, from their weights); no hidden input,
and nothing that the code tested on one wrote or returned (only the name of a Python exception it
raised), in any feedback; a row per student (the newest file; the summary names the others), each on
disk (<out>-progress.jsonl) as soon as it is known (--resume after a crash).
Advisory (it runs in the student's kernel, which can change anything): the "write your own" rule
(flagged "possible tampering: review by hand"), what a driver measures in the kernel, the output
cap per cell, that hidden tests run only for answers that passed their visible ones (judged here,
from what the kernel reports), and that an answer was computed by the student's code at all.
See docs/grading.md, 'What the grader guarantees, and what is only advisory'."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cslib.grade", description=__doc__.splitlines()[0],
                                epilog=GUARANTEES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("lab", help="the lab notebook (labs/labNN_topic.ipynb) or a lab id such as lab01")
    p.add_argument("submissions", nargs="+", help="submitted notebooks, or folders of them")
    p.add_argument("--out", default="grades.csv", help="the CSV file to write (default: %(default)s)")
    p.add_argument("--feedback", help="folder for one markdown feedback file per submission (default: next to --out, "
                                      "named after it, e.g. grades-feedback/)")
    p.add_argument("--gradescope", help="also write Gradescope results: a folder (one <student>/results.json each) "
                                        "or, for one submission, a path ending in .json")
    p.add_argument("-j", "--jobs", type=int, default=max(1, min(4, (os.cpu_count() or 2) // 2)),
                   help="submissions graded in parallel (default: %(default)s)")
    p.add_argument("--seed", type=int, help="seed of the hidden tests (default: a fresh one, printed and written to the CSV)")
    p.add_argument("--timeout", type=float, default=Options.timeout, help="seconds for all cells of one notebook (default: %(default)g)")
    p.add_argument("--cell-timeout", type=float, default=Options.cell_timeout, help="seconds for one cell (default: %(default)g)")
    p.add_argument("--test-timeout", type=float, default=Options.test_timeout, help="seconds for one grading test (default: %(default)g)")
    p.add_argument("--grading-timeout", type=float, default=Options.grading_timeout,
                   help="seconds for all grading tests of one notebook, after its cells ran (default: %(default)g)")
    p.add_argument("--memory", type=float, default=Options.memory_gb,
                   help="GiB of memory per kernel: all its processes, shared memory and its in-memory files included (a cgroup; "
                        "without cgroups, the data segment of each process); 0: no limit (default: %(default)g)")
    p.add_argument("--tasks", type=int, default=Options.tasks, help="processes and threads per kernel (a cgroup); 0: no limit (default: %(default)s)")
    p.add_argument("--scratch", type=float, default=Options.scratch_gb,
                   help="GiB of the kernel's scratch folder, in memory (the sandbox's; default: %(default)g)")
    p.add_argument("--no-cgroups", action="store_true",
                   help="no cgroup per kernel (for a grader that is not root): memory is then limited per process only, "
                        "tasks not at all, and a kernel that starts many processes gets more of the CPU than the others")
    p.add_argument("--max-output", type=float, default=Options.output_mb, help="MB of output kept per cell (default: %(default)g)")
    p.add_argument("--max-restarts", type=int, default=Options.max_restarts, help="new kernels after a kernel died (default: %(default)s)")
    p.add_argument("--full", action="store_true", help="full mode (real data sets, long trainings); default: fast mode")
    p.add_argument("--questions", help="a module or .py file with QUESTIONS (for labs outside cslib.checks)")
    p.add_argument("--id-pattern", help="regex on the file name (without .ipynb) whose group 'id' (or group 1) is the student id")
    p.add_argument("--no-sandbox", action="store_true",
                   help="grade without the OS sandbox (where bubblewrap is missing: macOS, Windows, Linux without user "
                        "namespaces); submissions then run with your rights. Recorded as isolation: none")
    p.add_argument("--allow-read", action="append", default=[], metavar="PATH",
                   help="another path kernels may read in the sandbox, read-only (e.g. a data folder; repeatable)")
    p.add_argument("--gpu", action="store_true", help="pass the NVIDIA GPUs (/dev/nvidia*) and /sys into the sandbox")
    p.add_argument("--deny", action="append", default=[], help="another path kernels may not read (repeatable)")
    p.add_argument("--workdir", help="where the scratch folders go (default: the system's temporary folder)")
    p.add_argument("--keep-scratch", action="store_true",
                   help="keep the scratch folders, on disk instead of in memory (for debugging: --scratch does not apply)")
    p.add_argument("--resume", action="store_true",
                   help="continue a run that did not finish: keep the rows in its progress file (next to --out) for "
                        "files unchanged since, grade the rest with the same seed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    from cslib.grade import report

    args = build_parser().parse_args(argv)
    if sys.platform == "win32":
        print("error: grading needs Linux or macOS (process groups, resource limits); use WSL or a container",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    feedback = Path(args.feedback) if args.feedback else out.with_name(out.stem + "-feedback")
    options = Options(jobs=args.jobs, seed=args.seed, timeout=args.timeout, cell_timeout=args.cell_timeout,
                      test_timeout=args.test_timeout, grading_timeout=args.grading_timeout, memory_gb=args.memory, output_mb=args.max_output,
                      max_restarts=args.max_restarts, full=args.full, id_pattern=args.id_pattern, deny=args.deny,
                      workdir=args.workdir, keep_scratch=args.keep_scratch, quiet=args.quiet,
                      sandbox=not args.no_sandbox, allow_read=args.allow_read, gpu=args.gpu, tasks=args.tasks,
                      scratch_gb=args.scratch, cgroups=not args.no_cgroups)
    try:
        for name in ("timeout", "cell_timeout", "test_timeout", "grading_timeout"):
            if not (math.isfinite(getattr(args, name)) and getattr(args, name) > 0):
                raise GradingSetupError(f"--{name.replace('_', '-')} must be a finite number of seconds above 0, not {getattr(args, name):g}")
        if args.id_pattern:
            re.compile(args.id_pattern)
        lab = load_lab(args.lab, args.questions)
        paths = collect_files(args.submissions)
        if not paths:
            raise GradingSetupError("no submissions found")
        missing = [str(p) for p in paths if not os.path.lexists(p)]
        if missing:
            raise GradingSetupError(f"no such file: {', '.join(missing)}")
        if args.gradescope and args.gradescope.endswith(".json") and len(paths) != 1:
            raise GradingSetupError("--gradescope FILE.json takes exactly one submission; give a folder for several")
        progress = Progress(progress_path(out), lab, args.resume)
        if progress.seed is not None:
            if args.seed is not None and args.seed != progress.seed:
                raise GradingSetupError(f"--resume: the earlier run used --seed {progress.seed}, not {args.seed}")
            options.seed = progress.seed
    except (GradingSetupError, re.error) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    outputs = [out, feedback, progress.path] + ([Path(args.gradescope)] if args.gradescope else [])
    from tqdm.auto import tqdm

    bars = []

    def start(sandbox: grade_sandbox.Sandbox) -> None:
        print(f"Isolation: {sandbox.kind}: {ISOLATION_NOTES[sandbox.kind]}", file=sys.stderr, flush=True)
        if sandbox.skipped:
            print(f"  not mounted in the sandbox, because they hold private files: {', '.join(sandbox.skipped)}",
                  file=sys.stderr, flush=True)
        print(f"Limits: {limits_note(options, sandbox)}", file=sys.stderr, flush=True)
        bars.append(tqdm(total=len(paths), desc=f"grading {lab.lab_id or lab.source}", unit="notebook",
                         disable=args.quiet, file=sys.stderr))

    def done(graded: Graded) -> None:
        bars[0].update(1)
        bars[0].set_postfix_str(f"{graded.submission.path.name}: {graded.status}", refresh=True)

    try:
        run = grade_files(lab, paths, options, outputs, on_done=done, on_start=start, progress=progress)
    except GradingSetupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        for bar in bars:
            bar.close()
    gradescope = Path(args.gradescope) if args.gradescope else None
    problems = report.write_all(run.graded, lab, run.seed, out, feedback, gradescope, run.isolation)
    print(report.summary(run.graded, lab, run.seed, out, feedback, gradescope, run.isolation, problems))
    if progress.restored:
        print(f"  resumed: {progress.restored} row{'s' * (progress.restored != 1)} kept from {progress.path}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if progress.error:
        print(f"warning: {progress.error} (a crash now would have lost these rows)", file=sys.stderr)
    if problems or run.interrupted:
        print(f"The rows graded so far are kept in {progress.path}: run the same command with --resume to grade "
              f"the rest", file=sys.stderr)
    else:
        progress.finish()
    if run.interrupted:
        return 130
    return 1 if problems else 0

