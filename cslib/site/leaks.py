"""Make sure no solution reaches the site: the answer lines of solutions/ must not be in the output.

The answer lines are the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in the
cells of ``solutions/*.ipynb`` (code and markdown). Trivial lines are ignored: short ones
(``return out``, ``)``) and lines that are on the site by right, because a lecture contains them
or the solution notebook has them outside its solution regions too (which the student lab keeps).
The labs themselves are not taken as "by right": a lab with an answer in it is what this catches. Every other answer line found in the built site
(the text of its HTML pages, the notebooks offered for download, any other text file) is a leak.
"""
from __future__ import annotations

import html.parser
import json
import re
from pathlib import Path

from cslib.labs import solution_lines

MIN_CHARS = 12  # shorter answer lines ("return grad", "view_shape = (60000, 784)" is kept) are too common to tell
MIN_WORDS = 5  # shorter pieces of prose answers are ordinary English
TEXT_FILES = {".html", ".txt", ".ipynb", ".json", ".md", ".py"}


def normalize(text: str) -> str:
    """Whitespace collapsed, markdown emphasis and code marks dropped: how a line reads on a page."""
    text = re.sub(r"[*`]", "", text)
    text = re.sub(r"^\s*(?:[-+]|\d+\.)\s+", "", text)  # a list item's marker
    return " ".join(text.split())


def answer_lines(solution: Path, inside: bool = True) -> list[str]:
    """The lines inside the solution regions of one solution notebook (whitespace collapsed); outside them with ``inside=False``."""
    nb = json.loads(solution.read_text(encoding="utf-8"))
    lines = []
    for number, cell in enumerate(nb.get("cells", []), 1):
        source = "".join(cell.get("source", ""))
        lines += [" ".join(line.split()) for line in solution_lines(source, inside, f"{solution.name} cell {number}")
                  if line.strip()]
    return lines


def published_text(paths: list[Path]) -> str:
    """The normalized sources and outputs of the notebooks the site publishes (to know what is not secret)."""
    chunks = []
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            chunks.extend(normalize(line) for line in "".join(cell.get("source", "")).splitlines())
            for out in cell.get("outputs", []):
                text = out.get("text") or out.get("data", {}).get("text/plain", "")
                chunks.extend(normalize(line) for line in "".join(text).splitlines())
    return "\n".join(chunks)  # one normalized line per line


def distinctive(line: str) -> bool:
    """Worth looking for: at least ``MIN_CHARS`` characters, and code, or prose of ``MIN_WORDS`` words or more (a
    written answer is wrapped anywhere, so a short piece of it, "frozen random base.", is any page's English)."""
    text = normalize(line)
    return len(text.replace(" ", "")) >= MIN_CHARS and (bool(re.search(r"[=()\[\]{}]", text)) or len(text.split()) >= MIN_WORDS)


def secret_lines(root: Path, lectures: list[Path]) -> list[str]:
    """The answer lines of ``root/solutions`` worth looking for (see the module's docstring)."""
    solutions = sorted((root / "solutions").glob("*.ipynb"))
    public = " ".join([published_text(lectures)] + [normalize(line) for solution in solutions for line in answer_lines(solution, inside=False)])
    public = " ".join(public.split())  # one line, as find_leaks reads a page: "a secret" that is part of a public line is public
    found = []
    for solution in solutions:
        for line in answer_lines(solution):
            if distinctive(line) and normalize(line) not in public and line not in found:
                found.append(line)
    return found


class _Text(html.parser.HTMLParser):
    """The text of an HTML page (Pygments splits code into spans: their text joined gives the code back)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("p", "div", "br", "li", "tr", "pre", "h1", "h2", "h3", "h4", "td", "th"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def page_text(path: Path) -> str:
    """What a file of the site says, as text: an HTML page's text, a notebook's cells, or the file itself."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".html":
        parser = _Text()
        parser.feed(raw)
        return "".join(parser.parts)
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(raw)
        except ValueError:
            return raw
        parts = []
        for cell in nb.get("cells", []):
            parts.append("".join(cell.get("source", "")))
            for out in cell.get("outputs", []):
                parts.append("".join(out.get("text") or out.get("data", {}).get("text/plain", "")))
        return "\n".join(parts)
    return raw


def find_leaks(site: Path, secrets: list[str]) -> list[str]:
    """'labs/lab02.html: out[i, j] = ...' for every answer line found in the site; empty when clean."""
    leaks = []
    for path in sorted(p for p in site.rglob("*") if p.is_file() and p.suffix in TEXT_FILES):
        text = " ".join(normalize(line) for line in page_text(path).splitlines())
        text = " ".join(text.split())
        leaks.extend(f"{path.relative_to(site)}: {line}" for line in secrets if normalize(line) in text)
    return leaks
