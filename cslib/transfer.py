"""Transfer learning (lecture 4): freeze a pretrained convolutional base, give it a new head, fine-tune.

The helpers work on any ``nn.Module``: the course's own pretrained base (:func:`load_pretrained_base`,
the small convnet of ``cslib.models.small_convnet`` trained on all 60,000 Fashion-MNIST images) and
torchvision's networks such as VGG16.

- :func:`freeze` / :func:`unfreeze` switch ``requires_grad`` of a module's parameters;
- :func:`freeze_batchnorm` keeps batch-norm layers frozen *during training* (see below);
- :func:`replace_head` puts a new, trainable last layer for ``n_classes`` classes on a network;
- :func:`trainable_parameters` lists what an optimizer should update, :func:`trainable_summary` shows it;
- :func:`reestimate_batchnorm` recomputes the running statistics of the batch-norm layers that trained
  (a fair evaluation after few steps, see below);
- :func:`load_pretrained_base` loads the course's pretrained weights, offline, from the package;
- :func:`torchvision_pretrained` loads e.g. VGG16 with its ImageNet weights, or says in one line why it
  cannot (it never downloads in fast mode);
- :func:`conv_base_features` runs gray 28x28 images through an ImageNet convolutional base (VGG16's
  ``features``) at a size it was made for, and returns the flattened feature maps.

Why batch norm needs care: ``requires_grad = False`` stops gradient descent from changing a
batch-norm layer's scale and shift, but not its *running mean and variance*: those are updated by
every forward pass in training mode, and ``model.train()`` (which every training loop and
``cslib.fit`` call at each epoch) puts all layers in training mode. :func:`freeze_batchnorm` puts the
layer in evaluation mode and adds a forward pre-hook that puts it back in evaluation mode right
before each forward pass, for as long as its parameters stay frozen. (Keras does the same for a
``BatchNormalization`` layer with ``trainable = False``.)

The other side of the same coin: a network whose batch-norm layers *do* train (one trained from
scratch) keeps in its running statistics an exponential average (momentum 0.1) of the batches it
saw. After a handful of steps that average still mostly holds the initial values (mean 0, variance 1),
so the network scores badly in evaluation mode although its weights are fine. Comparing it then with a
pretrained network (whose statistics are settled) fakes an advantage for the pretrained one.
:func:`reestimate_batchnorm` removes the lag: it recomputes the statistics on the training images.
"""
from __future__ import annotations

import hashlib
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

WEIGHTS_DIR = Path(__file__).with_name("weights")
BASE_WEIGHTS = WEIGHTS_DIR / "small_convnet_fashion_mnist.pt"
BASE_PROVENANCE = WEIGHTS_DIR / "PROVENANCE.md"


# --------------------------------------------------------------------------- freezing
def _check_module(module, name: str = "module") -> None:
    if not isinstance(module, nn.Module):
        raise TypeError(f"{name} must be a torch nn.Module (a layer, a block or a whole network), got {type(module).__name__}")


