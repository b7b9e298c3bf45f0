"""Training: the decks' ``train_batch`` and ``accuracy``, plus a fast ``fit`` that the lectures reuse.

``fit`` does what the decks' loop does, minus its slow parts: the data set lives on the device
as two tensors and batches are sliced from it (no per-sample ``__getitem__``), the training
accuracy comes from the forward passes that train (no second pass over the training set), and
the loss is summed on the device (no GPU-to-CPU sync per batch). Two more choices keep the math
the same and the time down: Adam's "fused" implementation (one pass over all parameters instead
of several), and, for convolutional networks, the channels-last memory layout during training,
which CPU (oneDNN) and GPU (cuDNN) convolutions run fastest on.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from cslib.runtime import get_device

Batch = tuple[torch.Tensor, torch.Tensor]


def train_batch(x: torch.Tensor, y: torch.Tensor, model: nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable) -> float:
    """One gradient step on a batch (the decks' function); returns the batch loss."""
    model.train()  # dropout on, batch norm uses and updates batch statistics
    opt.zero_grad()  # forget the previous batch's gradients
    batch_loss = loss_fn(model(x), y)
    batch_loss.backward()  # compute gradients
    opt.step()  # one step of gradient descent
    return batch_loss.item()


@torch.no_grad()
def accuracy(x: torch.Tensor, y: torch.Tensor, model: nn.Module) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y`` (the decks' function)."""
    model.eval()  # dropout off, batch norm uses its running statistics
    prediction = model(x)
    return (prediction.argmax(dim=1) == y).float().mean().item()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1000,
             loss_fn: Callable | None = None, device: torch.device | str | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, y)``, in eval mode, batch by batch."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    total_loss, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        out = model(xb)
        total_loss += loss_fn(out, yb) * len(yb)
        correct += (out.argmax(dim=1) == yb).sum()
    model.train(was_training)
    n = max(len(x), 1)
    return total_loss.item() / n, correct.item() / n


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """Class probabilities (softmax of the outputs) for every row of ``x``, on the CPU."""
    device = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    out = [torch.softmax(model(x[i:i + batch_size].to(device)), dim=1).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


@dataclass
class History:
    """What ``fit`` measured, one entry per epoch."""

    loss: list[float] = field(default_factory=list)  # mean training loss
    train_acc: list[float] = field(default_factory=list)  # accuracy of the training forward passes
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # wall time of each epoch's training pass

    def __len__(self) -> int:
        return len(self.loss)

    @property
    def epochs(self) -> list[int]:
        return list(range(1, len(self) + 1))

    def as_dict(self) -> dict[str, list[float]]:
        return asdict(self)

    def __repr__(self) -> str:
        rows = ["epoch   loss  train_acc  test_loss  test_acc  seconds"]
        for i in range(len(self)):
            test = f"{self.test_loss[i]:9.4f}  {self.test_acc[i]:8.4f}" if self.test_acc else f"{'-':>9}  {'-':>8}"
            rows.append(f"{i + 1:5d} {self.loss[i]:6.4f}  {self.train_acc[i]:9.4f}  {test}  {self.seconds[i]:7.1f}")
        return "\n".join(rows)


def fit(
    model: nn.Module,
    train: Batch | Dataset,
    test: Batch | Dataset | None = None,
    *,
    epochs: int = 5,
    batch_size: int = 32,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Callable | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    scheduler: Callable | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    desc: str = "",
    stop_at: float | None = None,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train`` and return a :class:`History`.

    ``train`` and ``test`` are ``(x, y)`` tensor pairs, or Datasets with ``.x``/``.y`` (like the
    decks' ``MNISTDataset``) or ``.tensors`` (``TensorDataset``). Inputs must already be float
    and shaped for the model (see ``cslib.data.prepare``). Defaults follow the decks: Adam with
    ``lr``, cross-entropy, batches of 32. ``augment`` transforms each batch on the device;
    ``scheduler(optimizer, total_steps)`` may return a learning-rate scheduler stepped per batch.
    ``stop_at`` ends training after the first epoch whose test accuracy reaches it.
    """
    if stop_at is not None and test is None:
        raise ValueError("stop_at needs test data: pass test=(x_test, y_test)")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be at least 1, got epochs={epochs}, batch_size={batch_size}")
    device = get_device() if device is None else torch.device(device)
    x, y = (t.to(device) for t in _as_pair(train, "train"))
    test_pair = tuple(t.to(device) for t in _as_pair(test, "test")) if test is not None else None
    model.to(device)
    optimizer = optimizer or adam(model, lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # let cuDNN pick the fastest convolution for these shapes
    channels_last = x.dim() == 4 and device.type in ("cpu", "cuda") and any(isinstance(m, nn.Conv2d) for m in model.modules())
    if channels_last:
        model.to(memory_format=torch.channels_last)  # undone at the end, so the model looks as before
    n, steps = len(x), math.ceil(len(x) / batch_size)
    sched = scheduler(optimizer, epochs * steps) if scheduler is not None else None
    history = History()
    bar = tqdm(total=epochs * steps, disable=not progress, unit="batch", desc=desc or "training", dynamic_ncols=True)
    try:
        for epoch in range(epochs):
            bar.set_description(f"{desc + ' ' if desc else ''}epoch {epoch + 1}/{epochs}")
            model.train()
            start = time.perf_counter()
            order = torch.randperm(n).to(device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            for i in range(steps):
                idx = order[i * batch_size:(i + 1) * batch_size]
                xb, yb = x[idx], y[idx]
                if augment is not None:
                    xb = augment(xb)
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                optimizer.zero_grad(set_to_none=True)
                out = _forward(model, xb) if i == 0 and epoch == 0 else model(xb)
                loss = loss_fn(out, yb)
                loss.backward()
                optimizer.step()
                if sched is not None:
                    sched.step()
                loss_sum += loss.detach() * len(yb)
                correct += (out.argmax(dim=1) == yb).sum()
                bar.update()
            history.loss.append(loss_sum.item() / n)  # .item() waits for the GPU, so the time below is real
            history.train_acc.append(correct.item() / n)
            history.seconds.append(time.perf_counter() - start)
            postfix = {"loss": f"{history.loss[-1]:.4f}", "train_acc": f"{history.train_acc[-1]:.4f}"}
            if test_pair is not None:
                test_loss, test_acc = evaluate(model, *test_pair, loss_fn=loss_fn, device=device)
                history.test_loss.append(test_loss)
                history.test_acc.append(test_acc)
                postfix["test_acc"] = f"{test_acc:.4f}"
            bar.set_postfix(postfix)
            if stop_at is not None and history.test_acc[-1] >= stop_at:
                break
    finally:
        bar.close()
        if channels_last:
            model.to(memory_format=torch.contiguous_format)
    return history


def adam(model: nn.Module, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam over the trainable parameters, fused where this torch and device can (same math, less time)."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch, or a device without fused kernels
        return torch.optim.Adam(params, lr=lr)


def _forward(model: nn.Module, xb: torch.Tensor) -> torch.Tensor:
    """The first forward pass, with a hint when the input shape does not fit the model."""
    try:
        return model(xb)
    except RuntimeError as e:
        if "shape" in str(e) or "size" in str(e):
            raise RuntimeError(
                f"model(x) failed on a batch of shape {tuple(xb.shape)}: {e}\nHint: an MLP wants flat inputs "
                "(N, 784), a CNN wants (N, 1, 28, 28); see cslib.data.prepare(images, flatten=...)."
            ) from e
        raise


def _as_pair(data, name: str) -> Batch:
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    elif hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
    elif hasattr(data, "tensors") and len(data.tensors) == 2:
        x, y = data.tensors
    else:
        raise TypeError(f"{name} must be an (x, y) pair of tensors or a Dataset with .x and .y, got {type(data).__name__}")
    if not (torch.is_tensor(x) and torch.is_tensor(y)):
        raise TypeError(f"{name}: x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: x is {x.dtype}; rescale images to floats first, e.g. cslib.data.prepare(images)")
    if len(x) != len(y):
        raise ValueError(f"{name}: {len(x)} inputs but {len(y)} labels")
    if len(x) == 0:
        raise ValueError(f"{name} is empty")
    return x, y.long()


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")
