"""Settings for every test run (`pytest` from the repository root).

Fast mode is on unless the caller chose otherwise (`CSLIB_FAST=0 pytest` runs full mode), and
each process uses one BLAS thread: with two pytest workers on two cores that is fastest, and
the notebook kernels that nbval starts inherit these variables. The kernels of the notebooks nbval runs
(the lectures and the lab solutions) also get ``CSLIB_CHECK_FIGURES=1``: their ``cslib.setup()`` then fails a
cell whose figure tells legend entries apart by colour alone, with colours that look alike (cslib/figcheck.py).
Other tests' kernels (the grader's, nbgrader's) do not.
"""
import functools
import os

import pytest

os.environ.setdefault("CSLIB_FAST", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


_CALLER_CHECKS_FIGURES = os.environ.get("CSLIB_CHECK_FIGURES")  # as the caller set it, put back after each cell
# A notebook whose stored figures came before the check, by the date of its stored run: not checked until its next
# full run (which changes the date). Lecture 3's receptive-field squares are told apart by colour alone; the fix
# (a line style each) goes in with that run, so that the stored figure is the one its code draws.
FIGURES_CHECKED_FROM_NEXT_RUN = {"03_augmentation_deep_cnns.ipynb": "2026-12-05"}


@functools.lru_cache(maxsize=None)
def _stored_run_date(path) -> str:
    import json

    with open(path, encoding="utf-8") as f:
        return json.load(f).get("metadata", {}).get("cslib", {}).get("executed", {}).get("date", "")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before nbval starts a notebook's kernel (in the setup of its first cell), ask it to check its figures."""
    if item.path.suffix == ".ipynb":
        exempt = FIGURES_CHECKED_FROM_NEXT_RUN.get(item.path.name)
        if exempt is None or _stored_run_date(item.path) != exempt:
            os.environ["CSLIB_CHECK_FIGURES"] = "1"


def pytest_runtest_teardown(item):
    if _CALLER_CHECKS_FIGURES is None:
        os.environ.pop("CSLIB_CHECK_FIGURES", None)
    else:
        os.environ["CSLIB_CHECK_FIGURES"] = _CALLER_CHECKS_FIGURES