def _stay_in_eval_while_frozen(bn: nn.Module, inputs):
    """Forward pre-hook of a frozen batch-norm layer: use (and keep) the running statistics."""
    if not any(p.requires_grad for p in bn.parameters(recurse=False)):
        bn.train(False)


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Freeze every batch-norm layer in ``module``: no gradients for its scale and shift, and its
    running statistics fixed (evaluation mode), even after ``model.train()``. Returns ``module``."""
    _check_module(module)
    for m in module.modules():
        if isinstance(m, _BatchNorm):
            m.requires_grad_(False)
            m.train(False)
            if not getattr(m, "_cslib_frozen_hook", False):  # register the hook once per layer
                m.register_forward_pre_hook(_stay_in_eval_while_frozen)
                m._cslib_frozen_hook = True
    return module


def freeze(module: nn.Module) -> nn.Module:
    """No parameter of ``module`` will be trained (``requires_grad = False``), and its batch-norm
    layers keep their running statistics (:func:`freeze_batchnorm`). Returns ``module``."""
    _check_module(module)
    module.requires_grad_(False)
    return freeze_batchnorm(module)


def unfreeze(module: nn.Module, keep_batchnorm_frozen: bool = True) -> nn.Module:
    """Make the parameters of ``module`` trainable again. Returns ``module``.

    With ``keep_batchnorm_frozen=True`` (the default, and the deck's advice for fine-tuning) its
    batch-norm layers stay frozen: no gradients, running statistics fixed, evaluation mode.
    """
    _check_module(module)
    module.requires_grad_(True)
    if keep_batchnorm_frozen:
        freeze_batchnorm(module)
    else:
        for m in module.modules():
            if isinstance(m, _BatchNorm):
                m.train(module.training)  # the hook does nothing once the parameters are trainable
    return module


def batchnorm_layers(module: nn.Module) -> list[nn.Module]:
    """The batch-norm layers of ``module``, in order."""
    _check_module(module)
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def _is_frozen(bn: nn.Module) -> bool:
    """A batch-norm layer frozen by :func:`freeze_batchnorm` (hook registered, no trainable parameter)."""
    return bool(getattr(bn, "_cslib_frozen_hook", False)) and not any(p.requires_grad for p in bn.parameters(recurse=False))


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """Recompute the running mean and variance of ``model``'s batch-norm layers from ``images``. Returns ``model``.

    Each layer's statistics become the average over the batches of ``images`` (the training images,
    say), instead of the exponential average that training left, which lags behind the weights after
    few steps. Layers frozen with :func:`freeze` / :func:`freeze_batchnorm` keep their (pretrained)
    statistics. Every other layer runs in evaluation mode meanwhile (no dropout), and the model's
    modes and the layers' momentum are restored afterwards. This is what
    ``torch.optim.swa_utils.update_bn`` does, minus the frozen layers.
    """
    _check_module(model, "model")
    if not torch.is_tensor(images) or len(images) == 0:
        raise ValueError("images must be a non-empty tensor of inputs for the model, e.g. the training images")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    layers = [m for m in batchnorm_layers(model) if not _is_frozen(m)]
    if not layers:
        return model
    modes = {m: m.training for m in model.modules()}
    momenta = {m: m.momentum for m in layers}
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # None: a plain average over all batches (PyTorch's "cumulative" mode)
        m.train()
    try:
        for i in range(0, len(images), batch_size):
            model(images[i:i + batch_size].to(device))
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        for m, training in modes.items():
            m.training = training
    return model


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that training will change (``requires_grad`` True): give these to the optimizer."""
    _check_module(model, "model")
    return [p for p in model.parameters() if p.requires_grad]


def count_trainable(model: nn.Module) -> int:
    """Number of trainable parameters (weights and biases) of ``model``."""
    return sum(p.numel() for p in trainable_parameters(model))


def trainable_summary(model: nn.Module, depth: int = 2) -> str:
    """A table of the parts of ``model`` (children, and their children up to ``depth``) with their
    parameters, how many are trainable, and the mode of their batch-norm layers."""
    _check_module(model, "model")
    rows = [f"{'part':24s} {'parameters':>12s} {'trainable':>12s}  batch norm"]

    def visit(module: nn.Module, name: str, level: int) -> None:
        total = sum(p.numel() for p in module.parameters())
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        bns = batchnorm_layers(module)
        if not bns:
            bn = "-"
        else:
            frozen = sum(not any(p.requires_grad for p in b.parameters()) for b in bns)
            bn = f"{len(bns)} layer(s), {frozen} frozen"
        rows.append(f"{'  ' * level + name:24s} {total:12,d} {trainable:12,d}  {bn}")
        if level + 1 < depth:
            for child_name, child in module.named_children():
                if any(True for _ in child.parameters()):
                    visit(child, child_name, level + 1)

    for name, child in model.named_children():
        visit(child, name, 0)
    rows.append(f"{'total':24s} {sum(p.numel() for p in model.parameters()):12,d} {count_trainable(model):12,d}")
    return "\n".join(rows)


