"""The setup files agree: environment.yml lists pyproject's dependencies, CI runs the README's commands."""
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def names(requirements):
    return {re.split(r"[<>=!~\[ ;]", r.strip(), maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def environment_pip_lines():
    lines, inside = [], False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        line = line.split("#", 1)[0].rstrip()
        if line.strip() == "- pip:":
            inside = True
        elif inside and line.strip().startswith("- "):
            lines.append(line.strip()[2:])
    return lines


def test_environment_yml_is_the_student_command_with_the_constraints():
    """conda writes the pip lines to a requirements file next to environment.yml and runs pip from there: so these
    two lines are `pip install -e ".[student]" -c constraints.txt`, on the Python constraints.txt was made with."""
    assert environment_pip_lines() == ["-c constraints.txt", "-e .[student]"]
    assert "  - python=3.11" in [line.split("#", 1)[0].rstrip() for line in (ROOT / "environment.yml").read_text().splitlines()]
    assert "Python 3.11" in (ROOT / "constraints.txt").read_text().split("\n\n", 1)[0]


def extra(name: str) -> list[str]:
    """The requirements of an extra, with the extras it names (dlcv-cslib[student,site]) expanded."""
    project = pyproject()["project"]
    requirements = []
    for text in project["optional-dependencies"][name]:
        if names([text]) == {project["name"]}:
            for other in text.split("[", 1)[1].rstrip("]").split(","):
                requirements += extra(other.strip())
        else:
            requirements.append(text)
    return requirements


INSTRUCTOR_TOOLS = {"nbgrader", "nbformat", "nbclient", "papermill", "sphinx", "myst-nb", "pytest", "nbval", "playwright", "ruff"}


def test_students_install_no_instructor_tools():
    student = names(pyproject()["project"]["dependencies"] + extra("student"))
    assert {"torch", "torchvision", "matplotlib", "numpy", "torchsummary", "ipywidgets", "tqdm", "jupyterlab"} <= student
    assert not student & INSTRUCTOR_TOOLS, "nbgrader's JupyterLab extension would show every student its menus"
    assert {"nbgrader", "nbformat", "nbclient", "ipykernel", "papermill", "sphinx"} <= names(extra("instructor"))
    assert names(extra("instructor")) <= names(extra("test"))
    assert {"pytest", "pytest-xdist", "nbval", "playwright", "ruff"} <= names(extra("test"))


STUDENT_MODULES = ["cslib", "cslib.runtime", "cslib.data", "cslib.train", "cslib.compare", "cslib.plot", "cslib.augment",
                   "cslib.shifts", "cslib.conv", "cslib.models", "cslib.recipe", "cslib.transfer", "cslib.widgets",
                   "cslib.checks", *(f"cslib.checks.{p.stem}" for p in sorted((ROOT / "cslib" / "checks").glob("lab*.py")))]


def test_student_modules_run_without_the_instructor_tools():
    """Every module a notebook or lab imports loads, and a lab check runs, with the instructor tools made unimportable;
    the lab builder then says which extra it needs."""
    import subprocess

    blocked = sorted(name.replace("-", "_") for name in INSTRUCTOR_TOOLS)
    script = f"""
import importlib, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"blocked: {{name}} (an instructor tool)")
sys.meta_path.insert(0, Block())
for module in {STUDENT_MODULES!r}:
    importlib.import_module(module)
import numpy as np
from cslib.checks.lab02 import pad
def my_pad(A, p):  # a student's own pad (the ready-made np.pad is refused)
    padded = np.zeros((A.shape[0] + 2 * p, A.shape[1] + 2 * p), dtype=A.dtype)
    padded[p:p + A.shape[0], p:p + A.shape[1]] = A
    return padded
pad(my_pad)  # a student's check: prints ✓
try:
    import cslib.labs
except ImportError as error:
    print("labs:", error)
print("loaded:", sorted(name for name in sys.modules if name.split(".")[0] in {blocked!r}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout and "✓ pad" in result.stdout
    assert 'labs: python -m cslib.labs is an instructor tool and needs nbformat and nbconvert: pip install -e ".[instructor]"' in result.stdout


def test_requirements_admit_the_torch_on_local_disk():
    for req in pyproject()["project"]["dependencies"]:
        if req.startswith(("torch>", "torch=", "torchvision")):
            assert "<" not in req and "==" not in req, f"{req} must admit torch 2.14.1 / torchvision 0.29.1"


def readme_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("The maintainers' commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def test_ci_installs_and_tests_exactly_as_the_readme_says():
    setup, test = readme_commands()
    assert setup == 'pip install -e ".[test]" -c constraints.txt' and test == "pytest"
    ci = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert setup in ci and ci[-1] == test
    assert ci.index(setup) < ci.index(test)


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exact versions only: {line!r}"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_constraints_pin_every_dependency_within_pyprojects_ranges():
    """constraints.txt (what CI passed with) covers every dependency, at versions pyproject.toml admits."""
    from packaging.requirements import Requirement

    project = pyproject()["project"]
    pins = constraints()
    for text in project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]:
        req = Requirement(text)
        name = req.name.lower().replace("_", "-")
        if name == project["name"]:  # an extra that includes another extra of this project
            continue
        assert name in pins, f"{name} is not pinned in constraints.txt: regenerate it (see its header)"
        assert req.specifier.contains(pins[name], prereleases=True), f"constraints.txt pins {name}=={pins[name]}, outside {text!r}"
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"  # the builds on the course machines' disk


def test_the_license_pyproject_names_is_shipped():
    assert pyproject()["project"]["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
