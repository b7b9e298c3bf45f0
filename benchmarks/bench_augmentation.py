"""Benchmark: what data augmentation costs per epoch, and what the augmented CNN scores (lecture 3).

    python benchmarks/bench_augmentation.py                 # seconds per epoch: plain, batched, per-item
    python benchmarks/bench_augmentation.py --accuracy      # also train the augmented CNN (minutes on a CPU)
    python benchmarks/bench_augmentation.py --device cpu --chunk 5000 --repeats 9

On one machine and in one run it measures, for the same model (lecture 2's CNN) and batch size (32):

- a plain epoch with ``cslib.fit`` (the data set on the device, batches sliced from it);
- an epoch with batched augmentation: ``cslib.fit(augment=cslib.augment.RandomShift(5))``,
  a different random shift for every image, on the device;
- the slides' way: a ``Dataset`` whose ``__getitem__`` shifts each image with torchvision's
  ``RandomAffine``, read through a ``DataLoader`` (timed on a subset, scaled to a full epoch);

and prints seconds per epoch, the ratios to the plain epoch, and what augmentation adds to each loop (the
slides' loop is also timed without any transform, so that the loop's own cost and the augmentation's
are told apart: lecture 3 draws the same bars). Plain and augmented epochs are timed
alternately on slices of the training set and scaled to a full epoch, so that a shared machine whose
load drifts compares them fairly; on a busy CPU set OMP_NUM_THREADS=1. Targets (reported, not asserted):
batched augmentation costs at most 1.2x a plain epoch (the slides' per-item way: 6.8x), and, with
``--accuracy``, the augmented CNN keeps >= 91 % clean test accuracy and >= 85 % on the test set
shifted by 5 pixels either way. The script exits non-zero only on real errors.

The functions are importable (``from benchmarks.bench_augmentation import epoch_seconds``) for the
course-wide benchmark. Uses the full Fashion-MNIST when ``CSLIB_DATA`` points at it, else whatever
``cslib.data.load`` finds (``CSLIB_FAST=1``: the bundled 2,000-image sample).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_cli.py

from _cli import at_least  # noqa: E402
import cslib  # noqa: E402
from cslib import augment as aug  # noqa: E402
from cslib.data import load, prepare  # noqa: E402
from cslib.shifts import shift_accuracy  # noqa: E402

MAX_SHIFT = 5
TARGETS = {"overhead": 1.2, "clean": 0.91, "shifted": 0.85}
SLIDES = {"plain_s": 53 / 5, "per_item_s": 6 * 60 / 5, "per_item_ratio": 6 * 60 / 53}


# --------------------------------------------------------------------------- machine and data
def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict[str, str]:
    """What the numbers were measured on."""
    info = {
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "python": platform.python_version(),
    }
    return info


def load_fashion_mnist(n_train: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train uint8 images, x_train floats (N, 1, 28, 28), y_train, x_test, y_test), the first ``n_train`` training images."""
    train, test = load("fashion-mnist", train=True, verbose=False), load("fashion-mnist", train=False, verbose=False)
    images, labels = train.data[:n_train], train.targets[:n_train]
    return images, prepare(images), labels, prepare(test.data), test.targets


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


# --------------------------------------------------------------------------- timings
def epoch_seconds(make_model: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor, *,
                  augment: Callable | None = None, batch_size: int = 32, device: torch.device | str = "cpu",
                  epochs: int = 1) -> list[float]:
    """Seconds of each training epoch of ``cslib.fit`` (after a short warm-up), with or without ``augment``."""
    device = torch.device(device)
    model = make_model().to(device)
    warm = min(len(x), 20 * batch_size)
    finished(cslib.fit(model, (x[:warm], y[:warm]), epochs=1, batch_size=batch_size, augment=augment, device=device, progress=False))
    _sync(device)
    history = finished(cslib.fit(model, (x, y), epochs=epochs, batch_size=batch_size, augment=augment, device=device, progress=False))
    return history.seconds


def finished(history: cslib.train.History) -> cslib.train.History:
    """``history``, unless Ctrl-C cut its fit short: then stop the benchmark (a partial epoch is no measurement)."""
    if history.interrupted:
        raise KeyboardInterrupt
    return history


