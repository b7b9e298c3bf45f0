"""The course as a static website, built from the stored notebooks (never executed here).

    python -m cslib.site build --out _site      # then open _site/index.html, or serve the folder

The build stages the pages that ``docs/_toc.yml`` lists, in its order (``cslib.site.toc``): copies of
``notebooks/*.ipynb`` (executed, full mode) and ``labs/*.ipynb`` (the student versions; ``solutions/``
is never read for pages) with their widgets made static and "Open in Colab" / "Download notebook"
links under their titles, and the guides of ``docs/`` as they are; it writes the home page, and runs
Sphinx with MyST-NB and sphinx-book-theme (settings in ``cslib/site/sphinx/conf.py``). Each lecture also
becomes a reveal.js slideshow, ``slides/<lecture>.html`` (``cslib.site.slides``). The original
notebooks are copied next to their pages for download. Last, it checks that no answer line of
``solutions/`` is in the output (``cslib.site.leaks``) and fails if one is.

Needs the ``site`` extra: ``pip install -e ".[site]"``.
"""
from __future__ import annotations

import importlib.util
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from cslib import REPO
from cslib.site import leaks, pages, slides, toc

REPOSITORY = f"https://github.com/{REPO}"  # one setting: the Colab links and the repository button use it
BRANCH = "main"
TITLE = "Deep Learning for Computer Vision in PyTorch"
MARKER = ".cslib-site"  # written into every built site: only such a folder is ever replaced
HERE = Path(__file__).resolve().parent


class SiteError(RuntimeError):
    """The site cannot be built (bad input or a failed build); the message says why and what to do."""


def mathjax_dir() -> Path:
    """MathJax 3's files, as shipped by the sphinx-mathjax-offline package."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise SiteError("MathJax is missing: the site needs the `site` extra (pip install -e \".[site]\")")
    return Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"


def copy_mathjax(target: Path) -> None:
    """MathJax's TeX-to-HTML component with everything it may load later (fonts, TeX extensions, menu)."""
    source = mathjax_dir()
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "tex-chtml.js", target)
    for sub in source.iterdir():
        if sub.is_dir():
            shutil.copytree(sub, target / sub.name, dirs_exist_ok=True)


