"""The lab format: solutions/ is the source, labs/ is generated, and the two never drift apart."""
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cslib import labs

ROOT = Path(__file__).resolve().parents[1]

SOLUTION_CODE = """def conv2d(A, B):
    \"\"\"Valid cross-correlation.\"\"\"
    ### BEGIN SOLUTION
    return sum(A)
    ### END SOLUTION

view_shape = None
### BEGIN SOLUTION
view_shape = (60000, 784)
### END SOLUTION"""


def make_solution(tmp_path: Path, name="lab07_demo.ipynb") -> Path:
    nb = new_notebook()
    code = new_code_cell(SOLUTION_CODE, execution_count=3, outputs=[new_output("stream", name="stdout", text="secret\n")])
    code.metadata["tags"] = ["nbval-check-output", "keep-me"]
    nb.cells = [
        new_markdown_cell("# Lab 7\nExplain:\n### BEGIN SOLUTION\nThe answer is 42.\n### END SOLUTION"),
        code,
        new_code_cell("check.conv2d()", execution_count=4, outputs=[new_output("stream", name="stdout", text="✓ ok\n")]),
    ]
    (tmp_path / "solutions").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "solutions" / name
    nbformat.write(nb, path)
    return path


def test_solution_regions_become_stubs_with_their_indentation():
    out = labs.strip_solutions(SOLUTION_CODE, labs.CODE_STUB)
    assert "return sum(A)" not in out and "(60000, 784)" not in out
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in out
    assert "\n# YOUR CODE HERE\nraise NotImplementedError()" in out
    assert '"""Valid cross-correlation."""' in out and "view_shape = None" in out
    compile(out, "lab", "exec")  # the student version is valid Python


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "without ### END SOLUTION"),
    ("x = 1\n### END SOLUTION", "without ### BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_unbalanced_markers_are_errors(source, message):
    with pytest.raises(labs.LabFormatError, match=message):
        labs.strip_solutions(source, labs.CODE_STUB, "cell 1")


def test_build_clears_outputs_and_marks_the_lab(tmp_path):
    path = make_solution(tmp_path)
    lab = labs.build_lab(nbformat.read(path, as_version=4), path.name)
    md, code, check = lab.cells
    assert "42" not in md.source and "YOUR ANSWER HERE" in md.source
    assert all(c.outputs == [] and c.execution_count is None for c in (code, check))
    assert code.metadata["tags"] == ["keep-me"]  # nbval tags are for solutions only
    assert lab.metadata["cslib"] == {"lab": "lab07", "student_version": True}
    assert "secret" not in nbformat.writes(lab)


def test_sync_check_catches_stale_missing_and_orphan_labs(tmp_path):
    solution = make_solution(tmp_path)
    assert labs.out_of_sync(tmp_path) == ["labs/lab07_demo.ipynb is missing"]
    assert labs.main(["check", "--root", str(tmp_path)]) == 1
    assert labs.main(["build", "--root", str(tmp_path)]) == 0
    assert labs.out_of_sync(tmp_path) == [] and labs.main(["check", "--root", str(tmp_path)]) == 0
    nb = nbformat.read(solution, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("60000", "70000")  # inside a solution region
    nbformat.write(nb, solution)
    assert labs.out_of_sync(tmp_path) == []  # the student version does not change
    nb.cells[1].source = nb.cells[1].source.replace("view_shape = None", "view_shape = 0")
    nbformat.write(nb, solution)
    assert labs.out_of_sync(tmp_path) == ["labs/lab07_demo.ipynb differs from what solutions/lab07_demo.ipynb gives"]
    (tmp_path / "labs" / "lab99_orphan.ipynb").write_text("{}")
    assert "labs/lab99_orphan.ipynb has no solution notebook in solutions/" in labs.out_of_sync(tmp_path)


def test_lab_names_are_checked():
    assert labs.lab_id("solutions/lab02_convolutions.ipynb") == "lab02"
    with pytest.raises(labs.LabFormatError, match="labNN_topic.ipynb"):
        labs.lab_id("my lab.ipynb")


def test_repository_labs_are_in_sync_with_solutions():
    assert labs.out_of_sync(ROOT) == [], "run: python -m cslib.labs build"


def test_repository_labs_are_clean_and_solutions_executed():
    for lab in sorted((ROOT / "labs").glob("*.ipynb")):
        nb = nbformat.read(lab, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), lab
        assert "### BEGIN SOLUTION" not in nbformat.writes(nb), lab
    for solution in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(solution, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert sum(1 for c in code if c.outputs) >= len(code) // 2, f"{solution} is not stored executed"