class PerItemShiftDataset(torch.utils.data.Dataset):
    """The slides' way: each image is shifted on its own in ``__getitem__`` (torchvision's RandomAffine).

    (Unlike the slides, it does not move each image to the GPU: the loop moves whole batches.)
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, max_shift: int | None = MAX_SHIFT):
        from torchvision.transforms import v2

        self.x, self.y = images.view(-1, 1, 28, 28).float() / 255, labels
        self.transform = None if max_shift is None else v2.RandomAffine(degrees=0, translate=(max_shift / 28, 0))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, ix):
        x = self.x[ix]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.y[ix]


def per_item_epoch_seconds(make_model: Callable[[], nn.Module], images: torch.Tensor, labels: torch.Tensor, *,
                           n_full: int | None = None, max_shift: int | None = MAX_SHIFT, batch_size: int = 32,
                           device: torch.device | str = "cpu") -> float:
    """Seconds for one epoch of the slides' loop over ``images`` (a subset), scaled to ``n_full`` images.

    ``max_shift=None`` times the same ``DataLoader`` loop without any transform.
    """
    device = torch.device(device)
    model = make_model().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(PerItemShiftDataset(images, labels, max_shift), batch_size=batch_size, shuffle=True)
    for i, (xb, yb) in enumerate(loader):  # warm-up: a few batches
        cslib.train_batch(xb.to(device), yb.to(device), model, opt, loss_fn)
        if i == 10:
            break
    _sync(device)
    start = time.perf_counter()
    for xb, yb in loader:
        cslib.train_batch(xb.to(device), yb.to(device), model, opt, loss_fn)  # .item() inside waits for the device
    seconds = time.perf_counter() - start
    return seconds * (n_full or len(images)) / len(images)


def measure_overhead(device: torch.device | str = "cpu", *, n_train: int | None = None, chunk: int = 10_000,
                     repeats: int = 5, per_item_n: int = 5000, make_model: Callable[[], nn.Module] | None = None,
                     log: Callable[[str], None] = print) -> dict:
    """Seconds per epoch (scaled to the whole training set): plain, batched augmentation, and the per-item way.

    Plain and augmented epochs are timed on slices of ``chunk`` images, alternating (plain first, then
    augmented first, ...) ``repeats`` times each, and the medians are scaled to a full epoch: on a shared
    machine whose load drifts, short alternating runs compare the two fairly where two long epochs would
    not. The process's CPU time is recorded too (on a CPU it hardly depends on other jobs).
    """
    device = torch.device(device)
    make_model = make_model or cslib.models.cnn
    images, x, y, _, _ = load_fashion_mnist(n_train)
    n_full, chunk = len(x), min(chunk, len(x))
    augment = aug.RandomShift(MAX_SHIFT)
    runs = {"plain": ([], []), "batched": ([], [])}  # (wall seconds, CPU seconds) per timed epoch
    for r in range(repeats):
        start = (r * chunk) % max(n_full - chunk + 1, 1)
        xs, ys = x[start:start + chunk], y[start:start + chunk]
        order = ("plain", "batched") if r % 2 == 0 else ("batched", "plain")
        for kind in order:
            cslib.set_seed(r)
            cpu = time.process_time()
            wall = epoch_seconds(make_model, xs, ys, augment=augment if kind == "batched" else None, device=device)[0]
            runs[kind][0].append(wall)
            runs[kind][1].append(time.process_time() - cpu)
        log(f"  repeat {r + 1}/{repeats} on {chunk:,} images: plain {runs['plain'][0][-1]:.2f} s, "
            f"batched augmentation {runs['batched'][0][-1]:.2f} s")
    scale = n_full / chunk
    result = {"n_train": n_full, "chunk": chunk, "repeats": repeats,
              "plain_s": statistics.median(runs["plain"][0]) * scale,
              "batched_s": statistics.median(runs["batched"][0]) * scale,
              "cpu_ratio": statistics.median(runs["batched"][1]) / statistics.median(runs["plain"][1]),
              "plain_all": runs["plain"][0], "batched_all": runs["batched"][0]}
    if per_item_n:
        n = min(per_item_n, len(images))
        cslib.set_seed(0)
        result["per_item_s"] = per_item_epoch_seconds(make_model, images[:n], y[:n], n_full=n_full, device=device)
        log(f"  per-item (slides') epoch, timed on {n:,} images: {result['per_item_s']:.2f} s per {n_full:,}")
        result["loader_only_s"] = per_item_epoch_seconds(make_model, images[:n], y[:n], n_full=n_full, max_shift=None, device=device)
        log(f"  same DataLoader loop without augmentation: {result['loader_only_s']:.2f} s per {n_full:,}")
        result["per_item_n"] = n
    return result


# --------------------------------------------------------------------------- accuracy targets
def train_augmented(make_model: Callable[[], nn.Module] | None = None, *, epochs: int = 5, device: torch.device | str = "cpu",
                    max_shift: int = MAX_SHIFT, lr: float = 1e-3, cosine: bool = True, seed: int = 0,
                    n_train: int | None = None, progress: bool = False) -> tuple[nn.Module, dict]:
    """Train a CNN with batched random shifts (the lecture's recipe) and measure clean and shifted test accuracy."""
    make_model = make_model or cslib.models.cnn_deep
    _, x, y, x_test, y_test = load_fashion_mnist(n_train)
    cslib.set_seed(seed)
    model = make_model()
    scheduler = (lambda opt, steps: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)) if cosine else None
    history = finished(cslib.fit(model, (x, y), (x_test, y_test), epochs=epochs, lr=lr, augment=aug.RandomShift(max_shift),
                                 scheduler=scheduler, device=device, progress=progress))
    shifts = list(range(-max_shift, max_shift + 1))
    by_shift = shift_accuracy(model, x_test, y_test, shifts)
    return model, {"clean": by_shift[shifts.index(0)], "by_shift": dict(zip(shifts, by_shift)),
                   "worst_shifted": min(by_shift), "at_5": min(by_shift[0], by_shift[-1]),
                   "epoch_s": statistics.median(history.seconds), "history": history}


