"""nbgrader's documented workflow, end to end, as docs/instructors.md writes it: its bash block, run line by line.

In a temporary folder laid out like the repository (``docs/`` and ``solutions/`` linked in), the block's
lines run as written, with three changes a test needs: the install line and ``jupyter lab`` are left out,
the course's exchange folder is a temporary one, and a student (``nbgrader fetch_assignment`` and
``submit``, who hands in the release unchanged) acts between ``release_assignment`` and ``collect``, then
fetches the feedback. The release must equal ``labs/`` (no header notebook), the unchanged release must be
autograded 0 on every graded cell, ``release_feedback`` must work, and the feedback must not show the hidden
tests or their seeds.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cslib.site.leaks import page_text
from test_nbgrader import autograded_scores, comparable, graded_cells

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def documented_lines() -> list[str]:
    text = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(pip install -e \"\.\[instructor\]\".*?nbgrader quickstart.*?)```", text, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.strip().splitlines()]


def test_the_documented_nbgrader_workflow_releases_the_lab_and_feedback_without_hidden_tests(tmp_path):
    repo, exchange, student = tmp_path / "repo", tmp_path / "exchange", tmp_path / "student"
    repo.mkdir()
    exchange.mkdir()
    student.mkdir()
    for folder in ("docs", "solutions"):
        (repo / folder).symlink_to(ROOT / folder)
    as_student = f"--course dlcv --Exchange.root={shlex.quote(str(exchange))}"
    script = ["set -euo pipefail"]
    lines = documented_lines()
    assert lines[0].startswith("pip install") and "jupyter lab" in lines
    for line in lines[1:]:
        if line == "jupyter lab":
            continue
        if line.startswith("nbgrader collect"):  # the student, between release and collect
            script.append(f"(cd {shlex.quote(str(student))} && nbgrader fetch_assignment lab02 {as_student} "
                          f"&& nbgrader submit lab02 {as_student})")
        script.append(line)
        if line.startswith("nbgrader quickstart"):
            script.append(f"echo \"c.Exchange.root = '{exchange}'\" >> nbgrader_config.py")
    script.append(f"(cd {shlex.quote(str(student))} && nbgrader fetch_feedback lab02 {as_student})")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]

    course = repo / "dlcv"
    name = "lab02_convolutions.ipynb"
    release = nbformat.read(course / "release" / "lab02" / name, as_version=4)
    assert comparable(release) == comparable(nbformat.read(ROOT / "labs" / name, as_version=4))  # no header notebook
    student_id = next(p.name for p in (course / "submitted").iterdir())
    blank = autograded_scores(course / "gradebook.db", "dlcv", ROOT / "solutions" / name, student_id)
    tests, written = graded_cells(ROOT / "solutions" / name)
    assert set(blank) - {"total"} == tests | written and blank["total"] == 0
    assert all(blank[gid][0] == 0 for gid in tests), {gid: blank[gid] for gid in tests if blank[gid][0] != 0}
    feedback = list((student / "lab02" / "feedback").rglob("*.html"))
    assert [p.name for p in feedback] == ["lab02_convolutions.html"], feedback
    text = page_text(feedback[0])  # the page's text (the code is split into highlighting spans)
    assert "check.conv2d()" in text  # the visible tests are there...
    for secret in ("HIDDEN TESTS", ".hidden("):  # ...the hidden ones, with their seeds, are not
        assert secret not in text, secret
    html = feedback[0].read_text(encoding="utf-8")  # formulas typeset offline: MathJax inside, nothing from a CDN
    assert "window.MathJax = {tex:" in html and "cdnjs" not in html
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?://", html), "the feedback loads something from a server"
