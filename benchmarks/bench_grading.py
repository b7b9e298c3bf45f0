"""Benchmark: what the OS sandbox costs the grader, per kernel start and per class (lab 2).

    python benchmarks/bench_grading.py                      # 8 submissions, -j 2, 6 kernel starts per mode
    python benchmarks/bench_grading.py --n 16 --jobs 2 --starts 10

On one machine and in one run it measures:

- the sandbox's own set-up: running ``true`` directly and inside the sandbox (namespaces, mounts),
  ``5 * --starts`` times each, alternately: the medians;
- the start-up of one kernel as the grader's worker starts it (a fresh settings folder, the
  kernel, the kernel side installed; then killed), with the sandbox (bubblewrap) and without
  (``--no-sandbox``), alternately, ``--starts`` times each: the median of each and their difference,
  the sandbox's start-up cost per kernel;
- a whole grading run, ``python -m cslib.grade labs/lab02_convolutions.ipynb CLASS -j N`` from the
  command line (everything the instructor waits for: the copies, the sandbox check, the kernels,
  the questions, the CSV), on a class of ``--n`` copies of the lab 2 solution, with and without the
  sandbox: seconds and submissions per minute.

Fast mode (the default of the grader). Nothing is asserted; the script exits non-zero only on real
errors (a run that does not give every copy full marks is one). On a shared machine the numbers vary:
run it on a quiet one.
"""
from __future__ import annotations

import argparse
import csv
import inspect
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cslib.checks import probe  # noqa: E402
from cslib.grade import kernelside, sandbox as grade_sandbox, worker  # noqa: E402

LAB = ROOT / "labs" / "lab02_convolutions.ipynb"
SOLUTION = ROOT / "solutions" / "lab02_convolutions.ipynb"


def kernel_start_seconds(sandbox: dict, folder: Path) -> float:
    """Seconds to start one kernel as the worker does (with the kernel side installed), then kill it."""
    job_dir = Path(tempfile.mkdtemp(dir=folder))
    scratch = job_dir / "scratch"
    scratch.mkdir()
    job = {"job_dir": str(job_dir), "scratch": str(scratch), "deny": [], "sandbox": sandbox,
           "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(scratch), "LANG": "C.UTF-8",
                   "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"},
           "python": sys.executable, "launcher": grade_sandbox.kernel_launcher(), "kernel_pids": str(job_dir / "pids"),
           "kernel_sources": [inspect.getsource(probe), inspect.getsource(kernelside)], "limits": {"output_chars": 10**6}}
    kernel = worker.GradingKernel(job)
    start = time.perf_counter()
    kernel.start()
    seconds = time.perf_counter() - start
    kernel.kill()
    shutil.rmtree(job_dir, ignore_errors=True)
    return seconds


def measure_starts(starts: int, folder: Path) -> dict[str, list[float]]:
    """Kernel start-up seconds with and without the sandbox, alternately (the kernels' own messages are hidden)."""
    sys.stdout.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        return _measure_starts(starts, folder)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _measure_starts(starts: int, folder: Path) -> dict[str, list[float]]:
    sandbox = grade_sandbox.find([ROOT / "solutions"], {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}).to_json()
    none = grade_sandbox.Sandbox(grade_sandbox.NONE).to_json()
    times: dict[str, list[float]] = {"bubblewrap": [], "none": []}
    kernel_start_seconds(none, folder)  # warm the file cache once
    for _ in range(starts):
        times["bubblewrap"].append(kernel_start_seconds(sandbox, folder))
        times["none"].append(kernel_start_seconds(none, folder))
    return times


def setup_seconds(repeats: int, folder: Path) -> tuple[float, float]:
    """Median seconds to run ``true`` directly and inside the sandbox (its set-up alone: namespaces and mounts)."""
    sandbox = grade_sandbox.find([ROOT / "solutions"], {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}).to_json()
    true = shutil.which("true") or "/bin/true"
    wrapped = grade_sandbox.wrap(sandbox, [true], [str(folder)], {"PATH": "/usr/bin:/bin"}, str(folder))
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for inside, command in ((False, [true]), (True, wrapped)):
            start = time.perf_counter()
            subprocess.run(command, check=True)
            times[inside].append(time.perf_counter() - start)
    return statistics.median(times[False]), statistics.median(times[True])


def grade_class(n: int, jobs: int, sandboxed: bool, folder: Path) -> float:
    """Wall-clock seconds of one grading run of ``n`` copies of the lab 2 solution (all must get full marks)."""
    run = Path(tempfile.mkdtemp(dir=folder))
    (run / "class").mkdir()
    for i in range(n):
        shutil.copy(SOLUTION, run / "class" / f"student{i:03d}.ipynb")
    command = [sys.executable, "-m", "cslib.grade", str(LAB), str(run / "class"), "--out", str(run / "grades.csv"),
               "-j", str(jobs), "-q", "--seed", "0"] + ([] if sandboxed else ["--no-sandbox"])
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"grading failed ({done.returncode}): {done.stderr[-2000:]}")
    with open(run / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != n or any(r["total"] != r["max_total"] for r in rows):
        raise SystemExit(f"not every copy got full marks: {rows[:3]}")
    shutil.rmtree(run, ignore_errors=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=8, help="submissions in the class (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=2, help="-j of the grader (default: %(default)s)")
    p.add_argument("--starts", type=int, default=6, help="kernel starts per mode (default: %(default)s)")
    args = p.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp)
        plain, inside = setup_seconds(5 * args.starts, folder)
        print(f"running `true` (median of {5 * args.starts}): directly {1000 * plain:.1f} ms, in the sandbox "
              f"{1000 * inside:.1f} ms; the sandbox's set-up takes {1000 * (inside - plain):.1f} ms")
        times = measure_starts(args.starts, folder)
        median = {mode: statistics.median(values) for mode, values in times.items()}
        print(f"kernel start (median of {args.starts}): sandbox {median['bubblewrap']:.2f} s, no sandbox "
              f"{median['none']:.2f} s; the sandbox adds {median['bubblewrap'] - median['none']:+.2f} s per kernel")
        print("| lab02, copies of the solution | isolation | -j | seconds | submissions per minute |")
        print("|---|---|---|---|---|")
        for sandboxed in (True, False):
            seconds = grade_class(args.n, args.jobs, sandboxed, folder)
            print(f"| {args.n} | {'bubblewrap' if sandboxed else 'none'} | {args.jobs} | {seconds:.0f} | "
                  f"{60 * args.n / seconds:.1f} |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
