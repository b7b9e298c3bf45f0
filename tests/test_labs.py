"""The lab format: solutions/ is the source, labs/ is generated, and the two never drift apart."""
import shutil
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


def nbgrader(grade_id, solution=False, grade=False, locked=False, points=None) -> dict:
    info = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    return info if points is None else {**info, "points": points}


def make_solution(tmp_path: Path, name="lab07_demo.ipynb") -> Path:
    nb = new_notebook()
    code = new_code_cell(SOLUTION_CODE, execution_count=3, outputs=[new_output("stream", name="stdout", text="secret\n")])
    code.metadata["tags"] = ["nbval-check-output", "keep-me"]
    code.metadata["nbgrader"] = nbgrader("conv2d", solution=True)
    written = new_markdown_cell("# Lab 7\nExplain:\n### BEGIN SOLUTION\nThe answer is 42.\n### END SOLUTION")
    written.metadata["nbgrader"] = nbgrader("explain", solution=True, grade=True, points=1)
    test = new_code_cell("check.conv2d()\n### BEGIN HIDDEN TESTS\ncheck.conv2d.hidden(seed=1)\n### END HIDDEN TESTS",
                         execution_count=4, outputs=[new_output("stream", name="stdout", text="✓ ok\n")])
    test.metadata["nbgrader"] = nbgrader("test_conv2d", grade=True, locked=True, points=2)
    nb.cells = [written, code, test]
    (tmp_path / "solutions").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "solutions" / name
    nbformat.write(nb, path)
    return path


def built_cell(source: str, cell_type: str = "code") -> str:
    """The lab's version of one solution cell (nbgrader's ClearSolutions, through build_lab)."""
    cell = new_code_cell(source) if cell_type == "code" else new_markdown_cell(source)
    cell.metadata["nbgrader"] = nbgrader("answer", solution=True, grade=cell_type == "markdown",
                                         points=1 if cell_type == "markdown" else None)
    return labs.build_lab(new_notebook(cells=[cell]), "lab07_demo.ipynb").cells[0].source


def test_solution_regions_become_stubs_with_their_indentation():
    out = built_cell(SOLUTION_CODE)
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
        labs.solution_lines(source, where="cell 1")
    with pytest.raises(labs.LabFormatError, match=message):
        built_cell(source)


def test_the_one_region_reader_splits_answer_lines_from_the_rest():
    assert labs.solution_lines(SOLUTION_CODE) == ["    return sum(A)", "view_shape = (60000, 784)"]
    assert "view_shape = None" in labs.solution_lines(SOLUTION_CODE, inside=False)


def test_build_clears_outputs_and_marks_the_lab(tmp_path):
    path = make_solution(tmp_path)
    lab = labs.build_lab(nbformat.read(path, as_version=4), path.name)
    md, code, check = lab.cells
    assert "42" not in md.source and "YOUR ANSWER HERE" in md.source
    assert all(c.outputs == [] and c.execution_count is None for c in (code, check))
    assert code.metadata["tags"] == ["keep-me"]  # nbval tags are for solutions only
    info = lab.metadata["cslib"]
    assert info == {"lab": "lab07", "student_version": True, "build_sha256": labs.content_hash(lab)}
    assert len(info["build_sha256"]) == 64
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
    assert labs.out_of_sync(tmp_path) == ["labs/lab07_demo.ipynb is out of date: solutions/lab07_demo.ipynb now gives a different lab"]
    (tmp_path / "labs" / "lab99_orphan.ipynb").write_text("{}")
    assert "labs/lab99_orphan.ipynb has no solution notebook in solutions/" in labs.out_of_sync(tmp_path)


def test_lab_names_are_checked():
    assert labs.lab_id("solutions/lab02_convolutions.ipynb") == "lab02"
    with pytest.raises(labs.LabFormatError, match="labNN_topic.ipynb"):
        labs.lab_id("my lab.ipynb")


