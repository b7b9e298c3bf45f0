"""The lectures' slides (`cslib.site.slides`, made by the site build).

Unit tests look at how a notebook becomes slides: which cell starts a slide, what is cut, where the
"The slide says" corrections go. One build of the real site (tests/conftest.py) is then opened in
headless Chromium at 1280 x 720: every slide of every lecture is visited and must fit (nothing
overflows the slide or is cut), load nothing from another server and typeset its formulas; three
slides per lecture are saved to artifacts/ (look at them). tests/test_accessibility.py runs axe-core
on the same slides and on every page. The browser part is skipped, with a message saying how to
enable it, where Chromium or Playwright is missing.
"""
import html
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cslib.site import slides

from browser import chromium, missing_requirements
from test_site import ARTIFACTS, serve

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated. Check CHANGES for Sphinx API modifications")
PAGE_MS = 60_000  # loading one page or slideshow, on a busy machine
MATH_MS = 120_000  # MathJax typesetting a lecture's formulas, on a busy machine
PICTURE = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480 with 1 Axes>"}


def kinds(nb):
    return [cell.metadata["slideshow"]["slide_type"] for cell in nb.cells]


def test_headings_start_slides_figures_get_subslides_and_the_authors_metadata_wins():
    nb = new_notebook(cells=[
        new_markdown_cell("# Lecture 9\n\nWhat we do."),
        new_markdown_cell("Some words under the title."),
        new_markdown_cell("## 1. A section"),
        new_code_cell("x = 1"),  # shows nothing: still joins (its code is what the slide teaches)
        new_code_cell("plt.plot(x)", outputs=[new_output("display_data", data=PICTURE)]),
        new_markdown_cell("### A subsection"),
        new_code_cell(""),
        new_code_cell("print('hidden')", metadata={"slideshow": {"slide_type": "skip"}}),
        new_markdown_cell("Said aloud only.", metadata={"slideshow": {"slide_type": "notes"}}),
    ])
    assert [slides.slide_type(cell, i) for i, cell in enumerate(nb.cells)] == [
        "slide", "-", "slide", "-", "subslide", "subslide", "skip", "skip", "notes"]
    shown = slides.for_slides(nb)
    assert kinds(shown) == ["slide", "-", "slide", "-", "subslide", "subslide", "notes"]
    assert "print('hidden')" not in [cell.source for cell in shown.cells]


def test_an_unknown_slide_type_is_named_with_its_cell():
    nb = new_notebook(cells=[new_markdown_cell("# T"), new_markdown_cell("x", metadata={"slideshow": {"slide_type": "slides"}})])
    with pytest.raises(slides.SlidesError, match=r"cell 2: slideshow.slide_type 'slides' is not one of slide, subslide"):
        slides.for_slides(nb)


def test_a_correction_goes_to_the_speaker_notes_and_the_slide_says_where():
    text = ("The order is red, green, blue.\n\n"
            "> **The slide says** \"Red, Blue and Green\". The order is red, green,\n> blue, as the name says.\n\n"
            "The next paragraph stays.")
    shown = slides.for_slides(new_notebook(cells=[new_markdown_cell("# T"), new_markdown_cell(text)]))
    assert kinds(shown) == ["slide", "-", "notes"]
    on_slide, notes = shown.cells[1].source, shown.cells[2].source
    assert "The order is red, green, blue." in on_slide and "The next paragraph stays." in on_slide
    assert "The slide says" not in on_slide and slides.NOTES_HINT in on_slide
    assert notes.startswith("> **The slide says** \"Red, Blue and Green\"")


def test_the_authors_slide_types_keep_corrections_in_the_notes_and_notes_stay_notes():
    correction = "Text on the slide.\n\n> **The slide says** something else."
    two_figures = new_code_cell("show()", outputs=[new_output("display_data", data=PICTURE)] * 2,
                                metadata={"slideshow": {"slide_type": "notes"}})
    nb = new_notebook(cells=[new_markdown_cell("# T"),
                             new_markdown_cell(correction, metadata={"slideshow": {"slide_type": "subslide"}}),
                             new_markdown_cell("Editors may write an empty type for '-'.", metadata={"slideshow": {"slide_type": ""}}),
                             two_figures])
    shown = slides.for_slides(nb)
    assert kinds(shown) == ["slide", "subslide", "notes", "-", "notes", "notes"]
    assert "The slide says" not in shown.cells[1].source and shown.cells[2].source.startswith("> **The slide says**")


