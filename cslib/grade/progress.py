"""The run's progress file: each submission's outcome on disk as soon as it is known, read back by ``--resume``.

The grader appends one JSON line per graded file (flushed and synced) to ``<out>-progress.jsonl``,
after a first line with the lab, the seed and the isolation. If the grader's process dies (a crash,
a killed job, a machine that went down), at most the rows that were being graded are lost; the
same command with ``--resume`` keeps every row whose file is unchanged (same path, same SHA-256)
and grades the rest with the same seed. After the CSV is written the file is deleted; an
interrupted run (Ctrl-C) keeps it. The file is the grader's own: kernels cannot read or write it
(it is not mounted in the sandbox).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from cslib.grade.lab import GradingSetupError, Lab
from cslib.grade.report import OutputError, make_folder
from cslib.grade.scoring import CaseResult, Graded, QuestionResult
from cslib.grade.submissions import Submission

VERSION = 1


def progress_path(out: Path) -> Path:
    """Where the progress file of a run writing ``out`` goes: ``grades.csv`` -> ``grades-progress.jsonl``."""
    return out.with_name(out.stem + "-progress.jsonl")


class Progress:
    """The progress file of one run: the rows of an earlier run (with ``resume``) and the rows of this one."""

    def __init__(self, path: Path, lab: Lab, resume: bool):
        self.path, self.lab = path, lab
        self.seed: int | None = None  # the earlier run's, when resuming
        self.isolation: str | None = None
        self.rows: dict[tuple[str, str], dict] = {}
        self.restored = 0
        self.error = ""  # why a row could not be appended (the run goes on: the CSV gets every row at the end)
        exists = os.path.lexists(path)
        if exists and not resume:
            raise GradingSetupError(f"{path} holds the rows of a run that did not finish: run the same command with "
                                    f"--resume to keep them and grade the rest, or delete the file to start over")
        if resume and not exists:
            raise GradingSetupError(f"--resume: there is no {path} (the earlier run finished, or wrote its CSV elsewhere)")
        if resume:
            self._read()

    def _read(self) -> None:
        try:
            lines = self.path.read_bytes().decode("utf-8", "replace").splitlines()
        except OSError as e:
            raise GradingSetupError(f"--resume: cannot read {self.path}: {e.strerror or e}") from e
        header = _json_line(lines[0]) if lines else None
        if not header or header.get("version") != VERSION or not isinstance(header.get("seed"), int):
            raise GradingSetupError(f"--resume: {self.path} is not a progress file of this grader")
        if header.get("lab") != (self.lab.lab_id or self.lab.source):
            raise GradingSetupError(f"--resume: {self.path} is from grading {header.get('lab')}, not "
                                    f"{self.lab.lab_id or self.lab.source}")
        self.seed, self.isolation = header["seed"], header.get("isolation")
        for line in lines[1:]:  # a line cut short by the crash does not parse, and its file is graded again
            row = _json_line(line)
            if row and isinstance(row.get("file"), str) and isinstance(row.get("sha256"), str):
                self.rows[(row["file"], row["sha256"])] = row

    def start(self, seed: int, isolation: str) -> None:
        """Write the first line (a new file), or check that this run grades like the one it resumes."""
        if self.seed is not None:
            if seed != self.seed:
                raise GradingSetupError(f"--resume: the earlier run used --seed {self.seed}, not {seed}")
            if isolation != self.isolation:
                raise GradingSetupError(f"--resume: the earlier run graded with isolation {self.isolation}, "
                                        f"this one would use {isolation}")
            return
        header = {"version": VERSION, "lab": self.lab.lab_id or self.lab.source, "seed": seed, "isolation": isolation}
        try:
            make_folder(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(header) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except (OSError, OutputError) as e:  # found before grading, not after an hour of it
            raise GradingSetupError(f"cannot write the progress file {self.path} (nor, then, the CSV next to it): "
                                    f"{getattr(e, 'strerror', None) or e}") from e
        self.seed, self.isolation = seed, isolation

    def restore(self, sub: Submission) -> Graded | None:
        """The earlier run's outcome for this file, if it was graded and has not changed since."""
        row = self.rows.get((str(sub.path.resolve()), sub.sha256)) if sub.sha256 else None
        if row is None:
            return None
        answers = [q.get("answer") for q in row.get("questions", [])]
        if row.get("status") == "ran" and answers != [q.answer for q in self.lab.questions]:
            return None  # the lab's questions changed since: grade it again
        try:
            questions = [QuestionResult(question, float(q["points"]), [CaseResult(**c) for c in q["cases"]], q["problem"])
                         for question, q in zip(self.lab.questions, row.get("questions", []))]
            graded = Graded(sub, row["status"], row["reason"], questions, list(sub.notes) + list(row["notes"]),
                            float(row["seconds"]))
        except (KeyError, TypeError, ValueError):
            return None
        self.restored += 1
        return graded

    def add(self, graded: Graded) -> None:
        """Append one outcome, flushed and synced (nothing for a file whose grading was interrupted); never raises."""
        sub = graded.submission
        if not sub.sha256 or graded.reason == "grading was interrupted":
            return
        row = {"file": str(sub.path.resolve()), "sha256": sub.sha256, "status": graded.status, "reason": graded.reason,
               "notes": graded.notes[len(sub.notes):], "seconds": graded.seconds,
               "questions": [{"answer": q.question.answer, "points": q.points, "problem": q.problem,
                              "cases": [asdict(c) for c in q.cases]} for q in graded.questions]}
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            self.error = self.error or f"could not add to {self.path}: {e.strerror or e}"

    def finish(self) -> None:
        """The CSV holds every row now: the progress file is not needed any more."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _json_line(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