# --------------------------------------------------------------------------- a new head
def _last_linear(container: nn.Module) -> tuple[nn.Module, str, nn.Linear] | None:
    """(parent, attribute name, layer) of the last nn.Linear inside ``container``, or None."""
    found = None
    for parent in container.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                found = (parent, name, child)
    return found


def replace_head(model: nn.Module, n_classes: int) -> nn.Module:
    """Replace the last layer of ``model``'s classifier by a new, trainable ``nn.Linear(.., n_classes)``.

    Works for networks with a ``classifier`` (torchvision's VGG and AlexNet, the course's base),
    an ``fc`` (ResNet) or a ``head``, and for an ``nn.Sequential`` whose last linear layer is the head.
    The new layer takes the old one's inputs and lives on the old one's device. Returns ``model``.
    """
    _check_module(model, "model")
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    place = None
    for attribute in ("classifier", "fc", "head"):
        part = getattr(model, attribute, None)
        if isinstance(part, nn.Linear):
            place = (model, attribute, part)
        elif isinstance(part, nn.Module):
            place = _last_linear(part)
        if place is not None:
            break
    if place is None and isinstance(model, nn.Sequential):
        place = _last_linear(model)
    if place is None:
        raise TypeError(
            f"replace_head cannot find the head of this {type(model).__name__}: it looks for the last nn.Linear "
            "in model.classifier, model.fc or model.head (or in an nn.Sequential). Replace it by hand: "
            "model.<name> = nn.Linear(in_features, n_classes)."
        )
    parent, name, old = place
    new = nn.Linear(old.in_features, n_classes).to(old.weight.device)
    setattr(parent, name, new)
    return model


# --------------------------------------------------------------------------- the course's pretrained base
def sha256(path: str | Path) -> str:
    """The SHA-256 checksum of a file (the provenance file records the weights' checksum)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def base_metadata(path: str | Path = BASE_WEIGHTS) -> dict:
    """What the weights file says about itself: data, epochs, seed, accuracies, date."""
    return dict(_read_weights(path)["meta"])


def _recorded_sha256(path: str | Path) -> str | None:
    """The SHA-256 that the PROVENANCE.md next to a weights file records for it (None if none does).

    The file's section starts with ``## <file name>`` and holds a line ``- sha256 `<64 hex digits>` ...``.
    """
    path = Path(path)
    provenance = path.with_name(BASE_PROVENANCE.name)
    if not provenance.is_file():
        return None
    section = re.search(rf"^## {re.escape(path.name)}\s*$(.*?)(?=^## |\Z)", provenance.read_text(encoding="utf-8"), re.M | re.S)
    digest = re.search(r"^- sha256 `([0-9a-f]{64})`", section.group(1), re.M) if section else None
    return digest.group(1) if digest else None


def _read_weights(path: str | Path, verify: bool = True) -> dict:
    """The saved dict of a weights file, after checking the file against the checksum its PROVENANCE.md records.

    The shipped weights must have a recorded checksum; another file is checked when its folder's
    PROVENANCE.md names it. ``verify=False`` skips the check (scripts/pretrain_base.py, while it writes them).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the pretrained base ships with cslib (cslib/weights/). Reinstall cslib, "
            "or make the file again with `python scripts/pretrain_base.py`."
        )
    if verify:
        expected = _recorded_sha256(path)
        if expected is None and path.resolve() == BASE_WEIGHTS.resolve():
            raise RuntimeError(f"{BASE_PROVENANCE} does not record the checksum of {path.name}, so the shipped weights "
                               "cannot be verified. Reinstall cslib (or restore the folder with git).")
        if expected is not None and sha256(path) != expected:
            raise RuntimeError(
                f"{path} is corrupt: its SHA-256 is {sha256(path)[:16]}..., but {path.with_name(BASE_PROVENANCE.name).name} "
                f"records {expected[:16]}.... Reinstall cslib (pip install --force-reinstall ...), or restore the file "
                f"with `git checkout -- cslib/weights/{path.name}` in a clone of the course."
            )
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise RuntimeError(f"{path} cannot be read as cslib weights ({e}). Reinstall cslib or run scripts/pretrain_base.py.") from None
    if not isinstance(saved, dict) or "state_dict" not in saved or "meta" not in saved:
        raise RuntimeError(f"{path} is not a cslib weights file (no state_dict/meta). Reinstall cslib or run scripts/pretrain_base.py.")
    return saved