def _require_sphinx() -> None:
    missing = [name for name in ("sphinx", "myst_nb", "sphinx_book_theme", "sphinx_copybutton")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise SiteError(f"{', '.join(missing)} not installed: the site needs the `site` extra "
                        "(pip install -e \".[site]\")")


def stage(root: Path, src: Path, repository: str, branch: str) -> tuple[list[Path], list[Path], list[Path]]:
    """Write the Sphinx sources into ``src``: conf.py, static files, the home page and every page of the table
    of contents (``docs/_toc.yml``). Returns (lecture notebooks, labs, all pages), as paths under ``root``."""
    if not sorted((root / "notebooks").glob("[0-9]*.ipynb")):
        raise SiteError(f"no lecture notebooks in {root / 'notebooks'}: run this from the course repository, or pass --root")
    try:
        sections = toc.read_toc(root)
    except toc.TocError as e:
        raise SiteError(str(e)) from None
    every = [page for section in sections for page in section.pages]
    lectures = [root / p for p in every if p.parts[0] == "notebooks" and p.suffix == ".ipynb"]
    labs = [root / p for p in every if p.parts[0] == "labs" and p.suffix == ".ipynb"]
    shutil.copy2(HERE / "sphinx" / "conf.py", src / "conf.py")
    shutil.copytree(HERE / "sphinx" / "_static", src / "_static")
    (src / "course.json").write_text(json.dumps({"title": TITLE, "repository": repository, "branch": branch}), encoding="utf-8")

    read = {}
    for page in every:
        (src / page).parent.mkdir(parents=True, exist_ok=True)
        if page.suffix == ".md":  # a guide: as it is (its links to other pages work on GitHub and here)
            shutil.copy2(root / page, src / page)
            continue
        try:
            nb = nbformat.read(root / page, as_version=4)
        except Exception as e:  # noqa: BLE001 - any unreadable notebook: name it
            raise SiteError(f"{root / page}: not a readable notebook ({e})") from None
        read[root / page] = nb
        lecture = page.parts[0] == "notebooks"
        links = pages.links_html(pages.colab_url(repository, branch, page.as_posix()), page.name, pages.run_note(nb),
                                 slides=f"../slides/{page.stem}.html" if lecture else "")
        nbformat.write(pages.with_links(pages.static_notebook(nb), links), src / page)

    toctrees = "\n".join(f"```{{toctree}}\n:caption: {section.caption}\n:hidden:\n\n"
                         + "\n".join(p.with_suffix("").as_posix() for p in section.pages) + "\n```\n"
                         for section in sections)
    home = (HERE / "home.md").read_text(encoding="utf-8").format(
        course_table=pages.course_table([(p, read[p]) for p in lectures], [(p, read[p]) for p in labs]),
        repository=repository, repository_name=pages.github_owner_name(repository).split("/")[1], toctrees=toctrees)
    (src / "index.md").write_text(home, encoding="utf-8")
    return lectures, labs, [root / p for p in every]


def _check_target(out: Path) -> None:
    """Never overwrite a folder we did not make (a person's files): only an empty one or an earlier site."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise SiteError(f"{out} exists and is not a site built by `python -m cslib.site build` "
                        "(no .cslib-site file in it): choose another --out, or move it away first")


def build(out: str | Path = "_site", root: str | Path = ".", repository: str = REPOSITORY, branch: str = BRANCH,
          quiet: bool = False, verbose: bool = False, jobs: int = 1) -> dict:
    """Build the site into ``out`` (replacing an earlier build there); returns what was built.

    Everything is made in a temporary folder and moved into place only when the whole build
    succeeded, so a failed or interrupted build leaves the earlier site as it was. Prints one line
    per step (nothing when ``quiet``; Sphinx's own progress too when ``verbose``).
    """
    _require_sphinx()
    mathjax_dir()  # installed? (before any work)
    slides.reveal_dir()
    from sphinx.application import Sphinx
    from sphinx.util.console import nocolor

    say = (lambda *_: None) if quiet else (lambda message: print(message, flush=True))
    root, out = Path(root).resolve(), Path(out).resolve()
    pages.github_owner_name(repository)  # a clear error before any work
    _check_target(out)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cslib-site-") as work:
        work = Path(work)
        src, site = work / "src", work / "site"  # MyST-NB also writes into work/jupyter_execute
        src.mkdir()
        say(f"staging the notebooks of {root} (widgets made static, page links added)")
        lectures, labs, every = stage(root, src, repository, branch)
        say(f"running Sphinx on {len(lectures)} lectures, {len(labs)} labs, {len(every) - len(lectures) - len(labs)} "
            f"other pages and the home page")
        nocolor()
        warnings = io.StringIO()
        app = Sphinx(str(src), str(src), str(site), str(work / "doctrees"), "html",
                     status=sys.stdout if verbose else None, warning=warnings, freshenv=True, parallel=jobs)
        app.build()
        if app.statuscode:
            raise SiteError(f"Sphinx failed (status {app.statuscode}):\n{warnings.getvalue()[-3000:]}")
        say(f"making the slides of {len(lectures)} lectures")
        try:
            made = slides.write_slides(lectures, root, site, repository, branch)
        except slides.SlidesError as e:
            raise SiteError(str(e)) from None
        say("copying MathJax and the notebooks for download; looking for solution code")
        copy_mathjax(site / "_static" / "mathjax")
        for path in every:  # the notebooks as stored, for "Download notebook"
            if path.suffix == ".ipynb":
                shutil.copy2(path, site / path.relative_to(root))
        if (site / "_sources").is_dir() and not any((site / "_sources").iterdir()):
            (site / "_sources").rmdir()  # html_copy_source is off: Sphinx leaves it empty
        (site / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ and _images/ as they are
        (site / MARKER).write_text("built by python -m cslib.site build; the next build replaces this folder\n")
        secrets = leaks.secret_lines(root, lectures)
        found = leaks.find_leaks(site, secrets)
        if found:
            raise SiteError("solution code in the site (nothing was published):\n  " + "\n  ".join(found[:20]))
        _replace(out, site)
    return {"out": out, "pages": 1 + len(every), "slides": made, "seconds": time.perf_counter() - start,
            "warnings": [w for w in warnings.getvalue().splitlines() if "WARNING" in w or "ERROR" in w],
            "secret_lines": len(secrets)}


def _replace(out: Path, site: Path) -> None:
    """Move the finished ``site`` to ``out``; an earlier site there is removed only once the new one is in place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _check_target(out)  # again: someone may have written there during the build
    new, old = Path(tempfile.mkdtemp(prefix=f".{out.name}-new-", dir=out.parent)), None
    try:
        shutil.copytree(site, new, dirs_exist_ok=True)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
            out.rename(old / out.name)
        new.rename(out)
    finally:
        if old is not None and not out.exists() and (old / out.name).exists():
            (old / out.name).rename(out)  # interrupted between the two renames: the earlier site goes back
        for folder in (new, old):
            if folder is not None and folder.exists():
                shutil.rmtree(folder)
