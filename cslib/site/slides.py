"""Slides for each lecture, made from its stored notebook: every number on a slide is the stored run's.

    python -m cslib.site build --out _site      # the slides come with the site: _site/slides/<lecture>.html

A slideshow is the notebook exported by nbconvert's reveal.js exporter. Which cell starts a slide is
the Jupyter convention, cell metadata ``slideshow.slide_type`` (``slide``, ``subslide``, ``fragment``,
``-``, ``skip``, ``notes``), which RISE also reads, so an instructor can present the notebook live.
Where a cell has no such metadata, :func:`slide_type` decides (a heading starts a slide, a figure gets
a slide of its own...). Before the export, what a slide cannot show is cut (:func:`for_slides`): code
beyond ``CODE_LINES`` lines and text output beyond ``OUTPUT_LINES`` lines (the notebook is one click
away, linked on every slide), widgets (their stored picture stays), and each "The slide says ..."
correction moves to the speaker notes (press S), leaving the corrected statement on the slide.

reveal.js comes from the sphinx-revealjs package and MathJax from sphinx-mathjax-offline: the slides,
like the site, load nothing from another server.
"""
from __future__ import annotations

import copy
import html
import importlib.util
import re
import shutil
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "slides_template"
SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
CODE_LINES = 12  # more lines of code than this do not fit on a slide with their output
OUTPUT_LINES = 24  # more rows of printed output than this do not fit on a slide of their own
WRAP_CHARS = 105  # characters of printed output in one row of a slide, at its usual size (13 px); a longer line wraps
WIDE_CHARS = 140  # a printed table up to this wide is shown smaller (down to 13 * 105 / 140, about 10 px), rows whole
RICH = ("text/html", "text/markdown", "text/latex")  # outputs a slide shows as they are
PROGRESS_BAR = re.compile(r"^.*\d+%\|.*\|.*$\n?", re.M)  # tqdm's line (the site shows it, a slide need not)
PICTURE_CODE_LINES = 5  # above a figure
PICTURE_HEIGHT = 430  # pixels: a figure's largest height on a slide (the template's CSS says the same)
SLIDE_HEIGHT = 640  # pixels of a 700-pixel slide that a slide's cells may fill (estimated by _height)
LONG_MARKDOWN = 650  # characters: a longer text is split at its paragraphs, a slide for each part
LEAD_IN_CHARS = 400  # characters: a shorter text that ends with ":" introduces the cell after it, and goes along
CORRECTION = re.compile(r"^> \*\*The slide says\*\*")
NOTES_HINT = "*Corrected from the deck: the speaker notes (press S) say what it said.*"


def _authored(cell) -> bool:
    """Whether the cell's ``slideshow`` metadata is the author's (kept, and it wins over every default). A slide type
    that write_live_metadata computed carries a copy of itself in ``metadata.cslib.slideshow``; once the type differs
    from that copy (an author changed it in JupyterLab or RISE, which leave the copy alone), it is the author's."""
    if "slideshow" not in cell.metadata:
        return False
    computed = cell.metadata.get("cslib", {}).get("slideshow")
    own = cell.metadata["slideshow"].get("slide_type") if isinstance(cell.metadata["slideshow"], dict) else None
    return computed is None or computed != own


class SlidesError(RuntimeError):
    """A slideshow cannot be made (bad metadata, reveal.js missing); the message says why and what to do."""


def reveal_dir() -> Path:
    """reveal.js's files (dist/ and plugin/), as shipped by the sphinx-revealjs package."""
    spec = importlib.util.find_spec("sphinx_revealjs")
    if spec is None or not spec.submodule_search_locations:
        raise SlidesError("reveal.js is missing: the slides need the `site` extra (pip install -e \".[site]\")")
    return Path(list(spec.submodule_search_locations)[0]) / "_static" / "revealjs"


def copy_reveal(target: Path) -> None:
    """reveal.js, its white theme (with its fonts: the other themes load theirs from Google) and its speaker-notes
    plugin, with its license."""
    source = reveal_dir()
    for name in ("dist/reveal.js", "dist/reveal.css", "dist/reset.css", "dist/theme/white.css", "plugin/notes/notes.js", "LICENSE"):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)
    shutil.copytree(source / "dist" / "theme" / "fonts" / "source-sans-pro", target / "dist" / "theme" / "fonts" / "source-sans-pro",
                    dirs_exist_ok=True)