def load_pretrained_base(device: torch.device | str | None = None, path: str | Path = BASE_WEIGHTS,
                         verbose: bool = False, verify: bool = True) -> nn.Sequential:
    """The course's pretrained convnet, with the weights that ship with cslib (no network needed).

    It is ``cslib.models.small_convnet()`` trained on the 60,000 Fashion-MNIST training images
    (``scripts/pretrain_base.py`` made it; ``cslib/weights/PROVENANCE.md`` says how). It comes in
    evaluation mode, as float32, on ``device`` (default: the CPU). Its ``classifier`` still predicts
    the 10 Fashion-MNIST classes: use :func:`replace_head` for a new task. The file is first checked
    against the SHA-256 that ``PROVENANCE.md`` records (``verify=False`` skips that).
    """
    from cslib.models import small_convnet

    saved = _read_weights(path, verify)
    state = {k: v.float() if v.is_floating_point() else v for k, v in saved["state_dict"].items()}
    expected = small_convnet().state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise RuntimeError(f"{path} does not hold the weights of small_convnet: "
                           + "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                                         f"unexpected {', '.join(unexpected)}" if unexpected else "") if part)
                           + ". Reinstall cslib or run scripts/pretrain_base.py.")
    model = small_convnet(n_classes=state["classifier.1.weight"].shape[0])
    try:
        model.load_state_dict(state)
    except RuntimeError as e:  # the names fit, a shape does not
        raise RuntimeError(f"{path} does not hold the weights of small_convnet: {' '.join(str(e).split())[:300]}") from None
    model.eval()
    if device is not None:
        from cslib.runtime import get_device

        model.to(get_device(device))  # a device that is not there: a clear error, not torch's driver message
    if verbose:
        meta = saved["meta"]
        print(f"pretrained base: {meta.get('architecture', 'small_convnet')} trained on {meta.get('data', '?')} "
              f"for {meta.get('epochs', '?')} epochs; test accuracy {meta.get('test_acc', float('nan')):.4f} "
              f"({Path(path).name})")
    return model


# --------------------------------------------------------------------------- torchvision's pretrained networks
def _shown(path: Path) -> str:
    from cslib.data import shown

    return shown(Path(path))


def _reachable(url: str, timeout: float) -> bool:
    """Whether ``url``'s server answers at all (a HEAD request): False offline, behind a firewall, on a dead proxy."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # the server answered (with an error status): the download will say more
    except (OSError, ValueError):  # URLError, DNS failure, refused, timeout
        return False


def _in_words(error: BaseException) -> str:
    """A few words for a failed download, without the machine's paths or a trace."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError)):
        return "the connection failed"
    if isinstance(error, RuntimeError) and "hash" in str(error).lower():
        return "the file arrived damaged (checksum mismatch)"
    return type(error).__name__


