"""The paper's benchmark data sets through torchvision (and lmdb / npz readers), from small files
the tests write in each format's exact on-disk layout; downloads from a real HTTP server on
127.0.0.1 serving files the test made."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    ROOT,
    cli,
    make_celeba,
    make_cifar_like,
    make_fashion_like,
    write_lmdb,
    write_npz,
)

from genzoo import plugins
from genzoo.errors import GenzooError
from genzoo_datasets import idx as idx_mod
from genzoo_datasets.idx import fashion_mnist
from genzoo_datasets.imagenet_npz import imagenet32, imagenet64
from genzoo_datasets.lsun import lsun
from genzoo_datasets.vision import celeba64, cifar10, svhn


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def test_the_new_data_sets_are_registered():
    names = set(plugins.registry().names("datasets"))
    assert {
        "cifar10",
        "cifar100",
        "svhn",
        "celeba64",
        "lsun",
        "imagenet32",
        "imagenet64",
        "mnist",
        "fashion_mnist",
    } <= names


def test_cifar10_reads_its_batches_with_labels(tmp_path, monkeypatch):
    root = make_cifar_like(tmp_path, monkeypatch, n_train=23, n_test=7)
    src = cifar10(root=root)
    assert src.sample_shape == (3, 32, 32) and len(src.train) == 23 and len(src.test) == 7
    x, y = src.train[0]
    assert x.shape == (3, 32, 32) and -1 <= float(x.min()) and float(x.max()) <= 1
    # the blob's channel is the label mod 3 (see make_cifar_like): the reader keeps CHW order
    assert int(x[:, 8:24, 8:24].mean((1, 2)).argmax()) == y % 3
    assert len(cifar10(root=root, limit=5, test_limit=2).train) == 5


def test_cifar10_with_a_damaged_batch_is_one_line(tmp_path, monkeypatch):
    root = make_cifar_like(tmp_path, monkeypatch)
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"truncated")
    with pytest.raises(GenzooError, match="not found or damaged") as exc:
        cifar10(root=root)
    assert "data.download = true" in str(exc.value) and "\n" not in str(exc.value)


def test_cifar10_download_from_a_server_checks_and_extracts(tmp_path, monkeypatch, server):
    import tarfile

    from torchvision.datasets import CIFAR10

    www, url = server
    made = make_cifar_like(tmp_path / "made", monkeypatch, n_train=10, n_test=5)
    archive = www / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(made / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(CIFAR10, "url", url + archive.name)
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5(archive))
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "data"))
    src = cifar10(download=True)
    assert len(src.train) == 10 and (tmp_path / "data" / "cifar-10-batches-py").is_dir()
    # a corrupted download: the archive's checksum does not match; it is removed
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "data2"))
    monkeypatch.setattr(CIFAR10, "tgz_md5", "0" * 32)
    with pytest.raises(GenzooError, match="failed its checksum and was removed"):
        cifar10(download=True)
    assert not (tmp_path / "data2" / archive.name).exists()


def fashion_server(www: Path, tmp_path: Path, monkeypatch, url: str):
    from torchvision.datasets import FashionMNIST

    made = make_fashion_like(tmp_path / "fm_made", n_train=30, n_test=10)
    resources = []
    for name, _ in FashionMNIST.resources:
        (www / name).write_bytes((made / name).read_bytes())
        resources.append((name, md5(www / name)))
    monkeypatch.setattr(FashionMNIST, "mirrors", [url])
    monkeypatch.setattr(FashionMNIST, "resources", resources)
    monkeypatch.setattr(idx_mod, "fashion_search", lambda: ())  # no Debian copy to fall back on
    return resources


def test_fashion_mnist_downloads_into_the_data_folder(tmp_path, monkeypatch, server):
    www, url = server
    fashion_server(www, tmp_path, monkeypatch, url)
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "data"))
    with pytest.raises(GenzooError, match="data.download = true") as exc:
        fashion_mnist()  # nothing local: says how to get it
    assert "apt-get install dataset-fashion-mnist" in str(exc.value)
    src = fashion_mnist(download=True)
    assert len(src.train) == 30 and len(src.test) == 10
    assert (tmp_path / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()
    assert len(fashion_mnist().train) == 30  # offline afterwards: found in the data folder


def test_fashion_mnist_corrupted_download_is_detected_and_removed(tmp_path, monkeypatch, server):
    www, url = server
    resources = fashion_server(www, tmp_path, monkeypatch, url)
    (www / resources[1][0]).write_bytes(b"\x1f\x8b garbage, not the file the checksum names")
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "data"))
    with pytest.raises(GenzooError, match="failed its checksum and was removed"):
        fashion_mnist(download=True)
    assert not (tmp_path / "data" / "FashionMNIST" / "raw" / resources[1][0]).exists()


def test_recipe_run_with_download_needs_no_other_step(tmp_path, monkeypatch, server, capsys):
    """`genzoo run recipes/dt_fashion.toml --set data.download=true` on a machine with
    internet: here the internet is the local server."""
    www, url = server
    fashion_server(www, tmp_path, monkeypatch, url)
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "data"))
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_fashion.toml",
        "--out",
        tmp_path / "run",
        "--set",
        "data.download=true",
        "--set",
        "train.steps=2",
        "--set",
        "train.batch_size=4",
        "--set",
        "model.width=0.0625",
        "--set",
        "log.progress=false",
        "--set",
        'device="cpu"',
    )
    assert code == 0, err


def test_svhn_reads_mat_files(tmp_path, monkeypatch):
    import scipy.io
    from torchvision.datasets import SVHN

    split_list = {}
    for split, n in (("train", 12), ("test", 5)):
        X = np.random.default_rng(0).integers(0, 255, (32, 32, 3, n)).astype(np.uint8)
        y = np.arange(1, n + 1).reshape(-1, 1) % 10 + 1  # 1..10, 10 meaning the digit 0
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat", {"X": X, "y": y})
        split_list[split] = ["", f"{split}_32x32.mat", md5(tmp_path / f"{split}_32x32.mat")]
    monkeypatch.setattr(SVHN, "split_list", split_list)
    src = svhn(root=tmp_path)
    assert len(src.train) == 12 and src.train[0][0].shape == (3, 32, 32)
    assert sorted({y for _, y in src.train}) == list(range(10))


def test_celeba64_follows_the_papers_protocol(tmp_path, monkeypatch):
    root = make_celeba(tmp_path, monkeypatch)
    src = celeba64(root=root, n_train=12, n_test=4, split_seed=1)
    assert src.sample_shape == (3, 64, 64) and len(src.train) == 12 and len(src.test) == 4
    x = src.train[0]
    assert torch.is_tensor(x) and x.shape == (3, 64, 64)  # no labels
    again = celeba64(root=root, n_train=12, n_test=4, split_seed=1)
    assert torch.equal(again.train.data, src.train.data)  # the split is fixed by the seed
    other = celeba64(root=root, n_train=12, n_test=4, split_seed=2)
    assert not torch.equal(other.train.data, src.train.data)
    assert "split_seed 1" in src.description
    with pytest.raises(GenzooError, match="fewer than the 7 asked for"):
        celeba64(root=root, n_train=12, n_test=7)


def test_celeba64_bad_files_are_one_line(tmp_path, monkeypatch):
    root = make_celeba(tmp_path / "a", monkeypatch)
    (root / "celeba" / "list_eval_partition.txt").unlink()
    with pytest.raises(GenzooError, match="CelebA not found or damaged"):
        celeba64(root=root, n_train=4, n_test=2)
    root = make_celeba(tmp_path / "b", monkeypatch, size=(100, 120))
    with pytest.raises(GenzooError, match="smaller than the 140x140 centre crop"):
        celeba64(root=root, n_train=4, n_test=2)


def test_imagenet_npz_layout_and_errors(tmp_path):
    train = tmp_path / "Imagenet32_train_npz"
    train.mkdir()
    write_npz(train / "train_data_batch_1.npz", 6, 32)
    write_npz(train / "train_data_batch_2.npz", 4, 32)
    (tmp_path / "Imagenet32_val_npz").mkdir()
    write_npz(tmp_path / "Imagenet32_val_npz" / "val_data.npz", 3, 32)
    src = imagenet32(root=tmp_path)
    assert len(src.train) == 10 and len(src.test) == 3 and src.train[0][1] == 1  # 0-based
    assert len(imagenet32(root=tmp_path, limit=7).train) == 7
    write_npz(tmp_path / "train_data_batch_1.npz", 2, 32)  # 32x32 images where 64x64 belong
    with pytest.raises(GenzooError, match="not 64x64 colour images"):
        imagenet64(root=tmp_path)
    raw = (train / "train_data_batch_2.npz").read_bytes()
    (train / "train_data_batch_2.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(GenzooError, match="not a readable ImageNet npz batch"):
        imagenet32(root=tmp_path)
    with pytest.raises(GenzooError, match="image-net.org"):
        imagenet32(root=tmp_path / "empty")


def test_lsun_reads_an_lmdb_database(tmp_path):
    write_lmdb(tmp_path / "bedroom_train_lmdb", 5)
    src = lsun(root=tmp_path, size=32)
    assert len(src.train) == 5 and src.test is None
    x = src.train[3]
    assert x.shape == (3, 32, 32) and abs(float(x.mean()) - (120 / 127.5 - 1)) < 0.02
    with pytest.raises(GenzooError, match="no folder"):
        lsun(category="tower", root=tmp_path)


def _bad_cifar(tmp_path, monkeypatch, server):
    root = make_cifar_like(tmp_path / "c", monkeypatch)
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"x")  # truncated
    return "dt_cifar10", [f'data.root="{root}"'], "CIFAR-10 not found or damaged"


def _celeba_no_partition(tmp_path, monkeypatch, server):
    root = make_celeba(tmp_path / "a", monkeypatch)
    (root / "celeba" / "list_eval_partition.txt").unlink()
    return "dt_celeba64", [f'data.root="{root}"'], "CelebA not found or damaged"


def _celeba_small_images(tmp_path, monkeypatch, server):
    root = make_celeba(tmp_path / "b", monkeypatch, size=(100, 120))
    return (
        "dt_celeba64",
        [f'data.root="{root}"', "data.n_train=4", "data.n_test=2"],
        "smaller than the 140x140 centre crop",
    )


def _imagenet_truncated(tmp_path, monkeypatch, server):
    path = write_npz(tmp_path / "train_data_batch_1.npz", 4, 32)
    path.write_bytes(path.read_bytes()[:100])
    return "dt_imagenet32", [f'data.root="{tmp_path}"'], "not a readable ImageNet npz batch"


def _fashion_wrong_checksum(tmp_path, monkeypatch, server):
    www, url = server
    resources = fashion_server(www, tmp_path, monkeypatch, url)
    (www / resources[0][0]).write_bytes(b"not what the checksum names")
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "data"))
    return "dt_fashion", ["data.download=true"], "failed its checksum and was removed"


@pytest.mark.parametrize(
    "case",
    [
        _bad_cifar,
        _celeba_no_partition,
        _celeba_small_images,
        _imagenet_truncated,
        _fashion_wrong_checksum,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_bad_data_files_from_the_cli_are_one_line_exit_2(
    case, tmp_path, monkeypatch, server, capsys
):
    name, sets, expected = case(tmp_path, monkeypatch, server)
    args = [x for kv in sets for x in ("--set", kv)]
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / f"{name}.toml",
        "--out",
        tmp_path / "run",
        *args,
        "--set",
        "train.batch_size=2",
        "--set",
        "model.width=0.0625",
        "--set",
        'device="cpu"',
    )
    assert code == 2 and expected in err, err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and "%|" not in ln]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
