"""The fast recipe: the decks' CNN accuracy on Fashion-MNIST in a fraction of their training time.

The decks train for 5 epochs with batches of 32 and Adam at a fixed learning rate of 0.001; their
CNN reaches 91.2 % test accuracy. The recipe changes four things:

1. a CNN with batch normalization (:func:`fast_cnn`), which learns more from each epoch of data;
2. batches of 128 and a one-cycle learning-rate schedule (:func:`one_cycle`: warm up, then anneal
   to zero), so that 3 epochs are enough (on a 2-core CPU, 128 is also the batch size with the
   fewest seconds per epoch: see the scaling table of the benchmark);
3. bfloat16 autocast (:class:`BFloat16`) where the hardware computes in bfloat16 natively
   (:func:`bf16_applies`): the tensor cores of CUDA GPUs, and CPUs with AVX-512 BF16 or AMX
   (recent Intel Xeons), where oneDNN runs the convolutions in bfloat16 with float32 sums;
4. no wasted work: the data stays on the device, nothing is computed twice, and convolutions run
   in the channels-last layout (``cslib.fit`` does all that for every network).

``benchmarks/bench_training.py`` measures how much faster it reaches 91.2 % than the decks' loop.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.data import Dataset

from cslib.runtime import get_device
from cslib.train import Batch, History, fit


def fast_cnn(width: int = 32) -> nn.Sequential:
    """Three conv-BN-ReLU-pool blocks (width, 2x, 4x filters) and a linear classifier; 104,426 parameters at width 32."""
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(1, width), *block(width, 2 * width), *block(2 * width, 4 * width),
                         nn.Flatten(), nn.Linear(4 * width * 3 * 3, 10))


def one_cycle(max_lr: float, pct_start: float = 0.25) -> Callable:
    """A scheduler factory for ``fit(scheduler=...)``: the learning rate rises to ``max_lr``, then falls to ~0."""
    def make(optimizer: torch.optim.Optimizer, total_steps: int):
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start)

    return make


class BFloat16(nn.Module):
    """Runs a model under bfloat16 autocast (see :func:`bf16_applies`); outputs come back as float32.

    The wrapped model's own parameters are trained, so training the wrapper trains the model.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
            return self.model(x).float()


def gpu_speedups_apply(device: torch.device) -> bool:
    """bfloat16 autocast helps on CUDA GPUs that support it (Ampere and newer)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def cpu_has_native_bf16() -> bool:
    """This CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX); elsewhere oneDNN would emulate it, slowly."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        return any(check() for check in checks if check is not None)
    except RuntimeError:
        return False


def bf16_applies(device: torch.device) -> bool:
    """Whether :func:`fast_fit` trains under bfloat16 autocast on ``device``: a CUDA GPU with bfloat16 support,
    or a CPU with native bfloat16 arithmetic (:func:`cpu_has_native_bf16`)."""
    return gpu_speedups_apply(device) or (device.type == "cpu" and cpu_has_native_bf16())


def fast_fit(model: nn.Module, train: Batch | Dataset, test: Batch | Dataset | None = None, *, epochs: int = 3, batch_size: int = 128, max_lr: float = 1e-2,
             stop_at: float | None = None, device: torch.device | str | None = None, progress: bool = True,
             bf16: bool | None = None) -> History:
    """Train ``model`` with the fast recipe (see the module docstring); returns ``fit``'s History.

    ``stop_at`` ends training after the first epoch whose test accuracy reaches it. ``bf16`` chooses
    bfloat16 autocast (None: where :func:`bf16_applies`; False: float32 throughout).
    """
    device = get_device() if device is None else torch.device(device)
    model.to(device)
    runner = BFloat16(model) if (bf16_applies(device) if bf16 is None else bf16) else model
    return fit(runner, train, test, epochs=epochs, batch_size=batch_size, lr=max_lr, scheduler=one_cycle(max_lr),
               device=device, progress=progress, stop_at=stop_at, desc="fast recipe")
