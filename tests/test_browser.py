"""End to end: the lecture widgets in JupyterLab, in headless Chromium, driven the way a student would.

Each widget runs in a small notebook: a cell that makes the names the lecture's call uses (for the shift explorer,
untrained networks and the bundled test images: the widget is under test here, not the networks), then the
lecture's own cell, copied from the lecture. nbval runs the lectures themselves; running them again up to their
widgets here would only repeat that work.

Skipped, with a message saying how to enable it, where Chromium or Playwright is missing;
.ci/run installs both, so CI always runs it. Screenshots go to artifacts/ (look at them).

Every wait is on a condition the page shows, with limits meant for a busy machine (CI shares its
two cores with the notebook tests): no fixed sleeps, no wall-clock assertions (speed is the
benchmarks' business).
"""
from pathlib import Path

import pytest

from browser import (chromium, jupyterlab, missing_requirements, open_notebook, press_slider, run_through,
                     wait_idle)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements()))]
CELL_MS = 300_000  # running the cells of a widget notebook, on a loaded machine
WIDGET_MS = 120_000  # one redraw of an explorer after a slider moved


CONV_EXPLORER, SHIFT_EXPLORER = "cslib.widgets.conv_explorer()", "cslib.widgets.shift_explorer("
SHIFT_SETUP = """import torch
import cslib
from cslib.data import load

cslib.set_seed(0)
test_set = load("fashion-mnist", train=False)
classes, y_test = test_set.classes, test_set.targets
x_test_images = test_set.data
ix = int((y_test == classes.index("Trouser")).nonzero()[0])
cnn_model, mlp_model, aug_model = cslib.models.cnn(), cslib.models.mlp(), cslib.models.cnn()  # untrained"""


def lecture_cell(pattern: str, call: str) -> str:
    """The source of the one cell of the lecture matching ``pattern`` that makes ``call``."""
    import nbformat

    (path,) = ROOT.glob(f"notebooks/{pattern}")
    (source,) = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and call in c.source]
    return source


