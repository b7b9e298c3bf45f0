"""Benchmark: the decks' training loop, as written, against cslib.fit, in one process on the same data.

    python benchmarks/bench_training.py                       # everything, on the default device
    python benchmarks/bench_training.py --device cuda --sections compare recipe
    python benchmarks/bench_training.py --quick               # a smoke run on the bundled samples
    python benchmarks/bench_training.py --json results.json   # also save the numbers (after every section)

Sections:
  compare  the decks' loop vs cslib.fit: the MLP and the CNN of lecture 2, plain and augmented
           (random horizontal shifts of up to 5 px, as in lecture 3)
  recipe   cslib.recipe's fast recipe: seconds to reach the decks' 91.2 % CNN test accuracy
  scaling  seconds per epoch of cslib.fit against training-set size and batch size

The decks' loop (lecture 2's slides): a Dataset whose __getitem__ moves each image to the device,
DataLoader(batch_size=32, shuffle=True), Adam(lr=1e-3), a second pass over the training set each
epoch for the training accuracy, and the test accuracy as the mean of per-batch accuracies.
The speed targets are printed with each table, not asserted: this is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cslib  # noqa: E402
from cslib import models, recipe  # noqa: E402
from cslib.data import load, prepare  # noqa: E402

DECK_CNN_ACCURACY = 0.912  # lecture 2's slides: "Test accuracy: 0.9122403860092163"
MAX_SHIFT = 5  # lecture 3: shifts of up to 5 px


# --------------------------------------------------------------------------- the decks' code
class FMNISTDataset(Dataset):
    """The slides' dataset, including the per-image move to the device in __getitem__."""

    def __init__(self, x, y, device, flatten, transform=None):
        x = x.float() / 255
        x = x.view(-1, 28 * 28) if flatten and transform is None else x.view(-1, 1, 28, 28)
        self.x, self.y, self.device, self.transform, self.flatten = x, y, device, transform, flatten

    def __getitem__(self, ix):
        x = self.x[ix]
        if self.transform is not None:  # lecture 3: a random transform of each image, here
            x = self.transform(x)
            x = x.view(-1) if self.flatten else x
        return x.to(self.device), self.y[ix].to(self.device)

    def __len__(self):
        return len(self.x)


def train_batch(x, y, model, opt, loss_fn):
    model.train()
    opt.zero_grad()
    batch_loss = loss_fn(model(x), y)
    batch_loss.backward()
    opt.step()
    return batch_loss.detach().cpu().numpy()


@torch.no_grad()
def accuracy(x, y, model):
    model.eval()
    prediction = model(x)
    argmaxes = prediction.argmax(dim=1)
    s = torch.sum((argmaxes == y).float()) / len(y)
    return s.cpu().numpy()


