"""cslib.transfer: freezing, new heads and fine-tuning keep what they promise; the shipped base is the trained one."""
import copy
import importlib.util
import re
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torchvision import models as tv_models

import cslib
from cslib import transfer
from cslib.data import prepare
from cslib.models import small_convnet
from cslib.train import evaluate

ROOT = Path(__file__).resolve().parents[1]


def requires_grad(module):
    return {p.requires_grad for p in module.parameters()}


def random_stats(model, seed=0):
    """Give the batch-norm layers non-trivial running statistics, as a pretrained network has."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in transfer.batchnorm_layers(model):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model


def bn_stats(model):
    return [(m.running_mean.clone(), m.running_var.clone()) for m in transfer.batchnorm_layers(model)]


def same_stats(a, b):
    return all(torch.equal(x, y) and torch.equal(u, v) for (x, u), (y, v) in zip(a, b))


def small_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 3, (n,), generator=g)


# --------------------------------------------------------------------------- on torchvision's VGG (untrained)
@pytest.fixture(scope="module")
def vgg():
    return tv_models.vgg11_bn(weights=None)  # no download: the helpers must work on the architecture alone


def test_freeze_replace_unfreeze_on_torchvision_vgg(vgg):
    model = copy.deepcopy(vgg)
    total = sum(p.numel() for p in model.parameters())
    transfer.freeze(model.features)
    assert requires_grad(model.features) == {False} and requires_grad(model.classifier) == {True}
    assert all(not m.training for m in transfer.batchnorm_layers(model.features))

    transfer.replace_head(model, 2)
    assert isinstance(model.classifier[6], nn.Linear) and model.classifier[6].in_features == 4096
    assert model.classifier[6].out_features == 2 and model.classifier[6].weight.requires_grad
    classifier = 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 2 + 2
    assert transfer.count_trainable(model) == classifier
    assert transfer.count_trainable(model) == sum(p.numel() for p in transfer.trainable_parameters(model))

    top_block = model.features[22:]  # VGG11's last block: conv, BN, ReLU, conv, BN, ReLU, pool
    transfer.unfreeze(top_block)
    convs = [m for m in top_block if isinstance(m, nn.Conv2d)]
    assert len(convs) == 2 and all(requires_grad(c) == {True} for c in convs)
    assert all(requires_grad(b) == {False} for b in transfer.batchnorm_layers(top_block))
    assert transfer.count_trainable(model) == classifier + sum(p.numel() for c in convs for p in c.parameters())
    assert requires_grad(model.features[:22]) == {False}
    assert sum(p.numel() for p in model.parameters()) == total - 4096 * 1000 - 1000 + 4096 * 2 + 2

    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2)


def test_replace_head_on_other_torchvision_layouts():
    resnet = tv_models.resnet18(weights=None)
    transfer.replace_head(resnet, 5)
    assert resnet.fc.out_features == 5 and resnet.fc.in_features == 512
    seq = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    transfer.replace_head(seq, 7)
    assert seq[3].out_features == 7 and seq[1].out_features == 8


def test_replace_head_and_freeze_reject_bad_input_clearly():
    with pytest.raises(ValueError, match="positive integer"):
        transfer.replace_head(small_convnet(), 0)
    with pytest.raises(TypeError, match="cannot find the head"):
        transfer.replace_head(nn.Sequential(nn.Conv2d(1, 2, 3)), 3)
    with pytest.raises(TypeError, match="nn.Module"):
        transfer.freeze("features")


# --------------------------------------------------------------------------- on the course's base, through cslib.fit
def test_feature_extraction_through_fit_changes_only_the_head():
    cslib.set_seed(0)
    model = random_stats(small_convnet())
    transfer.replace_head(transfer.freeze(model), 3)
    before = copy.deepcopy(model.features.state_dict())
    stats = bn_stats(model)
    head = model.classifier[1].weight.detach().clone()
    cslib.fit(model, small_data(), epochs=2, batch_size=16, lr=1e-2, progress=False, device="cpu")
    assert all(torch.equal(before[k], v) for k, v in model.features.state_dict().items())
    assert same_stats(stats, bn_stats(model))
    assert not torch.equal(head, model.classifier[1].weight)


def test_fine_tuning_through_fit_keeps_batchnorm_frozen():
    cslib.set_seed(0)
    model = random_stats(small_convnet())
    transfer.replace_head(transfer.freeze(model), 3)
    transfer.unfreeze(model.features.block3)  # keep_batchnorm_frozen=True by default
    bn = model.features.block3[1]
    assert not bn.weight.requires_grad and not bn.training
    assert transfer.count_trainable(model) == 73_856 + 1152 * 3 + 3
    stats = bn_stats(model)
    conv3, conv1 = model.features.block3[0].weight.detach().clone(), model.features.block1[0].weight.detach().clone()
    cslib.fit(model, small_data(), epochs=2, batch_size=16, lr=1e-2, progress=False, device="cpu")  # calls model.train() every epoch
    assert same_stats(stats, bn_stats(model)), "running statistics moved during fine-tuning"
    assert not torch.equal(conv3, model.features.block3[0].weight) and torch.equal(conv1, model.features.block1[0].weight)
    model.train()
    model(small_data(4)[0])
    assert not bn.training  # the forward pre-hook put it back in evaluation mode
    clone = copy.deepcopy(model)  # deep copies keep the behaviour
    clone.train()
    clone(small_data(4)[0])
    assert same_stats(stats, bn_stats(clone))


def test_requires_grad_alone_does_not_freeze_batchnorm_statistics():
    """Why freeze_batchnorm exists: model.train() lets the running statistics move even with frozen parameters."""
    model = random_stats(small_convnet())
    model.requires_grad_(False)
    model.classifier[1].requires_grad_(True)
    stats = bn_stats(model)
    cslib.fit(model, small_data(), epochs=1, batch_size=16, progress=False, device="cpu")
    assert not same_stats(stats, bn_stats(model))


def test_unfreeze_can_release_batchnorm_too():
    model = random_stats(small_convnet())
    transfer.freeze(model)
    transfer.unfreeze(model, keep_batchnorm_frozen=False)
    assert requires_grad(model) == {True}
    stats = bn_stats(model)
    cslib.fit(model, small_data(), epochs=1, batch_size=16, progress=False, device="cpu")
    assert not same_stats(stats, bn_stats(model))


def test_trainable_summary_lists_parts_and_batchnorm_state():
    model = transfer.replace_head(transfer.freeze(small_convnet()), 10)
    transfer.unfreeze(model.features.block3)
    text = transfer.trainable_summary(model)
    assert re.search(r"block3\s+74,112\s+73,856\s+1 layer\(s\), 1 frozen", text)
    assert re.search(r"block1\s+384\s+0", text)
    assert re.search(r"total\s+104,650\s+85,386", text)


# --------------------------------------------------------------------------- the shipped weights
def provenance_sha256():
    text = transfer.BASE_PROVENANCE.read_text()
    return re.search(r"^- sha256 `([0-9a-f]{64})`", text, re.M).group(1)  # the weights file's line (data files are indented)


def test_shipped_weights_are_small_and_match_their_provenance():
    path = transfer.BASE_WEIGHTS
    assert path.is_file() and path.stat().st_size < 1_000_000
    assert transfer.sha256(path) == provenance_sha256()
    meta = transfer.base_metadata()
    for key in ("data", "epochs", "seed", "date", "test_acc", "sample_test_acc", "torch"):
        assert key in meta, key
    assert "60,000 training" in meta["data"] and "10,000 test" in meta["data"]


def test_shipped_weights_load_offline_and_have_the_expected_shapes():
    model = transfer.load_pretrained_base()
    reference = small_convnet().state_dict()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {k: tuple(v.shape) for k, v in reference.items()}
    assert all(p.dtype == torch.float32 for p in model.parameters()) and not model.training
    assert sum(p.numel() for p in model.parameters()) == 104_650


def test_shipped_weights_give_the_recorded_accuracy_on_the_bundled_sample():
    """A real check that the file is the trained network: re-measure it on 500 Fashion-MNIST test images."""
    with np.load(ROOT / "cslib" / "samples" / "fashionmnist-sample.npz") as f:
        x, y = prepare(torch.from_numpy(f["test_images"])), torch.from_numpy(f["test_labels"].astype(np.int64))
    _, acc = evaluate(transfer.load_pretrained_base(), x, y, device="cpu")
    meta = transfer.base_metadata()
    assert acc == pytest.approx(meta["sample_test_acc"], abs=0.005)
    assert acc > 0.85 and meta["test_acc"] > 0.88
    _, untrained = evaluate(small_convnet().eval(), x, y, device="cpu")
    assert untrained < 0.5


def test_load_pretrained_base_explains_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="pretrain_base.py"):
        transfer.load_pretrained_base(path=tmp_path / "nothing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="cannot be read"):
        transfer.load_pretrained_base(path=tmp_path / "bad.pt")


def test_a_weights_file_with_a_renamed_or_reshaped_layer_names_it(tmp_path):
    saved = torch.load(transfer.BASE_WEIGHTS, map_location="cpu", weights_only=True)
    renamed = dict(saved["state_dict"])
    renamed["features.block1.9.weight"] = renamed.pop("features.block1.0.weight")
    torch.save({**saved, "state_dict": renamed}, tmp_path / "renamed.pt")
    with pytest.raises(RuntimeError, match=r"missing features\.block1\.0\.weight; unexpected features\.block1\.9\.weight"):
        transfer.load_pretrained_base(path=tmp_path / "renamed.pt", verify=False)
    reshaped = {**saved["state_dict"], "features.block1.0.weight": torch.zeros(2, 1, 3, 3)}
    torch.save({**saved, "state_dict": reshaped}, tmp_path / "reshaped.pt")
    with pytest.raises(RuntimeError, match="does not hold the weights of small_convnet: .*features.block1.0.weight"):
        transfer.load_pretrained_base(path=tmp_path / "reshaped.pt", verify=False)


def test_pretrain_script_saves_a_loadable_file_with_provenance(tmp_path):
    spec = importlib.util.spec_from_file_location("pretrain_base", ROOT / "scripts" / "pretrain_base.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([]) == 1  # fast mode may not overwrite the shipped weights
    history = cslib.train.History(loss=[1.0], train_acc=[0.5], test_loss=[1.0], test_acc=[0.5], seconds=[1.0])
    out = tmp_path / "base.pt"
    meta = script.save(small_convnet().eval(), history, "test data", 1, 0, out)
    provenance = script.write_provenance(meta, out, history)
    assert transfer.sha256(out) in provenance.read_text()
    assert transfer.base_metadata(out)["sample_test_acc"] == meta["sample_test_acc"]
    assert transfer.load_pretrained_base(path=out).classifier[1].out_features == 10
    cslib.set_seed(1)  # run again over the same file: its PROVENANCE.md still records the first run's checksum
    meta = script.save(small_convnet().eval(), history, "test data", 1, 0, out)
    script.write_provenance(meta, out, history)
    assert transfer.load_pretrained_base(path=out).classifier[1].out_features == 10


def copy_of_the_shipped_weights(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(transfer.BASE_PROVENANCE, folder / transfer.BASE_PROVENANCE.name)
    path = folder / transfer.BASE_WEIGHTS.name
    shutil.copy(transfer.BASE_WEIGHTS, path)
    return path


def test_corrupt_weights_are_caught_by_their_checksum(tmp_path):
    path = copy_of_the_shipped_weights(tmp_path)
    assert transfer.load_pretrained_base(path=path).classifier[1].out_features == 10  # the intact copy loads
    content = bytearray(path.read_bytes())
    start = len(content) // 2  # in the middle of the tensors: torch.load alone would not notice
    content[start:start + 64] = bytes(b ^ 0xFF for b in content[start:start + 64])
    path.write_bytes(bytes(content))
    with pytest.raises(RuntimeError) as error:
        transfer.load_pretrained_base(path=path)
    message = str(error.value)
    assert f"{path} is corrupt: its SHA-256 is" in message and "PROVENANCE.md records d5809b797e1d1f56" in message
    assert "Reinstall cslib" in message and "git checkout -- cslib/weights/small_convnet_fashion_mnist.pt" in message
    with pytest.raises(RuntimeError, match="is corrupt"):
        transfer.base_metadata(path)
    assert transfer.load_pretrained_base(path=path, verify=False) is not None  # the check is what caught it


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_that_is_not_there_is_named():
    with pytest.raises(RuntimeError, match="CUDA was asked for"):
        transfer.load_pretrained_base(device="cuda")


def test_the_shipped_weights_need_their_recorded_checksum(tmp_path, monkeypatch):
    path = copy_of_the_shipped_weights(tmp_path)
    (tmp_path / "PROVENANCE.md").unlink()
    monkeypatch.setattr(transfer, "BASE_WEIGHTS", path)
    with pytest.raises(RuntimeError, match="does not record the checksum of small_convnet_fashion_mnist.pt"):
        transfer.load_pretrained_base(path=path)
    other = tmp_path / "my_weights.pt"  # a file of one's own, without provenance, loads unchecked
    shutil.copy(path, other)
    assert transfer.load_pretrained_base(path=other) is not None


# --------------------------------------------------------------------------- torchvision's pretrained route
MACHINE_TRACE = re.compile(r"Errno|urlopen|Traceback|/root|/home/|/tmp/")


def no_download(*args, **kwargs):
    raise AssertionError("a download was started")


def test_torchvision_route_says_skipped_offline_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("CSLIB_FAST", "0")
    monkeypatch.setattr(transfer, "_reachable", lambda url, timeout: False)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    model, reason = transfer.torchvision_pretrained("vgg16", cache_dir=tmp_path)
    assert model is None
    assert "skipped offline" in reason and "vgg16-397923af.pth" in reason and "528 MB" in reason
    assert "\n" not in reason and not MACHINE_TRACE.search(reason), reason


def test_torchvision_route_never_downloads_in_fast_mode(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CSLIB_FAST", "1")
    monkeypatch.setattr(transfer, "_reachable", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    model, reason = transfer.torchvision_pretrained("vgg16", cache_dir=tmp_path)
    assert model is None and "fast mode never downloads" in reason and "skipped" in reason
    monkeypatch.setenv("CSLIB_FAST", "0")
    model, reason = transfer.torchvision_pretrained("vgg16", download=False, cache_dir=tmp_path)
    assert model is None and "download=False" in reason
    assert capsys.readouterr().out == ""


def test_torchvision_route_says_what_it_downloads_then_loads_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CSLIB_FAST", "0")
    state = tv_models.mobilenet_v3_small(weights=None).state_dict()
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        torch.save(state, dst)

    monkeypatch.setattr(transfer, "_reachable", lambda url, timeout: True)
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    model, message = transfer.torchvision_pretrained("mobilenet_v3_small", cache_dir=tmp_path / "hub")
    printed = capsys.readouterr().out
    url = tv_models.MobileNet_V3_Small_Weights.DEFAULT.url
    assert printed.startswith("Downloading mobilenet_v3_small's ImageNet weights") and url in printed and " MB" in printed
    assert calls == [(url, url.rsplit("-", 1)[1].split(".")[0])]  # torch checks the file's hash prefix
    assert isinstance(model, nn.Module) and not model.training and "ImageNet" in message
    assert torch.equal(model.state_dict()["features.0.0.weight"], state["features.0.0.weight"])
    # a second call uses the cached file: no message, no download
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    model, _ = transfer.torchvision_pretrained("mobilenet_v3_small", cache_dir=tmp_path / "hub")
    assert model is not None and capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="no model called"):
        transfer.torchvision_pretrained("vgg17")


def test_torchvision_route_reports_a_failed_download_and_a_broken_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CSLIB_FAST", "0")

    def refused(url, dst, hash_prefix=None, progress=True):
        raise urllib.error.URLError("[Errno 111] Connection refused")

    monkeypatch.setattr(transfer, "_reachable", lambda url, timeout: True)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refused)
    model, reason = transfer.torchvision_pretrained("mobilenet_v3_small", cache_dir=tmp_path)
    assert model is None and "the download from download.pytorch.org failed" in reason and not MACHINE_TRACE.search(reason)
    name = Path(tv_models.MobileNet_V3_Small_Weights.DEFAULT.url).name
    (tmp_path / name).write_bytes(b"not a checkpoint")
    model, reason = transfer.torchvision_pretrained("mobilenet_v3_small", cache_dir=tmp_path)
    assert model is None and "cannot be loaded" in reason and "delete it" in reason


# --------------------------------------------------------------------------- ImageNet features of gray digits
def test_conv_base_features_resize_copy_to_rgb_normalize_and_flatten():
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool2d(32)

        def forward(self, x):
            seen.append(x.clone())
            return self.pool(x)

    images = torch.rand(5, 1, 28, 28)
    features = transfer.conv_base_features(Probe(), images, size=64, batch_size=2)
    assert features.shape == (5, 3 * 2 * 2) and [len(b) for b in seen] == [2, 2, 1]
    x = torch.cat(seen)
    assert x.shape == (5, 3, 64, 64)
    mean, std = torch.tensor(transfer.IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(transfer.IMAGENET_STD).view(1, 3, 1, 1)
    gray = x * std + mean  # undo the normalization: the three channels are the same resized gray image
    assert torch.allclose(gray[:, 0], gray[:, 1], atol=1e-5) and torch.allclose(gray[:, 0], gray[:, 2], atol=1e-5)
    assert torch.allclose(gray[:, :1], torch.nn.functional.interpolate(images, size=64, mode="bilinear"), atol=1e-5)


def test_conv_base_features_on_vgg16_sizes_and_bad_input():
    with torch.device("meta"):
        vgg16 = tv_models.vgg16(weights=None)
    shapes = [vgg16.features(torch.empty(1, 3, s, s, device="meta")).flatten(1).shape[1] for s in (112, 224)]
    assert shapes == [4608, 25088]  # the sizes the docstring promises
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        transfer.conv_base_features(nn.Identity(), torch.rand(28, 28))
    with pytest.raises(TypeError, match="floats"):
        transfer.conv_base_features(nn.Identity(), torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


# --------------------------------------------------------------------------- re-estimating batch-norm statistics
def test_reestimate_batchnorm_gives_the_statistics_of_the_data():
    torch.manual_seed(0)
    model = random_stats(small_convnet()).eval()
    x = torch.rand(40, 1, 28, 28)
    transfer.reestimate_batchnorm(model, x, batch_size=64)  # one batch: exact mean and (unbiased) variance
    bn = model.features.block1[1]
    with torch.no_grad():
        z = model.features.block1[0](x)
    assert torch.allclose(bn.running_mean, z.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(bn.running_var, z.var(dim=(0, 2, 3), unbiased=True), atol=1e-4)
    assert bn.momentum == 0.1 and not model.training and not bn.training  # modes and momentum restored
    model.train()
    transfer.reestimate_batchnorm(model, x, batch_size=8)  # five batches of 8: the average of their statistics
    assert model.training and torch.allclose(bn.running_mean, z.mean(dim=(0, 2, 3)), atol=1e-5)


def test_reestimate_batchnorm_removes_the_lag_after_few_steps():
    x, y = small_data(96)
    x = x * 3 + 1  # inputs far from mean 0, variance 1: the initial running statistics are wrong
    cslib.set_seed(0)
    model = small_convnet(3)
    cslib.fit(model, (x, y), epochs=1, batch_size=32, progress=False, device="cpu")  # 3 steps: statistics lag
    lagging = [m.running_mean.clone() for m in transfer.batchnorm_layers(model)]
    transfer.reestimate_batchnorm(model, x)
    fresh = [m.running_mean for m in transfer.batchnorm_layers(model)]
    with torch.no_grad():
        z = model.features.block1[0](x).mean(dim=(0, 2, 3))
    assert torch.allclose(fresh[0], z, atol=1e-4) and not torch.allclose(lagging[0], z, atol=0.1)


def test_reestimate_batchnorm_leaves_frozen_layers_alone():
    model = transfer.replace_head(transfer.freeze(random_stats(small_convnet())), 10)
    transfer.unfreeze(model.features.block3, keep_batchnorm_frozen=False)
    before = bn_stats(model)
    transfer.reestimate_batchnorm(model, torch.rand(16, 1, 28, 28))
    after = bn_stats(model)
    assert same_stats(before[:2], after[:2]) and not same_stats(before[2:], after[2:])
    frozen = transfer.freeze(random_stats(small_convnet()))
    before = bn_stats(frozen)
    assert transfer.reestimate_batchnorm(frozen, torch.rand(4, 1, 28, 28)) is frozen and same_stats(before, bn_stats(frozen))
    with pytest.raises(ValueError, match="non-empty"):
        transfer.reestimate_batchnorm(model, torch.empty(0, 1, 28, 28))