def test_rich_outputs_are_shown_as_such_and_a_formula_block_stays_whole():
    rich = new_code_cell("display(Markdown('**bold**'))", outputs=[
        new_output("display_data", data={"text/markdown": "**bold**", "text/plain": "<IPython.core.display.Markdown object>"}),
        new_output("display_data", data={"image/jpeg": "/9j/4AAQ", "text/plain": "<IPython.core.display.Image object>"})])
    shown = slides.for_slides(new_notebook(cells=[new_markdown_cell("# T"), rich]))
    assert [sorted(out["data"]) for out in shown.cells[1].outputs] == [["text/markdown", "text/plain"], ["image/jpeg", "text/plain"]]
    formula = "$$\\begin{aligned}\na &= b\n\nc &= d\n\\end{aligned}$$"
    assert slides._paragraphs(f"Before.\n\n{formula}\n\nAfter.") == ["Before.", formula, "After."]


def test_a_long_text_is_split_at_its_paragraphs_and_list_items():
    items = "\n".join(f"- **Item {i}.** " + "words " * 40 for i in range(6))
    shown = slides.for_slides(new_notebook(cells=[new_markdown_cell("# T"), new_markdown_cell("## Section\n\n" + items)]))
    parts = shown.cells[1:]
    assert len(parts) >= 3 and kinds(shown)[1:] == ["slide"] + ["subslide"] * (len(parts) - 1)
    assert all(len(cell.source) <= slides.LONG_MARKDOWN + 300 for cell in parts)
    assert "".join(cell.source for cell in parts).count("**Item") == 6  # nothing lost


def test_long_code_and_output_are_cut_and_progress_bars_left_out():
    code = "\n".join(f"line_{i} = {i}" for i in range(30))
    printed = "epoch 1: 100%|██████████| 9375/9375 [00:41<00:00]\n" + "".join(f"row {i}\n" for i in range(60))
    shown = slides.for_slides(new_notebook(cells=[new_markdown_cell("# T"), new_code_cell(code, outputs=[
        new_output("stream", name="stdout", text=printed), new_output("stream", name="stderr", text="a warning\n")])]))
    cells = [cell for cell in shown.cells if cell.cell_type == "code"]
    source = cells[0].source.splitlines()
    assert len(source) == slides.CODE_LINES and source[-1] == "# ... 19 more lines in the notebook (linked below)"
    text = "".join(out["text"] for cell in cells for out in cell.outputs)
    assert "100%|" not in text and "a warning" not in text
    assert text.splitlines()[0] == "row 0" and text.rstrip().endswith("(37 more lines in the notebook)")


def test_printed_lines_count_the_rows_they_wrap_to():
    """Fifteen verdict lines of about 250 characters are fifteen lines but some 30 rows on a slide (shown at the
    smallest size, they wrap every WIDE_CHARS characters): cut to the rows that fit, and the rest named."""
    lines = [f"verdict {i}: " + "x" * 240 for i in range(15)]
    shown = slides.for_slides(new_notebook(cells=[new_markdown_cell("# T"), new_code_cell("print(verdicts)", outputs=[
        new_output("stream", name="stdout", text="\n".join(lines) + "\n")])]))
    text = "".join(out["data"]["text/plain"] for cell in shown.cells if cell.cell_type == "code" for out in cell.outputs)
    kept = text.splitlines()[:-1]
    assert kept == lines[:len(kept)] and sum(slides._rows(line, slides.WIDE_CHARS) for line in kept) <= slides.OUTPUT_LINES - 1
    assert text.rstrip().endswith(f"({15 - len(kept)} more lines in the notebook)") and len(kept) < 15