def write_notebook(path: Path, *sources: str) -> Path:
    import nbformat

    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}  # else JupyterLab asks
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources], metadata=kernel), path)
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving the two widget notebooks (lecture 2's explorer, lecture 3's), and a Chromium page on it."""
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "course"
    root.mkdir()
    write_notebook(root / "conv_explorer.ipynb", "import cslib", lecture_cell("02_*.ipynb", CONV_EXPLORER))
    write_notebook(root / "shift_explorer.ipynb", SHIFT_SETUP, lecture_cell("03_*.ipynb", SHIFT_EXPLORER))
    ARTIFACTS.mkdir(exist_ok=True)
    with jupyterlab(root, ARTIFACTS / "jupyterlab.log") as (url, token), chromium(tmp / "chromium-profile") as page:
        page.course_root = root  # the folder JupyterLab serves
        yield page, url, token


def text_of(page, selector: str) -> str:
    return page.locator(selector).first.inner_text().strip()


def wait_for_change(page, selector: str, old: str, timeout_ms: int = WIDGET_MS) -> str:
    page.wait_for_function("([sel, old]) => { const e = document.querySelector(sel); return e && e.innerText.trim() !== old; }",
                           arg=[selector, old], timeout=timeout_ms)
    return text_of(page, selector)


def test_stride_and_padding_explorer_reacts_to_its_sliders(lab):
    page, url, token = lab
    open_notebook(page, url, token, "conv_explorer.ipynb", WIDGET_MS)
    run_through(page, CONV_EXPLORER, CELL_MS)
    explorer = page.locator(".cslib-conv-explorer").first
    explorer.scroll_into_view_if_needed()
    shape = ".cslib-conv-explorer .cslib-conv-shape"
    first = text_of(page, shape)
    assert first.startswith("output: 3 × 3") and "nn.Conv2d gives (1, 1, 3, 3)" in first, first
    picture = explorer.locator("img").first.get_attribute("src")
    page.screenshot(path=ARTIFACTS / "browser-conv-stride1.png")

    press_slider(page, "stride", "ArrowRight", scope=explorer)  # stride 1 -> 2
    second = wait_for_change(page, shape, first)
    assert second.startswith("output: 2 × 2") and "nn.Conv2d gives (1, 1, 2, 2)" in second, second
    page.wait_for_function("([sel, old]) => document.querySelector(sel).getAttribute('src') !== old",
                           arg=[".cslib-conv-explorer img", picture], timeout=WIDGET_MS)
    page.screenshot(path=ARTIFACTS / "browser-conv-stride2.png")

    press_slider(page, "padding", "ArrowRight", scope=explorer)  # padding 0 -> 1: (5 + 2 - 3) // 2 + 1 = 3
    third = wait_for_change(page, shape, second)
    assert third.startswith("output: 3 × 3") and "nn.Conv2d gives (1, 1, 3, 3)" in third, third

    press_slider(page, "kernel size", "End", scope=explorer)  # kernel 7 on a padded input of 7 still fits
    press_slider(page, "padding", "Home", scope=explorer)  # padding 0: kernel 7 > 5 does not
    page.wait_for_function("(sel) => document.querySelector(sel).innerText.startsWith('impossible')", arg=shape, timeout=WIDGET_MS)
    assert "does not fit" in text_of(page, shape)
    page.screenshot(path=ARTIFACTS / "browser-conv-impossible.png")


def test_shift_explorer_predictions_move_with_the_slider(lab):
    page, url, token = lab
    open_notebook(page, url, token, "shift_explorer.ipynb", WIDGET_MS)
    run_through(page, SHIFT_EXPLORER, CELL_MS)
    predictions = ".cslib-shift-predictions"
    page.wait_for_selector(predictions, timeout=WIDGET_MS)
    page.locator(predictions).first.scroll_into_view_if_needed()
    at_zero = text_of(page, predictions)
    assert at_zero.startswith("shift +0 px") and at_zero.count(":") >= 4 and "(" in at_zero, at_zero  # the setting, then "model: class (p)" each
    page.screenshot(path=ARTIFACTS / "browser-shift-0.png")

    box = page.locator(".widget-vbox", has=page.locator(predictions)).first
    press_slider(page, "shift", "ArrowRight", times=5, scope=box)
    # the text line names the setting it was computed for: wait for the last step's line, then for its figure
    page.wait_for_function("(sel) => document.querySelector(sel).innerText.trim().startsWith('shift +5 px')",
                           arg=predictions, timeout=WIDGET_MS)
    wait_idle(page, WIDGET_MS)
    at_five = text_of(page, predictions)
    assert at_five.split(": ", 1)[1] != at_zero.split(": ", 1)[1], (at_zero, at_five)
    page.screenshot(path=ARTIFACTS / "browser-shift-5.png")


def test_an_executed_explorer_shows_its_picture_before_anything_runs(lab):
    """A notebook executed elsewhere is untrusted here: JupyterLab must show the explorer's picture, not its repr."""
    import nbformat
    from nbclient import NotebookClient

    page, url, token = lab
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import cslib.widgets\ncslib.widgets.conv_explorer()")])
    NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    (page.course_root / "executed_elsewhere.ipynb").write_text(nbformat.writes(nb), encoding="utf-8")
    page.goto(f"{url}/lab/tree/executed_elsewhere.ipynb?reset&token={token}")  # alone, as open_notebook does
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)", has_text="conv_explorer()").first
    panel.wait_for(timeout=WIDGET_MS)
    output = panel.locator(".jp-CodeCell .jp-OutputArea-output").first
    output.wait_for(timeout=WIDGET_MS)
    picture = output.locator("img").first
    picture.wait_for(timeout=WIDGET_MS)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=picture.element_handle(), timeout=WIDGET_MS)
    assert "VBox(children" not in panel.inner_text()
    page.screenshot(path=ARTIFACTS / "browser-explorer-before-running.png")
