"""A crash of the grader's process loses at most the rows it was grading, and ``--resume`` grades the rest.

The grader runs in a subprocess and is killed with SIGKILL (no ``finally``, no cleanup) while a third
submission is being graded; its progress file must hold the two rows already known, the hanging
worker must die with it, and a resumed run grades only what was not graded (a file changed since
is graded again), with the same seed.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from cslib import grade
from cslib.grade import lab as grade_lab, worker as grade_worker
from cslib.grade.progress import Progress, progress_path

import sandboxing

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = str(ROOT / "tests" / "grading_lab.py")

# A worker that notes which file it grades, hangs on a file marked HANG, else runs the real worker.
FAKE_WORKER = textwrap.dedent("""
    import json, os, runpy, sys, time
    sys.path.insert(0, ROOT)
    from cslib.grade.worker import die_with_grader
    die_with_grader()
    job = json.load(open(sys.argv[1]))
    code = "".join(c["source"] for c in job["cells"])
    with open(LOG, "a") as f:
        f.write(code.splitlines()[0] + "\\n")
    if "HANG" in code:
        with open(PIDS, "a") as f:
            f.write(str(os.getpid()) + "\\n")
        time.sleep(300)
    runpy.run_path(WORKER, run_name="__main__")
""")

GRADER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from cslib import grade
    from cslib.grade import lab as grade_lab
    from cslib.grade.progress import Progress
    lab = grade_lab.load_lab("lab99", QUESTIONS)
    options = grade.Options(jobs=1, seed=7, hard_timeout=600, worker_command=WORKER_COMMAND, quiet=True, sandbox=SANDBOX)
    grade.grade_files(lab, [Path(p) for p in json.loads(sys.argv[1])], options, progress=Progress(Path(sys.argv[2]), lab, False))
""")


def write(path: Path, code: str) -> Path:
    nb = new_notebook(cells=[new_code_cell(code)])
    nb.metadata["cslib"] = {"lab": "lab99"}
    nbformat.write(nb, path)
    return path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def wait_for(condition, what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"
    except (OSError, IndexError):
        return True


def test_a_killed_grader_loses_only_the_row_it_was_on_and_resume_grades_the_rest(tmp_path):
    log, pids = tmp_path / "graded.txt", tmp_path / "pids.txt"
    worker_command = [sys.executable, "-c", FAKE_WORKER.replace("ROOT", repr(str(ROOT))).replace("LOG", repr(str(log)))
                      .replace("PIDS", repr(str(pids))).replace("WORKER", repr(grade_worker.__file__))]
    folder = tmp_path / "class"
    folder.mkdir()
    paths = [write(folder / "ann.ipynb", "# ann\nanswer = 42"), write(folder / "bob.ipynb", "# bob\nanswer = 42"),
             write(folder / "cat.ipynb", "# cat HANG\nanswer = 42"), write(folder / "dan.ipynb", "# dan\nanswer = 42")]
    progress_file = progress_path(tmp_path / "grades.csv")
    script = (GRADER.replace("QUESTIONS", repr(QUESTIONS)).replace("WORKER_COMMAND", repr(worker_command))
              .replace("SANDBOX", repr(not sandboxing.grade_args())))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-c", script, json.dumps([str(p) for p in paths]), str(progress_file)],
                               env=env, start_new_session=True)
    try:
        wait_for(lambda: pids.exists() and pids.read_text().strip(), "the grader to reach the hanging submission")
        assert process.poll() is None
        os.killpg(process.pid, signal.SIGKILL)  # the grader crashes while it grades cat
    finally:
        process.kill()
        process.wait()
    hanging = int(pids.read_text().split()[0])
    wait_for(lambda: gone(hanging), "the orphaned worker to die with the grader", 30)

    kept = rows(progress_file)
    assert [Path(r["file"]).name for r in kept] == ["ann.ipynb", "bob.ipynb"]
    assert all(r["status"] == "ran" and sum(q["points"] for q in r["questions"]) == 1 for r in kept)
    assert log.read_text().split() == ["#", "ann", "#", "bob", "#", "cat", "HANG"]

    lab = grade_lab.load_lab("lab99", QUESTIONS)
    write(folder / "cat.ipynb", "# cat\nanswer = 42")  # changed since: graded again
    log.unlink()
    progress = Progress(progress_file, lab, resume=True)
    assert progress.seed == 7
    options = grade.Options(jobs=2, seed=progress.seed, worker_command=worker_command, quiet=True,
                            sandbox=not sandboxing.grade_args())
    run = grade.grade_files(lab, paths, options, progress=progress)
    assert sorted(log.read_text().split()) == ["#", "#", "cat", "dan"]  # ann and bob were not graded again
    assert progress.restored == 2 and run.seed == 7
    assert [(g.submission.student_id, g.status, g.total) for g in run.graded] == [
        ("ann", "ran", 1), ("bob", "ran", 1), ("cat", "ran", 1), ("dan", "ran", 1)]
    assert run.graded[0].seconds == kept[0]["seconds"]
    assert sorted(Path(r["file"]).name for r in rows(progress_file)) == ["ann.ipynb", "bob.ipynb", "cat.ipynb", "dan.ipynb"]


def test_a_left_progress_file_is_never_overwritten_and_resume_keeps_its_seed(tmp_path, capsys):
    notebook = write(tmp_path / "ann.ipynb", "answer = 42")
    out = tmp_path / "grades.csv"
    left = progress_path(out)
    left.write_text(json.dumps({"version": 1, "lab": "lab99", "seed": 11, "isolation": "none"}) + "\n")
    args = ["lab99", str(notebook), "--questions", QUESTIONS, "--out", str(out), "-q"]
    assert grade.main(args) == 2
    assert "holds the rows of a run that did not finish: run the same command with --resume" in capsys.readouterr().err
    assert grade.main([*args, "--resume", "--seed", "12"]) == 2
    assert "the earlier run used --seed 11, not 12" in capsys.readouterr().err
    assert left.read_text().count("\n") == 1 and not out.exists()
    left.unlink()
    assert grade.main([*args, "--resume"]) == 2
    assert "--resume: there is no" in capsys.readouterr().err
    left.write_text("not json\n")
    assert grade.main([*args, "--resume"]) == 2
    assert "is not a progress file of this grader" in capsys.readouterr().err


def test_a_finished_run_deletes_its_progress_file(tmp_path, capsys):
    notebook = write(tmp_path / "ann.ipynb", "answer = 42")
    out = tmp_path / "grades.csv"
    assert grade.main(["lab99", str(notebook), "--questions", QUESTIONS, "--out", str(out), "-q", "--seed", "3",
                       *sandboxing.grade_args()]) == 0
    assert out.exists() and not progress_path(out).exists()
    assert "resumed" not in capsys.readouterr().out
