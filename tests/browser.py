"""Helpers for the end-to-end widget tests: JupyterLab on loopback, driven by headless Chromium.

The tests do what a student does: open a lecture notebook in JupyterLab, run its cells, move a
slider, and read what the widget shows. Chromium is Debian's (`apt-get install chromium`), driven
by Playwright's Python package with `executable_path`: nothing is downloaded at test time.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

# Flags for a machine with no network: no background requests, no first-run screens.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage"]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOW_TO_ENABLE = ("the widget tests need Chromium and Playwright's Python package: on Debian/Ubuntu "
                 "`sudo apt-get install chromium` and `pip install playwright` (no browser download needed), "
                 "or set CSLIB_CHROMIUM to a Chrome/Chromium executable")


def find_chromium() -> str | None:
    """The Chromium to use: $CSLIB_CHROMIUM, else the first of chromium, chromium-browser, google-chrome on PATH."""
    if os.environ.get("CSLIB_CHROMIUM"):
        return os.environ["CSLIB_CHROMIUM"]
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed; " + HOW_TO_ENABLE
    if find_chromium() is None:
        return "Chromium was not found; " + HOW_TO_ENABLE
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab(root: Path, log: Path, timeout: float = 60):
    """Run JupyterLab on a random loopback port with a token, serving ``root``; yields its base URL and token.

    Always shuts the server (and its kernels) down, also when the test fails.
    """
    port, token = free_port(), secrets.token_hex(16)
    config, settings = root.parent / "jupyter-config", root.parent / "jupyterlab-settings"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    # no "get Jupyter news?" pop-up over the screenshots
    (config / "labconfig" / "page_config.json").write_text('{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}')
    # render every cell (JupyterLab 4 leaves cells that are off screen out of the page by default)
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTER_RUNTIME_DIR": str(root.parent / "jupyter-runtime")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    with open(log, "w") as log_file:
        server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        start = time.monotonic()
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - start > timeout:
                    raise RuntimeError(f"JupyterLab did not start; its log:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", token
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # JupyterLab shuts its kernels down on SIGTERM
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@contextmanager
def chromium(user_data_dir: Path):
    """A headless Chromium page (1400x1000) with a fresh profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=find_chromium(), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def open_notebook(page, base_url: str, token: str, name: str, timeout_ms: int = 60_000) -> None:
    """Open ``name`` in JupyterLab, alone (``reset``: the notebooks of earlier tests are not reopened, nor any
    dialog of theirs), and wait until its kernel is idle."""
    page.goto(f"{base_url}/lab/tree/{name}?reset&token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def wait_idle(page, timeout_ms: int) -> None:
    """Wait for the kernel of the open notebook to be idle (the status bar says so)."""
    page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=timeout_ms)


def run_menu(page, item: str) -> None:
    """Choose ``item`` in JupyterLab's Run menu, as a student would (returns at once; see wait_ran). A dialog in the
    way fails at once, with its text."""
    dialog = page.locator(".jp-Dialog")
    assert dialog.count() == 0, f"a JupyterLab dialog is open: {dialog.first.inner_text()!r}"
    page.get_by_role("menuitem", name="Run", exact=True).click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$"))
    page.locator(".lm-Menu-content .lm-Menu-item", has=label).first.click()  # (a shortcut, if any, is not in the label)


# True when the cell has run: its prompt shows an execution count, and no cell waits or runs ("[*]").
CELL_RAN = """(cell) => {
    const prompt = cell.querySelector('.jp-InputPrompt');
    const busy = [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.innerText.includes('*'));
    return !busy && prompt && /\\[\\d+\\]/.test(prompt.innerText);
}"""


def run_through(page, code: str, timeout_ms: int) -> None:
    """Run every cell up to and including the first code cell containing ``code``, and wait until it has run.

    Waits on what the page shows (the cell's execution count, no cell still queued), not on the
    status bar, which a busy machine may not update before the wait starts. The notebook must be
    opened with clear prompts (never executed), so a count can only come from this run.
    """
    cell = page.locator(".jp-CodeCell", has=page.locator(".jp-InputArea-editor", has_text=code)).first
    cell.locator(".jp-InputPrompt").click()  # select the cell without entering its editor
    run_menu(page, "Run All Above Selected Cell")
    run_menu(page, "Run Selected Cell")  # queued behind the cells above
    page.wait_for_function(CELL_RAN, arg=cell.element_handle(), timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def press_slider(page, description: str, key: str, times: int = 1, scope=None) -> None:
    """Move the slider labelled ``description`` with the keyboard (ArrowRight/ArrowLeft), as a student can."""
    scope = scope or page
    slider = scope.locator(".widget-slider", has=page.locator("label", has_text=description)).first
    handle = slider.locator(".noUi-handle, .ui-slider-handle").first
    handle.focus()
    for _ in range(times):
        page.keyboard.press(key)
