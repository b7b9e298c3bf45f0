"""Execute notebooks and store them with their outputs (lecture notebooks and lab solutions).

    CSLIB_DATA=/path/to/data python scripts/run_notebooks.py notebooks/02_*.ipynb solutions/lab02_*.ipynb

Runs in full mode unless CSLIB_FAST=1 is set, records in each notebook's metadata when, where
and in which mode it ran, and rebuilds labs/ afterwards when a solution was executed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


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
    nbformat.write(nb, path)
    print(f"{path.relative_to(ROOT)}: executed in {time.time() - start:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args()
    for path in args.notebooks:
        run(path.resolve(), args.timeout)
    if any(p.resolve().parent.name == "solutions" for p in args.notebooks):
        sys.path.insert(0, str(ROOT))
        from cslib.labs import build_all

        for p in build_all(ROOT):
            print(f"rebuilt {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
