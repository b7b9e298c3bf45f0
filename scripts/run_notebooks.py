"""Execute notebooks and store them with their outputs (lecture notebooks and lab solutions).

    CSLIB_DATA=/path/to/data python scripts/run_notebooks.py notebooks/02_*.ipynb solutions/lab02_*.ipynb

Runs in full mode unless CSLIB_FAST=1 is set, records in each notebook's metadata when, where
and in which mode it ran, writes a lecture's slide types for RISE (cslib.site.slides.write_live_metadata), and
rebuilds labs/ afterwards when a solution was executed.

Progress bars (tqdm.auto in Jupyter) are widgets: the text/plain stored with each one is the text of
the bar when it was first displayed ("0%| 0/160"), which is what GitHub, nbviewer and an untrusted
notebook show; the finished bar lives only in the notebook's saved widget state. After executing,
this script rewrites each bar's text/plain from that state ("100%|██████████| 160/160 [01:03<00:00, ...]").
For notebooks executed before, only that step, which changes nothing else:

    python scripts/run_notebooks.py --only-finish-bars notebooks/*.ipynb solutions/*.ipynb
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cslib.site.pages import progress_bar_text  # noqa: E402  (also used by the website for the same bars)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def finish_bars(nb: dict) -> list[str]:
    """Rewrite the text/plain of every stored tqdm.notebook bar of ``nb`` (a notebook as a dict) from the saved
    widget state, in place; return one line per changed bar ("cell 25: '...0%...' -> '...100%...'")."""
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    changes = []
    for index, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = out.get("data", {})
            view = data.get(WIDGET_VIEW)
            if not isinstance(view, dict) or "text/plain" not in data:
                continue
            new = progress_bar_text(state, view.get("model_id"))
            stored = data["text/plain"]
            old = "".join(stored) if isinstance(stored, list) else stored
            if new is not None and new != old:
                data["text/plain"] = new.splitlines(keepends=True) if isinstance(stored, list) else new  # nbformat's layout
                changes.append(f"cell {index}: {old!r} -> {new!r}")
    return changes


def finish_bars_in_file(path: Path) -> list[str]:
    """:func:`finish_bars` on a stored notebook; writes it back (in nbformat's layout) only if a bar changed."""
    raw = path.read_text(encoding="utf-8")
    nb = json.loads(raw)
    changes = finish_bars(nb)
    if changes:
        path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changes


def run(path: Path, timeout: int) -> None:
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    import torch

    nb.metadata["cslib"] = {
        **nb.metadata.get("cslib", {}),
        "executed": {
            "date": dt.date.today().isoformat(),
            "mode": "fast" if os.environ.get("CSLIB_FAST", "") not in ("", "0") else "full",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores" + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"),
            "torch": torch.__version__,
            "minutes": round((time.time() - start) / 60, 1),
        },
    }
    changes = finish_bars(nb)
    nbformat.write(nb, path)
    print(f"{path.relative_to(ROOT)}: executed in {time.time() - start:.0f} s"
          + (f"; {len(changes)} progress bar(s) stored finished" if changes else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--only-finish-bars", action="store_true",
                        help="execute nothing: only rewrite the stored text of each finished progress bar from the "
                             "notebook's saved widget state, and say what changed")
    args = parser.parse_args()
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if args.only_finish_bars:
        for path in args.notebooks:
            changes = finish_bars_in_file(path)
            print(f"{path}: " + (f"{len(changes)} progress bar(s) rewritten" if changes else "no progress bar to rewrite"))
            for line in changes:
                print(f"  {line}")
        return 0
    for path in args.notebooks:
        run(path.resolve(), args.timeout)
    lectures = [p.resolve() for p in args.notebooks if p.resolve().parent.name == "notebooks"]
    if lectures:  # the slide types RISE presents them with, as the slides compute them (after the run: it is stored)
        sys.path.insert(0, str(ROOT))
        from cslib.site.slides import SlidesError, write_live_metadata

        for path in lectures:
            try:
                if write_live_metadata(path):
                    print(f"{path.relative_to(ROOT)}: slide types written for RISE")
            except SlidesError as e:  # the run is stored already; say what to fix, and go on
                print(f"{path.relative_to(ROOT)}: no slide types written for RISE: {e}", file=sys.stderr)
    if any(p.resolve().parent.name == "solutions" for p in args.notebooks):
        sys.path.insert(0, str(ROOT))
        from cslib.labs import build_all

        build_all(ROOT)  # it says what it writes
    return 0


if __name__ == "__main__":
    sys.exit(main())
