"""Fixtures shared by the test files of tests/ (the root conftest.py sets fast mode and the threads)."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE_PACKAGES = ("sphinx", "myst_nb", "sphinx_book_theme", "sphinx_copybutton", "sphinx_revealjs")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The course's website with its slides, built once per test run by docs/website.md's command into a temporary
    folder that all pytest workers share (the first to need it builds it, under a file lock; a failed build leaves
    no "built" mark, so the next one tries again). tests/test_site.py, test_slides.py and test_accessibility.py read
    it; none changes it."""
    from filelock import FileLock

    missing = next((name for name in SITE_PACKAGES if importlib.util.find_spec(name) is None), None)
    if missing:
        pytest.skip(f"{missing} is not installed: the site needs the `site` extra (pip install -e \".[site]\")")
    shared = tmp_path_factory.getbasetemp()  # this run's; with pytest-xdist, each worker's is a folder of the run's
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    out, built = shared / "site" / "_site", shared / "site" / "built"
    with FileLock(str(shared / "site.lock")):
        if not built.exists():
            shutil.rmtree(out, ignore_errors=True)
            result = subprocess.run([sys.executable, "-m", "cslib.site", "build", "--out", str(out)], capture_output=True,
                                    text=True, cwd=ROOT, timeout=900)
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
            assert "solution lines: none found" in result.stdout
            built.touch()
    return out
