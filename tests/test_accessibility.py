"""The website and its slides as axe-core measures them (WCAG 2.0 and 2.1, levels A and AA).

One build of the real site (tests/conftest.py) is served on loopback and opened in headless
Chromium; axe-core (the `axe-playwright-python` package, nothing downloaded) runs on every page and
on every slideshow, with all its slides on the page at once (reveal.js's print view). No serious or
critical violation is allowed. The pages are shared between two browsers in two threads, each with
its own Playwright, so that the check takes half the time where a core is free. Skipped, with the
reason, where Chromium or Playwright is missing.
"""
import threading

import pytest

from browser import chromium, missing_requirements
from test_site import serve

PAGE_MS = 60_000  # loading one page or slideshow, on a busy machine
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, "resultTypes": ["violations"]}


def violations(base: str, names: list[str], profile, found: list[str], errors: list[BaseException]) -> None:
    """Run axe on each page of ``names``; add every serious or critical violation to ``found``."""
    try:
        from axe_playwright_python.sync_playwright import Axe

        axe = Axe()
        with chromium(profile) as page:
            page.set_viewport_size({"width": 1280, "height": 720})
            for name in names:
                if name.startswith("slides/"):
                    page.goto(f"{base}/{name}?view=print", wait_until="load", timeout=PAGE_MS)
                    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=PAGE_MS)
                else:
                    page.goto(f"{base}/{name}", wait_until="load", timeout=PAGE_MS)
                for v in axe.run(page, options=WCAG).response["violations"]:
                    if v["impact"] in ("serious", "critical"):
                        found.append(f"{name}: {v['id']} ({v['impact']}, {len(v['nodes'])} elements, e.g. "
                                     f"{v['nodes'][0]['target']}): {v['help']}")
    except BaseException as error:  # noqa: BLE001 - reported by the test, in its own thread's words
        errors.append(error)


@pytest.mark.browser
def test_axe_finds_no_serious_violation_on_any_page_or_slideshow(built_site, tmp_path):
    """WCAG 2.1 AA as axe-core measures it. A slideshow is checked with all its slides on the page (print view)."""
    if missing_requirements():
        pytest.skip(missing_requirements())
    pages = sorted(p.relative_to(built_site).as_posix() for p in built_site.rglob("*.html") if "_static" not in p.parts)
    lectures = [p for p in pages if p.startswith("notebooks/")]
    assert len(lectures) >= 4 and len([p for p in pages if p.startswith("slides/")]) == len(lectures)
    found, errors = [], []
    with serve(built_site) as base:
        threads = [threading.Thread(target=violations, args=(base, pages[i::2], tmp_path / f"profile-{i}", found, errors))
                   for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    assert found == [], "\n".join(found)