# --------------------------------------------------------------------------- report
def report_overhead(info: dict[str, str], r: dict) -> str:
    ratio = r["batched_s"] / r["plain_s"]
    lines = ["", "Machine: " + " | ".join(f"{k} {v}" for k, v in info.items()),
             f"Seconds per {r['n_train']:,}-image epoch of lecture 2's CNN, batch 32 (medians of {r['repeats']} "
             f"alternating epochs on {r['chunk']:,} images each, scaled)",
             f"{'':44s} {'s/epoch':>8s} {'x plain':>8s}   slides (GPU)",
             f"{'plain epoch (cslib.fit)':44s} {r['plain_s']:8.2f} {1:8.2f}   {SLIDES['plain_s']:6.1f} s",
             f"{'batched random shifts (cslib.augment)':44s} {r['batched_s']:8.2f} {ratio:8.2f}x"]
    if "per_item_s" in r:
        lines.append(f"{'per-item shifts in __getitem__ (slides)':44s} {r['per_item_s']:8.2f} {r['per_item_s'] / r['plain_s']:8.2f}x"
                     f"  {SLIDES['per_item_s']:6.1f} s ({SLIDES['per_item_ratio']:.1f}x)")
        lines.append(f"{'  the same DataLoader loop, no augmentation':44s} {r['loader_only_s']:8.2f} {r['loader_only_s'] / r['plain_s']:8.2f}x")
        lines.append(f"  (per-item rows timed on {r['per_item_n']:,} images and scaled to {r['n_train']:,})")
        added = r["per_item_s"] - r["loader_only_s"]
        lines.append(f"what augmentation adds: to the slides' loop {added:+.2f} s per epoch ({added / r['loader_only_s']:+.0%} "
                     f"of that loop without it); batched, to cslib.fit {r['batched_s'] - r['plain_s']:+.2f} s "
                     f"({ratio - 1:+.0%})")
    verdict = "met" if ratio <= TARGETS["overhead"] else "NOT met"
    lines.append(f"augmentation overhead ratio: {ratio:.2f}x (target <= {TARGETS['overhead']}x: {verdict}); "
                 f"process CPU time ratio {r['cpu_ratio']:.2f}x")
    return "\n".join(lines)


def report_accuracy(name: str, r: dict) -> str:
    shifts = " ".join(f"{s:+d}:{a:.3f}" for s, a in r["by_shift"].items())
    clean_ok = "met" if r["clean"] >= TARGETS["clean"] else "NOT met"
    shift_ok = "met" if r["at_5"] >= TARGETS["shifted"] else "NOT met"
    return (f"{name}: clean test accuracy {r['clean']:.4f} (target >= {TARGETS['clean']}: {clean_ok}); "
            f"shifted by ±5 px: {r['at_5']:.4f} (target >= {TARGETS['shifted']}: {shift_ok}); "
            f"worst over -5..5: {r['worst_shifted']:.4f}; {r['epoch_s']:.1f} s/epoch\n  by shift: {shifts}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: cslib's choice)")
    parser.add_argument("--n-train", type=at_least(2), default=None, help="use the first N training images (default: all)")
    parser.add_argument("--chunk", type=at_least(1), default=10_000, help="images per timed epoch (results are scaled to N)")
    parser.add_argument("--repeats", type=at_least(1), default=5, help="alternating epochs timed per variant (median reported)")
    parser.add_argument("--per-item-n", type=at_least(0), default=5000, help="images for the per-item timing (0: skip it)")
    parser.add_argument("--accuracy", action="store_true", help="also train the augmented CNN and check the accuracy targets")
    parser.add_argument("--epochs", type=at_least(1), default=5, help="epochs for --accuracy")
    args = parser.parse_args(argv)
    try:
        device = cslib.get_device(args.device)
    except (RuntimeError, ValueError) as e:
        parser.error(f"--device {args.device}: {e}")
    info = machine_info(device)
    print("Machine:", info)
    print("Timing epochs ...")
    overhead = measure_overhead(device, n_train=args.n_train, chunk=args.chunk, repeats=args.repeats, per_item_n=args.per_item_n)
    print(report_overhead(info, overhead))
    if args.accuracy:
        print(f"\nTraining cslib.models.cnn_deep with random shifts up to {MAX_SHIFT} px ({args.epochs} epochs, one-cycle lr) ...")
        _, result = train_augmented(epochs=args.epochs, device=device)
        print(report_accuracy("augmented deep CNN", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