def decks_loop(model, train_ds, test_ds, epochs, device):
    """Train as the slides do; returns (seconds of training, test accuracy)."""
    model.to(device)
    train_dl = DataLoader(train_ds, batch_size=32, shuffle=True)
    test_dl = DataLoader(test_ds, batch_size=32, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        epoch_losses = [train_batch(x, y, model, opt, loss_fn) for x, y in train_dl]
        epoch_accuracies = [accuracy(x, y, model) for x, y in train_dl]  # the second pass
        np.mean(epoch_losses), np.mean(epoch_accuracies)
    seconds = time.perf_counter() - start
    test_acc = float(np.mean([accuracy(x, y, model) for x, y in test_dl]))
    return seconds, test_acc


def flat(transform):
    """Apply an image transform to flat MLP batches (N, 784)."""
    return lambda xb: transform(xb.view(-1, 1, 28, 28)).view(len(xb), -1)


def deck_shift(max_shift: int):
    """The slides' augmentation: torchvision's RandomAffine on one image at a time (horizontal shift)."""
    from torchvision import transforms

    return transforms.RandomAffine(degrees=0, translate=(max_shift / 28, 0))


# --------------------------------------------------------------------------- measuring
def finished(history: cslib.train.History) -> cslib.train.History:
    """``history``, unless Ctrl-C cut its fit short: then stop the benchmark (a partial epoch is no measurement)."""
    if history.interrupted:
        raise KeyboardInterrupt
    return history


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class PeakMemory:
    """Peak memory of a block: CUDA's allocator peak on GPUs, the process's peak RSS (VmHWM) on CPUs."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            try:  # Linux: writing 5 resets the peak resident set size of this process
                Path("/proc/self/clear_refs").write_text("5")
            except OSError:
                pass
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            self.mb = float("nan")
            try:
                for line in Path("/proc/self/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.mb = int(line.split()[1]) / 1024
            except OSError:
                pass


def machine(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "device": device.type}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def row(name, model_name, seconds, epochs, n_train, test_acc, peak_mb):
    return {"loop": name, "model": model_name, "seconds": seconds, "seconds_per_epoch": seconds / epochs,
            "images_per_s": n_train * epochs / seconds, "test_acc": test_acc, "peak_mb": peak_mb}


def print_table(rows, columns):
    widths = [max(len(c), *(len(f(r)) for r in rows)) for c, f in columns]
    print("| " + " | ".join(c.ljust(w) for (c, _), w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(f(r).ljust(w) for (_, f), w in zip(columns, widths)) + " |")


def verdict(ok: bool) -> str:
    return "✓ met" if ok else "✗ missed"


# --------------------------------------------------------------------------- sections
def compare(data, device, epochs, augmented: bool, repeats: int) -> list[dict]:
    """Both loops on each model, ``repeats`` times (seeds 0, 1, ...); rows hold the means.

    Both timings cover training only (the decks' second pass over the training set is part of
    their training); the test accuracy is measured afterwards, outside the timed part.
    """
    (x_tr, y_tr), (x_te, y_te) = data
    n = len(x_tr)
    rows = []
    for model_name, make, flatten in (("MLP", models.mlp, True), ("CNN", models.cnn, False)):
        variants = [("plain", None, None)]
        if augmented:
            from cslib.augment import RandomShift

            # a different random shift for each image, on the device, filling with zeros as RandomAffine does
            batched = RandomShift(MAX_SHIFT, mode="zeros")
            variants.append(("augmented", deck_shift(MAX_SHIFT), flat(batched) if flatten else batched))
        for variant, per_item, batched in variants:
            label = f"{model_name} {variant}"
            deck_runs, fit_runs = [], []
            for seed in range(repeats):
                cslib.set_seed(seed)
                train_ds = FMNISTDataset(x_tr, y_tr, device, flatten, transform=per_item)
                test_ds = FMNISTDataset(x_te, y_te, device, flatten)
                with PeakMemory(device) as mem:
                    seconds, acc = decks_loop(make(), train_ds, test_ds, epochs, device)
                deck_runs.append((seconds, acc, mem.mb))
                print(f"  decks' loop {label} (seed {seed}): {seconds:.1f} s, test accuracy {acc:.4f}", flush=True)

                cslib.set_seed(seed)
                model = make()
                x, xt = prepare(x_tr, flatten=flatten), prepare(x_te, flatten=flatten)
                with PeakMemory(device) as mem:
                    synchronize(device)
                    start = time.perf_counter()
                    finished(cslib.fit(model, (x, y_tr), epochs=epochs, batch_size=32, lr=1e-3, augment=batched, device=device, progress=False))
                    synchronize(device)
                    seconds = time.perf_counter() - start
                acc = cslib.evaluate(model, xt, y_te, device=device)[1]
                fit_runs.append((seconds, acc, mem.mb))
                print(f"  cslib.fit   {label} (seed {seed}): {seconds:.1f} s, test accuracy {acc:.4f}", flush=True)
            for loop, runs in (("decks' loop", deck_runs), ("cslib.fit", fit_runs)):
                seconds, acc, mb = (float(np.mean(v)) for v in zip(*runs))
                rows.append(row(loop, label, seconds, epochs, n, acc, mb))
                rows[-1]["runs"] = [{"seed": i, "seconds": s, "test_acc": a} for i, (s, a, _) in enumerate(runs)]
    return rows


def report_compare(rows, device):
    print_table(rows, [("model", lambda r: r["model"]), ("loop", lambda r: r["loop"]),
                       ("s/epoch", lambda r: f"{r['seconds_per_epoch']:.2f}"), ("images/s", lambda r: f"{r['images_per_s']:,.0f}"),
                       ("test acc", lambda r: f"{r['test_acc']:.4f}"), ("peak MB", lambda r: f"{r['peak_mb']:,.0f}")])
    target = 10 if device.type == "cuda" else 2
    by = {(r["model"], r["loop"]): r for r in rows}
    print(f"\nTargets ({device.type}): cslib.fit >= {target}x faster than the decks' loop, test accuracy within 0.5 pt;"
          " an augmented epoch <= 1.2x a plain one.")
    ratios = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        deck, fit = by[(model, "decks' loop")], by[(model, "cslib.fit")]
        speedup = deck["seconds"] / fit["seconds"]
        gap = abs(deck["test_acc"] - fit["test_acc"]) * 100
        ratios[model] = speedup
        print(f"  {model:14s} speed-up {speedup:5.1f}x {verdict(speedup >= target)} | accuracy gap {gap:.2f} pt {verdict(gap <= 0.5)}")
    for name in ("MLP", "CNN"):
        plain, aug = by.get((f"{name} plain", "cslib.fit")), by.get((f"{name} augmented", "cslib.fit"))
        if plain and aug:
            ratio = aug["seconds"] / plain["seconds"]
            deck_ratio = by[(f"{name} augmented", "decks' loop")]["seconds"] / by[(f"{name} plain", "decks' loop")]["seconds"]
            print(f"  {name} augmented / plain epoch: cslib.fit {ratio:.2f}x {verdict(ratio <= 1.2)} (decks' loop {deck_ratio:.2f}x)")
    return ratios


def scaling(data, device, sizes, batch_sizes, repeats: int = 1) -> list[dict]:
    """Seconds per epoch of cslib.fit for each model, batch size and training-set size: the median of ``repeats`` epochs."""
    (x_tr, y_tr), _ = data
    rows = []
    for name, make, flatten in (("MLP", models.mlp, True), ("CNN", models.cnn, False)):
        x = prepare(x_tr, flatten=flatten)
        for bs in batch_sizes:
            for n in sizes:
                n = min(n, len(x))
                times = []
                for seed in range(repeats):
                    cslib.set_seed(seed)
                    times.append(finished(cslib.fit(make(), (x[:n], y_tr[:n]), epochs=1, batch_size=bs, device=device, progress=False)).seconds[0])
                seconds = float(np.median(times))
                rows.append({"model": name, "batch_size": bs, "n_train": n, "seconds_per_epoch": seconds, "all_seconds": times})
                print(f"  {name} batch {bs:4d} n {n:6,d}: {seconds:.2f} s", flush=True)
    return rows


def report_scaling(rows):
    for name in dict.fromkeys(r["model"] for r in rows):
        sizes = sorted({r["n_train"] for r in rows if r["model"] == name})
        print(f"\n{name} (cslib.fit), seconds per epoch:")
        table = []
        for bs in sorted({r["batch_size"] for r in rows if r["model"] == name}):
            cells = {r["n_train"]: r["seconds_per_epoch"] for r in rows if r["model"] == name and r["batch_size"] == bs}
            table.append({"bs": bs, **cells})
        print_table(table, [("batch size", lambda r: str(r["bs"]))] + [(f"{n:,} images", (lambda n: lambda r: f"{r[n]:.2f}")(n)) for n in sizes])


def fast_recipe(data, device, max_epochs) -> dict:
    (x_tr, y_tr), (x_te, y_te) = data
    x, xt = prepare(x_tr), prepare(x_te)
    cslib.set_seed(0)
    model = recipe.fast_cnn()
    synchronize(device)
    start = time.perf_counter()
    h = finished(recipe.fast_fit(model, (x, y_tr), (xt, y_te), epochs=max_epochs, stop_at=DECK_CNN_ACCURACY, device=device, progress=False))
    synchronize(device)
    seconds = time.perf_counter() - start
    reached = h.test_acc[-1] >= DECK_CNN_ACCURACY
    print(f"  fast recipe: {len(h)} epochs, {seconds:.1f} s (test evaluations included), test accuracy {h.test_acc[-1]:.4f}", flush=True)
    return {"epochs": len(h), "seconds": seconds, "test_acc": h.test_acc[-1], "reached": reached, "history": h.as_dict()}


# --------------------------------------------------------------------------- main
FULL = {"epochs": 5, "sizes": [7500, 15000, 30000, 60000], "batch_sizes": [32, 128, 512], "recipe_epochs": 3}
QUICK = {"epochs": 1, "sizes": [500, 1000], "batch_sizes": [32, 128], "recipe_epochs": 1}


def at_least(minimum: int):
    """An argparse type: a whole number >= ``minimum`` (so that -5 or 0 fail before anything runs)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def check_output(parser: argparse.ArgumentParser, path: Path | None) -> None:
    """Fail now, not after an hour of measuring, when the results could not be saved to ``path``."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        parser.error(f"--json {path}: that is a folder; give a file name, e.g. {path / 'bench.json'}")
    if not folder.is_dir():
        parser.error(f"--json {path}: the folder {folder} does not exist (create it first: mkdir -p {folder})")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        parser.error(f"--json {path}: cannot write there (permission denied); choose another file")


def save(results: dict, path: Path | None) -> None:
    """Write ``results`` to ``path`` (after every section, so that a crash or Ctrl-C later loses nothing)."""
    if path is None:
        return
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(results, indent=1))
    partial.replace(path)  # a reader never sees a half-written file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=["compare", "recipe", "scaling"], choices=["compare", "recipe", "scaling"])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--epochs", type=at_least(1), default=None, help=f"epochs for the comparison (default: the decks' {FULL['epochs']})")
    parser.add_argument("--no-augmented", action="store_true", help="skip the augmented rows of the comparison")
    parser.add_argument("--repeats", type=at_least(1), default=1,
                        help="runs per comparison row (seeds 0..N-1; the table shows means) and per scaling cell (medians)")
    parser.add_argument("--sizes", type=at_least(1), nargs="+", default=None, help=f"training-set sizes for scaling (default: {FULL['sizes']})")
    parser.add_argument("--batch-sizes", type=at_least(1), nargs="+", default=None, help=f"batch sizes for scaling (default: {FULL['batch_sizes']})")
    parser.add_argument("--recipe-epochs", type=at_least(1), default=None,
                        help=f"epochs of the fast recipe (its learning-rate schedule spans them; default: {FULL['recipe_epochs']})")
    parser.add_argument("--quick", action="store_true",
                        help=f"bundled samples and small settings {QUICK}: checks that the script runs; options you give are kept")
    parser.add_argument("--json", type=Path, default=None, help="save all numbers to this file (after every section)")
    args = parser.parse_args(argv)
    check_output(parser, args.json)
    settings = QUICK if args.quick else FULL
    given = [name for name in settings if getattr(args, name) is not None]
    for name, value in settings.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.quick:
        os.environ["CSLIB_FAST"] = "1"
        kept = f"; kept as you gave them: {', '.join('--' + n.replace('_', '-') for n in given)}" if given else ""
        print(f"--quick: the bundled samples, {', '.join(f'{k} {v}' for k, v in QUICK.items() if k not in given)}{kept}")
    try:
        device = cslib.get_device(args.device)
    except (RuntimeError, ValueError) as e:
        parser.error(f"--device {args.device}: {e}")
    info = machine(device)
    print("Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    train, test = load("fashion-mnist"), load("fashion-mnist", train=False)
    data = ((train.data, train.targets), (test.data, test.targets))
    results = {"machine": info, "data": train.source, "epochs": args.epochs}

    if "compare" in args.sections:
        print(f"\n## The decks' loop vs cslib.fit ({args.epochs} epochs, batch 32, Adam 1e-3, {len(train):,} training images,"
              f" mean of {args.repeats} run(s))")
        rows = compare(data, device, args.epochs, augmented=not args.no_augmented, repeats=args.repeats)
        print()
        results["compare"] = rows
        results["speedups"] = report_compare(rows, device)
        save(results, args.json)
    if "recipe" in args.sections:
        print(f"\n## Fast recipe: time to reach the decks' {DECK_CNN_ACCURACY:.1%} CNN test accuracy")
        r = fast_recipe(data, device, args.recipe_epochs)
        results["recipe"] = r
        deck = next((row for row in results.get("compare", []) if row["model"] == "CNN plain" and row["loop"] == "decks' loop"), None)
        if deck is not None:
            share = r["seconds"] / deck["seconds"]
            print(f"  the decks' loop took {deck['seconds']:.1f} s for its {args.epochs} epochs ({deck['test_acc']:.4f});"
                  f" the fast recipe needs {share:.0%} of that {verdict(r['reached'] and share <= 0.25)} (target <= 25 %)")
            r["share_of_decks_time"] = share
        elif not r["reached"]:
            print(f"  ✗ the fast recipe did not reach {DECK_CNN_ACCURACY:.1%} in {args.recipe_epochs} epochs")
        save(results, args.json)
    if "scaling" in args.sections:
        print(f"\n## How the cost grows: seconds per epoch (cslib.fit, median of {args.repeats} epoch(s) each)")
        rows = scaling(data, device, args.sizes, args.batch_sizes, args.repeats)
        results["scaling"] = rows
        report_scaling(rows)
        save(results, args.json)
    if args.json:
        print(f"\nSaved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