def _heading_level(source: str) -> int:
    match = re.match(r"\s*(#{1,6})\s", source)
    return len(match.group(1)) if match else 0


PICTURES = ("image/png", "image/svg+xml", "image/jpeg")


def _is_picture(out) -> bool:
    return any(kind in out.get("data", {}) for kind in PICTURES)


def _has_picture(cell) -> bool:
    return any(map(_is_picture, cell.get("outputs", [])))


def slide_type(cell, index: int) -> str:
    """The cell's place in the slideshow: its ``slideshow.slide_type`` metadata, else the default: the first cell and
    every heading of level 1 or 2 start a slide; a level-3 heading, a figure and a long text a subslide (below the
    slide, reached with the down arrow); a code cell that shows nothing is skipped; the rest joins the slide above."""
    own = cell.metadata.get("slideshow", {}).get("slide_type") if isinstance(cell.metadata.get("slideshow"), dict) else None
    own = own if _authored(cell) else None  # computed metadata is computed again, from the cell as it is now
    if own == "":
        own = "-"  # what some editors write for "-"
    if own is not None:
        if own not in SLIDE_TYPES:
            raise SlidesError(f"cell {index + 1}: slideshow.slide_type {own!r} is not one of {', '.join(SLIDE_TYPES)}")
        return own
    if index == 0:
        return "slide"
    if cell.cell_type == "markdown":
        level = _heading_level(cell.source)
        if level in (1, 2):
            return "slide"
        if level >= 3 or len(cell.source) > LONG_MARKDOWN:
            return "subslide"
        return "-"
    if cell.cell_type == "code":
        if _has_picture(cell):
            return "subslide"
        if not cell.get("outputs") and not cell.source.strip():
            return "skip"
        return "-"
    return "skip"  # raw cells


def _cut_code(source: str, limit: int) -> str:
    lines = source.rstrip().splitlines()
    if len(lines) <= limit:
        return source
    return "\n".join(lines[:limit - 1] + [f"# ... {len(lines) - limit + 1} more lines in the notebook (linked below)"])


def _width(text: str) -> int:
    """Characters in one row of a slide for this printed text: ``WRAP_CHARS``, or up to ``WIDE_CHARS`` for a wider
    table, which is then shown in a smaller font so that its rows stay whole."""
    return min(WIDE_CHARS, max([WRAP_CHARS] + [len(line) for line in text.splitlines()]))


