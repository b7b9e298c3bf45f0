"""Benchmark: what a student waits for, the decks' training loop as written against cslib.fit.

    python benchmarks/bench_training.py --json bench.json --markdown bench.md   # everything (benchmarks/results/training-cpu.md)
    python benchmarks/bench_training.py --sections compare                      # one section
    python benchmarks/bench_training.py --device cuda                           # on a GPU
    python benchmarks/bench_training.py --quick                                 # a smoke run on the bundled samples

Sections (in this order):
  limit     this machine's compute limit: matrix-multiply throughput (float32, and bfloat16 where the
            hardware computes in it), the FLOPs of a training step, how close cslib.fit's steps come
            to the limit, and where the time of lecture 2's CNN step goes (a profile)
  compare   the decks' loop vs cslib.fit on lecture 2's MLP and CNN, plain and augmented (random
            horizontal shifts of up to 5 px, as in lecture 3): the wall time of an epoch, which includes
            the evaluation each loop makes every epoch (the decks' second pass over the training set
            for the training accuracy; fit's pass over the test set), and the training pass alone
  evaluate  cslib.evaluate on the 10,000 test images: memory layout and batch size
  recipe    cslib.recipe's fast recipe: seconds to reach the decks' 91.2 % CNN test accuracy, against
            the decks' loop's 5 epochs
  scaling   seconds of cslib.fit's training pass against training-set size and batch size

Every comparison run and every recipe run is a fresh Python process (``--process same`` turns that off;
``--quick`` too): one loop, one model, one seed, the epochs asked for, so that no run inherits another's
warmed-up state, and each pays what a student's first epoch pays. Process start, imports and data loading are
not timed (a notebook has done them before it trains). The decks' loop (lecture 2's slides): a Dataset
whose __getitem__ moves each image to the device, DataLoader(batch_size=32, shuffle=True), Adam(lr=1e-3),
a second pass over the training set each epoch for the training accuracy, and the test accuracy once at
the end as the mean of per-batch accuracies (not timed: it is not part of an epoch). cslib.fit gets the
same Adam(model.parameters(), lr=1e-3), as the lectures pass it, and the test set, as they do. The targets are
printed with each table, not asserted: this is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_cli.py

from _cli import at_least  # noqa: E402
import cslib  # noqa: E402
from cslib import models, recipe  # noqa: E402
from cslib.data import load, prepare  # noqa: E402

DECK_CNN_ACCURACY = 0.912  # lecture 2's slides: "Test accuracy: 0.9122403860092163"
DECK_EPOCHS = 5  # the slides train 5 epochs to reach it
MAX_SHIFT = 5  # lecture 3: shifts of up to 5 px
RESULT_MARK = "BENCH-RESULT "  # how a worker process hands its result back


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


def decks_loop(model, train_ds, test_ds, epochs, device) -> dict:
    """Train as the slides do. Returns the seconds of each epoch's two passes and the final test accuracy."""
    model.to(device)
    train_dl = DataLoader(train_ds, batch_size=32, shuffle=True)
    test_dl = DataLoader(test_ds, batch_size=32, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    train_s, eval_s = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        epoch_losses = [train_batch(x, y, model, opt, loss_fn) for x, y in train_dl]
        middle = time.perf_counter()  # the loss's .cpu() each batch has waited for the device already
        epoch_accuracies = [accuracy(x, y, model) for x, y in train_dl]  # the second pass
        np.mean(epoch_losses), np.mean(epoch_accuracies)
        train_s.append(middle - start)
        eval_s.append(time.perf_counter() - middle)
    test_acc = float(np.mean([accuracy(x, y, model) for x, y in test_dl]))  # once, after training: not timed
    return {"train_s": train_s, "eval_s": eval_s, "test_acc": test_acc}


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
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "device": device.type,
            "cpu_bf16": recipe.cpu_has_native_bf16()}
    try:
        info["load_average"] = round(os.getloadavg()[0], 2)  # a busy machine's numbers are not worth publishing
    except OSError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def print_table(rows, columns, out=None):
    """A markdown table (printed, and appended to the list ``out`` when given)."""
    widths = [max(len(c), *(len(f(r)) for r in rows)) for c, f in columns]
    lines = ["| " + " | ".join(c.ljust(w) for (c, _), w in zip(columns, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(f(r).ljust(w) for (_, f), w in zip(columns, widths)) + " |" for r in rows]
    print("\n".join(lines))
    if out is not None:
        out.extend(lines)


def verdict(ok: bool) -> str:
    return "✓ met" if ok else "✗ missed"


def mean_sd(values) -> tuple[float, float]:
    values = [float(v) for v in values]
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def pm(values, digits: int = 2, scale: float = 1.0) -> str:
    """'mean ± sd' of ``values`` (just the mean for one value)."""
    m, s = mean_sd([v * scale for v in values])
    return f"{m:.{digits}f}" + (f" ± {s:.{digits}f}" if len(values) > 1 else "")


def spread(values, digits: int = 2) -> str:
    """'mean (min-max)' of ``values``."""
    values = [float(v) for v in values]
    m = float(np.mean(values))
    return f"{m:.{digits}f}" + (f" ({min(values):.{digits}f}-{max(values):.{digits}f})" if len(values) > 1 else "")


# --------------------------------------------------------------------------- one run (a fresh process each, by default)
def data_for():
    """Fashion-MNIST's training and test images and labels (uint8 images, as the decks load them)."""
    train, test = load("fashion-mnist", verbose=False), load("fashion-mnist", train=False, verbose=False)
    return (train.data, train.targets), (test.data, test.targets)


def run_one(spec: dict) -> dict:
    """One measured run: ``spec["loop"]`` is "decks", "fit" or "recipe". Returns its numbers."""
    device = torch.device(spec["device"])
    # A process's first optimizer imports torch._dynamo (seconds; torch.optim does it): a one-time cost that
    # both loops would pay, not part of an epoch, so it is paid here, before any timing, like the imports.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    flatten = spec.get("model") == "MLP"
    (x_tr, y_tr), (x_te, y_te) = data_for()
    if spec.get("n_train"):
        x_tr, y_tr = x_tr[:spec["n_train"]], y_tr[:spec["n_train"]]
    make = {"MLP": models.mlp, "CNN": models.cnn}.get(spec.get("model"))
    cslib.set_seed(spec["seed"])
    if spec["loop"] == "decks":
        per_item = deck_shift(MAX_SHIFT) if spec["augmented"] else None
        train_ds = FMNISTDataset(x_tr, y_tr, device, flatten, transform=per_item)
        test_ds = FMNISTDataset(x_te, y_te, device, flatten)
        model = make()
        with PeakMemory(device) as mem:
            r = decks_loop(model, train_ds, test_ds, spec["epochs"], device)
        seconds = sum(r["train_s"]) + sum(r["eval_s"])  # the epochs: both passes (the final test pass is not part of one)
        return {**spec, "seconds": seconds, "train_s": sum(r["train_s"]), "test_acc": r["test_acc"], "peak_mb": mem.mb}
    x, xt = prepare(x_tr, flatten=flatten), prepare(x_te, flatten=flatten)
    if spec["loop"] == "recipe":
        model = recipe.fast_cnn()
        synchronize(device)
        start = time.perf_counter()
        h = finished(recipe.fast_fit(model, (x, y_tr), (xt, y_te), epochs=spec["epochs"], stop_at=DECK_CNN_ACCURACY,
                                     device=device, progress=False, bf16=spec["bf16"]))
        synchronize(device)
        return {**spec, "seconds": time.perf_counter() - start, "train_s": sum(h.seconds), "epochs_run": len(h),
                "test_acc": h.test_acc[-1], "reached": h.test_acc[-1] >= DECK_CNN_ACCURACY, "test_acc_by_epoch": h.test_acc}
    augment = None
    if spec["augmented"]:
        from cslib.augment import RandomShift

        batched = RandomShift(MAX_SHIFT, mode="zeros")  # a different random shift for each image, zeros filled in as RandomAffine does
        augment = flat(batched) if flatten else batched
    model = make().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)  # the decks' optimizer, passed to fit as the lectures do
    with PeakMemory(device) as mem:
        synchronize(device)
        start = time.perf_counter()
        h = finished(cslib.fit(model, (x, y_tr), (xt, y_te), epochs=spec["epochs"], batch_size=32, optimizer=opt,
                               augment=augment, device=device, progress=False))
        synchronize(device)
        seconds = time.perf_counter() - start  # all of fit: its checks, the training passes and the test passes
    result = {**spec, "seconds": seconds, "train_s": sum(h.seconds), "test_acc": h.test_acc[-1], "peak_mb": mem.mb}
    if spec.get("check_layouts"):  # the same accuracy from the usual (contiguous) layout, on the trained model
        result["test_acc_contiguous"] = cslib.evaluate(model, xt, y_te, device=device, channels_last=False)[1]
    return result


def run_in_fresh_process(spec: dict) -> dict:
    """``run_one(spec)`` in a new Python process (same interpreter, same environment)."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                          capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the run {spec} failed (exit code {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_MARK):])


# --------------------------------------------------------------------------- sections
def compute_limit(device, quick: bool, out: list) -> dict:
    """Matrix-multiply throughput, the FLOPs of the training steps and how close cslib.fit comes; a profile of the CNN step."""
    from torch.utils.flop_counter import FlopCounterMode

    result = {"matmul_gflops": {}}
    n = 512 if quick else (2048 if device.type == "cpu" else 8192)
    dtypes = [torch.float32]
    if recipe.bf16_applies(device):
        dtypes.append(torch.bfloat16)
    for dtype in dtypes:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        for _ in range(2):
            a @ b
        best = float("inf")
        for _ in range(3 if quick else 5):
            synchronize(device)
            start, k = time.perf_counter(), 0
            while k < 3 or time.perf_counter() - start < (0.05 if quick else 0.4):
                a @ b
                k += 1
            synchronize(device)
            best = min(best, (time.perf_counter() - start) / k)
        result["matmul_gflops"][str(dtype).replace("torch.", "")] = 2 * n**3 / best / 1e9
    fp32 = result["matmul_gflops"]["float32"]
    bf16 = result["matmul_gflops"].get("bfloat16")
    line = f"Matrix multiply ({n} x {n}, {torch.get_num_threads()} thread(s)): float32 {fp32:,.0f} GFLOP/s"
    line += f", bfloat16 {bf16:,.0f} GFLOP/s" if bf16 else " (no native bfloat16 here)"
    print(line)
    out += [line, ""]

    (x_tr, y_tr), _ = data_for()
    rows = []
    n_images = 640 if quick else 6400
    cases = [("CNN (lecture 2)", models.cnn, False, 32, False), ("MLP (lecture 2)", models.mlp, True, 32, False),
             ("fast recipe CNN", recipe.fast_cnn, False, 128, False)]
    if bf16:
        cases.append(("fast recipe CNN, bfloat16", recipe.fast_cnn, False, 128, True))
    for name, make, flatten, bs, use_bf16 in cases:
        x = prepare(x_tr[:n_images], flatten=flatten)
        y = y_tr[:n_images]
        model = make()
        runner = recipe.BFloat16(model) if use_bf16 else model
        with FlopCounterMode(display=False) as counter:  # convolutions and matrix products, forward and backward
            nn.functional.cross_entropy(runner(x[:bs]), y[:bs]).backward()
        flops = counter.get_total_flops()
        model.zero_grad(set_to_none=True)
        cslib.set_seed(0)
        finished(cslib.fit(runner, (x[:bs * 4], y[:bs * 4]), epochs=1, batch_size=bs, device=device, progress=False))  # warm up
        h = finished(cslib.fit(runner, (x, y), epochs=1, batch_size=bs, device=device, progress=False))
        steps = -(-len(x) // bs)
        step_s = h.seconds[0] / steps
        limit = bf16 if use_bf16 else fp32
        rows.append({"model": name, "batch": bs, "gflop_per_step": flops / 1e9, "ms_per_step": step_s * 1e3,
                     "gflops": flops / step_s / 1e9, "limit": "bfloat16" if use_bf16 else "float32",
                     "share_of_limit": flops / step_s / 1e9 / limit})
    print()
    print_table(rows, [("training step (cslib.fit)", lambda r: r["model"]), ("batch", lambda r: str(r["batch"])),
                       ("GFLOP per step", lambda r: f"{r['gflop_per_step']:.3f}"), ("ms per step", lambda r: f"{r['ms_per_step']:.2f}"),
                       ("GFLOP/s", lambda r: f"{r['gflops']:,.0f}"),
                       ("of the matmul limit", lambda r: f"{r['share_of_limit']:.0%} ({r['limit']})")], out)
    result["steps"] = rows
    note = ("GFLOP counted by torch.utils.flop_counter: the convolutions and matrix products, forward and backward; "
            "the other work of a step (pooling, activations, the optimizer) is memory traffic that the count leaves out.")
    print(note)
    out += ["", note, ""]
    result["profile"] = profile_cnn_step(device, x_tr, y_tr, quick, out)
    return result


def profile_cnn_step(device, x_tr, y_tr, quick: bool, out: list) -> list[dict]:
    """Where the time of lecture 2's CNN training step in cslib.fit goes: torch.profiler's top operators."""
    from torch.profiler import ProfilerActivity, profile

    x, y = prepare(x_tr[:320 if quick else 1600]), y_tr[:320 if quick else 1600]
    model = models.cnn()
    finished(cslib.fit(model, (x[:128], y[:128]), epochs=1, device=device, progress=False))  # warm up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        finished(cslib.fit(model, (x, y), epochs=1, device=device, progress=False))
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if not e.key.startswith(("ProfilerStep", "cudaDeviceSynchronize"))]
    total = sum(getattr(e, key) for e in events) or 1
    steps = len(x) // 32
    rows = [{"op": e.key, "share": getattr(e, key) / total, "ms_per_step": getattr(e, key) / 1e3 / steps, "calls_per_step": e.count / steps}
            for e in sorted(events, key=lambda e: -getattr(e, key))[:10]]
    print(f"\nWhere the CNN step's time goes ({'GPU' if device.type == 'cuda' else 'CPU'} time by operator, torch.profiler, {steps} steps of batch 32):")
    out.append(f"Where lecture 2's CNN training step spends its time (torch.profiler, {steps} steps of batch 32 in cslib.fit):")
    out.append("")
    print_table(rows, [("operator", lambda r: r["op"]), ("share", lambda r: f"{r['share']:.1%}"),
                       ("ms per step", lambda r: f"{r['ms_per_step']:.2f}"), ("calls per step", lambda r: f"{r['calls_per_step']:.0f}")], out)
    out.append("")
    return rows


def compare(device, epochs, augmented: bool, repeats: int, runner, results: dict, save_partial, n_train: int | None = None) -> list[dict]:
    """Both loops on each model, ``repeats`` seeds (0, 1, ...), each run by ``runner``; rows hold every run."""
    variants = ["plain", "augmented"] if augmented else ["plain"]
    runs = results.setdefault("compare_runs", [])
    for seed in range(repeats):
        for model_name in ("MLP", "CNN"):
            for variant in variants:
                for loop in ("decks", "fit"):
                    spec = {"loop": loop, "model": model_name, "augmented": variant == "augmented", "seed": seed,
                            "epochs": epochs, "device": str(device), "n_train": n_train,
                            "check_layouts": loop == "fit" and model_name == "CNN" and variant == "plain"}
                    r = runner(spec)
                    runs.append(r)
                    save_partial()
                    name = "decks' loop" if loop == "decks" else "cslib.fit  "
                    extra = f", evaluation and checks {r['seconds'] - r['train_s']:.1f} s" if loop == "fit" else \
                        f", second pass {r['seconds'] - r['train_s']:.1f} s"
                    print(f"  {name} {model_name} {variant} (seed {seed}): {r['seconds'] / epochs:.1f} s per epoch "
                          f"(training pass {r['train_s'] / epochs:.1f} s{extra}), test accuracy {r['test_acc']:.4f}", flush=True)
    rows = []
    n = min(len(load("fashion-mnist", verbose=False)), n_train or float("inf"))
    for model_name in ("MLP", "CNN"):
        for variant in variants:
            for loop, label in (("decks", "decks' loop"), ("fit", "cslib.fit")):
                mine = [r for r in runs if r["loop"] == loop and r["model"] == model_name and r["augmented"] == (variant == "augmented")]
                rows.append({"model": f"{model_name} {variant}", "loop": label, "n_train": n,
                             "epoch_s": [r["seconds"] / epochs for r in mine], "train_s": [r["train_s"] / epochs for r in mine],
                             "test_acc": [r["test_acc"] for r in mine], "peak_mb": float(np.nanmax([r["peak_mb"] for r in mine])),
                             "images_per_s": n / float(np.mean([r["seconds"] / epochs for r in mine])),
                             "layouts_agree": [r["test_acc_contiguous"] == r["test_acc"] for r in mine if "test_acc_contiguous" in r]})
    return rows


def report_compare(rows, device, epochs, out: list, limit: dict | None = None, n_train: int = 60000) -> dict:
    seeds = len(rows[0]["epoch_s"])
    print_table(rows, [("model", lambda r: r["model"]), ("loop", lambda r: r["loop"]),
                       ("epoch s (wall)", lambda r: pm(r["epoch_s"])), ("training pass s", lambda r: pm(r["train_s"])),
                       ("images/s", lambda r: f"{r['images_per_s']:,.0f}"), ("test acc", lambda r: pm(r["test_acc"], 4)),
                       ("peak MB", lambda r: f"{r['peak_mb']:,.0f}")], out)
    target = 10 if device.type == "cuda" else 2
    by = {(r["model"], r["loop"]): r for r in rows}
    lines = [f"Mean ± sd of {seeds} seed(s), {epochs} epoch(s) per process. An epoch's wall time holds the training pass and the"
             " evaluation the loop makes each epoch (the decks' second pass over the training set; fit's test pass).",
             "",
             f"Targets ({device.type}): an epoch of cslib.fit >= {target}x faster than one of the decks' loop, test accuracy within 0.5 pt"
             " (means); an augmented epoch <= 1.2x a plain one."]
    ratios = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        deck, fit = by[(model, "decks' loop")], by[(model, "cslib.fit")]
        per_seed = [d / f for d, f in zip(deck["epoch_s"], fit["epoch_s"])]
        train_only = float(np.mean(deck["train_s"]) / np.mean(fit["train_s"]))
        speedup = float(np.mean(deck["epoch_s"]) / np.mean(fit["epoch_s"]))
        gap = (float(np.mean(fit["test_acc"])) - float(np.mean(deck["test_acc"]))) * 100
        ratios[model] = {"epoch": speedup, "epoch_by_seed": per_seed, "training_pass": train_only, "accuracy_gap_pt": gap}
        lines.append(f"- {model}: epoch {speedup:.2f}x (seeds {min(per_seed):.2f}-{max(per_seed):.2f}) {verdict(speedup >= target)}; "
                     f"training pass alone {train_only:.2f}x; accuracy {gap:+.2f} pt {verdict(abs(gap) <= 0.5)}")
    for name in ("MLP", "CNN"):
        plain, aug = by.get((f"{name} plain", "cslib.fit")), by.get((f"{name} augmented", "cslib.fit"))
        if plain and aug:
            ratio = float(np.mean(aug["epoch_s"]) / np.mean(plain["epoch_s"]))
            deck_ratio = float(np.mean(by[(f"{name} augmented", "decks' loop")]["epoch_s"]) / np.mean(by[(f"{name} plain", "decks' loop")]["epoch_s"]))
            lines.append(f"- {name} augmented / plain epoch: cslib.fit {ratio:.2f}x {verdict(ratio <= 1.2)} (decks' loop {deck_ratio:.2f}x)")
    step = next((r for r in (limit or {}).get("steps", []) if r["model"] == "CNN (lecture 2)"), None)
    fit_cnn = by.get(("CNN plain", "cslib.fit"))
    if step and fit_cnn:  # the comparison's own training passes, against the measured limit
        gflops = step["gflop_per_step"] * -(-n_train // 32) / float(np.mean(fit_cnn["train_s"]))
        lines.append(f"- cslib.fit's CNN training pass ran at {gflops:,.0f} GFLOP/s: {gflops / limit['matmul_gflops']['float32']:.0%}"
                     f" of this machine's float32 matrix-multiply throughput")
    agree = [a for r in rows for a in r["layouts_agree"]]
    if agree:
        lines.append(f"- cslib.evaluate in the contiguous layout gives the same test accuracy as in channels-last (fit's): "
                     f"{sum(agree)} of {len(agree)} trained CNN(s)")
    print("\n" + "\n".join(lines))
    out += [""] + lines
    return ratios


def evaluation(device, repeats: int, quick: bool, out: list, results: dict) -> list[dict]:
    """Seconds of cslib.evaluate on the test set for each layout and batch size (median of ``repeats``)."""
    _, (x_te, y_te) = data_for()
    cells = [("CNN", False, 1000), ("CNN", False, 128), ("CNN", True, 32), ("CNN", True, 128), ("CNN", True, 256),
             ("CNN", True, 1000), ("MLP", None, 128), ("MLP", None, 1000)]
    default = cslib.train.eval_batch_size(device)
    rows = []
    for name, channels_last, bs in cells:
        flatten = name == "MLP"
        x = prepare(x_te, flatten=flatten).to(device)
        y = y_te.to(device)
        cslib.set_seed(0)
        model = (models.mlp if flatten else models.cnn)().to(device)
        cslib.evaluate(model, x[:bs], y[:bs], batch_size=bs, channels_last=channels_last)  # warm up
        times = []
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            cslib.evaluate(model, x, y, batch_size=bs, channels_last=channels_last)
            synchronize(device)
            times.append(time.perf_counter() - start)
        layout = "-" if channels_last is None else ("channels-last" if channels_last else "contiguous")
        rows.append({"model": name, "layout": layout, "batch_size": bs, "seconds": float(np.median(times)), "all_seconds": times,
                     "note": "the old evaluate" if (name, channels_last, bs) == ("CNN", False, 1000) else
                     ("evaluate's default" if bs == default and channels_last is not False else "")})
    print_table(rows, [("model", lambda r: r["model"]), ("layout", lambda r: r["layout"]), ("batch", lambda r: str(r["batch_size"])),
                       (f"seconds for {len(x_te):,} images", lambda r: f"{r['seconds']:.2f}"), ("", lambda r: r["note"])], out)
    cnn = [r for r in rows if r["model"] == "CNN"]
    best = min(cnn, key=lambda r: r["seconds"])
    old = cnn[0]
    mine = next(r for r in cnn if r["layout"] == "channels-last" and r["batch_size"] == default) if any(
        r["layout"] == "channels-last" and r["batch_size"] == default for r in cnn) else best
    lines = [f"Median of {repeats}. The CNN's fastest: {best['layout']} at batch {best['batch_size']}; evaluate's default "
             f"({mine['layout']}, batch {default}) is {old['seconds'] / mine['seconds']:.1f}x faster than the old one (contiguous, batch 1000)."]
    fit_train = [r for r in results.get("compare", []) if r["model"] == "CNN plain" and r["loop"] == "cslib.fit"]
    if fit_train:
        share = mine["seconds"] / float(np.mean(fit_train[0]["train_s"]))
        lines.append(f"One evaluation of the {len(x_te):,} test images takes {share:.0%} of fit's training pass over the "
                     f"{fit_train[0].get('n_train', 0):,} training images {verdict(share < 1 / 3)} (target: less than a third).")
    print("\n".join(lines))
    out += [""] + lines
    return rows


def fast_recipe(device, max_epochs, repeats: int, runner, results: dict, out: list, n_train: int | None = None) -> dict:
    """The fast recipe, ``repeats`` seeds (plus one float32 run where bfloat16 applies): seconds to 91.2 %."""
    bf16 = recipe.bf16_applies(device)
    specs = [{"loop": "recipe", "seed": s, "epochs": max_epochs, "device": str(device), "bf16": bf16, "n_train": n_train}
             for s in range(repeats)]
    if bf16:
        specs.append({"loop": "recipe", "seed": 0, "epochs": max_epochs, "device": str(device), "bf16": False})
    runs = []
    for spec in specs:
        r = runner(spec)
        runs.append(r)
        print(f"  fast recipe ({'bfloat16' if r['bf16'] else 'float32'}, seed {r['seed']}): {r['epochs_run']} epoch(s), "
              f"{r['seconds']:.1f} s (test evaluations included), test accuracy {r['test_acc']:.4f}", flush=True)
    main = [r for r in runs if r["bf16"] == bf16]
    reached = [r for r in main if r["reached"]]
    lines = [f"Fast recipe ({'bfloat16 autocast' if bf16 else 'float32'}; batch 128, one-cycle learning rate, at most {max_epochs} epochs):"
             f" {len(reached)} of {len(main)} seed(s) reached {DECK_CNN_ACCURACY:.1%}"
             + (f", in {pm([r['seconds'] for r in reached], 1)} s ({spread([r['epochs_run'] for r in reached], 1)} epochs)" if reached else
                f"; {pm([r['seconds'] for r in main], 1)} s for {max(r['epochs_run'] for r in main)} epoch(s), test accuracy "
                f"{pm([r['test_acc'] for r in main], 4)}")
             + ", test evaluations included."]
    fp32 = [r for r in runs if r["bf16"] != bf16]
    if fp32:
        lines.append(f"The same in float32 (seed 0): {fp32[0]['seconds']:.1f} s, {fp32[0]['epochs_run']} epoch(s), test accuracy {fp32[0]['test_acc']:.4f}.")
    deck = next((r for r in results.get("compare", []) if r["model"] == "CNN plain" and r["loop"] == "decks' loop"), None)
    share = None
    if deck is not None and reached:
        decks_time = DECK_EPOCHS * float(np.mean(deck["epoch_s"]))
        share = float(np.mean([r["seconds"] for r in reached])) / decks_time
        lines.append(f"The decks' loop needs its {DECK_EPOCHS} epochs for {DECK_CNN_ACCURACY:.1%}: {DECK_EPOCHS} x {np.mean(deck['epoch_s']):.1f} s"
                     f" = {decks_time:.0f} s by the comparison above; the fast recipe takes {share:.0%} of that"
                     f" {verdict(share <= 0.25 and len(reached) == len(main))} (target <= 25 %).")
    elif deck is None:
        lines.append("(Run the compare section too, for the decks' loop's time.)")
    print("\n".join(lines))
    out += lines
    return {"runs": runs, "bf16": bf16, "share_of_decks_time": share, "reached": len(reached), "seeds": len(main)}


def scaling(data, device, sizes, batch_sizes, repeats: int = 1) -> list[dict]:
    """Seconds of cslib.fit's training pass for each model, batch size and training-set size: the median of ``repeats`` epochs."""
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


def report_scaling(rows, out: list | None = None):
    for name in dict.fromkeys(r["model"] for r in rows):
        sizes = sorted({r["n_train"] for r in rows if r["model"] == name})
        print(f"\n{name} (cslib.fit), seconds of the training pass:")
        table = []
        for bs in sorted({r["batch_size"] for r in rows if r["model"] == name}):
            cells = {r["n_train"]: r["seconds_per_epoch"] for r in rows if r["model"] == name and r["batch_size"] == bs}
            table.append({"bs": bs, **cells})
        if out is not None:
            out.append("")
        print_table(table, [(f"{name}: batch size", lambda r: str(r["bs"]))] + [(f"{n:,} images", (lambda n: lambda r: f"{r[n]:.2f}")(n)) for n in sizes], out)


# --------------------------------------------------------------------------- main
FULL = {"epochs": 1, "repeats": 3, "sizes": [7500, 15000, 30000, 60000], "batch_sizes": [32, 128, 512], "recipe_epochs": 3}
QUICK = {"epochs": 1, "repeats": 1, "sizes": [500, 1000], "batch_sizes": [32, 128], "recipe_epochs": 1}
QUICK_COMPARE_IMAGES = 500  # --quick trains the comparison's runs on this many of the sample's 2,000 images
QUICK_RECIPE_IMAGES = 1024  # and the recipe's on this many: 8 steps of 128 (its one-cycle schedule needs a few)
SECTIONS = ["limit", "compare", "evaluate", "recipe", "scaling"]

# Seconds per 1,000 training images on a quiet 2-core CPU (earlier runs), for the estimate printed before starting.
COST = {("decks", "MLP", False): 0.08, ("fit", "MLP", False): 0.04, ("decks", "MLP", True): 0.28, ("fit", "MLP", True): 0.045,
        ("decks", "CNN", False): 0.65, ("fit", "CNN", False): 0.32, ("decks", "CNN", True): 0.8, ("fit", "CNN", True): 0.32}
SCALING_COST = {("MLP", 32): 0.04, ("MLP", 128): 0.025, ("MLP", 512): 0.02, ("CNN", 32): 0.32, ("CNN", 128): 0.24, ("CNN", 512): 0.34}
PROCESS_START = 5.0  # seconds to start Python, import torch and load the data
RECIPE_EPOCH = 15.0  # seconds per fast-recipe epoch on 60,000 images, its test pass included


def estimate(args, n_train: int) -> float:
    """Rough seconds the chosen sections take on a quiet 2-core CPU."""
    k = (QUICK_COMPARE_IMAGES if args.quick else n_train) / 1000
    start = 0 if args.in_process else PROCESS_START
    total = 0.0
    if "limit" in args.sections:
        total += 3 if args.quick else 25
    if "compare" in args.sections:
        variants = (False,) if args.no_augmented else (False, True)
        per_seed = sum(COST[(loop, m, aug)] * k * args.epochs + start + (1.5 * args.epochs if loop == "fit" else 0)
                       for loop in ("decks", "fit") for m in ("MLP", "CNN") for aug in variants)
        total += per_seed * args.repeats
    if "evaluate" in args.sections:
        total += (2 if args.quick else 16) * args.repeats
    if "recipe" in args.sections:
        runs = args.repeats + (1 if recipe.bf16_applies(torch.device(args.device or "cpu")) else 0)
        total += runs * (RECIPE_EPOCH * k / 60 * args.recipe_epochs + start)
    if "scaling" in args.sections:
        total += sum(SCALING_COST.get((m, bs), 0.3) * min(n, n_train) / 1000 for m in ("MLP", "CNN") for bs in args.batch_sizes
                     for n in args.sizes) * args.repeats
    return total


def check_output(parser: argparse.ArgumentParser, path: Path | None, option: str = "--json", example: str = "bench.json") -> None:
    """Fail now, not after half an hour of measuring, when the results could not be saved to ``path``."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        parser.error(f"{option} {path}: that is a folder; give a file name, e.g. {path / example}")
    if not folder.is_dir():
        parser.error(f"{option} {path}: the folder {folder} does not exist (create it first: mkdir -p {folder})")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        parser.error(f"{option} {path}: cannot write there (permission denied); choose another file")


def save(results: dict, path: Path | None) -> None:
    """Write ``results`` to ``path`` (after every section, so that a crash or Ctrl-C later loses nothing)."""
    if path is None:
        return
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(results, indent=1))
    partial.replace(path)  # a reader never sees a half-written file


def save_markdown(lines: list[str], path: Path | None) -> None:
    if path is None:
        return
    partial = path.with_name(path.name + ".partial")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:  # one run in this fresh process (see run_in_fresh_process)
        print(RESULT_MARK + json.dumps(run_one(json.loads(argv[1]))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=SECTIONS, choices=SECTIONS)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--epochs", type=at_least(1), default=None, help=f"epochs per comparison run (default {FULL['epochs']})")
    parser.add_argument("--no-augmented", action="store_true", help="skip the augmented rows of the comparison")
    parser.add_argument("--repeats", type=at_least(1), default=None,
                        help=f"seeds per comparison row and for the recipe (0..N-1: means and spreads), and runs per "
                             f"evaluation and scaling cell (medians); default {FULL['repeats']}")
    parser.add_argument("--sizes", type=at_least(1), nargs="+", default=None, help=f"training-set sizes for scaling (default: {FULL['sizes']})")
    parser.add_argument("--batch-sizes", type=at_least(1), nargs="+", default=None, help=f"batch sizes for scaling (default: {FULL['batch_sizes']})")
    parser.add_argument("--recipe-epochs", type=at_least(1), default=None,
                        help=f"epochs of the fast recipe at most (its learning-rate schedule spans them; default: {FULL['recipe_epochs']})")
    parser.add_argument("--process", choices=["fresh", "same"], default=None,
                        help="run each comparison and recipe run in a fresh Python process (the default) or all in this one (--quick's default)")
    parser.add_argument("--quick", action="store_true",
                        help=f"bundled samples, --process same, small settings {QUICK}: checks that the script runs; options you give are kept")
    parser.add_argument("--json", type=Path, default=None, help="save all numbers to this file (after every run and section)")
    parser.add_argument("--markdown", type=Path, default=None, help="save the tables, as in benchmarks/results/, to this file (after every section)")
    args = parser.parse_args(argv)
    check_output(parser, args.json)
    check_output(parser, args.markdown, "--markdown", "bench.md")
    settings = QUICK if args.quick else FULL
    given = [name for name in settings if getattr(args, name) is not None]
    for name, value in settings.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.quick:
        os.environ["CSLIB_FAST"] = "1"  # inherited by fresh processes too
        kept = f"; kept as you gave them: {', '.join('--' + n.replace('_', '-') for n in given)}" if given else ""
        settings_line = ", ".join(f"{k} {v}" for k, v in QUICK.items() if k not in given)
        print(f"--quick: the bundled samples, {'in this process, ' if args.process != 'fresh' else ''}{settings_line}{kept}")
    args.in_process = (args.process or ("same" if args.quick else "fresh")) == "same"
    try:
        device = cslib.get_device(args.device)
    except (RuntimeError, ValueError) as e:
        parser.error(f"--device {args.device}: {e}")
    args.device = str(device)
    info = machine(device)
    print("Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    train = load("fashion-mnist")
    load("fashion-mnist", train=False)
    seconds = estimate(args, len(train))
    print(f"This takes about {seconds / 60:.0f} min on a quiet 2-core CPU ({seconds:.0f} s; longer on a busy or slower machine)."
          if seconds >= 120 else f"This takes about {seconds:.0f} s on a quiet 2-core CPU (longer on a busy or slower machine).", flush=True)
    results = {"machine": info, "data": train.source, "settings": {k: getattr(args, k) for k in settings} | {"in_process": args.in_process}}
    command = "python benchmarks/bench_training.py " + " ".join(argv)
    md = [f"Measured with `{command.strip()}` on: {info['cpu']}, {info['torch_threads']} thread(s), torch {info['torch']}"
          + (f", {info['gpu']}" if "gpu" in info else "") + f"; {len(train):,} training images ({train.source})."]
    runner = run_one if args.in_process else run_in_fresh_process
    began = time.perf_counter()

    def section_done(name: str) -> None:
        save(results, args.json)
        save_markdown(md, args.markdown)
        print(f"({name}: done after {(time.perf_counter() - began) / 60:.1f} min in all)", flush=True)

    if "limit" in args.sections:
        print("\n## The compute limit: matrix-multiply throughput, and how close the training steps come")
        md += ["", "**The compute limit.**", ""]
        results["limit"] = compute_limit(device, args.quick, md)
        section_done("limit")
    if "compare" in args.sections:
        print(f"\n## The decks' loop vs cslib.fit: an epoch as a student waits for it ({args.epochs} epoch(s) per "
              f"{'run' if args.in_process else 'process'}, batch 32, Adam 1e-3, {QUICK_COMPARE_IMAGES if args.quick else len(train):,} "
              f"training images, {args.repeats} seed(s))")
        md += ["", f"**The decks' loop against `cslib.fit`** ({args.epochs} epoch(s) per {'run' if args.in_process else 'process'}, "
                   f"batches of 32, Adam 0.001, {args.repeats} seed(s)):", ""]
        rows = compare(device, args.epochs, not args.no_augmented, args.repeats, runner, results, lambda: save(results, args.json),
                       n_train=QUICK_COMPARE_IMAGES if args.quick else None)
        print()
        results["compare"] = rows
        results["speedups"] = report_compare(rows, device, args.epochs, md, results.get("limit"),
                                             QUICK_COMPARE_IMAGES if args.quick else len(train))
        section_done("compare")
    if "evaluate" in args.sections:
        print("\n## cslib.evaluate on the test set: layout and batch size (lecture 2's networks)")
        md += ["", "**`cslib.evaluate` on the test set** (lecture 2's networks):", ""]
        results["evaluate"] = evaluation(device, args.repeats, args.quick, md, results)
        section_done("evaluate")
    if "recipe" in args.sections:
        print(f"\n## Fast recipe: time to reach the decks' {DECK_CNN_ACCURACY:.1%} CNN test accuracy")
        md += ["", "**The fast recipe.**", ""]
        results["recipe"] = fast_recipe(device, args.recipe_epochs, args.repeats, runner, results, md,
                                        n_train=QUICK_RECIPE_IMAGES if args.quick else None)
        section_done("recipe")
    if "scaling" in args.sections:
        print(f"\n## How the cost grows: seconds of cslib.fit's training pass (median of {args.repeats} epoch(s) each)")
        md += ["", f"**How the cost grows** (`cslib.fit`'s training pass in seconds, median of {args.repeats}):"]
        rows = scaling(((train.data, train.targets), None), device, args.sizes, args.batch_sizes, args.repeats)
        results["scaling"] = rows
        report_scaling(rows, md)
        section_done("scaling")
    if args.json:
        print(f"\nSaved {args.json}")
    if args.markdown:
        print(f"Saved {args.markdown} (the tables: copy it over benchmarks/results/training-cpu.md to publish them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
