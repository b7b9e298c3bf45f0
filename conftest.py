"""Settings for every test run (`pytest` from the repository root).

Fast mode is on unless the caller chose otherwise (`CSLIB_FAST=0 pytest` runs full mode), and
each process uses one BLAS thread: with two pytest workers on two cores that is fastest, and
the notebook kernels that nbval starts inherit these variables. The kernels of the notebooks nbval runs
(the lectures and the lab solutions) also get ``CSLIB_CHECK_FIGURES=1``: their ``cslib.setup()`` then fails a
cell whose figure tells legend entries apart by colour alone, with colours that look alike (cslib/figcheck.py).
Other tests' kernels (the grader's, nbgrader's) do not.
"""
import os

import pytest

os.environ.setdefault("CSLIB_FAST", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


_CALLER_CHECKS_FIGURES = os.environ.get("CSLIB_CHECK_FIGURES")  # as the caller set it, put back after each cell


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before nbval starts a notebook's kernel (in the setup of its first cell), ask it to check its figures."""
    if item.path.suffix == ".ipynb":
        os.environ["CSLIB_CHECK_FIGURES"] = "1"


def pytest_runtest_teardown(item):
    if _CALLER_CHECKS_FIGURES is None:
        os.environ.pop("CSLIB_CHECK_FIGURES", None)
    else:
        os.environ["CSLIB_CHECK_FIGURES"] = _CALLER_CHECKS_FIGURES


# Test files that take half a minute or more of one worker (nbgrader autogrades, the sandboxed grader's classes,
# browsers), longest first. pytest-xdist hands out whole files (--dist loadfile, in the order collected with
# --no-loadscope-reorder: by default it would start with the files of most tests, and end on these). They go first,
# then the notebooks, then the quick unit tests, so that the run does not end with one worker on a long file and
# the other idle.
LONG_FILES = ["test_nbgrader.py", "test_grade_labs.py", "test_nbgrader_workflow.py", "test_grade_sandbox.py",
              "test_grade.py", "test_grade_parts.py", "test_accessibility.py", "test_grade_progress.py",
              "test_browser.py"]


def pytest_collection_modifyitems(config, items):
    """Order the collected tests: LONG_FILES first, then the notebooks, then the rest; within a file, as collected."""
    def rank(item):
        if item.path.name in LONG_FILES:
            return LONG_FILES.index(item.path.name)
        return len(LONG_FILES) + (0 if item.path.suffix == ".ipynb" else 1)

    items.sort(key=rank)  # a stable sort: each file's tests keep their order