def test_a_table_a_little_wider_than_a_row_is_shown_smaller_with_its_rows_whole():
    """A printed table of 130 characters would wrap every row at 105: the slide shows it in a font small enough for
    130 (its text kept as text/plain); text wider than WIDE_CHARS is shown at the smallest size and wraps at that."""
    table = "\n".join(f"method {i:<28d}" + "0.584 (0.56-0.61)  " * 5 for i in range(10)) + "\n"
    lines = table.splitlines()
    assert {len(line) for line in lines} == {130}
    short = "loss 0.25\n"
    shown = slides.for_slides(new_notebook(cells=[new_markdown_cell("# T"), new_code_cell("print(table)", outputs=[
        new_output("stream", name="stdout", text=table), new_output("stream", name="stdout", text=short),
        new_output("stream", name="stdout", text="x" * 300 + "\n")])]))
    outputs = [out for cell in shown.cells if cell.cell_type == "code" for out in cell.outputs]
    wide, plain, widest = outputs
    assert wide["output_type"] == "display_data" and wide["data"]["text/plain"] == table
    assert wide["data"]["text/html"].startswith(f'<pre class="cslib-wide" style="font-size: {13 * 105 / 130:.1f}px">')
    assert html.unescape(wide["data"]["text/html"].split(">", 1)[1].rsplit("</pre>", 1)[0]) == table
    assert plain["output_type"] == "stream" and plain["text"] == short  # a narrow one stays as it was
    assert f"font-size: {13 * 105 / 140:.1f}px" in widest["data"]["text/html"]
    assert slides._output_height(wide) == 17 * 10 + 20 and slides._output_height(widest) == 17 * 3 + 20


def test_a_figure_that_does_not_fit_under_its_code_goes_to_a_subslide_of_its_own():
    code = "\n".join(f"step_{i}()" for i in range(4))
    cell = new_code_cell(code, outputs=[new_output("stream", name="stdout", text="".join(f"r{i}\n" for i in range(12))),
                                        new_output("display_data", data=PICTURE), new_output("display_data", data=PICTURE)])
    cell.id = "abc"
    shown = slides.for_slides(new_notebook(cells=[new_markdown_cell("# T"), cell]))
    parts = shown.cells[1:]
    assert kinds(shown)[1:] == ["subslide", "subslide", "subslide"]
    assert [len(part.outputs) for part in parts] == [1, 1, 1]
    assert [bool(part.metadata.get("transient", {}).get("remove_source")) for part in parts] == [False, True, True]
    assert len({part.id for part in parts}) == 3
    assert all(slides._height(part) <= slides.SLIDE_HEIGHT for part in parts)


def test_a_lead_in_line_moves_with_what_it_introduces():
    figure = new_code_cell("draw(5, 3, stride=2)", outputs=[new_output("display_data", data=PICTURE)])
    shown = slides.for_slides(new_notebook(cells=[
        new_markdown_cell("# T"), new_code_cell("draw(5, 3)", outputs=[new_output("display_data", data=PICTURE)]),
        new_markdown_cell("And both together:"), figure]))
    assert kinds(shown) == ["slide", "subslide", "subslide", "-"]


def test_a_lead_in_stays_with_the_code_it_introduces_and_the_figure_that_does_not_fit_moves_on():
    lead_in = "`transforms.Compose` applies the transforms one after the other. The slides' example rotates, then inverts:"
    code = new_code_cell("\n".join(f"step_{i}()" for i in range(4)), outputs=[  # fits on a slide, not under the lead-in
        new_output("stream", name="stdout", text="".join(f"r{i}\n" for i in range(2))), new_output("display_data", data=PICTURE)])
    assert slides._height(code) <= slides.SLIDE_HEIGHT < slides._height(code) + slides._height(new_markdown_cell(lead_in))
    shown = slides.for_slides(new_notebook(cells=[
        new_markdown_cell("# T"), new_code_cell("draw(5, 3)", outputs=[new_output("display_data", data=PICTURE)]),
        new_markdown_cell(lead_in), code]))
    assert kinds(shown) == ["slide", "subslide", "subslide", "-", "subslide"]  # not the lead-in alone on a slide
    assert [len(c.outputs) for c in shown.cells[3:]] == [1, 1]  # the code and what it prints; then the figure
    assert slides._height(shown.cells[2]) + slides._height(shown.cells[3]) <= slides.SLIDE_HEIGHT


