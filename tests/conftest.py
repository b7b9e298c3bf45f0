"""Fixtures shared by the test files of tests/ (the root conftest.py sets fast mode and the threads)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE_PACKAGES = ("sphinx", "myst_nb", "sphinx_book_theme", "sphinx_copybutton", "sphinx_revealjs")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The course's website with its slides, built once per test process by docs/website.md's command into a
    temporary folder (tests/test_site.py, test_slides.py and test_accessibility.py read it; none changes it)."""
    missing = next((name for name in SITE_PACKAGES if importlib.util.find_spec(name) is None), None)
    if missing:
        pytest.skip(f"{missing} is not installed: the site needs the `site` extra (pip install -e \".[site]\")")
    out = tmp_path_factory.mktemp("site") / "_site"
    result = subprocess.run([sys.executable, "-m", "cslib.site", "build", "--out", str(out)], capture_output=True,
                            text=True, cwd=ROOT, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "solution lines: none found" in result.stdout
    return out
