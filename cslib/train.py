"""Training: the decks' ``train_batch`` and ``accuracy``, plus a fast ``fit`` that the lectures reuse.

``fit`` does what the decks' loop does, minus its slow parts: the data set lives on the device
as two tensors and batches are sliced from it (no per-sample ``__getitem__``), the training
accuracy comes from the forward passes that train (no second pass over the training set), and
the loss is summed on the device (no GPU-to-CPU sync per batch). Two more choices keep the math
the same and the time down: Adam's "fused" implementation (one pass over all parameters instead
of several; an Adam the student made with torch's defaults runs fused too, during ``fit``), and, for
convolutional networks, the channels-last memory layout during training, which CPU (oneDNN) and GPU
(cuDNN) convolutions run fastest on.

``evaluate`` and ``predict_proba`` (and everything in cslib that only needs a model's outputs) run
the model the same way, without autograd (``torch.inference_mode``) and in batches sized for the
device, so that the test pass that ``fit`` makes after each epoch costs little next to the training.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
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


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int | None = None,
             loss_fn: Callable | None = None, device: torch.device | str | None = None,
             channels_last: bool | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, y)``, in eval mode, batch by batch.

    It runs the way ``fit`` trains, only faster: no autograd at all (``torch.inference_mode``),
    convolutional networks in the channels-last layout on CPUs and CUDA GPUs (``channels_last=None``;
    True or False forces a layout), and batches of :func:`eval_batch_size` (``batch_size`` overrides it).
    The model comes back in its own mode and memory layout.
    """
    _check_inputs(x, "x", len(y))
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = _model_device(model) if device is None else torch.device(device)
    batch_size = _eval_batch(batch_size, device)
    with _inference(model, x, device, channels_last) as to_device:
        total_loss, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
        for i in range(0, len(x), batch_size):
            xb, yb = to_device(x[i:i + batch_size]), y[i:i + batch_size].to(device)
            out = model(xb) if i else _forward(model, xb)
            if i == 0 and out.ndim == 2:  # once per call: labels a cross-entropy can take (else a raw IndexError)
                _check_label_range("y", y, out.shape[1], loss_fn)
            total_loss += loss_fn(out, yb) * len(yb)
            correct += (out.argmax(dim=1) == yb).sum()
        n = len(x)
        return total_loss.item() / n, correct.item() / n


def predict_proba(model: nn.Module, x: torch.Tensor, *, batch_size: int | None = None,
                  device: torch.device | str | None = None, channels_last: bool | None = None) -> torch.Tensor:
    """Class probabilities (softmax of the outputs) for every row of ``x``, on the CPU (run as in :func:`evaluate`)."""
    _check_inputs(x, "x")
    device = _model_device(model) if device is None else torch.device(device)
    batch_size = _eval_batch(batch_size, device)
    with _inference(model, x, device, channels_last) as to_device:
        out = [torch.softmax(_forward(model, to_device(x[i:i + batch_size])), dim=1).cpu() for i in range(0, len(x), batch_size)]
    # joined outside inference mode: a normal tensor, which later code may change in place or use with autograd
    return torch.cat(out) if out else torch.empty(0)


EVAL_BATCH_SIZE = {"cpu": 128, "cuda": 1024, "mps": 1024}  # the fastest sizes measured for the course's networks


def eval_batch_size(device: torch.device | str) -> int:
    """The batch size :func:`evaluate` and :func:`predict_proba` use on ``device``: on a CPU, small batches
    whose activations stay in the cache (``benchmarks/bench_training.py --sections evaluate`` times the
    choices); on a GPU, large ones that keep it busy."""
    return EVAL_BATCH_SIZE.get(torch.device(device).type, 1024)


def _eval_batch(batch_size: int | None, device: torch.device) -> int:
    if batch_size is None:
        return eval_batch_size(device)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1 (or None: {eval_batch_size(device)} on {device.type}), got {batch_size!r}")
    return batch_size


