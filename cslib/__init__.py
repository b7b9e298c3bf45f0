"""cslib: the helper package of the course "Deep Learning for Computer Vision in PyTorch".

Modules, each small enough to read. For students (what ``pip install -e ".[student]"`` installs is enough):

- ``cslib.runtime``  fast mode, device choice, seeds (``cslib.setup()`` starts every notebook)
- ``cslib.data``     MNIST / Fashion-MNIST from disk, Debian, torchvision or the bundled samples
- ``cslib.train``    the decks' ``train_batch``/``accuracy`` and a fast ``fit``
- ``cslib.compare``  paired comparisons over seeds, with the verdict printed by code
- ``cslib.plot``     image grids, training curves and the lectures' other figures
- ``cslib.augment``  augmentation of whole batches on the device, one random transform per image
- ``cslib.shifts``   how predictions change when images shift (lecture 3)
- ``cslib.conv``     convolution, padding and pooling written with loops (lecture 2)
- ``cslib.models``   the lectures' networks, as the decks define them, and a parameter summary
- ``cslib.recipe``   a faster training recipe than the decks' (lecture 2's CNN in a fraction of the time)
- ``cslib.transfer`` feature extraction and fine-tuning (lecture 4)
- ``cslib.widgets``  the interactive explorers (sliders) of lectures 2 and 3
- ``cslib.checks``   the inline checks of the labs (also used by the grader)

For instructors (they need ``pip install -e ".[instructor]"``: nbgrader, nbformat, Sphinx):

- ``cslib.labs``     builds the student labs from the solution notebooks
- ``cslib.grade``    the grader, a package: ``python -m cslib.grade LAB SUBMISSIONS...``
- ``cslib.site``     the course website: ``python -m cslib.site build``

Submodules load on first use: ``import cslib; cslib.data.load("mnist")`` works. So do the functions below
(``cslib.fit`` is ``cslib.train.fit``): ``import cslib`` alone does not import torch, so that the instructors' tools
that need none of it (the grader's main process, the site build) start quickly.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
REPO = "dlcv-course/dlcv-pytorch"  # GitHub owner/name, used by the notebooks' Colab badges

_SUBMODULES = {"augment", "checks", "compare", "conv", "data", "figcheck", "grade", "labs", "models", "plot", "recipe", "runtime", "shifts",
               "train", "transfer", "widgets"}
_FUNCTIONS = {**dict.fromkeys(["budget", "fast_mode", "get_device", "set_seed", "setup"], "runtime"),
              **dict.fromkeys(["accuracy", "evaluate", "fit", "predict_proba", "train_batch"], "train")}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"cslib.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"cslib.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'cslib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBMODULES, *_FUNCTIONS})


__all__ = ["accuracy", "budget", "evaluate", "fast_mode", "fit", "get_device", "predict_proba", "set_seed", "setup", "train_batch"]
