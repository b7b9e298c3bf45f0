"""The model solutions of the labs, taken from ``solutions/labNN_*.ipynb`` itself (not a copy).

:func:`answers` runs a solution notebook's parameters and setup cells and its answer cells (the ones with a
``### BEGIN SOLUTION`` region) in a fresh namespace and returns that namespace, so that tests can
check the very functions and values the notebook hands in. Cells that train for the lab's result
tables are left out unless asked for (``with_training=True``): they take seconds, and their
questions have no random cases.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
from functools import lru_cache
from pathlib import Path

from cslib.labs import BEGIN

ROOT = Path(__file__).resolve().parents[1]
TRAINING = {"results", "transfer_results"}  # answers whose cells train networks


def solution_path(lab: str) -> Path:
    (path,) = sorted((ROOT / "solutions").glob(f"{lab}_*.ipynb"))
    return path


def _code_cells(lab: str) -> list[str]:
    nb = json.loads(solution_path(lab).read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _runs_training(source: str) -> bool:
    return any(re.search(rf"^{name}\b", source, re.M) for name in TRAINING) or 'load("mnist"' in source


@lru_cache(maxsize=None)
def _answers(lab: str, with_training: bool) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace: dict = {"__name__": "__main__"}
    for source in _code_cells(lab):
        if "google.colab" in source or re.search(r"^check\.\w+\(", source, re.M):
            continue
        is_setup = "cslib.setup(" in source or re.search(r"^fast = None$", source, re.M)  # and the parameters cell
        is_answer = BEGIN in source  # cslib.labs reads the regions; here only whether there is one
        if not (is_setup or is_answer or (with_training and _runs_training(source))):
            continue
        if not with_training and _runs_training(source):
            continue
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(compile(source, f"{lab} solution cell", "exec"), namespace)
        plt.close("all")
    return namespace


def answers(lab: str, with_training: bool = False) -> dict:
    """The namespace of ``solutions/<lab>_*.ipynb`` after its setup and answer cells ran (cached)."""
    return _answers(lab, with_training)
