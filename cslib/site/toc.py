"""The website's table of contents: which pages, in which order, from one file (``docs/_toc.yml``).

    - caption: Lectures
      pages:
        - notebooks/[0-9]*        # every lecture notebook, sorted
    - caption: For instructors
      pages:
        - docs/syllabus           # docs/syllabus.md

Each page is a path from the repository's root without its extension (``.ipynb`` or ``.md``); a
path with ``*`` takes every match, sorted. An instructor adds a page by writing it and listing it
here: no code changes. A course without the file gets its lectures and labs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TOC = Path("docs") / "_toc.yml"
DEFAULT = [{"caption": "Lectures", "pages": ["notebooks/[0-9]*"]}, {"caption": "Labs", "pages": ["labs/lab*"]}]
SUFFIXES = (".ipynb", ".md")


class TocError(ValueError):
    """The table of contents cannot be used; the message names the file, the entry and what to write."""


@dataclass
class Section:
    caption: str
    pages: list[Path]  # files, relative to the root


def read_toc(root: Path) -> list[Section]:
    """The sections of ``root``'s table of contents (``docs/_toc.yml``, or lectures and labs without it)."""
    path = root / TOC
    if path.exists():
        import yaml  # PyYAML comes with the site's extras (MyST needs it)

        try:
            entries = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise TocError(f"{path}: not readable YAML ({e})") from None
    else:
        entries = DEFAULT
    if not isinstance(entries, list) or not entries:
        raise TocError(f"{path}: should be a list of sections, each `- caption: ...` with `pages:` under it")
    sections, seen = [], set()
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or set(entry) != {"caption", "pages"} or not isinstance(entry["caption"], str) \
                or not isinstance(entry["pages"], list) or not all(isinstance(p, str) for p in entry["pages"]):
            raise TocError(f"{path}: section {number} should have exactly a `caption` (text) and `pages` (a list of "
                           f"paths), got {entry!r}")
        pages = []
        for pattern in entry["pages"]:
            found = _pages(root, pattern)
            if not found:
                raise TocError(f"{path}: {pattern!r} (in {entry['caption']!r}) matches no .ipynb or .md file under {root}")
            for page in found:
                if page.parts[0] == "solutions":
                    raise TocError(f"{path}: {page} is a solution: solutions are never published")
                if page in seen:
                    raise TocError(f"{path}: {page} is listed twice")
                seen.add(page)
                pages.append(page)
        sections.append(Section(entry["caption"], pages))
    return sections


def _pages(root: Path, pattern: str) -> list[Path]:
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts or Path(pattern).suffix in SUFFIXES:
        raise TocError(f"{root / TOC}: {pattern!r} should be a path inside the repository, without .ipynb or .md")
    return sorted({p.relative_to(root) for suffix in SUFFIXES for p in root.glob(pattern + suffix) if p.is_file()})
