"""cslib: the helper package of the course "Deep Learning for Computer Vision in PyTorch".

Modules, each small enough to read:

- ``cslib.runtime``  fast mode, device choice, seeds (``cslib.setup()`` starts every notebook)
- ``cslib.data``     MNIST / Fashion-MNIST from disk, Debian, torchvision or the bundled samples
- ``cslib.train``    the decks' ``train_batch``/``accuracy`` and a fast ``fit``
- ``cslib.compare``  paired comparisons over seeds, with the verdict printed by code
- ``cslib.plot``     image grids, training curves and the lectures' other figures
- ``cslib.augment``  augmentation of whole batches on the device, one random transform per image
- ``cslib.shifts``   how predictions change when images shift (lecture 3)
- ``cslib.labs``     builds the student labs from the solution notebooks
- ``cslib.checks``   the inline checks of the labs (also used by the grader)
- ``cslib.grade``    the instructor's grader, a package: ``python -m cslib.grade LAB SUBMISSIONS...``

Submodules load on first use: ``import cslib; cslib.data.load("mnist")`` works.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
REPO = "dlcv-course/dlcv-pytorch"  # GitHub owner/name, used by the notebooks' Colab badges

from cslib.runtime import budget, fast_mode, get_device, set_seed, setup  # noqa: E402
from cslib.train import accuracy, evaluate, fit, predict_proba, train_batch  # noqa: E402

_SUBMODULES = {"augment", "checks", "compare", "conv", "data", "grade", "labs", "models", "plot", "recipe", "runtime", "shifts",
               "train", "transfer", "widgets"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"cslib.{name}")
    raise AttributeError(f"module 'cslib' has no attribute {name!r}")


__all__ = ["accuracy", "budget", "evaluate", "fast_mode", "fit", "get_device", "predict_proba", "set_seed", "setup", "train_batch"]