def _rows(line: str, width: int = WRAP_CHARS) -> int:
    """How many rows of a slide a printed line takes: a long one wraps every ``width`` characters."""
    return max(1, -(-len(line) // width))


def _cut_text(text: str) -> str:
    """Printed text as a slide shows it: at most ``OUTPUT_LINES`` rows, counting the rows a long line wraps to."""
    lines, width = text.rstrip("\n").splitlines(), _width(text)
    if sum(_rows(line, width) for line in lines) <= OUTPUT_LINES:
        return text
    kept, rows = [], 0
    for line in lines:
        if rows + _rows(line, width) > OUTPUT_LINES - 1:
            break
        kept.append(line)
        rows += _rows(line, width)
    return "\n".join(kept + [f"... ({len(lines) - len(kept)} more lines in the notebook)"]) + "\n"


def _printed(out: dict, text: str) -> dict:
    """A printed output as a slide shows it: cut to the rows that fit; a table wider than a row, in a smaller font
    (an HTML ``<pre>`` of its own size, with the text kept as text/plain)."""
    text = _cut_text(text)
    width = _width(text)
    if width == WRAP_CHARS:
        return {**out, "text": text} if out.get("output_type") == "stream" else {**out, "data": {"text/plain": text}, "metadata": {}}
    size = 13 * WRAP_CHARS / width
    wide = f'<pre class="cslib-wide" style="font-size: {size:.1f}px">{html.escape(text)}</pre>'
    return {"output_type": "display_data", "data": {"text/html": wide, "text/plain": text}, "metadata": {}}


def _cut_outputs(outputs: list) -> list:
    """What a slide shows of a cell's outputs: the pictures, and the last printed lines (the result; progress bars and
    warnings are left out: stderr)."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream":
            text = PROGRESS_BAR.sub("", "".join(out.get("text", "")))
            if out.get("name") == "stdout" and text.strip():
                kept.append(_printed(out, text))
        elif out.get("output_type") in ("display_data", "execute_result"):
            data = out.get("data", {})
            text = PROGRESS_BAR.sub("", "".join(data.get("text/plain", "")))
            if _is_picture(out):
                kept.append({**out, "data": {k: v for k, v in data.items() if k.startswith("image/") or k == "text/plain"}})
            elif any(kind in data for kind in RICH):  # Markdown, HTML, LaTeX: shown as such, not as their repr
                kept.append(out)
            elif text.strip():
                kept.append(_printed(out, text))
    return [nbformat.from_dict(out) for out in kept]


def _paragraphs(source: str) -> list[str]:
    """The source's paragraphs and list items (a fenced code block or a $$ block stays whole)."""
    parts, current, fenced = [], [], False
    for line in source.splitlines():
        if line.strip().startswith("```") or line.count("$$") % 2:
            fenced = not fenced  # a code block, or a $$ block opened or closed on this line (not one on one line)
        item = not fenced and re.match(r"\s{0,1}([-*+]|\d+\.)\s", line)
        if (not line.strip() or item) and not fenced and current:
            parts.append("\n".join(current))
            current = []
        if line.strip() or fenced:
            current.append(line)
    if current:
        parts.append("\n".join(current))
    return parts


def _split_markdown(cell, kind: str, split: bool = True) -> list[tuple[str, str]]:
    """A markdown cell as (slide type, text) parts: each "The slide says" correction as notes, and (if ``split``) a
    text longer than ``LONG_MARKDOWN`` characters in several parts, each starting a subslide."""
    if kind == "notes":
        return [(kind, cell.source)]
    parts, notes, text = [], [], []
    for paragraph in _paragraphs(cell.source):
        (notes if CORRECTION.match(paragraph) else text).append(paragraph)
    first = kind
    chunk = ""
    for paragraph in text:
        if split and chunk and len(chunk) + len(paragraph) > LONG_MARKDOWN:
            parts.append((first, chunk))
            first, chunk = "subslide", ""
        chunk = f"{chunk}\n\n{paragraph}" if chunk else paragraph
    if notes:
        chunk = f"{chunk}\n\n{NOTES_HINT}" if chunk else NOTES_HINT
    if chunk:
        parts.append((first, chunk))
    parts += [("notes", paragraph) for paragraph in notes]
    return parts


def _output_height(out) -> int:
    data = out.get("data", {})
    if _is_picture(out):
        return PICTURE_HEIGHT + 10
    text = "".join(out.get("text") or data.get("text/plain") or data.get("text/html") or "")
    width = _width(text)
    return 17 * sum(_rows(line, width) for line in text.splitlines()) + 20


def _height(cell) -> int:
    """Roughly how many pixels of a 960 x 700 slide the cell takes (the template's fonts: text 22 px, code 15 px,
    printed output 13 px)."""
    if cell.cell_type == "markdown":
        lines = 0
        for line in cell.source.splitlines() or [""]:
            lines += 1.6 if _heading_level(line) else max(0.5, -(-len(line) // 72))
        return int(35 * lines) + 24
    shown = not cell.metadata.get("transient", {}).get("remove_source")
    return (19 * len(cell.source.splitlines()) + 34 if shown else 0) + sum(map(_output_height, cell.get("outputs", [])))


def _split_code(cell, kind: str, above: int = 0) -> list:
    """A code cell (already cut) as one or more cells that each fit on a slide: its code with the outputs that fit
    below it (and below ``above`` pixels of a text that introduces it), then the other outputs on subslides of their
    own (their code not shown again)."""
    parts = [copy.deepcopy(cell)]
    parts[0].metadata["slideshow"] = {"slide_type": kind}
    parts[0].outputs = []
    filled = _height(parts[0]) + above
    for out in cell.outputs:
        if (parts[-1].outputs or len(parts) == 1) and filled + _output_height(out) > SLIDE_HEIGHT:
            part = copy.deepcopy(cell)
            part.metadata["slideshow"] = {"slide_type": "notes" if kind == "notes" else "subslide"}
            part.metadata["transient"] = {"remove_source": True}
            part.outputs, filled = [], 0
            if "id" in part:
                part.id = f"{cell.id}-{len(parts)}"  # cell ids stay unique
            parts.append(part)
        parts[-1].outputs.append(out)
        filled += _output_height(out)
    return parts


def _leads_in(entry) -> bool:
    """Whether the cell is a short text that introduces the next one ("And both together:")."""
    if entry is None:
        return False
    author_set, cell = entry
    return (not author_set and cell.cell_type == "markdown" and cell.metadata["slideshow"]["slide_type"] in ("-", "subslide")
            and len(cell.source) < LEAD_IN_CHARS and cell.source.rstrip().endswith(":"))


def for_slides(nb: nbformat.NotebookNode, origins: list[int] | None = None) -> nbformat.NotebookNode:
    """A copy of ``nb`` (already without widgets: ``cslib.site.pages.static_notebook``) as the slides show it: every
    cell's slide type set (:func:`slide_type`), long code and printed output cut, corrections in the speaker notes, and
    a cell that would not fit below the ones above it (by :func:`_height`) moved to a subslide of its own. A list given
    as ``origins`` receives, for each cell of the result, the index in ``nb`` of the cell it comes from."""
    cells = []
    for index, cell in enumerate(nb.cells):
        kind = slide_type(cell, index)
        if kind == "skip":
            continue
        author_set = _authored(cell)
        before = len(cells)
        if cell.cell_type == "markdown":  # the author's slide type is kept, and the corrections still go to the notes
            for i, (part_kind, text) in enumerate(_split_markdown(cell, kind, split=not author_set)):
                part = nbformat.v4.new_markdown_cell(text, metadata={"slideshow": {"slide_type": part_kind}})
                if cell.get("attachments"):
                    part.attachments = cell.attachments  # pictures pasted into the text
                cells.append((author_set and i == 0, part))
            if origins is not None:
                origins.extend([index] * (len(cells) - before))
            continue
        cell = copy.deepcopy(cell)
        cell.metadata["slideshow"] = {"slide_type": kind}
        if cell.cell_type == "code":
            cell.source = _cut_code(cell.source, PICTURE_CODE_LINES if _has_picture(cell) else CODE_LINES)
            cell.outputs = _cut_outputs(cell.get("outputs", []))
            lead_in = _height(cells[-1][1]) if cells and not author_set and _leads_in(cells[-1]) else 0
            cells += [(author_set and i == 0, part) for i, part in enumerate(_split_code(cell, kind, lead_in))]
            if origins is not None:
                origins.extend([index] * (len(cells) - before))
            continue
        cells.append((author_set, cell))
        if origins is not None:
            origins.append(index)
    filled, previous = 0, None
    for author_set, cell in cells:
        kind = cell.metadata["slideshow"]["slide_type"]
        if kind == "notes":
            continue
        if kind in ("-", "fragment") and not author_set and filled + _height(cell) > SLIDE_HEIGHT:
            cell.metadata["slideshow"]["slide_type"] = kind = "subslide"
        if kind == "subslide" and not author_set and _leads_in(previous) and _height(previous[1]) + _height(cell) <= SLIDE_HEIGHT:
            previous[1].metadata["slideshow"]["slide_type"] = "subslide"  # "And both together:" goes along
            cell.metadata["slideshow"]["slide_type"] = kind = "-"
            filled = _height(previous[1])
        filled = _height(cell) if kind in ("slide", "subslide") else filled + _height(cell)
        previous = (author_set, cell)
    out = copy.deepcopy(nb)
    out.cells = [cell for _, cell in cells]
    return out


def live_types(nb: nbformat.NotebookNode) -> list[str]:
    """For each cell of ``nb``, the slide type to present it live with (RISE reads ``slideshow.slide_type``): the type
    the slideshow gives its first part (:func:`for_slides`), "skip" for a cell the slides leave out. What the slideshow
    does within a cell (a long text split, a correction moved to the notes, code cut) RISE cannot: it shows the cell."""
    from cslib.site import pages

    origins: list[int] = []
    shown = for_slides(pages.static_notebook(nb), origins)
    types = ["skip"] * len(nb.cells)
    for index, cell in reversed(list(zip(origins, shown.cells))):  # each cell's first part wins
        types[index] = cell.metadata["slideshow"]["slide_type"]
    return types


def write_live_metadata(path: Path, check: bool = False) -> bool:
    """Write into the notebook at ``path`` the slide type of every cell whose ``slideshow`` metadata is not the author's
    (:func:`live_types`), with a copy of it in ``metadata.cslib.slideshow`` that marks it as computed, so that RISE
    presents the lecture as the slides do. The author's metadata and everything else stay as they are. Returns whether
    anything was (with ``check``: would be) changed; the notebook is replaced in one step (its permissions kept), and
    not written at all when nothing changes."""
    import shutil

    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell, kind in zip(nb.cells, live_types(nb)):
        if _authored(cell):
            continue
        if cell.metadata.get("slideshow") != {"slide_type": kind} or cell.metadata.get("cslib", {}).get("slideshow") != kind:
            cell.metadata["slideshow"] = {"slide_type": kind}
            cell.metadata.setdefault("cslib", {})["slideshow"] = kind
            changed = True
    if changed and not check:
        partial = path.with_name(f".{path.name}.partial")
        try:
            nbformat.write(nb, partial)
            shutil.copymode(path, partial)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
    return changed


def export(nb: nbformat.NotebookNode, title: str, notebook_page: str, static: str) -> str:
    """The slideshow's HTML: ``nb`` (made by :func:`for_slides`) through nbconvert's SlidesExporter with the course's
    template (reveal.js and MathJax from ``static``, the site's _static folder as seen from the slides; a link to
    ``notebook_page`` on every slide)."""
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    # code coloured by an accessible Pygments style (its contrast passes WCAG AA), as on the site's pages
    config = Config({"CSSHTMLHeaderPreprocessor": {"style": "a11y-high-contrast-light"}})
    exporter = SlidesExporter(config=config, template_file="index.html.j2", extra_template_basedirs=[str(TEMPLATE.parent)],
                              template_name=TEMPLATE.name, reveal_url_prefix=f"{static}/revealjs",
                              mathjax_url=f"{static}/mathjax/tex-chtml.js", reveal_transition="none", reveal_theme="white",
                              reveal_number="c/t", exclude_anchor_links=True)
    nb = copy.deepcopy(nb)
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb, resources={"cslib": {"notebook_page": notebook_page, "title": title}})
    alts = iter([_alt(cell) for cell in nb.cells if cell.cell_type == "code"
                 for out in cell.outputs if _is_picture(out)])
    body = re.sub(r'alt="No description has been provided for this image"',  # nbconvert's text for a picture without one
                  lambda _: f'alt="{html.escape(next(alts, ""))}"', body)
    return body


def _alt(cell) -> str:
    """The text a screen reader reads for the cell's pictures: the site's (``cslib.site.pages.figure_alt``)."""
    return cell.metadata.get("mystnb", {}).get("image", {}).get("alt") or "A figure of the lecture (described in the notebook)"


def write_slides(lectures: list[Path], root: Path, site: Path, repository: str, branch: str) -> int:
    """Write ``site/slides/<lecture>.html`` for every lecture notebook (paths under ``root``) and reveal.js into
    ``site/_static/revealjs``; returns the number of slides made."""
    from cslib.site import pages

    copy_reveal(site / "_static" / "revealjs")
    (site / "slides").mkdir(exist_ok=True)
    total = 0
    for path in lectures:
        page = path.relative_to(root)
        notebook_page = f"../{page.with_suffix('.html').as_posix()}"
        nb = nbformat.read(path, as_version=4)
        title = next((line.lstrip("# ").strip() for cell in nb.cells if cell.cell_type == "markdown"
                      for line in cell.source.splitlines() if line.startswith("# ")), path.stem)
        links = pages.links_html(pages.colab_url(repository, branch, page.as_posix()), f"../{page.as_posix()}",
                                 pages.run_note(nb))
        try:
            shown = for_slides(pages.with_links(pages.static_notebook(nb), links))
        except SlidesError as e:
            raise SlidesError(f"{page}: {e}") from None
        total += sum(cell.metadata["slideshow"]["slide_type"] in ("slide", "subslide") for cell in shown.cells)
        (site / "slides" / f"{path.stem}.html").write_text(export(shown, title, notebook_page, "../_static"),
                                                          encoding="utf-8")
    return total
