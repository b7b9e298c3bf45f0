"""Turn the stored notebooks into the site's pages: static widgets, page links, the home page.

Nothing here runs a notebook. The stored outputs are kept as they are, except widget outputs,
which a static page cannot run:

- a progress bar (tqdm in a notebook) becomes the text line it showed at the end of the run;
- an interactive explorer (sliders) becomes one line saying where to move its sliders, then the
  figure and the text it showed when the notebook was run (taken from the widget state that
  Jupyter and nbclient store in the notebook's metadata).

Without a stored widget state a progress bar is dropped and an explorer keeps only its line, so
a raw widget repr such as ``VBox(children=...`` never reaches the page.
"""
from __future__ import annotations

import copy
import html
import re
from pathlib import Path

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
EXPLORER_LINE = "Interactive explorer: move the sliders in Colab or JupyterLab."
# A widget repr as ipywidgets prints it, e.g. "VBox(children=(HBox(..." or "IntSlider(value=5, ...)".
WIDGET_REPR = re.compile(r"^[A-Z]\w*\((children|value|description|options|layout)=")
COLAB_BADGE = re.compile(r'<a\s+href="https://colab\.research\.google\.com/[^"]*"\s*>\s*<img\b[^>]*>\s*</a>')
COLAB = "https://colab.research.google.com/github"


def colab_url(repository: str, branch: str, path: str) -> str:
    """The Colab address of ``path`` (relative to the repository root) on GitHub."""
    owner_name = github_owner_name(repository)
    return f"{COLAB}/{owner_name}/blob/{branch}/{path}"


def github_owner_name(repository: str) -> str:
    """'owner/name' of a GitHub repository URL; ValueError for anything else (Colab opens GitHub files only)."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repository.strip())
    if not m:
        raise ValueError(f"--repository {repository!r}: Colab opens notebooks from GitHub, so give "
                         "https://github.com/OWNER/NAME")
    return f"{m.group(1)}/{m.group(2)}"


# --- widgets -------------------------------------------------------------------------------------

BAR_WIDTH = 10  # the width of the bar in tqdm's text when it has no ncols (as in the stored "0%|          |")


def _model(state: dict, ref: object) -> dict | None:
    """The saved state of a widget, from its model id or an "IPY_MODEL_<id>" reference."""
    if not isinstance(ref, str):
        return None
    entry = state.get(ref.removeprefix("IPY_MODEL_"))
    return entry if isinstance(entry, dict) and isinstance(entry.get("state"), dict) else None


def _walk(state: dict, model_id: str, seen: set | None = None):
    """The widget models of a widget tree, depth first (each once)."""
    seen = set() if seen is None else seen
    model = _model(state, model_id)
    if model is None or model_id in seen:
        return
    seen.add(model_id)
    yield model
    for child in model.get("state", {}).get("children", []):
        yield from _walk(state, child.removeprefix("IPY_MODEL_"), seen)


def _text(value: str, strip: bool = True) -> str:
    """Plain text of an HTML widget's value (tqdm pads with figure spaces)."""
    text = html.unescape(re.sub(r"<[^>]+>", "", value)).replace("\u2007", " ")
    return text.strip() if strip else text


def progress_bar_text(state: dict, model_id: object) -> str | None:
    """The final text of the tqdm.notebook bar ``model_id`` (rebuilt from the widget state), or None if it is no such bar.

    tqdm.notebook shows a bar as an HBox of three widgets: an HTML with the left part of tqdm's text
    ("desc: 100%"), a FloatProgress (value and max) and an HTML with the right part ("160/160 [01:03<00:00,
    2.45batch/s, loss=...]"), its spaces written as U+2007 and HTML-escaped. The text is those parts
    around a text bar of the progress, as tqdm prints it outside Jupyter.
    """
    box = _model(state, model_id)
    if box is None or box.get("model_name") != "HBoxModel":
        return None
    children = [_model(state, ref) for ref in box["state"].get("children", [])]
    if len(children) != 3 or any(c is None for c in children):
        return None
    names = [c.get("model_name") for c in children]
    if names[0] != "HTMLModel" or names[2] != "HTMLModel" or names[1] not in ("FloatProgressModel", "IntProgressModel"):
        return None
    from tqdm.std import Bar

    def text(model: dict) -> str:
        return html.unescape(str(model["state"].get("value") or "")).replace("\u2007", " ")

    left, right = text(children[0]), text(children[2])
    progress = children[1]["state"]
    value, low, high = (float(progress.get(k) or 0) for k in ("value", "min", "max"))
    frac = min(max((value - low) / (high - low), 0.0), 1.0) if high > low else 1.0
    bar = format(Bar(frac, BAR_WIDTH, charset=Bar.UTF), "")
    return f"{left}|{bar}|{right}" if left else f"|{bar}|{right}"


