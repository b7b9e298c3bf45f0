"""Whether the grading tests run kernels in the OS sandbox (bubblewrap).

In CI (the ``CI`` or ``CSLIB_REQUIRE_SANDBOX`` environment variable is set; ``.ci/run`` sets the
second) the sandbox is required: a grading test that cannot use it fails. Elsewhere (a laptop
without bubblewrap, macOS) the tests that need it are skipped with the reason, and the others
grade with ``--no-sandbox``.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

from cslib.grade import sandbox as grade_sandbox

REQUIRED = bool(os.environ.get("CI") or os.environ.get("CSLIB_REQUIRE_SANDBOX"))


@functools.lru_cache(maxsize=None)
def problem() -> str:
    """'' where bubblewrap works on this machine; else why not."""
    try:
        grade_sandbox.find([], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    except grade_sandbox.SandboxError as e:
        return str(e)
    return ""


def require() -> None:
    """Fail (in CI) or skip (elsewhere) the calling test when the sandbox cannot be used."""
    if problem():
        if REQUIRED:
            pytest.fail(f"the OS sandbox is required in CI and cannot be used: {problem()}")
        pytest.skip(f"no OS sandbox on this machine: {problem()}")


def grade_args() -> list[str]:
    """The grader's options for tests that grade with the sandbox where there is one: [] or ['--no-sandbox']."""
    if not problem():
        return []
    if REQUIRED:
        pytest.fail(f"the OS sandbox is required in CI and cannot be used: {problem()}")
    return ["--no-sandbox"]


def job_sandbox(private: list[Path] = ()) -> dict:
    """The sandbox part of a worker's job, for tests that start a kernel directly."""
    if grade_args():
        return grade_sandbox.Sandbox(grade_sandbox.NONE).to_json()
    return grade_sandbox.find(list(private), {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}).to_json()


def job_python() -> dict:
    return {"python": sys.executable, "launcher": grade_sandbox.kernel_launcher()}