def uses_channels_last(model: nn.Module, x: torch.Tensor, device: torch.device) -> bool:
    """Whether ``fit`` and ``evaluate`` run ``model`` in the channels-last layout: image batches (N, C, H, W)
    through a network with convolutions, on a CPU (oneDNN) or a CUDA GPU (cuDNN), which run them fastest so."""
    return x.dim() == 4 and device.type in ("cpu", "cuda") and any(isinstance(m, nn.Conv2d) for m in model.modules())


@contextmanager
def _inference(model: nn.Module, x: torch.Tensor, device: torch.device, channels_last: bool | None):
    """Eval mode, ``torch.inference_mode`` and the layout chosen for ``model``; yields the function that
    moves a batch to ``device`` in that layout. The mode and every tensor's layout are put back afterwards."""
    if channels_last is None:
        layout = torch.channels_last if uses_channels_last(model, x, device) else None  # None: as the model is
    else:
        layout = torch.channels_last if channels_last else torch.contiguous_format

    def to_device(xb: torch.Tensor) -> torch.Tensor:
        xb = xb.to(device)
        return xb.contiguous(memory_format=layout) if layout is not None and xb.dim() == 4 else xb

    was_training, swapped = model.training, []
    model.eval()
    try:
        if layout is not None:  # outside inference mode, so that the weights stay ordinary tensors
            for t in (*model.parameters(), *model.buffers()):
                if t.dim() == 4:
                    converted = t.data.to(memory_format=layout)  # the same tensor if it is in that layout already
                    if converted.data_ptr() != t.data_ptr():
                        swapped.append((t, t.data))
                        t.data = converted
        with torch.inference_mode():
            yield to_device
    finally:
        for t, original in swapped:
            t.data = original  # the very tensors the model had: nothing copied back
        model.train(was_training)


def _check_inputs(x, name: str, n_labels: int | None = None) -> None:
    """Float tensor inputs (and as many labels), or a one-line error saying what to do."""
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}" + (" (torch.from_numpy(...) converts it)" if hasattr(x, "__array__") else ""))
    if not x.is_floating_point():
        raise TypeError(f"{name} is {x.dtype}; rescale images to floats first, e.g. cslib.data.prepare(images)")
    if n_labels is not None and len(x) != n_labels:
        raise ValueError(f"{len(x)} inputs but {n_labels} labels")
    if n_labels is not None and len(x) == 0:
        raise ValueError(f"{name} is empty: nothing to evaluate")


