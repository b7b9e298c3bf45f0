"""Train the course's pretrained convolutional base and ship it in cslib/weights/ (lecture 4).

The network is ``cslib.models.small_convnet()``: lecture 4's small digit convnet with batch norm.
It is trained on all 60,000 Fashion-MNIST training images and tested on the 10,000 test images,
seeded, on the CPU, then saved as a small float16 state dict together with what it is and how it
was made (cslib/weights/small_convnet_fashion_mnist.pt and cslib/weights/PROVENANCE.md).

    CSLIB_DATA=/path/to/data python scripts/pretrain_base.py            # about 10 minutes on 2 CPU cores

Lecture 4 reuses the network on a few hundred MNIST digits (feature extraction, fine-tuning).
"""
from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import cslib  # noqa: E402
from cslib.data import data_dir, load, prepare  # noqa: E402
from cslib.models import count_parameters, small_convnet  # noqa: E402
from cslib.transfer import BASE_WEIGHTS, load_pretrained_base, sha256  # noqa: E402
from cslib.train import evaluate  # noqa: E402

SEED = 0
EPOCHS = 8
BATCH_SIZE = 128
LR = 2e-3


def one_cycle(optimizer, total_steps):
    """Learning rate up then down over the whole training (torch's OneCycleLR)."""
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=total_steps)


def train_base(epochs: int = EPOCHS, seed: int = SEED, device: str = "cpu"):
    """Train ``small_convnet`` on Fashion-MNIST; returns (model, history, data description)."""
    train, test = load("fashion-mnist", train=True), load("fashion-mnist", train=False)
    cslib.set_seed(seed)
    model = small_convnet()
    history = cslib.fit(model, (prepare(train.data), train.targets), (prepare(test.data), test.targets),
                        epochs=epochs, batch_size=BATCH_SIZE, lr=LR, scheduler=one_cycle, device=device)
    data = f"Fashion-MNIST, {len(train):,} training / {len(test):,} test images"
    if "bundled" in train.source:
        data += " (the small samples bundled with cslib: a trial run, not the real thing)"
    return model.cpu().eval(), history, data


def source_files() -> dict[str, str]:
    """sha256 of the Fashion-MNIST files in the data directory (empty when they come from elsewhere)."""
    raw = data_dir() / "FashionMNIST" / "raw"
    return {f.name: sha256(f) for f in sorted(raw.glob("*-ubyte*"))} if raw.is_dir() and not cslib.fast_mode() else {}


def save(model, history, data: str, epochs: int, seed: int, path: Path) -> dict:
    """Save a float16 state dict with its metadata; measure the saved file's accuracies."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    meta = {
        "architecture": "cslib.models.small_convnet()",
        "parameters": count_parameters(model),
        "data": data,
        "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "optimizer": f"Adam, one-cycle learning rate up to {LR}",
        "seed": seed,
        "date": dt.date.today().isoformat(),
        "torch": str(torch.__version__),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, CPU",
        "seconds": round(sum(history.seconds)),
        "final_train_loss": round(history.loss[-1], 4),
        "source_files_sha256": source_files(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "meta": meta}, path)
    # The accuracies of the *saved* (float16) weights, loaded back as cslib does.
    saved = load_pretrained_base(path=path, verify=False)  # PROVENANCE.md still records the previous file
    full_test = load("fashion-mnist", train=False, verbose=False)
    meta["test_acc"] = round(evaluate(saved, prepare(full_test.data), full_test.targets)[1], 4)
    sample = _bundled_test_sample()
    meta["sample_test_acc"] = round(evaluate(saved, prepare(sample[0]), sample[1])[1], 4)
    torch.save({"state_dict": state, "meta": meta}, path)
    return meta


def _bundled_test_sample():
    """The 500 test images bundled with cslib (what the tests re-measure the weights on)."""
    import numpy as np

    with np.load(ROOT / "cslib" / "samples" / "fashionmnist-sample.npz") as f:
        return torch.from_numpy(f["test_images"]), torch.from_numpy(f["test_labels"].astype("int64"))


def write_provenance(meta: dict, path: Path, history) -> Path:
    curve = "\n".join(f"| {e} | {loss:.4f} | {a:.4f} | {t:.4f} |" for e, loss, a, t in
                      zip(history.epochs, history.loss, history.train_acc, history.test_acc))
    files = "".join(f"\n  - `{name}` sha256 `{digest}`" for name, digest in meta.get("source_files_sha256", {}).items())
    text = f"""# Provenance of the pretrained weights

## {path.name}
The course's pretrained convolutional base for lecture 4 (transfer learning), loaded offline with
`cslib.transfer.load_pretrained_base()`.

- Network: `{meta['architecture']}`, {meta['parameters']:,} parameters: lecture 4's small digit convnet
  (conv 32, pool, conv 64, pool, conv 128, flatten, dense 10) with batch norm after every convolution.
- Data: {meta['data']}.{files}
- Training: {meta['epochs']} epochs, batches of {meta['batch_size']}, {meta['optimizer']}, cross-entropy,
  no augmentation, seed {meta['seed']}, torch {meta['torch']}, {meta['machine']}, {meta['seconds']} s, {meta['date']}.
- Stored as a float16 state dict with this metadata (`torch.load(path, weights_only=True)`).
- Accuracy of the stored weights: **{meta['test_acc']:.4f}** on the 10,000 Fashion-MNIST test images,
  **{meta['sample_test_acc']:.4f}** on the 500 test images bundled with cslib (`cslib/samples`), which the tests re-measure.
- sha256 `{sha256(path)}` ({path.stat().st_size:,} bytes)

How to reproduce: with the Fashion-MNIST files in `$CSLIB_DATA/FashionMNIST/raw`, run
`CSLIB_DATA=... python scripts/pretrain_base.py` (CPU, one run; other torch versions or thread
counts can change the last digits of the weights, not the accuracy to within a few tenths of a percent).

| epoch | training loss | training accuracy | test accuracy |
|---|---|---|---|
{curve}
"""
    out = path.with_name("PROVENANCE.md")
    out.write_text(text)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=BASE_WEIGHTS, help="where to write the weights (default: cslib/weights/)")
    args = parser.parse_args(argv)
    if cslib.fast_mode() and args.out.resolve() == BASE_WEIGHTS.resolve():
        print("error: fast mode (CSLIB_FAST=1) trains on the small samples; the shipped weights must come from "
              "the full Fashion-MNIST. Unset CSLIB_FAST, or pass --out elsewhere for a trial run.", file=sys.stderr)
        return 1
    start = time.perf_counter()
    model, history, data = train_base(args.epochs, args.seed)
    meta = save(model, history, data, args.epochs, args.seed, args.out)
    provenance = write_provenance(meta, args.out, history)
    print(history)
    print(f"saved {args.out} ({args.out.stat().st_size:,} bytes) and {provenance}: test accuracy {meta['test_acc']:.4f}, "
          f"on the bundled sample {meta['sample_test_acc']:.4f}; {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