def test_repository_labs_are_in_sync_with_solutions():
    problems = labs.out_of_sync(ROOT)
    assert problems == [], (
        "labs/ differs from what solutions/ gives. A lab you are working on is expected to differ: your edits "
        "are safe. Otherwise rebuild with `python -m cslib.labs build`, which never overwrites a lab edited "
        "since its last build:\n  " + "\n  ".join(problems))


def test_repository_labs_are_clean_and_solutions_executed():
    for lab in sorted((ROOT / "labs").glob("*.ipynb")):
        nb = nbformat.read(lab, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), lab
        assert "### BEGIN SOLUTION" not in nbformat.writes(nb), lab
    for solution in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(solution, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert sum(1 for c in code if c.outputs) >= len(code) // 2, f"{solution} is not stored executed"


# --------------------------------------------------------------------------- never losing a lab someone edited
def built_repo(tmp_path: Path) -> tuple[Path, Path]:
    solution = make_solution(tmp_path)
    assert labs.main(["build", "--root", str(tmp_path)]) == 0
    return solution, tmp_path / "labs" / solution.name


def answer_in_lab(lab: Path, text: str = "return 42  # my answer") -> str:
    nb = nbformat.read(lab, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("raise NotImplementedError()", text, 1)
    nbformat.write(nb, lab)
    return lab.read_text(encoding="utf-8")


def test_build_refuses_to_overwrite_an_edited_lab(tmp_path, capsys):
    solution, lab = built_repo(tmp_path)
    edited = answer_in_lab(lab)
    nb = nbformat.read(solution, as_version=4)  # the instructor changes the solution: the lab is now out of date
    nb.cells[2].source = "check.conv2d(verbose=True)"
    nbformat.write(nb, solution)
    capsys.readouterr()
    assert labs.main(["build", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not overwriting labs/lab07_demo.ipynb" in err and "--force" in err and "labs/backups/" in err
    assert lab.read_text(encoding="utf-8") == edited  # the student's answer is still there
    assert labs.out_of_sync(tmp_path) == ["labs/lab07_demo.ipynb was edited after its last build (it no longer matches the hash the build recorded)"]
    with pytest.raises(labs.LabEditedError):
        labs.build_all(tmp_path)
    assert not (tmp_path / "labs" / "backups").exists()


def test_build_force_keeps_a_backup_and_says_where(tmp_path, capsys):
    solution, lab = built_repo(tmp_path)
    edited = answer_in_lab(lab)
    capsys.readouterr()
    assert labs.main(["build", "--force", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    backups = list((tmp_path / "labs" / "backups").glob("lab07_demo.*.ipynb"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == edited
    assert f"backed up labs/lab07_demo.ipynb (edited since its last build) to labs/backups/{backups[0].name}" in out
    assert "my answer" not in lab.read_text(encoding="utf-8") and labs.out_of_sync(tmp_path) == []
    answer_in_lab(lab, "return 43")  # a second forced build keeps both backups
    assert labs.main(["build", "--force", "--root", str(tmp_path)]) == 0
    assert len(list((tmp_path / "labs" / "backups").glob("*.ipynb"))) == 2
    assert labs.out_of_sync(tmp_path) == []  # backups are not labs


def test_build_replaces_an_untouched_lab_whose_solution_changed(tmp_path):
    solution, lab = built_repo(tmp_path)
    nb = nbformat.read(solution, as_version=4)
    nb.cells[2].source = "check.conv2d(verbose=True)"
    nbformat.write(nb, solution)
    assert labs.build_all(tmp_path) == [lab]
    assert "verbose=True" in lab.read_text(encoding="utf-8") and labs.out_of_sync(tmp_path) == []
    assert labs.build_all(tmp_path) == []  # nothing to do the second time


def test_build_that_cannot_write_says_which_file_in_one_line(tmp_path, capsys):
    solution, lab = built_repo(tmp_path)
    nb = nbformat.read(solution, as_version=4)
    nb.cells[2].source = "check.conv2d(verbose=True)"
    nbformat.write(nb, solution)
    shutil.rmtree(lab.parent)
    lab.parent.write_text("")  # labs/ is a file: nothing can be written in it (as in a read-only folder)
    assert labs.main(["build", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: could not write {lab.parent}:") and "Traceback" not in err and len(err.splitlines()) == 1


def test_a_lab_that_is_not_valid_json_counts_as_edited(tmp_path):
    solution, lab = built_repo(tmp_path)
    lab.write_text("{ half a notebook", encoding="utf-8")
    with pytest.raises(labs.LabEditedError):
        labs.build_all(tmp_path)
    assert lab.read_text(encoding="utf-8") == "{ half a notebook"


def test_a_lab_from_an_older_build_without_a_hash_is_replaced_only_when_unchanged(tmp_path):
    solution, lab = built_repo(tmp_path)
    nb = nbformat.read(lab, as_version=4)
    del nb.metadata["cslib"]["build_sha256"]  # what the previous version of build wrote
    nbformat.write(nb, lab)
    assert labs.out_of_sync(tmp_path) == ["labs/lab07_demo.ipynb is out of date: solutions/lab07_demo.ipynb now gives a different lab"]
    assert labs.build_all(tmp_path) == [lab]  # same content: rewriting it (with its hash) loses nothing
    nb = nbformat.read(lab, as_version=4)
    del nb.metadata["cslib"]["build_sha256"]
    nb.cells[1].source += "\nprint('mine')"
    nbformat.write(nb, lab)
    with pytest.raises(labs.LabEditedError):  # different, and no hash to prove it was not edited
        labs.build_all(tmp_path)


# --------------------------------------------------------------------------- near-miss markers leak answers
@pytest.mark.parametrize("marker", [
    "###BEGIN SOLUTION", "### Begin Solution", "# BEGIN SOLUTION", "### BEGIN SOLUTION:", "#### BEGIN SOLUTION",
    "### BEGIN_SOLUTION", "### begin solution", "## END SOLUTION", "### END SOLUTION ###", "x = 1  # BEGIN SOLUTION",
])
def test_near_miss_markers_are_errors_naming_notebook_cell_and_line(tmp_path, marker):
    path = make_solution(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].source = f"a = 1\n{marker}\nanswer = 42"
    nbformat.write(nb, path)
    with pytest.raises(labs.LabFormatError) as error:
        labs.build_all(tmp_path)
    message = str(error.value)
    assert "solutions/lab07_demo.ipynb cell 3 (code) line 2" in message and repr(marker.strip()) in message
    assert "looks like a solution marker" in message
    assert not (tmp_path / "labs").exists()  # nothing was written, so no answer leaked


@pytest.mark.parametrize("cell_type, source, expected", [
    ("markdown", "Explain:\n### Begin Solution\nThe answer is 42.\n### End Solution", "cell 4 (markdown) line 2"),
    ("raw", "### BEGIN SOLUTION\nThe answer is 42.\n### END SOLUTION", "cell 4 (raw) line 1"),
])
def test_markers_in_markdown_and_raw_cells(tmp_path, cell_type, source, expected):
    path = make_solution(tmp_path)
    nb = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_raw_cell(source) if cell_type == "raw" else new_markdown_cell(source)
    nb.cells.append(cell)
    nbformat.write(nb, path)
    assert labs.main(["build", "--root", str(tmp_path)]) == 1
    with pytest.raises(labs.LabFormatError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        labs.out_of_sync(tmp_path)
    assert not (tmp_path / "labs").exists()


def test_exact_markers_still_work_in_markdown_with_trailing_spaces(tmp_path):
    out = built_cell("Q:\n### BEGIN SOLUTION  \nsecret\n  ### END SOLUTION", "markdown")
    assert out == "Q:\nYOUR ANSWER HERE"


# --------------------------------------------------------------------------- other bad input
@pytest.mark.parametrize("setup", ["missing", "empty", "no solutions"])
def test_check_and_build_on_a_folder_without_solutions_are_errors(tmp_path, capsys, setup):
    root = tmp_path / "course"
    if setup != "missing":
        root.mkdir()
    if setup == "no solutions":
        (root / "labs").mkdir()
        (root / "solutions").mkdir()
    for command in ("check", "build"):
        assert labs.main([command, "--root", str(root)]) == 1
        captured = capsys.readouterr()
        assert "in sync" not in captured.out and "holds no lab notebooks" in captured.err and "--root" in captured.err


def test_a_solution_with_broken_json_names_the_file(tmp_path, capsys):
    make_solution(tmp_path)
    broken = tmp_path / "solutions" / "lab08_broken.ipynb"
    broken.write_text('{"cells": [', encoding="utf-8")
    assert labs.main(["check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(broken) in err and "cannot be read as a notebook" in err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- what nbgrader needs (tests/test_nbgrader.py runs nbgrader itself)
def test_build_removes_hidden_tests_locks_cells_and_records_nbgrader_checksums(tmp_path):
    from nbgrader.utils import compute_checksum

    path = make_solution(tmp_path)
    lab = labs.build_lab(nbformat.read(path, as_version=4), path.name)
    written, code, test = lab.cells
    assert test.source == "check.conv2d()"  # the hidden region and its markers are gone
    assert "hidden" not in nbformat.writes(lab)
    assert (written.metadata["deletable"], "editable" in written.metadata) == (False, False)  # an answer: editable
    assert (test.metadata["deletable"], test.metadata["editable"]) == (False, False)  # a test: neither
    for cell in lab.cells:
        info = cell.metadata["nbgrader"]
        assert info["cell_type"] == cell.cell_type and info["checksum"] == compute_checksum(cell)
    # nbgrader's own rule, written out: md5 of source, type, grade/solution/locked flags, grade_id (and points)
    import hashlib
    expected = hashlib.md5("check.conv2d()codeTrueFalseTruetest_conv2d2.0".encode()).hexdigest()
    assert test.metadata["nbgrader"]["checksum"] == expected


def test_a_solution_cell_without_a_region_is_replaced_whole(tmp_path):
    path = make_solution(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = "answer = 42"
    lab = labs.build_lab(nb, path.name)
    assert lab.cells[1].source == "# YOUR CODE HERE\nraise NotImplementedError()"


@pytest.mark.parametrize("cell, metadata, message", [
    (2, {"nbgrader": {}}, "not an nbgrader solution cell"),  # a region that nbgrader would refuse
    (1, {}, "not an nbgrader solution cell"),
    (2, "plain", "hidden tests in a cell that is not an nbgrader autograder test cell"),
])
def test_regions_in_cells_without_the_right_nbgrader_metadata_are_errors(tmp_path, cell, metadata, message):
    path = make_solution(tmp_path)
    nb = nbformat.read(path, as_version=4)
    if metadata == "plain":  # the test cell without its metadata
        nb.cells[cell].metadata = {}
    else:
        nb.cells[cell].metadata = metadata
        nb.cells[cell].source = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    nbformat.write(nb, path)
    with pytest.raises(labs.LabFormatError, match=message):
        labs.build_all(tmp_path)
    assert not (tmp_path / "labs").exists()


@pytest.mark.parametrize("marker", ["# BEGIN HIDDEN TESTS", "### Begin Hidden Tests", "### BEGIN HIDDEN TEST", "### END_HIDDEN_TESTS"])
def test_near_miss_hidden_test_markers_are_errors(tmp_path, marker):
    path = make_solution(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].source = f"check.conv2d()\n{marker}\ncheck.conv2d.hidden(seed=1)"
    nbformat.write(nb, path)
    with pytest.raises(labs.LabFormatError, match="looks like a hidden-test marker"):
        labs.build_all(tmp_path)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("grade_id"), "needs a grade_id"),
    (lambda m: m.pop("points"), "needs its points"),
])
def test_nbgrader_metadata_that_nbgrader_would_refuse_is_an_error(tmp_path, change, message):
    path = make_solution(tmp_path)
    nb = nbformat.read(path, as_version=4)
    change(nb.cells[2].metadata["nbgrader"])
    nbformat.write(nb, path)
    with pytest.raises(labs.LabFormatError, match=message):
        labs.build_all(tmp_path)


def test_grade_ids_must_be_unique(tmp_path):
    path = make_solution(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].metadata["nbgrader"]["grade_id"] = "conv2d"
    nbformat.write(nb, path)
    with pytest.raises(labs.LabFormatError, match="grade_id 'conv2d' is already used"):
        labs.build_all(tmp_path)


GRADES = {"nbgrader": {"notebook": "lab02", "score": 0, "max_score": 13, "late_penalty": 0}}  # what GetGrades adds


def feedback_exporter():
    """OfflineFeedback with nbgrader's feedback template, as nbgrader's GenerateFeedback sets it up."""
    nbgrader = pytest.importorskip("nbgrader")
    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    return labs.OfflineFeedback(template_name="feedback", extra_template_basedirs=[str(formgrader / "templates")],
                                extra_template_paths=[str(formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css")])


def test_feedback_carries_its_own_mathjax_and_loads_nothing_from_a_cdn():
    """OfflineFeedback (docs/nbgrader_config.py) replaces nbconvert's MathJax block, a CDN script, with MathJax in the
    file where the notebook has a formula, and drops it where it has none."""
    with_math = new_notebook(cells=[new_markdown_cell("The stride $s$ moves the window: \\(A_{is+k}\\).")])
    html, _ = feedback_exporter().from_notebook_node(with_math, resources=GRADES)
    assert "cdnjs" not in html and "window.MathJax = {tex:" in html and "MathJax.Hub" not in html
    assert html.count("<script>") >= 2 and len(html) > 2_000_000  # the whole of MathJax, not a link to it
    without, _ = feedback_exporter().from_notebook_node(new_notebook(cells=[new_markdown_cell("No formula.")]), resources=GRADES)
    assert "cdnjs" not in without and "MathJax" not in without
    with pytest.raises(labs.LabError, match="no MathJax block where nbconvert puts it"):
        labs.offline_mathjax("<html><head></head></html>")
    assert labs.offline_mathjax("<html></html>", has_math=False) == "<html></html>"
    latex_out = new_code_cell("display(Math('x^2'))", outputs=[new_output("display_data", data={"text/latex": "$x^2$"})])
    assert labs.has_formula(new_notebook(cells=[latex_out])) and not labs.has_formula(new_notebook(cells=[new_code_cell("x")]))


def test_feedback_formulas_render_in_a_browser_with_no_network(tmp_path):
    """The feedback of lab 2's text (which has formulas), opened in Chromium with every request blocked: MathJax
    typesets its formulas from the file itself, and the page asks no server for code, styles or fonts (the lab's
    own Colab badge, a picture, is the notebook's content)."""
    import re

    from browser import chromium, missing_requirements

    if missing_requirements():
        pytest.skip(missing_requirements())
    lab = nbformat.read(ROOT / "labs" / "lab02_convolutions.ipynb", as_version=4)
    text = new_notebook(cells=[new_markdown_cell(cell.source) for cell in lab.cells if cell.cell_type == "markdown"])
    html, _ = feedback_exporter().from_notebook_node(text, resources=GRADES)
    page_file = tmp_path / "lab02_convolutions.html"
    page_file.write_text(html, encoding="utf-8")
    requests = []
    with chromium(tmp_path / "profile") as page:
        page.context.route(re.compile(r"^(?!file://).*"), lambda route: (requests.append(
            (route.request.resource_type, route.request.url)), route.abort()))
        page.goto(page_file.as_uri())
        page.wait_for_function("document.querySelectorAll('mjx-container svg').length > 0", timeout=60_000)
        typeset = page.evaluate("document.querySelectorAll('mjx-container').length")
        left = page.evaluate("document.body.innerText.includes('$C_{i,j}')")
    code = [(kind, url) for kind, url in requests if kind != "image"]
    assert typeset >= 4 and not left and code == [], (typeset, left, requests)