@dataclass
class History:
    """What ``fit`` measured, one entry per epoch."""

    loss: list[float] = field(default_factory=list)  # mean training loss
    train_acc: list[float] = field(default_factory=list)  # accuracy of the training forward passes
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # wall time of each epoch's training pass
    interrupted = False  # True when Ctrl-C (Jupyter's stop button) ended fit early (not a field: as_dict has the lists only)

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
        if self.interrupted:
            rows.append(f"(interrupted: {len(self)} finished epoch(s))")
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
    ``lr``, cross-entropy, batches of 32; a ``torch.optim.Adam`` or ``AdamW`` made with torch's defaults
    runs its fused implementation while ``fit`` trains (the same update, in less time). ``augment`` transforms each batch on the device;
    ``scheduler(optimizer, total_steps)`` may return a learning-rate scheduler stepped per batch.
    ``stop_at`` ends training after the first epoch whose test accuracy reaches it.

    Before training, one small batch of each set goes through the model, so that inputs of the
    wrong shape and labels outside ``0..classes-1`` fail at once with a message; float64 inputs
    are converted to the model's dtype (with a note); with batch norm a last batch of one
    joins the batch before. Ctrl-C (Jupyter's stop button) ends training early: ``fit`` returns the
    finished epochs (``history.interrupted`` is True) and leaves the model in eval mode. A loss
    that becomes NaN or infinite stops training with :class:`LossNotFiniteError`.
    """
    if stop_at is not None and test is None:
        raise ValueError("stop_at needs test data: pass test=(x_test, y_test)")
    if stop_at is not None and not 0 < stop_at <= 1:
        raise ValueError(f"stop_at is a test accuracy between 0 and 1, got {stop_at}"
                         + (f" (for {stop_at} % write {stop_at / 100:g})" if 1 < stop_at <= 100 else ""))
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    device = get_device(device)  # None: the best there is; a device asked for must exist (a clear error if not)
    x, y = (t.to(device) for t in _as_pair(train, "train"))
    test_pair = tuple(t.to(device) for t in _as_pair(test, "test")) if test is not None else None
    model.to(device)
    x, test_pair = _match_model_dtype(model, x, test_pair)
    optimizer = optimizer or adam(model, lr)
    _check_optimizer(optimizer, model)
    fused = _fused_adam_groups(optimizer, device)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # let cuDNN pick the fastest convolution for these shapes
    channels_last = uses_channels_last(model, x, device)
    if channels_last:
        model.to(memory_format=torch.channels_last)  # undone at the end, so the model looks as before
    n, steps = len(x), math.ceil(len(x) / batch_size)
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        if n == 1:
            raise ValueError("train holds one example, and batch norm cannot normalise a batch of one in training mode "
                             "(there is no spread to divide by): train on at least 2 examples")
        if n % batch_size == 1:
            steps -= 1  # a batch of one can fail in batch norm (torch raises): the last input joins the batch before
    history, bar, epoch = History(), None, 0
    check_within_epoch = device.type == "cpu"  # the loss is checked after each epoch; on a CPU (no device to wait for) more often
    try:
        for group in fused:
            group["fused"] = True  # put back at the end
        _check_before_training(model, x, y, test_pair, loss_fn, channels_last, device)  # one batch, in eval mode
        sched = scheduler(optimizer, epochs * steps) if scheduler is not None else None
        bar = tqdm(total=epochs * steps, disable=not progress, unit="batch", desc=desc or "training", dynamic_ncols=True)
        for epoch in range(epochs):
            bar.set_description(f"{desc + ' ' if desc else ''}epoch {epoch + 1}/{epochs}")
            model.train()
            start = time.perf_counter()
            order = torch.randperm(n).to(device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            for i in range(steps):
                idx = order[i * batch_size:(i + 1) * batch_size if i < steps - 1 else n]
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
                loss_sum.add_(loss.detach(), alpha=len(yb))  # one operation, no wait for the device
                correct += (out.argmax(dim=1) == yb).sum()
                bar.update()
                if check_within_epoch and (i + 1) % NAN_CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
                    raise LossNotFiniteError(_not_finite_message(loss_sum.item(), epoch, i + 1, steps, optimizer), history)
            mean_loss = loss_sum.item() / n  # .item() waits for the GPU, so the time below is real
            if not math.isfinite(mean_loss):
                raise LossNotFiniteError(_not_finite_message(mean_loss, epoch, steps, steps, optimizer), history)
            train_acc, seconds = correct.item() / n, time.perf_counter() - start
            postfix = {"loss": f"{mean_loss:.4f}", "train_acc": f"{train_acc:.4f}"}
            test_measures = None
            if test_pair is not None:
                test_measures = evaluate(model, *test_pair, loss_fn=loss_fn, device=device)
                postfix["test_acc"] = f"{test_measures[1]:.4f}"
            # the epoch is recorded only once all of it is measured, so an interrupted History stays consistent
            history.loss.append(mean_loss)
            history.train_acc.append(train_acc)
            history.seconds.append(seconds)
            if test_measures is not None:
                history.test_loss.append(test_measures[0])
                history.test_acc.append(test_measures[1])
            bar.set_postfix(postfix)
            if stop_at is not None and history.test_acc[-1] >= stop_at:
                break
    except KeyboardInterrupt:  # Ctrl-C, or Jupyter's stop button: keep what was measured
        model.eval()
        history.interrupted = True
        say = bar.write if bar is not None else print
        say(f"fit interrupted during epoch {epoch + 1}/{epochs}: returning the History of the {len(history)} finished "
            f"epoch(s). The model keeps every update made so far (the unfinished epoch's too) and is in eval mode on {device}. "
            "(Code after fit goes on: press stop again to stop it too.)")
    except LossNotFiniteError:
        model.eval()
        raise
    finally:
        for group in fused:
            group["fused"] = None
        if bar is not None:
            bar.close()
        if channels_last:
            model.to(memory_format=torch.contiguous_format)
    return history


NAN_CHECK_EVERY = 200  # on the CPU, batches between two checks that the loss is still finite (on a GPU: once per epoch)


class LossNotFiniteError(FloatingPointError):
    """The training loss became NaN or infinite; ``.history`` holds the epochs finished before."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


def _not_finite_message(value: float, epoch: int, batches: int, steps: int, optimizer: torch.optim.Optimizer) -> str:
    lr = optimizer.param_groups[0].get("lr", "?") if optimizer.param_groups else "?"
    return (f"the training loss became {value} in epoch {epoch + 1} (within its first {batches} of {steps} batches), "
            f"so training stopped: the model's weights are no longer usable. Is the learning rate ({lr}) too high? "
            "Try 10x smaller. Did the inputs or labels hold NaN? (fit checks the inputs; an augment function or a "
            "custom loss can still produce NaN.) The epochs finished before are in the error's .history.")


def _match_model_dtype(model: nn.Module, x: torch.Tensor, test_pair):
    """Inputs in the floating-point type of the model's parameters (float64 data meets float32 models often)."""
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    xt = test_pair[0] if test_pair is not None else None
    if p is None or all(t is None or t.dtype == p.dtype for t in (x, xt)):
        return x, test_pair
    given = x.dtype if x.dtype != p.dtype else xt.dtype
    print(f"note: fit converts the inputs from {given} to {p.dtype}, the type the model computes in")
    if test_pair is not None:
        test_pair = (xt.to(p.dtype), test_pair[1])
    return x.to(p.dtype), test_pair


@torch.no_grad()
def _check_before_training(model, x, y, test_pair, loss_fn, channels_last: bool, device) -> None:
    """Run one small training batch and one test batch through the model (eval mode, no gradients, the random
    state restored) so that shapes that do not fit and labels outside the model's outputs fail now, with a
    message, rather than after an epoch or as a device-side assert."""
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            def batch(t: torch.Tensor) -> torch.Tensor:  # as fit's batches will be: channels-last where it trains so
                return t[:2].contiguous(memory_format=torch.channels_last) if channels_last and t.ndim == 4 else t[:2]

            out = _forward(model, batch(x))
            if test_pair is not None:
                xt = batch(test_pair[0])
                try:
                    model(xt)
                except RuntimeError as e:
                    raise RuntimeError(
                        f"the model works on training batches shaped {tuple(x.shape[1:])} but fails on the test set, "
                        f"shaped {tuple(test_pair[0].shape[1:])}: prepare both sets the same way (flat for an MLP, "
                        f"(N, 1, 28, 28) for a CNN). The error: {' '.join(str(e).split())[:300]}"
                    ) from None
    finally:
        model.train(was_training)
    if out.ndim < 2:
        return  # not a classifier's (N, classes) output: nothing to check the labels against
    n_classes = out.shape[1]
    for name, labels in (("train", y), ("test", test_pair[1] if test_pair is not None else None)):
        if labels is None or labels.numel() == 0:
            continue
        if out.ndim == 2 and labels.ndim != 1:
            hint = " (one-hot? use y.argmax(1))" if labels.ndim == 2 and labels.shape[1] == n_classes else \
                " (use y.view(-1))" if labels.ndim == 2 and labels.shape[1] == 1 else ""
            raise ValueError(f"{name}: labels must be one class number per input, shape (N,), got shape {tuple(labels.shape)}{hint}")
        _check_label_range(name, labels, n_classes, loss_fn)


def _check_label_range(name: str, labels: torch.Tensor, n_classes: int, loss_fn) -> None:
    """Labels in 0..n_classes-1 (a raw IndexError on the CPU, a device-side assert on CUDA otherwise)."""
    if labels.is_floating_point() or labels.numel() == 0:
        return
    allowed = getattr(loss_fn, "ignore_index", None)  # a label the loss skips, if the student chose one
    allowed = None if allowed == -100 else allowed  # -100 is torch's default, not a choice
    valid = labels if allowed is None else labels[labels != allowed]
    if valid.numel() == 0:
        return
    low, high = int(valid.min()), int(valid.max())
    if low < 0 or high >= n_classes:
        bad = low if low < 0 else high
        raise ValueError(f"{name}: label {bad} is outside the valid range 0..{n_classes - 1}: the model has "
                         f"{n_classes} outputs, one per class. Check the labels, or give the model's last layer "
                         f"as many outputs as there are classes (labels run from {low} to {high}).")


def adam(model: nn.Module, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam over the trainable parameters, fused where this torch and device can (same math, less time)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (are they all frozen?): unfreeze what should "
                         "learn, e.g. cslib.transfer.unfreeze(model.classifier)")
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch, or a device without fused kernels
        return torch.optim.Adam(params, lr=lr)


def _fused_adam_groups(optimizer: torch.optim.Optimizer, device: torch.device) -> list[dict]:
    """The parameter groups of a ``torch.optim.Adam``/``AdamW`` that left the implementation to torch (as
    ``Adam(model.parameters(), lr=1e-3)`` in the decks does) and can run the fused one: the same update in one
    pass over the parameters instead of several, several times faster on a CPU. On a GPU only for a new
    optimizer, whose state the fused implementation creates on the device itself."""
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW) or device.type not in ("cpu", "cuda"):
        return []
    if device.type != "cpu" and optimizer.state:
        return []
    return [g for g in optimizer.param_groups if g.get("fused", False) is None and g.get("foreach", False) is None
            and not g.get("differentiable") and all(p.device.type == device.type and p.is_floating_point() for p in g["params"])]


