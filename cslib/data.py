"""MNIST and Fashion-MNIST as uint8 tensors, from wherever they can be found.

``load("fashion-mnist", train=True)`` returns an :class:`ImageSet` (``.data`` uint8 of shape
(N, 28, 28), ``.targets``, ``.classes``, like torchvision's datasets) and prints where the
images came from. Sources, tried in order:

1. fast mode (``CSLIB_FAST=1``): the small real samples bundled with cslib, and nothing else;
2. the data directory, ``$CSLIB_DATA`` or ``~/data``, in torchvision's layout
   (``<dir>/FashionMNIST/raw/train-images-idx3-ubyte[.gz]``, ...);
3. Fashion-MNIST only: Debian's package ``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist);
4. torchvision's own download into the data directory (online machines, Colab);
5. MNIST only: a 10,000-digit subset put in the data directory with ``python -m cslib.data
   import``, used with a loud note, since it is not the full data set.

When nothing works, :class:`DataNotFoundError` says what was tried and how to fix it.
Command line (for offline compute nodes: fetch on a machine that is online, copy the folder)::

    python -m cslib.data fetch --root DIR          # download both data sets into DIR
    python -m cslib.data import SRC --dataset NAME # copy local IDX files or the 10k MNIST .npz
    python -m cslib.data info                      # where each data set would come from
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import gzip
import os
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from cslib.runtime import fast_mode

DATA_ENV = "CSLIB_DATA"
SAMPLES_DIR = Path(__file__).with_name("samples")
SUBSET_FILE = "subset.npz"
SUBSET_TRAIN_FRACTION = 0.8
DOWNLOAD_TIMEOUT = 20.0  # seconds a download may wait for a connection or for data before it gives up


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # how people write it, e.g. "Fashion-MNIST"
    folder: str  # torchvision's folder name under the data directory
    classes: tuple[str, ...]
    debian_dir: Path | None = None


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("MNIST", "MNIST", tuple(str(d) for d in range(10))),
    "fashion-mnist": DatasetInfo(
        "Fashion-MNIST",
        "FashionMNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        debian_dir=Path("/usr/share/datasets/fashion-mnist"),
    ),
}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist"}


class DataFileError(RuntimeError):
    """A data file exists but cannot be used (truncated, corrupt, unreadable)."""


class DataNotFoundError(RuntimeError):
    """No source could provide the data set."""


@dataclass
class ImageSet:
    """Images and labels of one split, with where they came from."""

    data: torch.Tensor  # uint8, (N, 28, 28)
    targets: torch.Tensor  # int64, (N,)
    classes: list[str]
    name: str
    train: bool
    source: str = field(default="")

    @property
    def split(self) -> str:
        return "train" if self.train else "test"

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        n, h, w = self.data.shape
        return f"ImageSet({self.name} {self.split}: {n:,} images {h}x{w}, {len(self.classes)} classes; from {self.source})"


def dataset_info(name: str) -> DatasetInfo:
    """Look a data set up by name ("mnist", "fashion-mnist", "FashionMNIST", ...)."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        close = difflib.get_close_matches(key, list(DATASETS) + list(_ALIASES), n=1)
        hint = f" Did you mean {_ALIASES.get(close[0], close[0])!r}?" if close else ""
        raise ValueError(f"Unknown dataset {name!r}.{hint} Known datasets: {', '.join(DATASETS)}.")
    return DATASETS[key]


def data_dir() -> Path:
    """The data directory: ``$CSLIB_DATA`` if set, else ``~/data``."""
    return Path(os.environ.get(DATA_ENV) or "~/data").expanduser()


def shown(path: Path) -> str:
    """``path`` as printed in a notebook: under ``$CSLIB_DATA`` or ``~``, not this machine's absolute path."""
    for prefix, base in ((f"${DATA_ENV}", os.environ.get(DATA_ENV)), ("~", str(Path.home()))):
        if base and (path == Path(base) or Path(base) in path.parents):
            return prefix + "/" + str(path.relative_to(base)) if path != Path(base) else prefix
    return str(path)


