"""Where and how the course code runs: fast mode, the device, random seeds.

Fast mode (``CSLIB_FAST=1``) makes every notebook run in seconds: data loaders return the
small samples bundled with cslib and long trainings shrink (see :func:`budget`). The tests
run in fast mode; students and the stored notebook outputs use full mode.
"""
from __future__ import annotations

import os
import platform
import random
from typing import TypeVar

import numpy as np
import torch

FAST_ENV = "CSLIB_FAST"
DEVICE_ENV = "CSLIB_DEVICE"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
T = TypeVar("T")


def fast_mode() -> bool:
    """True when the environment variable ``CSLIB_FAST`` is set to 1/true/yes/on."""
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{FAST_ENV}={os.environ[FAST_ENV]!r} is not understood: use {FAST_ENV}=1 (fast) or {FAST_ENV}=0 (full).")


def budget(full: T, fast: T) -> T:
    """Pick a size for the current mode, e.g. ``n_epochs = budget(full=5, fast=1)``."""
    return fast if fast_mode() else full


def get_device(name: str | None = None) -> torch.device:
    """The device to train on: CUDA if present, else Apple's MPS, else the CPU.

    ``name`` (or the ``CSLIB_DEVICE`` environment variable) forces a choice, e.g. "cpu".
    """
    name = name or os.environ.get(DEVICE_ENV) or None
    if name is not None:
        try:
            device = torch.device(name)
        except (RuntimeError, TypeError, ValueError):
            raise ValueError(f"unknown device {name!r}: use 'cpu', 'cuda' (an NVIDIA GPU, or 'cuda:1' for the second) "
                             "or 'mps' (Apple silicon)") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for but torch.cuda.is_available() is False.")
        if device.type == "mps" and not _mps_available():
            raise RuntimeError("MPS was asked for but torch.backends.mps.is_available() is False.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (CPU and GPU) so that CPU runs repeat exactly."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be a whole number from 0 to 2**32 - 1, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _as_switch(value: bool | int | str) -> bool:
    """``fast``'s value as a bool: True/False, 1/0, or the words CSLIB_FAST understands ("1", "yes", "off", ...)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"fast={value!r} is not understood: use fast=True (or 1) for fast mode, False (or 0) for full mode, "
                     "or None to follow CSLIB_FAST.")


def describe_device(device: torch.device) -> str:
    """A short human description of a device, e.g. 'cuda (NVIDIA T4)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return device.type


def setup(seed: int = 0, fast: bool | int | str | None = None) -> torch.device:
    """The first cell of every notebook: seed everything, pick the device, say what runs where.

    ``fast`` switches the mode for this notebook: True (or 1) fast, False (or 0) full, None leaves it
    to ``CSLIB_FAST``. Notebooks pass the ``fast`` of their ``parameters`` cell, which papermill
    overrides (``papermill lab.ipynb out.ipynb -p fast 1``). The choice is written to ``CSLIB_FAST``
    in this process, so every loader and :func:`budget` after it follows it.

    Returns the device, so notebooks can write ``device = cslib.setup()``.
    """
    if fast is not None:
        os.environ[FAST_ENV] = "1" if _as_switch(fast) else "0"
    set_seed(seed)
    device = get_device()
    from cslib import __version__

    mode = ("FAST (bundled samples, short trainings; for the real thing set fast = False in the parameters cell, "
            "or CSLIB_FAST=0)") if fast_mode() else "full"
    print(f"cslib {__version__} | torch {torch.__version__} | device: {describe_device(device)} | mode: {mode} | seed {seed}")
    if device.type == "cpu":
        print("No GPU found: this works on the CPU, only slower. In Colab: Runtime > Change runtime type > GPU.")
    if os.environ.get("CSLIB_CHECK_FIGURES") == "1":  # the tests: fail a cell whose figure tells lines apart by colour alone
        from cslib import figcheck

        figcheck.watch()
    return device
