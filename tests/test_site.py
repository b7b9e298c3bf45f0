"""The course website (`python -m cslib.site build`): built from the stored notebooks, without solutions, checked in Chromium.

The unit tests look at how notebooks become pages (widgets made static, page links) and at the
solution check. One build of the real site (module fixture) is then checked as files (pages,
downloads, no solution line, no raw widget, nothing loaded from the network) and in headless
Chromium: figures load, MathJax renders, "next" leads from one lecture to the next, code can be
copied. Screenshots go to artifacts/ (look at them). The browser part is skipped, with a message
saying how to enable it, where Chromium or Playwright is missing.
"""
import functools
import html
import re
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import cslib
from cslib import site
from cslib.site import leaks, pages, toc

from browser import chromium, missing_requirements

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
LECTURES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
LABS = sorted((ROOT / "labs").glob("lab*.ipynb"))
SPHINX_MISSING = next((name for name in ("sphinx", "myst_nb", "sphinx_book_theme", "sphinx_copybutton")
                       if __import__("importlib.util").util.find_spec(name) is None), None)
needs_sphinx = pytest.mark.skipif(SPHINX_MISSING is not None, reason=f"{SPHINX_MISSING} is not installed: "
                                  "the site needs the `site` extra (pip install -e \".[site]\")")
# Sphinx 9 warns about APIs that MyST and sphinx-book-theme still use (not ours to fix)
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated. Check CHANGES for Sphinx API modifications")
PAGE_MS = 60_000  # loading one page (a lecture is a few MB with its figures), on a busy machine
MATH_MS = 120_000  # MathJax typesetting a lecture's formulas, on a busy machine


# --- notebooks into pages --------------------------------------------------------------------------

def widget_state(*models):
    return {"widgets": {pages.WIDGET_STATE: {"state": dict(models), "version_major": 2, "version_minor": 0}}}


def model(name, children=(), **state):
    return {"model_name": name, "state": {**state, "children": [f"IPY_MODEL_{c}" for c in children]}}


def view(model_id, plain):
    return new_output("display_data", data={pages.WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0},
                                            "text/plain": plain})


def test_a_progress_bar_becomes_the_line_it_showed_at_the_end():
    state = widget_state(("bar", model("HBoxModel", ["left", "progress", "right"])),
                         ("left", model("HTMLModel", value="MLP\u2007epoch\u20075/5:\u2007100%")),
                         ("progress", model("FloatProgressModel", min=0.0, max=9375.0, value=9375.0)),
                         ("right", model("HTMLModel", value="\u20079375/9375\u2007[00:19&lt;00:00]")))
    out = pages.static_outputs([view("bar", "MLP:   0%|          | 0/9375"), new_output("stream", name="stdout", text="done\n")],
                               state["widgets"][pages.WIDGET_STATE]["state"])
    assert [o.output_type for o in out] == ["stream", "stream"]
    assert out[0].text == "MLP epoch 5/5: 100%|██████████| 9375/9375 [00:19<00:00]\n"
    assert out[1].text == "done\n"