def _why_download_failed(error: BaseException) -> str:
    """A few words for a failed download: "no network" for the usual offline errors, else the error itself."""
    import socket
    import urllib.error

    text = " ".join(str(error).split()) or type(error).__name__
    offline = (urllib.error.URLError, socket.gaierror, socket.timeout, ConnectionError, TimeoutError)
    if isinstance(error, offline) or "urlopen error" in text or "Name or service not known" in text:
        return "no network"
    return text[:200]


# --------------------------------------------------------------------------- IDX files
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not, checking it is complete."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a cut .gz: EOFError; bad deflate data: zlib.error
        raise DataFileError(f"{path} cannot be read ({type(e).__name__}: {e}). {_remedy_for(path)}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataFileError(f"{path} is not an IDX file (wrong magic number). {_remedy_for(path)}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path} is truncated: its header is incomplete. {_remedy_for(path)}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataFileError(
            f"{path} is truncated or corrupt: its header promises shape {tuple(dims)} ({expected:,} bytes) "
            f"but it holds {len(raw) - header:,} bytes. {_remedy_for(path)}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzip-compressed if the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)


def _remedy_for(path: Path) -> str:
    return f"Delete it (rm '{path}') and load again to re-download, or fetch a fresh copy with `python -m cslib.data fetch`."


def _idx_names(train: bool) -> tuple[str, str]:
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _find_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        try:
            if candidate.is_file():
                return candidate
        except PermissionError:
            raise DataFileError(f"{folder} is not readable (permission denied). Fix its permissions or set {DATA_ENV} to another folder.") from None
    if folder.exists() and not os.access(folder, os.R_OK | os.X_OK):
        raise DataFileError(f"{folder} is not readable (permission denied). Fix its permissions or set {DATA_ENV} to another folder.")
    return None


def _read_pair(info: DatasetInfo, folder: Path, train: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Images and labels from IDX files in ``folder``; None when neither file is there."""
    image_stem, label_stem = _idx_names(train)
    image_file, label_file = _find_file(folder, image_stem), _find_file(folder, label_stem)
    if image_file is None and label_file is None:
        return None
    if image_file is None or label_file is None:
        have, missing = (image_file, label_stem) if label_file is None else (label_file, image_stem)
        raise DataFileError(f"{have} is there but {folder / missing}[.gz] is missing. Copy the missing file there, "
                            "or fetch both with `python -m cslib.data fetch`.")
    images, labels = read_idx(image_file), read_idx(label_file)
    _validate(info, images, labels, f"{image_file} + {label_file.name}")
    return images, labels


def _validate(info: DatasetInfo, images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataFileError(f"{where}: expected uint8 images of shape (N, 28, 28), found {images.dtype} {images.shape}.")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataFileError(f"{where}: {len(images):,} images but labels of shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataFileError(f"{where}: the labels are stored as {labels.dtype}; class labels are whole numbers "
                            f"0..{len(info.classes) - 1} (uint8 in the IDX format). The file is not {info.name}'s.")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(info.classes)):
        bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
        raise DataFileError(f"{where}: label {bad} is outside the valid range 0..{len(info.classes) - 1} "
                            f"({len(info.classes)} classes).")


# --------------------------------------------------------------------------- sources
def _from_bundled(info: DatasetInfo, train: bool) -> tuple[np.ndarray, np.ndarray, str]:
    path = SAMPLES_DIR / f"{info.folder.lower()}-sample.npz"
    split = "train" if train else "test"
    with np.load(path) as f:
        images, labels = f[f"{split}_images"], f[f"{split}_labels"]
    _validate(info, images, labels, str(path))
    return images, labels, f"the small sample bundled with cslib ({path.name}; fast mode: CSLIB_FAST=1)"


def _from_subset(info: DatasetInfo, root: Path, train: bool) -> tuple[np.ndarray, np.ndarray, str] | None:
    path = root / info.folder / SUBSET_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            images, labels = f["images"], f["labels"]
            description = str(f["description"]) if "description" in f else "a subset"
    except Exception as e:  # zipfile/pickle/key errors all mean the same to a user
        raise DataFileError(f"{path} cannot be read ({e}). Import it again with `python -m cslib.data import`.") from None
    _validate(info, images, labels, str(path))
    keep = _subset_split(labels, train)
    share = "first" if train else "last"
    pct = round(100 * (SUBSET_TRAIN_FRACTION if train else 1 - SUBSET_TRAIN_FRACTION))
    note = (
        f"{shown(path)}: {description}; this split is the {share} {pct}% of each class. "
        f"NOT the full {info.name}: fetch it with `python -m cslib.data fetch` for the real numbers"
    )
    return images[keep], labels[keep], note


def _subset_split(labels: np.ndarray, train: bool) -> np.ndarray:
    """A fixed stratified split: the first 80 % of each class (file order) trains, the rest tests.

    Returns indices in a fixed shuffled order, since subset files are often sorted by class.
    """
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        cut = int(round(SUBSET_TRAIN_FRACTION * len(idx)))
        chosen.append(idx[:cut] if train else idx[cut:])
    chosen = np.concatenate(chosen)
    return chosen[np.random.default_rng(0).permutation(len(chosen))]


def _torchvision_download(info: DatasetInfo, root: Path, train: bool) -> None:
    """torchvision's own download (the decks' ``datasets.MNIST(root, download=True)``).

    torchvision opens its URLs without a timeout, so on a firewalled machine that drops packets it
    would wait for minutes: the socket default timeout is set to ``DOWNLOAD_TIMEOUT`` around the call
    (restored after), so a connection or a read that gets no answer fails after that many seconds.
    (Name lookups are not covered by it: they follow the system resolver's own timeouts.)
    """
    from torchvision import datasets

    with download_timeout(DOWNLOAD_TIMEOUT):
        getattr(datasets, info.folder)(str(root), train=train, download=True)


@contextlib.contextmanager
def download_timeout(seconds: float) -> Iterator[None]:
    """Within it, a connection or a read that gets no answer for ``seconds`` fails instead of waiting for minutes
    (torchvision and torch.hub open their URLs without a timeout): the socket default timeout, restored after.
    Used by every download of the course (the data sets here, torchvision's weights in ``cslib.transfer``)."""
    import socket

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def load(name: str, train: bool = True, *, root: str | Path | None = None, download: bool = True, verbose: bool = True,
         fast: bool | None = None) -> ImageSet:
    """Load a split of MNIST or Fashion-MNIST as uint8 tensors (see the module docstring). ``fast``: the bundled
    sample (True) or the full set (False); None follows fast mode (``CSLIB_FAST``)."""
    info = dataset_info(name)
    if not isinstance(train, bool):  # load("mnist", "test") would otherwise give the training split
        raise TypeError(f"train must be True (training split) or False (test split), got {train!r}")
    split = "train" if train else "test"
    if fast_mode() if fast is None else fast:
        images, labels, source = _from_bundled(info, train)
    else:
        images, labels, source = _load_full(info, train, Path(root).expanduser() if root is not None else data_dir(), download)
    result = ImageSet(
        data=torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
        targets=torch.from_numpy(np.asarray(labels, dtype=np.int64)),
        classes=list(info.classes),
        name=info.name,
        train=train,
        source=source,
    )
    if verbose:
        print(f"{info.name} {split}: {len(result):,} images from {source}")
    return result


def _load_full(info: DatasetInfo, train: bool, root: Path, download: bool) -> tuple[np.ndarray, np.ndarray, str]:
    tried: list[str] = []
    raw = root / info.folder / "raw"
    pair = _read_pair(info, raw, train)
    if pair is not None:
        return (*pair, f"{shown(raw)} (data directory)")
    tried.append(f"data directory {raw}: no {_idx_names(train)[0]}[.gz] there (set {DATA_ENV} to use another folder)")

    if info.debian_dir is not None:
        pair = _read_pair(info, info.debian_dir, train)
        if pair is not None:
            return (*pair, f"{info.debian_dir} (Debian package)")
        tried.append(f"{info.debian_dir}: not there (Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist)")

    download_problem = ""
    if download:
        try:
            _torchvision_download(info, root, train)
        except Exception as e:  # network errors, HTTP errors, read-only folders: all reported below
            reason = " ".join(str(e).split()) or type(e).__name__
            if isinstance(e, TimeoutError) or "timed out" in reason:  # socket.timeout is TimeoutError
                reason = f"no answer within {DOWNLOAD_TIMEOUT:g} s ({reason}): no network, or a firewall"
            download_problem = _why_download_failed(e)
            tried.append(f"torchvision download into {root}: failed ({reason[:300]})")
        else:
            pair = _read_pair(info, raw, train)
            if pair is not None:
                return (*pair, f"{shown(raw)} (downloaded by torchvision)")
            tried.append(f"torchvision download into {root}: finished but left no files in {raw}")
    else:
        tried.append("torchvision download: not tried (download=False)")

    subset = _from_subset(info, root, train)
    if subset is not None:
        images, labels, note = subset
        why = f"download failed: {download_problem}" if download_problem else "not downloaded"
        # One line per split says it all (load prints the source): no separate note.
        note = note.replace(f"NOT the full {info.name}:", f"NOT the full {info.name} (not in the data directory; {why}):")
        return images, labels, note

    steps = "\n".join(f"  {i}. {t}" for i, t in enumerate(tried, 1))
    raise DataNotFoundError(
        f"Could not load {info.name} ({'train' if train else 'test'} split). Tried, in order:\n{steps}\n"
        "How to fix it:\n"
        f"  - Online: run again with internet access; the files are kept in {root} for next time.\n"
        "  - Offline machine or HPC compute node: on a machine with internet run\n"
        "        python -m cslib.data fetch --root /some/shared/folder\n"
        f"    then copy that folder over and set {DATA_ENV}=/some/shared/folder (or pass root=...).\n"
        "  - Files already on disk (IDX .gz files): python -m cslib.data import FOLDER --dataset "
        f"{'fashion-mnist' if info.folder == 'FashionMNIST' else 'mnist'}\n"
        + ("  - Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist\n" if info.debian_dir else "")
        + "  - Only trying the course out? CSLIB_FAST=1 uses the small samples bundled with cslib."
    )


def load_mnist(train: bool = True, **kwargs) -> ImageSet:
    """``load("mnist", train, ...)``."""
    return load("mnist", train, **kwargs)


def load_fashion_mnist(train: bool = True, **kwargs) -> ImageSet:
    """``load("fashion-mnist", train, ...)``."""
    return load("fashion-mnist", train, **kwargs)


# --------------------------------------------------------------------------- for training
def prepare(images: torch.Tensor | np.ndarray, flatten: bool = False) -> torch.Tensor:
    """The decks' preprocessing: rescale uint8 to floats in [0, 1], then shape (N, 784) or (N, 1, 28, 28).

    ``images`` is a batch of uint8 images, (N, H, W) or (N, 1, H, W) (or flat (N, 784)), a tensor or a NumPy array.
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not torch.is_tensor(images):
        raise TypeError(f"prepare() expects uint8 images as a tensor or a NumPy array, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise TypeError(f"prepare() expects uint8 images (0-255), got {images.dtype}; were they rescaled already?")
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)  # flat rows of 28x28 images
    elif images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        hint = " For one image use images[None]." if images.ndim == 2 else ""
        raise ValueError(f"prepare() expects a batch of images shaped (N, H, W) or (N, 1, H, W), got shape {tuple(images.shape)}.{hint}")
    x = images.float() / 255
    return x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *x.shape[-2:])


def validation_split(x: torch.Tensor, y: torch.Tensor, n_val: int, seed: int = 0
                     ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Carve a validation set of ``n_val`` random examples out of training data: ``(train, val)`` pairs.

    Choices (epochs, learning rate, a regularizer's strength) are made on the validation set; the test set
    is measured once, for the final choice. The same ``seed`` gives the same split.
    """
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    if isinstance(n_val, bool) or not isinstance(n_val, int) or not 0 < n_val < len(x):
        raise ValueError(f"n_val is how many of the {len(x):,} examples to hold out, from 1 to {len(x) - 1:,}; got {n_val!r}")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])


class ImageDataset(Dataset):
    """The decks' ``MNISTDataset``/``FMNISTDataset``: rescaled images (flat or (1, 28, 28)) and labels.

    Unlike the decks' version, ``__getitem__`` does not move each sample to the GPU: move whole
    batches (or the whole tensors, as ``cslib.fit`` does) instead; per-sample copies are slow.
    ``transform`` (lecture 3's augmentation in ``__getitem__``) is applied to every image as it is read.
    Being importable, this class also works in a ``DataLoader(..., num_workers=2)`` on Windows and macOS,
    whose worker processes cannot see a class defined in a notebook.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, flatten: bool = False, transform=None):
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable (a torchvision transform, say), got {type(transform).__name__}")
        self.transform = transform
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.x = prepare(images, flatten)
        labels = torch.as_tensor(labels)
        if labels.is_floating_point() and (labels != labels.round()).any():
            raise TypeError(f"labels must be whole class numbers, got {labels.dtype} values such as "
                            f"{labels[labels != labels.round()][0].item()}")
        self.y = labels.long()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, ix):
        x = self.x[ix]
        return (self.transform(x) if self.transform is not None else x), self.y[ix]


# --------------------------------------------------------------------------- command line
def fetch(root: str | Path, names: list[str] | None = None) -> None:
    """Download data sets into ``root`` with torchvision (run this where there is internet)."""
    root = Path(root).expanduser()
    for name in names or list(DATASETS):
        info = dataset_info(name)
        for train in (True, False):
            raw = root / info.folder / "raw"
            if _read_pair(info, raw, train) is not None:
                print(f"{info.name} {'train' if train else 'test'}: found in {raw}, skipping")
                continue
            try:
                _torchvision_download(info, root, train)
            except Exception as e:
                raise DataNotFoundError(f"downloading {info.name} into {root} failed: {e}") from None
            if _read_pair(info, raw, train) is None:
                raise DataNotFoundError(f"torchvision finished but {raw} holds no {info.name} files")
            print(f"{info.name} {'train' if train else 'test'}: downloaded to {raw}")
    print(f"Done. Use it with: export {DATA_ENV}={root}")


def import_local(source: str | Path, name: str, root: str | Path | None = None) -> None:
    """Copy local data into the data directory: a folder of IDX files, or an .npz subset."""
    info = dataset_info(name)
    source = Path(source).expanduser()
    root = Path(root).expanduser() if root else data_dir()
    target = root / info.folder
    if source.is_file() and source.suffix == ".npz":
        try:
            with np.load(source) as f:
                if "images" not in f or "labels" not in f:
                    raise DataFileError(f"{source} has no 'images' and 'labels' arrays (it has: {', '.join(f.files) or 'nothing'})")
                images, labels = f["images"], f["labels"]
        except DataFileError:
            raise
        except Exception as e:  # not a zip, truncated, pickled objects: all mean "not a usable .npz"
            raise DataFileError(f"{source} cannot be read as an .npz file ({type(e).__name__}: {e}). "
                                "Copy it again, or make it with numpy.savez(path, images=..., labels=...).") from None
        _validate(info, images, labels, str(source))
        description = f"{len(images):,}-image {info.name} subset imported from {source.name}"
        with _writing(target):
            target.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(target / SUBSET_FILE, images=images, labels=labels, description=description)
        print(f"{description}: saved to {target / SUBSET_FILE} (used only when the full data set cannot be loaded)")
        return
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is neither a folder of IDX files nor an .npz file")
    pairs = {train: _read_pair(info, source, train) for train in (True, False)}  # read (and check) everything first
    if all(pair is None for pair in pairs.values()):
        raise DataNotFoundError(f"no {info.name} IDX files (train-images-idx3-ubyte[.gz], ...) in {source}")
    raw = target / "raw"
    for train, pair in pairs.items():
        if pair is None:
            continue
        with _writing(raw):
            raw.mkdir(parents=True, exist_ok=True)
            for stem, array in zip(_idx_names(train), pair):
                write_idx(raw / stem, array)  # uncompressed: torchvision itself then loads it too
        print(f"{info.name} {'train' if train else 'test'}: {len(pair[1]):,} images copied to {raw}")


@contextlib.contextmanager
def _writing(folder: Path):
    """``with _writing(folder): ...`` turns an OSError while writing there into a one-line DataFileError."""
    try:
        yield
    except OSError as e:
        raise DataFileError(f"cannot write to {folder} ({e.strerror or e}). Pass --root (or set {DATA_ENV}) to a "
                            "folder you can write to.") from None


def describe_sources(root: str | Path | None = None) -> str:
    """Where each data set would be loaded from right now, without downloading anything."""
    root = Path(root).expanduser() if root else data_dir()
    lines = [f"data directory: {root} ({DATA_ENV}={os.environ.get(DATA_ENV, '<unset>')}); fast mode: {fast_mode()}"]
    for info in DATASETS.values():
        for train in (True, False):
            split = "train" if train else "test"
            try:
                if fast_mode():
                    where = _from_bundled(info, train)[2]
                elif _read_pair(info, root / info.folder / "raw", train) is not None:
                    where = str(root / info.folder / "raw")
                elif info.debian_dir is not None and _read_pair(info, info.debian_dir, train) is not None:
                    where = str(info.debian_dir)
                elif (root / info.folder / SUBSET_FILE).is_file():
                    where = f"download, else the subset {root / info.folder / SUBSET_FILE}"
                else:
                    where = "torchvision download (needs internet)"
            except DataFileError as e:
                where = f"ERROR: {e}"
            lines.append(f"  {info.name:13s} {split:5s}: {where}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cslib.data", description="Get the course's data sets.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="download MNIST and Fashion-MNIST into a folder (needs internet)")
    p_fetch.add_argument("--root", default=None, help=f"target folder (default: ${DATA_ENV} or ~/data)")
    p_fetch.add_argument("--dataset", nargs="*", default=None, help="mnist, fashion-mnist (default: both)")
    p_import = sub.add_parser("import", help="copy local IDX files (or the 10k MNIST .npz) into the data folder")
    p_import.add_argument("source", help="a folder holding IDX files, or an .npz with 'images' and 'labels'")
    p_import.add_argument("--dataset", required=True, help="mnist or fashion-mnist")
    p_import.add_argument("--root", default=None, help=f"data folder (default: ${DATA_ENV} or ~/data)")
    p_info = sub.add_parser("info", help="say where each data set would be loaded from")
    p_info.add_argument("--root", default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(args.root or data_dir(), args.dataset)
        elif args.command == "import":
            import_local(args.source, args.dataset, args.root)
        else:
            print(describe_sources(args.root))
    except (DataFileError, DataNotFoundError, ValueError, OSError) as e:  # OSError: FileNotFoundError and the like
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