def test_the_export_loads_nothing_from_elsewhere_and_gives_every_picture_its_text():
    figure = new_code_cell("plt.plot(x)", outputs=[new_output("display_data", data=PICTURE)])
    figure.metadata["mystnb"] = {"image": {"alt": "A rising line"}}
    second = new_code_cell("plt.plot(-x)", outputs=[new_output("display_data", data=PICTURE)])
    second.metadata["mystnb"] = {"image": {"alt": "A falling line"}}
    nb = new_notebook(cells=[new_markdown_cell("# T\n\n$x^2$"), figure, second],
                      metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}})
    page = slides.export(slides.for_slides(nb), "Lecture 9", "../notebooks/09.html", "../_static")
    loads = re.findall(r'<(?:script|img|link)\b[^>]*\b(?:src|href)="([^"]+)"', page)
    assert [u for u in loads if re.match(r"^(https?:)?//", u)] == []
    assert '../_static/revealjs/dist/reveal.js' in loads and '../_static/mathjax/tex-chtml.js' in loads
    assert re.findall(r'<img[^>]*alt="([^"]*)"', page) == ["A rising line", "A falling line"]  # each its own, in order
    assert "No description has been provided" not in page
    assert 'href="../notebooks/09.html"' in page and "<title>Lecture 9 slides</title>" in page


# --- the real slides, in Chromium ------------------------------------------------------------------

@pytest.fixture
def built(built_site):
    """The course's site with its slides, built once per test process (tests/conftest.py)."""
    return built_site


def test_live_slide_types_are_the_slideshows_and_keep_the_authors(tmp_path):
    """RISE presents a notebook by its cells' slideshow metadata: write_live_metadata writes, for every cell without
    the author's own, the type its first part has in the slideshow, with a copy that marks it as computed; the
    author's stays, a computed one is computed again when the cell changes, one the author changed afterwards (in
    JupyterLab, which leaves the copy alone) is the author's, and the slideshow is the same with or without them."""
    nb = new_notebook(cells=[
        new_markdown_cell("# Title"),
        new_markdown_cell("Some text."),
        new_code_cell("x = 1"),  # code without output: it joins the slide above
        new_code_cell("", metadata={}),  # empty: skipped
        new_markdown_cell("> **The slide says** that 2 + 2 = 5. It is 4."),  # a correction: the slide says where it went
        new_code_cell("plot()", outputs=[new_output("display_data", data=PICTURE)]),
        new_markdown_cell("## Mine", metadata={"slideshow": {"slide_type": "fragment"}}),  # the author's
    ])
    path = tmp_path / "01_lecture.ipynb"
    nbformat.write(nb, path)
    before = slides.for_slides(nb)
    original = path.read_bytes()
    assert slides.write_live_metadata(path, check=True) is True and path.read_bytes() == original, "check writes nothing"
    assert slides.write_live_metadata(path) is True
    written = nbformat.read(path, as_version=4)
    assert kinds(written) == ["slide", "-", "-", "skip", "-", "subslide", "fragment"]
    assert [c.metadata.get("cslib", {}).get("slideshow") for c in written.cells] == kinds(written)[:6] + [None]
    assert [c.source for c in written.cells] == [c.source for c in nb.cells], "only the metadata changes"
    assert slides.write_live_metadata(path) is False and slides.write_live_metadata(path, check=True) is False
    assert kinds(slides.for_slides(written)) == kinds(before), "the slideshow is the same"

    written.cells[1].source = "## Now a heading"  # the author edits a cell whose type was computed
    nbformat.write(written, path)
    assert slides.write_live_metadata(path, check=True) is True, "out of date"
    slides.write_live_metadata(path)
    again = nbformat.read(path, as_version=4)
    assert kinds(again)[1] == "slide"
    assert not list(tmp_path.glob(".*partial")), "written in one step, nothing left behind"

    again.cells[2].metadata["slideshow"]["slide_type"] = "fragment"  # the author sets a type where one was computed
    nbformat.write(again, path)
    assert kinds(slides.for_slides(again))[2] == "fragment", "the build follows the author"
    assert slides.write_live_metadata(path) is False and kinds(nbformat.read(path, as_version=4))[2] == "fragment"


def test_the_stored_lectures_carry_their_live_slide_types():
    """Each lecture notebook holds the slide types RISE needs, as the slides compute them (python -m cslib.site
    slideshow writes them; scripts/run_notebooks.py does after each run)."""
    stale = [path.name for path in LECTURES if slides.write_live_metadata(path, check=True)]
    assert stale == [], f"run python -m cslib.site slideshow: {stale}"