def test_an_explorer_becomes_one_line_then_its_stored_figure_and_text():
    state = widget_state(("box", model("VBoxModel", ["sliders", "shape", "plot", "picture"])),
                         ("picture", {**model("ImageModel", format="png"), "buffers": [{"path": ["value"], "encoding": "base64", "data": "iVBORw0KGgoB"}]}),
                         ("sliders", model("HBoxModel", ["stride"])),
                         ("stride", model("IntSliderModel", value=1, description="stride")),
                         ("shape", model("HTMLModel", value="output: 3 × 3")),
                         ("plot", model("OutputModel", outputs=[{"output_type": "display_data",
                                                                 "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}])))
    out = pages.static_outputs([view("box", "VBox(children=(HBox(children=(IntSlider(value=5, …")],
                               state["widgets"][pages.WIDGET_STATE]["state"])
    assert out[0].data["text/plain"] == pages.EXPLORER_LINE and "move the sliders in Colab or JupyterLab" in out[0].data["text/html"]
    assert out[1].text == "output: 3 × 3\n"
    assert out[2].data["image/png"] == "iVBORw0KGgo="
    assert out[3].data["image/png"] == "iVBORw0KGgoB"  # an ipywidgets.Image's bytes
    assert len(out) == 4


def test_widgets_without_stored_state_never_show_their_repr():
    out = pages.static_outputs([view("gone", "VBox(children=(HBox(children=(IntSlider(value=5, …"),
                                view("gone2", "training:   0%|          | 0/1250")], {})
    assert len(out) == 1 and out[0].data["text/plain"] == pages.EXPLORER_LINE  # the explorer keeps its line, the bar goes


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_stored_lectures_lose_every_widget_and_keep_the_explorers_figures(path):
    nb = pages.static_notebook(nbformat.read(path, as_version=4))
    assert "widgets" not in nb.metadata
    for i, cell in enumerate(nb.cells):
        outputs = cell.get("outputs", [])
        for out in outputs:
            assert pages.WIDGET_VIEW not in out.get("data", {}), f"cell {i}"
            assert not re.match(r"^(VBox|HBox|IntSlider)\(", "".join(out.get("data", {}).get("text/plain", ""))), f"cell {i}"
        if cell.cell_type == "code" and re.search(r"widgets\.\w+_explorer\(", cell.source):
            assert any(o.get("data", {}).get("text/plain") == pages.EXPLORER_LINE for o in outputs), f"cell {i}: the explorer's line"
            later = outputs + [o for c in nb.cells[i + 1:i + 3] if c.cell_type == "code" for o in c.outputs]
            assert any("image/png" in o.get("data", {}) for o in later), f"cell {i}: no static figure for the explorer"


def test_the_colab_badge_becomes_page_links_without_a_network_image():
    links = pages.links_html("https://colab.research.google.com/github/o/r/blob/main/labs/lab01_x.ipynb", "lab01_x.ipynb", "a note")
    nb = pages.with_links(nbformat.read(LABS[0], as_version=4), links)
    assert "colab-badge.svg" not in nb.cells[0].source and links in nb.cells[0].source
    no_badge = new_notebook(cells=[new_markdown_cell("# Lab 9 · Title\n\nText.")])
    assert pages.with_links(no_badge, links).cells[0].source.splitlines()[:3] == ["# Lab 9 · Title", "", links]


def test_the_repository_is_one_setting_and_colab_needs_github():
    assert site.REPOSITORY == f"https://github.com/{cslib.REPO}"  # the same as the notebooks' badges
    assert (pages.colab_url("https://github.com/me/my-course.git", "dev", "notebooks/01_a.ipynb")
            == "https://colab.research.google.com/github/me/my-course/blob/dev/notebooks/01_a.ipynb")
    with pytest.raises(ValueError, match="https://github.com/OWNER/NAME"):
        pages.colab_url("https://gitlab.com/me/course", "main", "x.ipynb")


def test_the_home_page_table_names_every_lecture_its_sections_and_its_lab():
    table = pages.course_table([(p, nbformat.read(p, as_version=4)) for p in LECTURES], [(p, nbformat.read(p, as_version=4)) for p in LABS])
    rows = table.splitlines()[2:]
    assert len(rows) == len(LECTURES) == 4
    for row, lecture, lab in zip(rows, LECTURES, LABS):
        assert f"(notebooks/{lecture.name})" in row and f"(labs/{lab.name})" in row
    assert "The convolution" in rows[1]  # lecture 2's "## 3. The convolution"


# --- the solution check ----------------------------------------------------------------------------

def test_answer_lines_are_found_in_highlighted_html_and_in_notebooks(tmp_path):
    secrets = leaks.secret_lines(ROOT, LECTURES)
    assert len(secrets) > 50, "the check must look for the solutions' real answer lines"
    assert all(len(leaks.normalize(s).replace(" ", "")) >= leaks.MIN_CHARS for s in secrets)
    public = " ".join(leaks.published_text(LECTURES + LABS).split())
    assert not any(leaks.normalize(s) in public for s in secrets), "the student labs hold no answer line"

    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    solution = ROOT / "solutions" / LABS[1].name
    answer = next(line for line in leaks.answer_lines(solution) if line in secrets)
    code = "def f(A):\n    " + answer + "\n"
    (tmp_path / "page.html").write_text(f"<html><body><p>x</p>{highlight(code, PythonLexer(), HtmlFormatter())}</body></html>")
    assert leaks.find_leaks(tmp_path, secrets) == [f"page.html: {answer}"]
    (tmp_path / "page.html").unlink()
    nbformat.write(new_notebook(cells=[new_code_cell(code)]), tmp_path / "lab.ipynb")
    assert leaks.find_leaks(tmp_path, secrets) == [f"lab.ipynb: {answer}"]
    (tmp_path / "lab.ipynb").unlink()
    prose = next(line for line in secrets if line.count(" ") > 8)  # a markdown answer, as a page shows it: wrapped, emphasis
    cut = prose.index(" ", 20)
    (tmp_path / "p.html").write_text(f"<p><strong>{html.escape(prose[:cut])}</strong>\n{html.escape(prose[cut + 1:])}</p>")
    assert leaks.find_leaks(tmp_path, [prose]) == [f"p.html: {prose}"]


def test_short_and_published_lines_are_not_secrets(tmp_path):
    (tmp_path / "solutions").mkdir()
    cell = ("def f(x):\n    ### BEGIN SOLUTION\n    return out\n    y = compute_the_answer(x) * 2\n    z = shown_in_the_lecture(x)\n"
            "    w = also_given_to_students(x)\n    ### END SOLUTION\nw = also_given_to_students(x)")
    nbformat.write(new_notebook(cells=[new_code_cell(cell)]), tmp_path / "solutions" / "lab09_x.ipynb")
    lecture = tmp_path / "lecture.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("z = shown_in_the_lecture(x)")]), lecture)
    assert leaks.secret_lines(tmp_path, [lecture]) == ["y = compute_the_answer(x) * 2"]


# --- building (a small course: fast) ---------------------------------------------------------------

def small_course(root: Path, lab_source: str = "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()") -> Path:
    """A course of one lecture (a formula, a progress bar, an explorer) and one lab, with its solution."""
    for folder in ("notebooks", "labs", "solutions"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    lecture = new_notebook(cells=[
        new_markdown_cell("# Lecture 1 · Tiny\n\n## 1. A formula\n\n$$m = \\left\\lfloor \\frac{n - k}{s} \\right\\rfloor + 1$$"),
        new_code_cell("fit()", outputs=[view("bar", "training:   0%|")]),
        new_code_cell("cslib.widgets.conv_explorer()", outputs=[view("box", "VBox(children=(IntSlider(value=5, …")])])
    lecture.metadata.update(widget_state(("bar", model("HBoxModel", ["left"])), ("left", model("HTMLModel", value="training 100%")),
                                         ("box", model("VBoxModel", ["s"])), ("s", model("IntSliderModel", value=1))))
    state = lecture.metadata["widgets"][pages.WIDGET_STATE]["state"]  # tqdm's bar: HTML, FloatProgress, HTML
    state["bar"]["state"]["children"] += ["IPY_MODEL_p", "IPY_MODEL_right"]
    state["p"] = model("FloatProgressModel", value=1.0, max=1.0)
    state["right"] = model("HTMLModel", value="\u20071/1 [00:02&lt;00:00]")
    nbformat.write(lecture, root / "notebooks" / "01_tiny.ipynb")
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Lab 1 · Tiny lab"), new_code_cell(lab_source)]), root / "labs" / "lab01_tiny.ipynb")
    solution = "def f(x):\n    ### BEGIN SOLUTION\n    return the_secret_answer(x) + 41\n    ### END SOLUTION"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Lab 1 · Tiny lab"), new_code_cell(solution)]), root / "solutions" / "lab01_tiny.ipynb")
    return root


@needs_sphinx
def test_a_small_course_builds_and_a_rebuild_replaces_it(tmp_path):
    root, out = small_course(tmp_path / "course"), tmp_path / "out"
    result = site.build(out, root, quiet=True)
    assert result["pages"] == 3 and (out / site.MARKER).exists() and (out / ".nojekyll").exists()
    page = (out / "notebooks" / "01_tiny.html").read_text()
    assert "training 100%|██████████| 1/1 [00:02&lt;00:00]" in page and pages.EXPLORER_LINE in page and "VBox(" not in page
    assert (out / "notebooks" / "01_tiny.ipynb").read_bytes() == (root / "notebooks" / "01_tiny.ipynb").read_bytes()
    assert not (tmp_path / "jupyter_execute").exists(), "nothing is written next to the site"
    (out / "stale.html").write_text("from an earlier build")
    site.build(out, root, quiet=True)
    assert not (out / "stale.html").exists() and (out / "index.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "out"], "no temporary folders left behind"


@needs_sphinx
def test_a_bad_slide_type_stops_the_build_naming_the_notebook_and_its_cell(tmp_path, capsys):
    from cslib.site.__main__ import main

    root = small_course(tmp_path / "course")
    path = root / "notebooks" / "01_tiny.ipynb"
    lecture = nbformat.read(path, as_version=4)
    lecture.cells[1].metadata["slideshow"] = {"slide_type": "slides"}  # a typo
    nbformat.write(lecture, path)
    assert main(["build", "--out", str(tmp_path / "out"), "--root", str(root), "-q"]) == 1
    assert "error: notebooks/01_tiny.ipynb: cell 2: slideshow.slide_type 'slides' is not one of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    small_course(root)  # the lecture as it was: its slides are built and linked from its page
    site.build(tmp_path / "out", root, quiet=True)
    assert (tmp_path / "out" / "slides" / "01_tiny.html").exists()
    assert 'href="../slides/01_tiny.html"' in (tmp_path / "out" / "notebooks" / "01_tiny.html").read_text()


def write_toc(root: Path, text: str) -> None:
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "_toc.yml").write_text(text)


def test_the_table_of_contents_orders_the_pages_and_names_each_mistake(tmp_path):
    root = small_course(tmp_path / "course")
    assert [(s.caption, [str(p) for p in s.pages]) for s in toc.read_toc(root)] == [
        ("Lectures", ["notebooks/01_tiny.ipynb"]), ("Labs", ["labs/lab01_tiny.ipynb"])]  # no file: lectures and labs
    (root / "docs").mkdir()
    (root / "docs" / "syllabus.md").write_text("# Syllabus\n\nWeek 1: lecture 1.\n")
    write_toc(root, "- caption: Course\n  pages: [docs/syllabus, notebooks/*]\n- caption: Labs\n  pages: [labs/lab*]\n")
    assert [[str(p) for p in s.pages] for s in toc.read_toc(root)] == [
        ["docs/syllabus.md", "notebooks/01_tiny.ipynb"], ["labs/lab01_tiny.ipynb"]]
    for text, message in [
        ("- caption: X\n  pages: [solutions/lab*]\n", "solutions/lab01_tiny.ipynb is a solution: solutions are never published"),
        ("- caption: X\n  pages: [docs/schedule]\n", "'docs/schedule' (in 'X') matches no .ipynb or .md file"),
        ("- caption: X\n  pages: [docs/syllabus.md]\n", "without .ipynb or .md"),
        ("- caption: X\n  pages: [../secret]\n", "should be a path inside the repository"),
        ("- caption: X\n  pages: [labs/*, labs/lab01_tiny]\n", "labs/lab01_tiny.ipynb is listed twice"),
        ("- title: X\n  pages: [labs/*]\n", "section 1 should have exactly a `caption` (text) and `pages`"),
        ("caption: X\n", "should be a list of sections"),
        ("- caption: [\n", "not readable YAML"),
    ]:
        write_toc(root, text)
        with pytest.raises(toc.TocError, match=re.escape(message)):
            toc.read_toc(root)


@needs_sphinx
def test_a_page_listed_in_the_table_of_contents_is_built_in_its_place(tmp_path):
    root, out = small_course(tmp_path / "course"), tmp_path / "out"
    (root / "docs").mkdir()
    (root / "docs" / "syllabus.md").write_text("# Syllabus\n\nWeek 1: [lecture 1](../notebooks/01_tiny.ipynb).\n")
    write_toc(root, "- caption: Course\n  pages: [docs/syllabus, notebooks/*]\n- caption: Labs\n  pages: [labs/lab*]\n")
    result = site.build(out, root, quiet=True)
    assert result["pages"] == 4 and "Week 1:" in (out / "docs" / "syllabus.html").read_text()
    home = (out / "index.html").read_text()
    assert home.index("docs/syllabus.html") < home.index("notebooks/01_tiny.html") < home.index("labs/lab01_tiny.html")
    assert "Course" in home and not (out / "docs" / "_toc.yml").exists()
    write_toc(root, "- caption: Course\n  pages: [docs/missing]\n")
    with pytest.raises(site.SiteError, match="matches no .ipynb or .md file"):
        site.build(out, root, quiet=True)
    assert (out / "docs" / "syllabus.html").exists()  # the earlier site stays


@needs_sphinx
def test_solution_code_stops_the_build_and_the_earlier_site_stays(tmp_path):
    root, out = small_course(tmp_path / "course"), tmp_path / "out"
    site.build(out, root, quiet=True)
    before = (out / "labs" / "lab01_tiny.html").read_text()
    small_course(root, lab_source="def f(x):\n    return the_secret_answer(x) + 41")  # a lab with its answer in it
    with pytest.raises(site.SiteError, match=r"(?s)solution code in the site .*labs/lab01_tiny.html: return the_secret_answer\(x\) \+ 41"):
        site.build(out, root, quiet=True)
    assert (out / "labs" / "lab01_tiny.html").read_text() == before


@needs_sphinx
def test_the_build_never_overwrites_a_folder_it_did_not_make(tmp_path, capsys):
    from cslib.site.__main__ import main

    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.md").write_text("my work")
    assert main(["build", "--out", str(mine), "--root", str(ROOT)]) == 1
    err = capsys.readouterr().err
    assert "is not a site built by `python -m cslib.site build`" in err and str(mine) in err
    assert [p.name for p in mine.iterdir()] == ["thesis.md"] and (mine / "thesis.md").read_text() == "my work"
    assert main(["build", "--out", str(tmp_path / "new"), "--repository", "https://gitlab.com/x/y"]) == 1
    assert "error: --repository 'https://gitlab.com/x/y'" in capsys.readouterr().err
    assert main(["build", "--out", str(tmp_path / "new"), "--root", str(tmp_path)]) == 1
    assert f"no lecture notebooks in {tmp_path / 'notebooks'}" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


# --- the real site ---------------------------------------------------------------------------------

@pytest.fixture
def built(built_site):
    """The course's site, built once per test process (tests/conftest.py)."""
    return built_site


def html_of(out: Path, name: str) -> str:
    return (out / name).read_text(encoding="utf-8")


def test_the_site_has_every_page_and_every_notebook_to_download(built):
    assert (built / "index.html").exists()
    for folder, paths in (("notebooks", LECTURES), ("labs", LABS)):
        for path in paths:
            page = html_of(built, f"{folder}/{path.stem}.html")
            assert f"https://colab.research.google.com/github/{cslib.REPO}/blob/main/{folder}/{path.name}" in page
            assert f'href="{path.name}" download' in page
            assert (built / folder / path.name).read_bytes() == path.read_bytes()
    assert not [p for p in built.rglob("*") if "solution" in p.name], "solutions/ is never published"


def test_the_site_holds_no_solution_code(built):
    secrets = leaks.secret_lines(ROOT, LECTURES)
    assert len(secrets) > 50
    assert leaks.find_leaks(built, secrets) == []
    for lab in LABS:  # the student version is what is published
        assert "raise NotImplementedError()" in leaks.page_text(built / "labs" / f"{lab.stem}.html")


def test_the_site_shows_no_raw_widget_and_names_the_explorers(built):
    for page in built.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "VBox(children" not in text and "HBox(children" not in text and pages.WIDGET_VIEW not in text, page.name
    for lecture in LECTURES:
        if "_explorer(" in lecture.read_text(encoding="utf-8"):
            assert pages.EXPLORER_LINE in html_of(built, f"notebooks/{lecture.stem}.html"), lecture.name


def test_every_picture_has_a_text_that_is_not_a_file_name(built):
    """Screen readers read a picture's alt text: it says what the figure is (its section, its titles and axes as the
    code states them, or the author's cell metadata ``cslib.alt``), never the file's path (MyST-NB's default)."""
    pictures = 0
    for page in built.rglob("*.html"):
        for tag in re.findall(r"<img\b[^>]*>", page.read_text(encoding="utf-8")):
            alt = re.search(r'\balt="([^"]*)"', tag)
            if "_images/" not in tag:
                continue  # the theme's own images (a logo) are not figures
            pictures += 1
            assert alt and alt.group(1).strip(), (page.name, tag[:200])
            assert not re.search(r"\.(png|svg|jpe?g)\b|_images/", alt.group(1)), (page.name, alt.group(1))
    assert pictures > 50


def test_a_figures_alt_text_comes_from_its_section_and_titles():
    cell = new_code_cell('fig, ax = plt.subplots()\nax.set_title("Loss per epoch")\nax.set_xlabel("epoch")',
                         outputs=[new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure size 640x480 with 1 Axes>"})])
    nb = pages.static_notebook(new_notebook(cells=[new_markdown_cell("## 3. Training curves"), cell]))
    assert nb.cells[1].metadata["mystnb"]["image"]["alt"] == 'Figure of the section "3. Training curves"; titled Loss per epoch; axes: epoch'
    cell.metadata["cslib"] = {"alt": "The loss falls from 2.3 to 0.4 in five epochs"}
    nb = pages.static_notebook(new_notebook(cells=[cell]))
    assert nb.cells[0].metadata["mystnb"]["image"]["alt"] == "The loss falls from 2.3 to 0.4 in five epochs"


def test_the_pages_load_nothing_from_the_network(built):
    """Scripts, styles, images and fonts are all in the site; links to other sites are only links."""
    for page in built.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        loads = re.findall(r'<(?:script|img|iframe|source)\b[^>]*\bsrc="([^"]+)"', text) + re.findall(r'<link\b[^>]*\bhref="([^"]+)"', text)
        external = [u for u in loads if re.match(r"^(https?:)?//", u)]
        assert not external, f"{page.relative_to(built)} loads {external}"
    for css in built.rglob("*.css"):
        assert not re.search(r"@import\s+url\(\s*['\"]?(https?:)?//|url\(\s*['\"]?(https?:)?//", css.read_text(encoding="utf-8", errors="replace")), css.name
    assert (built / "_static" / "mathjax" / "tex-chtml.js").exists()


# --- in Chromium -----------------------------------------------------------------------------------

@contextmanager
def serve(folder: Path):
    """The site on a random loopback port, as a static host serves it (stopped on exit)."""
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


IMAGES_LOADED = "() => [...document.images].every(img => img.complete)"
BROKEN_IMAGES = "() => [...document.images].filter(img => img.naturalWidth === 0).map(img => img.getAttribute('src'))"


def open_page(page, url: str) -> None:
    page.goto(url, wait_until="load", timeout=PAGE_MS)
    page.wait_for_function(IMAGES_LOADED, timeout=PAGE_MS)


@pytest.mark.browser
def test_the_site_in_chromium(built, tmp_path):
    if missing_requirements():
        pytest.skip(missing_requirements())
    ARTIFACTS.mkdir(exist_ok=True)
    lecture1, lecture2, lecture3 = (f"notebooks/{p.stem}.html" for p in LECTURES[:3])
    with serve(built) as base, chromium(tmp_path / "chromium-profile") as page:
        elsewhere = []  # every request must go to our own server
        page.context.route(re.compile(r"^(?!" + re.escape(base) + ").*"), lambda route: (elsewhere.append(route.request.url), route.abort()))

        open_page(page, f"{base}/index.html")
        assert page.locator("h1").first.inner_text().startswith("Deep Learning for Computer Vision")
        table_links = page.locator("table a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert [h for h in table_links if h.startswith("notebooks/")] == [f"notebooks/{p.stem}.html" for p in LECTURES]
        assert [h for h in table_links if h.startswith("labs/")] == [f"labs/{p.stem}.html" for p in LABS]
        page.screenshot(path=ARTIFACTS / "site-home.png")

        open_page(page, f"{base}/{lecture2}")
        assert page.evaluate(BROKEN_IMAGES) == []
        assert page.evaluate("document.querySelectorAll('div.cell_output img').length") >= 5, "the stored figures"
        page.wait_for_function("() => document.querySelectorAll('mjx-container').length >= 10", timeout=MATH_MS)
        assert page.evaluate("document.querySelectorAll('mjx-merror, .MathJax_Error').length") == 0
        assert "$$" not in page.locator("article").inner_text()
        page.screenshot(path=ARTIFACTS / "site-lecture2-top.png")
        formula = page.locator("mjx-container[display='true']").first
        formula.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "site-lecture2-math.png")
        note = page.locator("p.course-explorer-note").first
        note.scroll_into_view_if_needed()
        assert note.inner_text().strip() == pages.EXPLORER_LINE
        page.screenshot(path=ARTIFACTS / "site-lecture2-explorer.png")

        # copy a code cell with its button, as a reader would
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        cell = page.locator("div.cell_input").nth(2)
        cell.scroll_into_view_if_needed()
        cell.hover()
        cell.locator("button.copybtn").click()
        page.wait_for_function("() => navigator.clipboard.readText().then(t => t.length > 0)", timeout=PAGE_MS)
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.strip() == cell.locator("pre").inner_text().strip()

        # navigation: "next" on lecture 1 leads to lecture 2, and on to lecture 3
        open_page(page, f"{base}/{lecture1}")
        assert page.evaluate(BROKEN_IMAGES) == []
        page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0", timeout=MATH_MS)
        page.screenshot(path=ARTIFACTS / "site-lecture1.png")
        for target, number in ((lecture2, 2), (lecture3, 3)):
            page.locator("a.right-next").click()
            page.wait_for_url(f"{base}/{target}", timeout=PAGE_MS)
            page.wait_for_function(IMAGES_LOADED, timeout=PAGE_MS)
            assert page.locator("h1").first.inner_text().startswith(f"Lecture {number}")
            assert page.evaluate(BROKEN_IMAGES) == []
        page.screenshot(path=ARTIFACTS / "site-lecture3.png")
        page.locator("a.left-prev").click()
        page.wait_for_url(f"{base}/{lecture2}", timeout=PAGE_MS)

        open_page(page, f"{base}/labs/{LABS[0].stem}.html")
        assert page.locator("a.course-download").get_attribute("href") == LABS[0].name
        page.screenshot(path=ARTIFACTS / "site-lab1.png")
        assert elsewhere == [], f"the pages asked the network for {elsewhere}"