def _check_optimizer(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """An optimizer made for another model (say, before the model cell was run again) would train nothing."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if not any(id(p) in held for p in model.parameters()):
        raise ValueError("the optimizer holds none of this model's parameters, so training would change nothing: "
                         "was it made for another model (or before the model was made again)? Make it again, "
                         "e.g. torch.optim.Adam(model.parameters()), or leave optimizer out")


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
        hint = ""
        if hasattr(data, "dataset") and hasattr(data, "batch_size"):
            hint = " Pass the Dataset (loader.dataset) or the tensors, not a DataLoader: fit makes its own batches."
        elif hasattr(data, "data") and hasattr(data, "targets"):
            hint = " For a torchvision dataset pass (cslib.data.prepare(ds.data), ds.targets)."
        raise TypeError(f"{name} must be an (x, y) pair of tensors or a Dataset with .x and .y, got {type(data).__name__}.{hint}")
    if not (torch.is_tensor(x) and torch.is_tensor(y)):
        hint = " (torch.from_numpy(a) turns a NumPy array into one)" if any(hasattr(t, "__array__") for t in (x, y)) else ""
        raise TypeError(f"{name}: x and y must be tensors, got {type(x).__name__} and {type(y).__name__}{hint}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: x is {x.dtype}; rescale images to floats first, e.g. cslib.data.prepare(images)")
    if len(x) != len(y):
        raise ValueError(f"{name}: {len(x)} inputs but {len(y)} labels")
    if len(x) == 0:
        raise ValueError(f"{name} is empty")
    if y.is_floating_point():
        if not torch.isfinite(y).all() or (y != y.round()).any():
            bad = f"{y[~torch.isfinite(y) | (y != y.round())][0].item():g}"
            raise TypeError(f"{name}: labels must be whole class numbers (0, 1, 2, ...), got {y.dtype} values such "
                            f"as {bad}; converting would change them (8.9 would become 8). Check how the labels were made.")
    elif y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"{name}: labels must be whole class numbers (0, 1, 2, ...), got {y.dtype}")
    finite = torch.isfinite(x)
    if not finite.all():
        bad = (~finite).flatten(1).any(1) if x.ndim > 1 else ~finite
        first = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name}: {int(bad.sum()):,} of the {len(x):,} inputs hold NaN or infinite values (the first "
                         f"is number {first}); training on them gives a NaN loss. Find where they come from, or drop them.")
    return x, y.long()


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")