def torchvision_pretrained(name: str = "vgg16", *, download: bool | None = None, timeout: float = 20.0,
                           progress: bool = True, cache_dir: str | Path | None = None) -> tuple[nn.Module | None, str]:
    """A torchvision network with its default ImageNet weights, e.g. ``vgg16(weights=VGG16_Weights.DEFAULT)``.

    Returns ``(model, message)``. The weights come from torch's cache (``cache_dir``, by default
    ``torch.hub.get_dir()/checkpoints``) or are downloaded into it, once. ``download=None`` (the default)
    downloads only in full mode: fast mode (``CSLIB_FAST=1``) never starts a download. Before downloading
    it prints what it downloads (file, size, from where, to where). When the weights cannot be had
    (fast mode, offline, a failed download) it does not raise: it returns ``(None, message)``, one line
    that says why, so that a notebook can skip the cells that need the network.
    """
    from torchvision import models as tv_models

    from cslib.runtime import fast_mode

    try:
        weights = tv_models.get_model_weights(name).DEFAULT
    except Exception as e:  # an unknown name is a mistake in the call: say so, do not hide it
        raise ValueError(f"torchvision has no model called {name!r} with pretrained weights ({e})") from None
    cache = Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    file = cache / Path(urlparse(weights.url).path).name
    size = weights.meta.get("_file_size")
    what = f"{name}'s ImageNet weights ({file.name}" + (f", {size:.0f} MB)" if size else ")")
    if not file.is_file():
        why = "fast mode never downloads them" if download is None and fast_mode() else "download=False"
        if download is None:
            download = not fast_mode()
        if not download:
            return None, (f"{what}: skipped, not downloaded ({why}, and they are not in {_shown(cache)}); "
                          "the cells that need them do nothing.")
        host = urlparse(weights.url).netloc
        if not _reachable(weights.url, timeout):
            return None, f"{what}: skipped offline ({host} cannot be reached); the cells that need them do nothing."
        print(f"Downloading {what} from {weights.url} into {_shown(cache)}: once, later runs use that file.")
        from cslib.data import download_timeout

        try:
            with download_timeout(timeout):  # a connection that stalls fails after `timeout` s instead of hanging
                cache.mkdir(parents=True, exist_ok=True)
                match = torch.hub.HASH_REGEX.search(file.name)
                torch.hub.download_url_to_file(weights.url, str(file), match.group(1) if match else None, progress=progress)
        except Exception as e:  # proxy, HTTP error, truncated file: all mean "not available here"
            return None, f"{what}: skipped, the download from {host} failed ({_in_words(e)}); the cells that need them do nothing."
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        model = tv_models.get_model(name, weights=None)
        model.load_state_dict(state)
    except Exception as e:
        return None, (f"{what}: skipped, the cached file {_shown(file)} cannot be loaded ({type(e).__name__}); "
                      "delete it to download it again.")
    model.eval()
    return model, f"{name} with its ImageNet weights ({file.name}, from {_shown(cache)})"


IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the per-channel mean and standard deviation that torchvision's
IMAGENET_STD = (0.229, 0.224, 0.225)  # ImageNet networks were trained with


@torch.no_grad()
def conv_base_features(conv_base: nn.Module, images: torch.Tensor, *, size: int = 112, batch_size: int = 64,
                       device: torch.device | str | None = None) -> torch.Tensor:
    """The output of an ImageNet ``conv_base`` (e.g. ``vgg16.features``) for gray images, flattened: (N, features), on the CPU.

    Each image (N, 1, H, W) with values in [0, 1] is resized to ``size`` x ``size`` (bilinear), copied
    into the three color channels and normalized as for ImageNet (:data:`IMAGENET_MEAN`,
    :data:`IMAGENET_STD`), then goes through ``conv_base`` in evaluation mode. For VGG16 (five 2x2
    max-pools) ``size=224`` gives 512 x 7 x 7 = 25,088 features per image, ``size=112`` 512 x 3 x 3 = 4,608.
    """
    import torch.nn.functional as F

    _check_module(conv_base, "conv_base")
    if not torch.is_tensor(images) or images.ndim != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"images must be a float tensor (N, 1, H, W) or (N, 3, H, W), got {shape}")
    if not images.is_floating_point():
        raise TypeError(f"images must be floats in [0, 1] (see cslib.data.prepare), got {images.dtype}")
    if device is None:
        param = next(conv_base.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    was_training = conv_base.training
    conv_base.eval()
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    out = []
    try:
        for i in range(0, len(images), batch_size):
            x = F.interpolate(images[i:i + batch_size].to(device), size=(size, size), mode="bilinear", align_corners=False)
            x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
            out.append(conv_base((x - mean) / std).flatten(1).cpu())
    finally:
        conv_base.train(was_training)
    return torch.cat(out)
