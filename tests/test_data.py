"""cslib.data: every source, in order, with real IDX files written by the tests, and every bad input."""
import gzip

import numpy as np
import pytest
import torch

from cslib import data
from cslib.data import DataFileError, DataNotFoundError

TORCHVISION_DOWNLOAD = data._torchvision_download  # the real one (the full_mode fixture replaces it with an offline stub)


@pytest.fixture
def sample():
    """Real Fashion-MNIST images (the bundled sample) to write into test folders."""
    with np.load(data.SAMPLES_DIR / "fashionmnist-sample.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture
def full_mode(monkeypatch, tmp_path):
    """Full mode, an empty data directory, no Debian package and no network."""
    monkeypatch.setenv("CSLIB_FAST", "0")
    monkeypatch.setenv("CSLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", data.DatasetInfo(
        "Fashion-MNIST", "FashionMNIST", data.DATASETS["fashion-mnist"].classes, debian_dir=tmp_path / "debian"))

    def offline(info, root, train):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(data, "_torchvision_download", offline)
    return tmp_path


def write_split(folder, images, labels, train=True, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    img, lab = data._idx_names(train)
    suffix = ".gz" if gz else ""
    data.write_idx(folder / f"{img}{suffix}", images)
    data.write_idx(folder / f"{lab}{suffix}", labels)


def test_idx_round_trip(tmp_path, sample):
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        data.write_idx(tmp_path / name, sample["train_images"][:10])
        back = data.read_idx(tmp_path / name)
        assert back.dtype == np.uint8 and back.shape == (10, 28, 28)
        assert np.array_equal(back, sample["train_images"][:10])


def test_fast_mode_returns_bundled_samples_without_touching_anything(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CSLIB_FAST", "1")
    monkeypatch.setenv("CSLIB_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setattr(data, "_torchvision_download", lambda *a: pytest.fail("fast mode must not download"))
    for name in ("mnist", "fashion-mnist"):
        train, test = data.load(name), data.load(name, train=False)
        assert train.data.shape == (2000, 28, 28) and train.data.dtype == torch.uint8
        assert test.data.shape == (500, 28, 28) and test.targets.dtype == torch.int64
        assert torch.bincount(train.targets).tolist() == [200] * 10  # balanced
        assert len(train.classes) == 10
    out = capsys.readouterr().out
    assert "bundled with cslib" in out and "fast mode" in out
    assert not (tmp_path / "nowhere").exists()


def test_data_directory_comes_first(full_mode, sample, capsys):
    raw = full_mode / "data" / "FashionMNIST" / "raw"
    write_split(raw, sample["train_images"], sample["train_labels"], gz=False)
    write_split(full_mode / "debian", sample["test_images"], sample["test_labels"])  # must not be used
    ds = data.load("fashion-mnist")
    assert torch.equal(ds.data, torch.from_numpy(sample["train_images"]))
    assert ds.targets.tolist() == sample["train_labels"].tolist()
    assert ds.classes[1] == "Trouser" and "data directory" in ds.source
    # printed as under $CSLIB_DATA: a stored notebook shows no machine's absolute paths
    assert "Fashion-MNIST train: 2,000 images from $CSLIB_DATA/FashionMNIST/raw (data directory)" in capsys.readouterr().out


def test_debian_package_is_second(full_mode, sample):
    write_split(full_mode / "debian", sample["test_images"], sample["test_labels"], train=False)
    ds = data.load("fashion-mnist", train=False)
    assert len(ds) == 500 and "Debian" in ds.source


def test_torchvision_download_is_third(full_mode, sample, monkeypatch):
    calls = []

    def fake_download(info, root, train):  # what torchvision leaves behind: raw IDX files
        calls.append((info.folder, train))
        write_split(root / info.folder / "raw", sample["train_images"][:100], sample["train_labels"][:100], train, gz=False)

    monkeypatch.setattr(data, "_torchvision_download", fake_download)
    ds = data.load("mnist")
    assert calls == [("MNIST", True)] and len(ds) == 100 and "downloaded by torchvision" in ds.source
    data.load("mnist")  # second time it is found in the data directory
    assert len(calls) == 1


def test_nothing_found_explains_what_was_tried_and_how_to_fix_it(full_mode):
    with pytest.raises(DataNotFoundError) as err:
        data.load("fashion-mnist")
    msg = str(err.value)
    for expected in ("Tried, in order", "data directory", "debian", "torchvision download", "Name or service not known",
                     "python -m cslib.data fetch", "CSLIB_DATA", "apt-get install dataset-fashion-mnist", "CSLIB_FAST=1"):
        assert expected in msg, expected


def test_subset_is_last_and_said_loudly(full_mode, capsys):
    with np.load(data.SAMPLES_DIR / "mnist-sample.npz") as f:
        images, labels = f["train_images"], f["train_labels"]
    order = np.argsort(labels, kind="stable")  # sorted by class, like the real 10k-digit file
    npz = full_mode / "digits.npz"
    np.savez(npz, images=images[order], labels=labels[order])
    data.main(["import", str(npz), "--dataset", "mnist"])
    capsys.readouterr()
    train, test = data.load("mnist"), data.load("mnist", train=False)
    assert (len(train), len(test)) == (1600, 400)  # the fixed 80/20 split of each class
    assert torch.bincount(train.targets).tolist() == [160] * 10
    assert len(set(train.targets[:20].tolist())) > 3  # shuffled, not sorted by class
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["MNIST train", "MNIST test"], out  # one line per split, nothing else
    assert all("NOT the full MNIST (not in the data directory; download failed: no network): fetch it with "
               "`python -m cslib.data fetch`" in line for line in lines), out
    assert "urlopen" not in out
    assert "NOT the full MNIST" in out and str(full_mode) not in out
    assert "NOT the full MNIST" in train.source


@pytest.mark.parametrize("damage", ["truncated", "truncated_gz", "bad_magic", "not_gzip"])
def test_corrupt_files_are_named_with_a_remedy(full_mode, sample, damage):
    raw = full_mode / "data" / "FashionMNIST" / "raw"
    write_split(raw, sample["train_images"], sample["train_labels"], gz=damage.endswith("gz"))
    target = raw / ("train-images-idx3-ubyte" + (".gz" if damage.endswith("gz") else ""))
    content = target.read_bytes()
    if damage == "truncated":  # a half-written file
        target.write_bytes(content[: len(content) // 2])
    elif damage == "truncated_gz":
        target.write_bytes(content[: len(content) // 2])
    elif damage == "bad_magic":
        target.write_bytes(b"\x12\x34" + content[2:])
    elif damage == "not_gzip":
        target.write_bytes(b"this is not gzip")
    with pytest.raises(DataFileError) as err:
        data.load("fashion-mnist")
    assert str(target) in str(err.value)
    assert "python -m cslib.data fetch" in str(err.value)


def test_half_written_idx_reports_sizes(tmp_path, sample):
    path = tmp_path / "train-images-idx3-ubyte"
    data.write_idx(path, sample["train_images"])
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(DataFileError, match=r"truncated or corrupt: its header promises shape \(2000, 28, 28\)"):
        data.read_idx(path)


def test_missing_label_file(full_mode, sample):
    raw = full_mode / "data" / "FashionMNIST" / "raw"
    write_split(raw, sample["train_images"], sample["train_labels"])
    (raw / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataFileError, match="train-labels-idx1-ubyte.*is missing"):
        data.load("fashion-mnist")


def test_labels_and_images_must_agree(full_mode, sample):
    raw = full_mode / "data" / "FashionMNIST" / "raw"
    write_split(raw, sample["train_images"], sample["train_labels"][:5])
    with pytest.raises(DataFileError, match="2,000 images but labels of shape"):
        data.load("fashion-mnist")


def test_unreadable_data_directory(full_mode, monkeypatch):
    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data.Path, "is_file", denied)
    with pytest.raises(DataFileError, match="not readable.*CSLIB_DATA"):
        data.load("fashion-mnist")


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="Unknown dataset 'fashion'.*Known datasets: mnist, fashion-mnist"):
        data.load("fashion")
    with pytest.raises(ValueError, match="Did you mean 'mnist'"):
        data.dataset_info("mnsit")
    assert data.dataset_info("FashionMNIST").folder == "FashionMNIST"
    assert data.dataset_info("fashion_mnist").name == "Fashion-MNIST"


def test_bad_fast_mode_value(monkeypatch):
    monkeypatch.setenv("CSLIB_FAST", "maybe")
    with pytest.raises(ValueError, match="CSLIB_FAST='maybe' is not understood"):
        data.load("mnist")


def test_fetch_command_for_offline_nodes(full_mode, sample, monkeypatch, capsys):
    def fake_download(info, root, train):
        write_split(root / info.folder / "raw", sample["train_images"][:50], sample["train_labels"][:50], train)

    monkeypatch.setattr(data, "_torchvision_download", fake_download)
    target = full_mode / "cluster-share"
    assert data.main(["fetch", "--root", str(target)]) == 0
    assert data.main(["fetch", "--root", str(target), "--dataset", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "downloaded to" in out and "found in" in out and "skipping" in out
    monkeypatch.setenv("CSLIB_DATA", str(target))
    assert len(data.load("mnist", train=False)) == 50


def test_fetch_command_offline_fails_cleanly(full_mode, capsys):
    assert data.main(["fetch", "--root", str(full_mode / "x")]) == 1
    assert "error: downloading MNIST" in capsys.readouterr().err


def test_import_and_info_commands(full_mode, sample, capsys):
    src = full_mode / "debian-copy"
    write_split(src, sample["train_images"], sample["train_labels"])
    write_split(src, sample["test_images"], sample["test_labels"], train=False)
    assert data.main(["import", str(src), "--dataset", "fashion-mnist"]) == 0
    assert data.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "Fashion-MNIST train: 2,000 images copied" in out
    assert "FashionMNIST/raw" in out.splitlines()[-1] or "FashionMNIST/raw" in out
    assert data.main(["import", str(full_mode / "empty"), "--dataset", "mnist"]) == 1


def test_prepare_and_dataset_shapes():
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    flat = data.prepare(images, flatten=True)
    assert flat.shape == (5, 784) and flat.dtype == torch.float32 and 0 <= flat.min() and flat.max() <= 1
    assert data.prepare(images).shape == (5, 1, 28, 28)
    ds = data.ImageDataset(images, torch.arange(5), flatten=True)
    x, y = ds[2]
    assert x.shape == (784,) and y.item() == 2 and len(ds) == 5
    with pytest.raises(TypeError, match="expects uint8"):
        data.prepare(flat)
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        data.ImageDataset(images, torch.arange(4))


def test_dataset_applies_its_transform_to_each_image_read_and_works_with_worker_processes():
    images = torch.randint(0, 256, (6, 28, 28), dtype=torch.uint8)
    flipped = data.ImageDataset(images, torch.arange(6), transform=lambda x: x.flip(-1))
    x, y = flipped[3]
    assert torch.equal(x, data.prepare(images)[3].flip(-1)) and y.item() == 3
    with pytest.raises(TypeError, match="transform must be callable"):
        data.ImageDataset(images, torch.arange(6), transform="flip")
    from torch.utils.data import DataLoader
    from torchvision.transforms import v2

    loader = DataLoader(data.ImageDataset(images, torch.arange(6), transform=v2.RandomHorizontalFlip(p=1.0)),
                        batch_size=3, num_workers=1, multiprocessing_context="spawn")  # as on Windows and macOS
    batches = list(loader)
    assert torch.equal(torch.cat([x for x, _ in batches]), data.prepare(images).flip(-1))


def test_gzip_of_wrong_content(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x08")
    with pytest.raises(DataFileError, match="not an IDX file"):
        data.read_idx(path)


# --------------------------------------------------------------------------- bad files, bad folders, no network
@pytest.mark.parametrize("store", ["idx", "npz"])
@pytest.mark.parametrize("labels, message", [
    (lambda y: y.astype(np.float32) + 0.5, "labels are stored as float32"),
    (lambda y: y.astype(np.int8) - 1, "label -1 is outside the valid range 0..9"),
])
def test_labels_stored_as_float_or_negative_are_rejected(full_mode, sample, store, labels, message, capsys):
    bad = labels(sample["train_labels"])
    if store == "idx":
        raw = full_mode / "data" / "FashionMNIST" / "raw"
        write_split(raw, sample["train_images"], sample["train_labels"])
        label_file = raw / "train-labels-idx1-ubyte.gz"
        kind = {np.dtype(np.float32): 0x0D, np.dtype(np.int8): 0x09}[bad.dtype]
        payload = bytes([0, 0, kind, 1]) + len(bad).to_bytes(4, "big") + bad.astype(bad.dtype.newbyteorder(">")).tobytes()
        label_file.write_bytes(gzip.compress(payload))
        with pytest.raises(DataFileError, match=message) as err:
            data.load("fashion-mnist")
        assert str(label_file.name) in str(err.value)
    else:
        npz = full_mode / "digits.npz"
        np.savez(npz, images=sample["train_images"], labels=bad)
        assert data.main(["import", str(npz), "--dataset", "mnist"]) == 1  # the import refuses it
        assert message in capsys.readouterr().err
        subset = full_mode / "data" / "MNIST" / data.SUBSET_FILE  # and so does the loader, if it got there anyway
        subset.parent.mkdir(parents=True)
        np.savez(subset, images=sample["train_images"], labels=bad)
        with pytest.raises(DataFileError, match=message):
            data.load("mnist")


def test_a_gz_whose_deflate_data_is_corrupt_names_the_file(full_mode, sample):
    raw = full_mode / "data" / "FashionMNIST" / "raw"
    write_split(raw, sample["train_images"], sample["train_labels"])
    target = raw / "train-images-idx3-ubyte.gz"
    content = bytearray(gzip.compress(data.read_idx(target).tobytes()))  # a 10-byte header, no file name
    content[10] = 0xFF  # the first deflate block now has the invalid block type 3: zlib.error, before any CRC check
    target.write_bytes(bytes(content))
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte.gz cannot be read \(error: Error -3") as err:
        data.load("fashion-mnist")
    assert str(target) in str(err.value) and "python -m cslib.data fetch" in str(err.value)


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_import_of_a_bad_npz_names_the_file(full_mode, capsys, content):
    npz = full_mode / "digits.npz"
    npz.write_bytes(content)
    assert data.main(["import", str(npz), "--dataset", "mnist"]) == 1
    err = capsys.readouterr().err
    assert f"error: {npz} cannot be read as an .npz file" in err and len(err.strip().splitlines()) == 1
    np.savez(npz, pictures=np.zeros((2, 28, 28), np.uint8))
    assert data.main(["import", str(npz), "--dataset", "mnist"]) == 1
    assert "has no 'images' and 'labels' arrays (it has: pictures)" in capsys.readouterr().err


def test_import_into_a_folder_that_cannot_be_written_says_so_in_one_line(full_mode, sample, capsys, monkeypatch):
    src = full_mode / "idx"
    write_split(src, sample["train_images"], sample["train_labels"])
    npz = full_mode / "digits.npz"
    np.savez(npz, images=sample["train_images"], labels=sample["train_labels"])
    a_file = full_mode / "a-file"
    a_file.write_text("")
    for source in (src, npz):  # a real failure: --root under a regular file
        assert data.main(["import", str(source), "--dataset", "mnist", "--root", str(a_file / "data")]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: cannot write to {a_file / 'data' / 'MNIST'}") and "Pass --root" in err
        assert len(err.strip().splitlines()) == 1

    def read_only(self, *args, **kwargs):  # a read-only mount (tests may run as root, so chmod proves nothing)
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(data.Path, "mkdir", read_only)
    assert data.main(["import", str(src), "--dataset", "mnist", "--root", "/mnt/cdrom"]) == 1
    assert capsys.readouterr().err == ("error: cannot write to /mnt/cdrom/MNIST/raw (Read-only file system). "
                                       "Pass --root (or set CSLIB_DATA) to a folder you can write to.\n")


def test_a_network_that_never_answers_times_out(full_mode, monkeypatch):
    """A firewall that drops packets: the server accepts the connection and never says a word."""
    import socket
    import threading

    from torchvision import datasets

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    safety = threading.Timer(120, silent.close)  # without the timeout the test fails (connection reset), not hangs
    safety.start()
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        monkeypatch.setattr(datasets.MNIST, "mirrors", [url + "one/", url + "two/"])
        monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 0.5)
        monkeypatch.setattr(data, "_torchvision_download", TORCHVISION_DOWNLOAD)
        previous = socket.getdefaulttimeout()
        with pytest.raises(DataNotFoundError, match=r"failed \(no answer within 0.5 s \(timed out\): no network, or a firewall\)"):
            data.load("mnist")
        assert socket.getdefaulttimeout() == previous  # restored
    finally:
        safety.cancel()
        silent.close()


def test_prepare_takes_numpy_arrays_and_says_what_shapes_it_wants():
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    x = data.prepare(images)
    assert x.shape == (3, 1, 28, 28) and torch.equal(x, data.prepare(torch.from_numpy(images)))
    assert data.prepare(images.reshape(3, 784)).shape == (3, 1, 28, 28)  # flat rows
    assert data.prepare(x.mul(255).byte()).shape == (3, 1, 28, 28)  # (N, 1, H, W) as well
    with pytest.raises(ValueError, match=r"got shape \(28, 28\)\. For one image use images\[None\]"):
        data.prepare(images[0])
    with pytest.raises(TypeError, match="expects uint8 images as a tensor or a NumPy array, got list"):
        data.prepare([[1, 2]])
    with pytest.raises(TypeError, match="expects uint8 images \\(0-255\\), got torch.float64"):
        data.prepare(images / 255)
    ds = data.ImageDataset(images, np.array([1, 2, 3]))
    assert ds.y.dtype == torch.int64 and ds[1][1].item() == 2
    with pytest.raises(TypeError, match="whole class numbers"):
        data.ImageDataset(images, np.array([0.5, 1, 2]))


def test_the_split_must_be_true_or_false():
    with pytest.raises(TypeError, match="train must be True \\(training split\\) or False \\(test split\\), got 'test'"):
        data.load("mnist", "test")  # a string is "true": it used to give the training split