def _explorer_outputs(models: list[dict]) -> list[nbformat.NotebookNode]:
    """The explorer's line, then what it showed (its figures and text lines, in the widgets' order)."""
    outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": f'<p class="course-explorer-note">{EXPLORER_LINE}</p>', "text/plain": EXPLORER_LINE})]

    def text(value: str) -> None:
        if value.strip():
            outputs.append(nbformat.v4.new_output("stream", name="stdout", text=value.strip() + "\n"))

    def image(data: dict) -> None:
        outputs.append(nbformat.v4.new_output("display_data", data={**data, "text/plain": "the explorer's figure"}))

    for m in models:
        s, name = m.get("state", {}), m.get("model_name")
        if name in ("HTMLModel", "LabelModel", "HTMLMathModel") and s.get("value"):
            text(_text(s["value"]))
        elif name == "ImageModel":  # ipywidgets.Image: its bytes are a base64 buffer of the stored state
            for buffer in m.get("buffers", []):
                if buffer.get("path") == ["value"] and buffer.get("encoding") == "base64":
                    image({f"image/{s.get('format', 'png')}": buffer["data"]})
        elif name == "OutputModel":
            for out in s.get("outputs", []):
                data = out.get("data", {})
                images = {k: v for k, v in data.items() if k in ("image/png", "image/jpeg", "image/svg+xml")}
                if images:
                    image(images)
                elif out.get("output_type") == "stream":
                    text("".join(out.get("text", "")))
                elif "text/plain" in data and not WIDGET_REPR.match("".join(data["text/plain"])):
                    text("".join(data["text/plain"]))
    return outputs


def static_outputs(outputs: list, state: dict) -> list:
    """A code cell's outputs with every widget output replaced by what a static page can show."""
    result = []
    for out in outputs:
        view = out.get("data", {}).get(WIDGET_VIEW) if out.get("output_type") in ("display_data", "execute_result") else None
        if view is None:
            result.append(out)
            continue
        models = list(_walk(state, view.get("model_id", "")))
        names = {m.get("model_name") for m in models}
        plain = out.get("data", {}).get("text/plain", "")
        plain = "".join(plain) if isinstance(plain, list) else str(plain)
        if names & {"FloatProgressModel", "IntProgressModel"} and not names & {"IntSliderModel", "FloatSliderModel", "OutputModel"}:
            line = progress_bar_text(state, view.get("model_id")) or (plain.strip() if not WIDGET_REPR.match(plain) else "")
            if line:
                result.append(nbformat.v4.new_output("stream", name="stdout", text=line + "\n"))
        elif models or WIDGET_REPR.match(plain):
            result.extend(_explorer_outputs(models))
        # else: a widget without stored state and without a widget repr (a bare progress bar): dropped
    return result