def test_every_lecture_has_slides_linked_from_its_page_and_back(built):
    for lecture in LECTURES:
        deck = (built / "slides" / f"{lecture.stem}.html").read_text(encoding="utf-8")
        assert f'href="../notebooks/{lecture.stem}.html"' in deck  # the notebook, one click away
        corrections = sum(bool(slides.CORRECTION.match(paragraph)) for cell in nbformat.read(lecture, as_version=4).cells
                          if cell.cell_type == "markdown" for paragraph in slides._paragraphs(cell.source))
        assert deck.count('<aside class="notes">') == corrections > 0, lecture.stem  # every correction, in the notes
        page = (built / "notebooks" / f"{lecture.stem}.html").read_text(encoding="utf-8")
        assert f'class="course-slides" href="../slides/{lecture.stem}.html"' in page
    assert (built / "_static" / "revealjs" / "dist" / "reveal.js").exists()
    assert (built / "_static" / "revealjs" / "LICENSE").exists()


# Whatever the slide shows must lie inside it: an element below or beside the slide's box is cut off on the screen,
# and a code block wider than itself hides its ends.
OVERFLOW = """() => {
  const box = document.querySelector('.reveal .slides').getBoundingClientRect();
  const slide = Reveal.getCurrentSlide(); const found = [];
  for (const el of slide.querySelectorAll('*')) {
    if (el.closest('aside.notes')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.bottom > box.bottom + 2 || r.right > box.right + 2 || r.left < box.left - 2 || r.top < box.top - 2) {
      found.push(`${el.tagName} ends ${Math.round(r.bottom - box.bottom)} px below, ${Math.round(r.right - box.right)} px `
                 + `right of the slide: ${(el.textContent || '').trim().slice(0, 60)}`);
      break;
    }
  }
  for (const pre of slide.querySelectorAll('pre'))
    if (pre.scrollWidth > pre.clientWidth + 2) { found.push('code wider than its block: ' + pre.textContent.slice(0, 60)); break; }
  return found;
}"""
SLIDES = "() => Reveal.getHorizontalSlides().map(s => s.querySelectorAll(':scope > section').length || 1)"


def open_deck(page, url: str) -> None:
    page.goto(url, wait_until="load", timeout=PAGE_MS)
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=PAGE_MS)


@pytest.mark.browser
def test_every_slide_fits_at_1280_by_720_and_loads_nothing_from_elsewhere(built, tmp_path):
    if missing_requirements():
        pytest.skip(missing_requirements())
    ARTIFACTS.mkdir(exist_ok=True)
    problems, walked = [], 0
    with serve(built) as base, chromium(tmp_path / "chromium-profile") as page:
        page.set_viewport_size({"width": 1280, "height": 720})
        elsewhere = []
        page.context.route(re.compile(r"^(?!" + re.escape(base) + ").*"), lambda route: (elsewhere.append(route.request.url), route.abort()))
        for lecture in LECTURES:
            open_deck(page, f"{base}/slides/{lecture.stem}.html")
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=MATH_MS)
            page.evaluate("() => MathJax.startup.promise")
            has_math = any("$" in cell.source for cell in nbformat.read(lecture, as_version=4).cells if cell.cell_type == "markdown")
            typeset = page.evaluate("document.querySelectorAll('mjx-container').length")
            assert typeset > 0 if has_math else typeset == 0, f"{lecture.stem}: {typeset} formulas typeset"
            assert page.evaluate("document.querySelectorAll('mjx-merror').length") == 0
            counts = page.evaluate(SLIDES)
            assert sum(counts) == page.evaluate("Reveal.getTotalSlides()") > 30
            pictures = [(h, v) for h, n in enumerate(counts) for v in range(n)]
            keep = {pictures[0], pictures[len(pictures) // 3], pictures[2 * len(pictures) // 3]}
            for h, v in pictures:
                page.evaluate(f"() => Reveal.slide({h}, {v})")
                walked += 1
                problems += [f"{lecture.stem} slide {h}/{v}: {p}" for p in page.evaluate(OVERFLOW)]
                if (h, v) in keep:
                    page.screenshot(path=ARTIFACTS / f"slides-{lecture.stem[:2]}-{h}-{v}.png")
            assert page.evaluate("[...document.images].filter(img => img.complete && img.naturalWidth === 0).length") == 0
        assert elsewhere == [], f"the slides asked the network for {elsewhere}"
    assert problems == [], f"{len(problems)} of {walked} slides do not fit:\n" + "\n".join(problems[:20])
