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
        if line.strip() == "- pip:":
            inside = True
        elif inside and line.strip().startswith("- "):
            lines.append(line.strip()[2:])
    return lines


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = pyproject()["project"]
    wanted = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra
                                        if names([r]) != {project["name"]}]  # an extra naming another ("dlcv-cslib[site]")
    listed = [line for line in environment_pip_lines() if not line.startswith("-e")]
    assert names(listed) == names(wanted)
    assert sorted(listed) == sorted(wanted), "same version bounds in both files"
    assert "-e ." in environment_pip_lines()


def test_course_packages_are_required():
    deps = names(pyproject()["project"]["dependencies"] + pyproject()["project"]["optional-dependencies"]["test"])
    for package in ("torch", "torchvision", "jupyterlab", "matplotlib", "numpy", "torchsummary", "nbval", "ipywidgets", "tqdm", "pytest"):
        assert package in deps


def test_requirements_admit_the_torch_on_local_disk():
    for req in pyproject()["project"]["dependencies"]:
        if req.startswith(("torch>", "torch=", "torchvision")):
            assert "<" not in req and "==" not in req, f"{req} must admit torch 2.14.1 / torchvision 0.29.1"


def readme_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def test_ci_installs_and_tests_exactly_as_the_readme_says():
    setup, test, open_course = readme_commands()
    assert setup == 'pip install -e ".[test]" -c constraints.txt' and test == "pytest" and open_course == "jupyter lab"
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