def static_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without widget outputs or widget state (see the module's docstring), and with an ``alt``
    text for the pictures of every cell that draws some (:func:`figure_alt`)."""
    nb = copy.deepcopy(nb)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    section = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            headings = re.findall(r"^#{1,4}\s+(.+?)\s*$", cell.source, re.M)
            section = headings[-1] if headings else section
        if cell.cell_type == "code":
            cell.outputs = static_outputs(cell.get("outputs", []), state)
            if any("image/png" in out.get("data", {}) for out in cell.outputs):
                image = cell.metadata.setdefault("mystnb", {}).setdefault("image", {})
                image.setdefault("alt", figure_alt(cell, section))
    nb.metadata.pop("widgets", None)
    return nb


def figure_alt(cell: nbformat.NotebookNode, section: str) -> str:
    """A text for the pictures of a code cell, for readers who cannot see them: the author's (cell metadata
    ``cslib.alt``), else what the stored run says of them (the section, the cell's own comment, the figure's
    panels), never a file name."""
    own = cell.metadata.get("cslib", {}).get("alt") if isinstance(cell.metadata.get("cslib"), dict) else None
    if own:
        return str(own)
    comments = [line.strip("# ").strip() for line in cell.source.splitlines() if line.strip().startswith("#")]
    plain = " ".join("".join(out.get("data", {}).get("text/plain", "")) for out in cell.outputs
                     if "image/png" in out.get("data", {}))
    axes = re.search(r"with (\d+) Axes", plain)
    text = f"Figure of the section \"{re.sub(r'[`*]', '', section)}\"" if section else "Figure"
    if comments:
        text += f": {comments[0]}"
    titles = re.findall(r"\b(?:suptitle|set_title|title)\s*[(=]\s*f?[\"']([^\"'{}]{3,80})[\"']", cell.source)
    labels = re.findall(r"\b(?:set_)?[xy]label\s*[(=]\s*f?[\"']([^\"'{}]{2,60})[\"']", cell.source)
    if titles:
        text += f"; titled {', '.join(dict.fromkeys(titles))}"
    if labels:
        text += f"; axes: {', '.join(dict.fromkeys(labels))}"
    if axes and int(axes.group(1)) > 1:
        text += f" ({axes.group(1)} panels)"
    return text


# --- page links ----------------------------------------------------------------------------------

def links_html(colab: str, download: str, note: str = "", slides: str = "") -> str:
    """The line under each page's title: Open in Colab, Download notebook, the lecture's slides (if given), and where
    the outputs come from."""
    note_html = f' <span class="course-run">{html.escape(note)}</span>' if note else ""
    slides_html = f'<a class="course-slides" href="{html.escape(slides)}">Slides</a> ' if slides else ""
    return (f'<p class="course-links"><a class="course-colab" href="{html.escape(colab)}">Open in Colab</a> '
            f'<a class="course-download" href="{html.escape(download)}" download>Download notebook</a> {slides_html}{note_html}</p>')


def run_note(nb: nbformat.NotebookNode) -> str:
    """'Outputs of a full-mode run on 2026-11-23 (x86_64, 2 cores, no GPU; torch 2.14.1)', from the metadata."""
    run = nb.metadata.get("cslib", {}).get("executed")
    if nb.metadata.get("cslib", {}).get("student_version"):
        return "Student version: write your code where a cell says # YOUR CODE HERE."
    if not run:
        return ""
    torch = str(run.get("torch", "")).split("+")[0]
    details = "; ".join(x for x in (run.get("machine", ""), f"torch {torch}" if torch else "") if x)
    return f"Outputs of a {run.get('mode', '')}-mode run on {run.get('date', '?')}" + (f" ({details})" if details else "") + "."


def with_links(nb: nbformat.NotebookNode, links: str) -> nbformat.NotebookNode:
    """Put ``links`` where the Colab badge was (its image comes from the network), or after the title."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and COLAB_BADGE.search(cell.source):
            cell.source = COLAB_BADGE.sub(lambda _: links, cell.source, count=1)
            cell.source = COLAB_BADGE.sub("", cell.source)
            return nb
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.splitlines()
            at = next((i + 1 for i, line in enumerate(lines) if line.startswith("# ")), 0)
            cell.source = "\n".join(lines[:at] + ["", links, ""] + lines[at:])
            return nb
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(links))
    return nb


# --- the home page -------------------------------------------------------------------------------

def title_of(nb: nbformat.NotebookNode, path: Path) -> str:
    """The notebook's first '# ' heading, without its 'Lecture 1 · ' prefix."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return re.sub(r"^(Lecture|Lab)\s+\d+\s*[·:.-]\s*", "", line[2:].strip())
    return path.stem


def sections_of(nb: nbformat.NotebookNode) -> list[str]:
    """The numbered sections ('## 3. The convolution' -> 'The convolution'): what the lecture covers."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = re.match(r"^##\s+\d+\.\s+(.*)$", line)
                if m:
                    found.append(m.group(1).strip())
    return found


def course_table(lectures: list[tuple[Path, nbformat.NotebookNode]], labs: list[tuple[Path, nbformat.NotebookNode]]) -> str:
    """The home page's table (MyST markdown): lecture, what it covers, its lab."""
    labs_by_number = {re.match(r"lab(\d+)", p.name).group(1).lstrip("0"): (p, nb) for p, nb in labs if re.match(r"lab(\d+)", p.name)}
    rows = ["| # | lecture | what it covers | lab |", "|---|---|---|---|"]
    for path, nb in lectures:
        number = re.match(r"(\d+)", path.name).group(1).lstrip("0") if re.match(r"\d+", path.name) else ""
        lab = labs_by_number.get(number)
        lab_link = f"[{title_of(lab[1], lab[0])}](labs/{lab[0].name})" if lab else ""
        covers = "; ".join(sections_of(nb)).replace("|", "\\|")
        rows.append(f"| {number} | [{title_of(nb, path)}](notebooks/{path.name}) | {covers} | {lab_link} |")
    return "\n".join(rows)
