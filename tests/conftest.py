"""Shared test helpers: a toy plugin (MLP nets, a ring of Gaussians, tiny IDX files) and
small recipes."""

from __future__ import annotations

import functools
import gzip
import http.server
import importlib
import math
import os
import shutil
import struct
import sys
import tempfile
import threading
from pathlib import Path

# The suite runs as on a new machine: HOME, the data folder, the caches, matplotlib's config
# and the temporary folder point at fresh empty folders before genzoo is imported, and an audit hook refuses (and the
# test that did it fails) any open, listing, copy or subprocess that names a folder where an
# earlier install on this machine may have left data: the user's real caches, Debian's data
# sets and OpenCV's sample clips. Tests make every file they read.
MACHINE_HOME = Path(os.environ.get("HOME") or Path.home())
FORBIDDEN = tuple(
    dict.fromkeys(
        str(p)
        for p in (
            MACHINE_HOME / ".cache",
            MACHINE_HOME / ".config",
            MACHINE_HOME / ".torch",
            *(
                Path(os.environ[v])
                for v in ("GENZOO_DATA", "GENZOO_CACHE", "XDG_CACHE_HOME", "TORCH_HOME")
                if os.environ.get(v)
            ),
            Path("/usr/share") / "datasets",
            Path("/usr/share") / "doc" / "opencv-doc",
        )
    )
)
SANDBOX = Path(tempfile.mkdtemp(prefix="genzoo-tests-"))
_CACHE = Path("home") / ".cache"
for _var, _sub in (
    ("HOME", "home"),
    ("GENZOO_DATA", _CACHE / "genzoo" / "data"),
    ("GENZOO_CACHE", _CACHE / "genzoo"),
    ("XDG_CACHE_HOME", _CACHE),
    ("TORCH_HOME", _CACHE / "torch"),
    ("MPLCONFIGDIR", "home/.config/mpl"),
):
    (SANDBOX / _sub).mkdir(parents=True, exist_ok=True)
    os.environ[_var] = str(SANDBOX / _sub)
(SANDBOX / "tmp").mkdir()
os.environ["TMPDIR"] = str(SANDBOX / "tmp")
tempfile.tempdir = None  # recomputed from TMPDIR: tmp_path folders live in the sandbox too
VIOLATIONS: list[str] = []
# Runs compared bit for bit in separate processes must compute with one thread count whatever
# else the machine runs meanwhile: the suite asks for one per core (what the thread policy picks
# on an idle machine) unless the caller pinned one; tests/test_threads.py unsets it to test the
# policy itself.
os.environ.setdefault("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0))))


def _forbidden(arg) -> str | None:
    if isinstance(arg, (list, tuple)):
        return next((f for f in map(_forbidden, arg) if f), None)
    if isinstance(arg, bytes):
        arg = arg.decode(errors="replace")
    if not isinstance(arg, (str, os.PathLike)):
        return None
    text = (
        os.path.abspath(os.fspath(arg))
        if isinstance(arg, os.PathLike) or os.sep in str(arg)
        else str(arg)
    )
    for root in FORBIDDEN:
        if text == root or text.startswith(root + os.sep):
            return text
    return None


def _audit(event, args):
    if event in ("open", "os.listdir", "os.scandir", "shutil.copyfile", "subprocess.Popen"):
        hit = _forbidden(args[:2] if event == "subprocess.Popen" else args[:1])
        if hit:
            VIOLATIONS.append(f"{event}: {hit}")
            raise PermissionError(f"the test suite may not read machine state: {hit}")


sys.addaudithook(_audit)

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from genzoo import hookimpl, plugins
from genzoo.data import DataSource
from genzoo.interfaces import Encoder, Energy, Generator, Models, Posterior
from genzoo.recipe import from_dict

ROOT = Path(__file__).resolve().parents[1]


def benchmark(name: str):
    """The script ``benchmarks/NAME.py`` as a module, imported as it runs (beside its
    siblings, such as ``tables``)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


class MLPGenerator(Generator):
    def __init__(self, d, out, hidden, batch_norm=False):
        super().__init__()
        self.latent_shape = (d,)
        norm = [nn.BatchNorm1d(hidden)] if batch_norm else []
        self.net = nn.Sequential(
            nn.Linear(d, hidden),
            *norm,
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out),
        )

    def forward(self, z):
        return self.net(z)


class MLPEncoder(Encoder):
    def __init__(self, d, inp, hidden):
        super().__init__()
        self.latent_shape = (d,)
        self.net = nn.Sequential(
            nn.Linear(inp, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 * d),
        )

    def forward(self, x):
        out = self.net(x)
        d = self.latent_shape[0]
        return Posterior(out[:, :d], out[:, d:].clamp(-10, 5))


class MLPEnergy(Energy):
    def __init__(self, inp, hidden):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(inp, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)


def build_mlp(
    sample_shape: tuple[int, ...], latent_dim: int = 2, hidden: int = 64, batch_norm: bool = False
) -> Models:
    """Small MLPs for vector data (``batch_norm``: one batch-norm layer in the generator)."""
    (n,) = sample_shape
    return Models(
        MLPGenerator(latent_dim, n, hidden, batch_norm),
        MLPEncoder(latent_dim, n, hidden),
        MLPEnergy(n, hidden),
    )


RING_RADIUS = 0.8


def ring_centres(modes: int = 8) -> torch.Tensor:
    a = torch.arange(modes) * 2 * math.pi / modes
    return RING_RADIUS * torch.stack([a.cos(), a.sin()], 1)


def ring8(n: int = 4096, std: float = 0.03, seed: int = 0) -> DataSource:
    """A mixture of 8 Gaussians on a ring of radius 0.8."""
    g = torch.Generator().manual_seed(seed)
    c = ring_centres()
    idx = torch.randint(0, 8, (n,), generator=g)
    x = c[idx] + std * torch.randn(n, 2, generator=g)
    return DataSource(TensorDataset(x, idx), (2,), description="ring of 8 Gaussians")


class ToyPlugin:
    @hookimpl
    def register_architectures(self, register):
        register("mlp", build_mlp)

    @hookimpl
    def register_datasets(self, register):
        register("ring8", ring8)


@pytest.fixture(autouse=True)
def reads_nothing_outside_the_checkout():
    """Fail a test that opened (or spawned a program on) a file outside what the tests make."""
    del VIOLATIONS[:]
    yield
    if VIOLATIONS:
        seen = list(VIOLATIONS)
        del VIOLATIONS[:]
        pytest.fail("read machine state a new machine lacks: " + "; ".join(seen), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SANDBOX, ignore_errors=True)


@pytest.fixture
def toy_plugin():
    p = ToyPlugin()
    plugins.register_plugin(p, dist="genzoo-tests")
    yield p
    plugins.unregister_plugin(p)


def toy_recipe(**sections):
    raw = {
        "name": "toy",
        "objective": "triangle",
        "seed": 0,
        "device": "cpu",
        "model": {"arch": "mlp", "s": 0.1, "latent_dim": 2, "hidden": 32},
        "data": {"name": "ring8", "n": 512},
        "train": {"steps": 5, "batch_size": 64},
        "log": {"every": 1, "progress": False},
    }
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(raw.get(k), dict):
            raw[k] = {**raw[k], **v}
        else:
            raw[k] = v
    return from_dict(raw)


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write an IDX file (the MNIST format) for tests."""
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    data = header + array.tobytes()
    path = Path(str(path) + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_fashion_like(root: Path, n_train: int = 256, n_test: int = 64, gz: bool = True) -> Path:
    """A tiny Fashion-MNIST-shaped data set: 28x28 uint8 images of bars whose angle is the
    label."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        yy, xx = np.mgrid[0:28, 0:28] - 13.5
        imgs = []
        for lab in labels:
            a = lab * np.pi / 10
            d = np.abs(-np.sin(a) * xx + np.cos(a) * yy)
            imgs.append(np.clip(255 * np.exp(-(d**2) / 8) + rng.normal(0, 10, (28, 28)), 0, 255))
        write_idx(root / f"{split}-images-idx3-ubyte", np.array(imgs, dtype=np.uint8), gz)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels, gz)
    return root


def cli(capsys, *args):
    """Run the genzoo CLI in-process: ``(exit code, stdout, stderr)``."""
    from genzoo.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(map(str, args)))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def train_features(capsys, root: Path, epochs: int = 2, *more) -> None:
    """``genzoo features train fashion_mnist`` on the IDX files at ``root`` (``more``: its
    further options, e.g. ``--out PATH``)."""
    code, _, err = cli(
        capsys, "features", "train", "fashion_mnist", "--option", f'root="{root}"',
        "--epochs", epochs, *more,
    )  # fmt: skip
    assert code == 0, err


def write_clip(path, n=40, h=48, w=64):
    """A clip whose frame k is a gray level of 4k (left half) beside a red bar (right half)."""
    import imageio.v2 as imageio

    with imageio.get_writer(
        path,
        format="ffmpeg",
        fps=10,
        codec="libx264",
        quality=10,
        macro_block_size=16,
        ffmpeg_log_level="error",
    ) as wr:
        for k in range(n):
            f = np.zeros((h, w, 3), np.uint8)
            f[:, : w // 2] = 4 * k
            f[:, w // 2 :, 0] = 200
            wr.append_data(f)
    return path


def params_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def tiny_texture_toml(
    name: str,
    seed: int,
    image: str,
    n_crops: int,
    steps: int,
    sample_every: int = 500,
    checkpoint_every: int = 1,
    keep_checkpoints: int = 3,
) -> str:
    """A CPU-second texture recipe (TOML text) for CLI-level tests."""
    return f"""
name = "{name}"
objective = "triangle"
seed = {seed}
device = "cpu"
[model]
arch = "texture"
width = 0.0625
[data]
name = "texture_image"
image = "{image}"
size = 32
n_crops = {n_crops}
[train]
steps = {steps}
batch_size = 4
[log]
every = 1
sample_every = {sample_every}
checkpoint_every = {checkpoint_every}
keep_checkpoints = {keep_checkpoints}
n_samples = 4
"""


def make_cifar_like(
    root: Path, monkeypatch, n_train: int = 50, n_test: int = 20, classes: int = 10
) -> Path:
    """A tiny CIFAR-10 in its exact on-disk layout (``cifar-10-batches-py/``: five pickled
    training batches, a test batch, ``batches.meta``), images of colour blobs whose hue is the
    label. torchvision checks every file against the official MD5s, so the test's own sums are
    patched into its tables (what the reader then does is unchanged)."""
    import hashlib
    import pickle

    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)

    def batch(n):
        labels = rng.integers(0, classes, n)
        x = rng.integers(0, 60, (n, 3, 32, 32))
        for i, lab in enumerate(labels):
            x[i, lab % 3, 8:24, 8:24] += 40 + 18 * lab
        return {"data": x.clip(0, 255).astype(np.uint8).reshape(n, -1), "labels": labels.tolist()}

    def write(name, obj):
        (folder / name).write_bytes(pickle.dumps(obj))
        return [name, hashlib.md5((folder / name).read_bytes()).hexdigest()]

    sizes = [n_train // 5 + (1 if i < n_train % 5 else 0) for i in range(5)]
    train = [write(f"data_batch_{i + 1}", batch(n)) for i, n in enumerate(sizes)]
    test = [write("test_batch", batch(n_test))]
    meta = write("batches.meta", {"label_names": [f"class{i}" for i in range(classes)]})
    monkeypatch.setattr(CIFAR10, "train_list", train)
    monkeypatch.setattr(CIFAR10, "test_list", test)
    monkeypatch.setattr(
        CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names", "md5": meta[1]}
    )
    return root


def make_celeba(root: Path, monkeypatch, n: int = 30, size=(178, 218)) -> Path:
    """CelebA as torchvision lays it out: img_align_celeba/ (JPEGs whose centre square's
    brightness grows with the index) and the five list files; their MD5s are patched into
    torchvision's table, the archive's marked as deleted (allowed)."""
    import hashlib

    from PIL import Image
    from torchvision.datasets import CelebA

    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        a = np.full((size[1], size[0], 3), 20, np.uint8)
        a[size[1] // 2 - 30 : size[1] // 2 + 30, size[0] // 2 - 30 : size[0] // 2 + 30] = 40 + 7 * i
        a += rng.integers(0, 5, a.shape).astype(np.uint8)
        Image.fromarray(a).save(base / "img_align_celeba" / name, quality=95)
    parts = ["0"] * (n - 10) + ["1"] * 4 + ["2"] * 6  # train, valid, test
    files = {
        "list_eval_partition.txt": "".join(f"{m} {p}\n" for m, p in zip(names, parts)),
        "identity_CelebA.txt": "".join(f"{m} {i}\n" for i, m in enumerate(names)),
        "list_attr_celeba.txt": f"{n}\nSmiling Male\n" + "".join(f"{m} 1 -1\n" for m in names),
        "list_bbox_celeba.txt": f"{n}\nimage_id x_1 y_1 width height\n"
        + "".join(f"{m} 0 0 10 10\n" for m in names),
        "list_landmarks_align_celeba.txt": f"{n}\nlefteye_x lefteye_y\n"
        + "".join(f"{m} 1 2\n" for m in names),
    }
    table = []
    for file_id, _, filename in CelebA.file_list:
        if filename in files:
            (base / filename).write_text(files[filename])
            table.append(
                (file_id, hashlib.md5((base / filename).read_bytes()).hexdigest(), filename)
            )
        else:
            table.append((file_id, "0" * 32, filename))  # the zip: may be deleted
    monkeypatch.setattr(CelebA, "file_list", table)
    return root


def write_npz(path: Path, n: int, side: int, **over) -> Path:
    """One down-sampled-ImageNet npz batch: ``data`` (n, 3*side*side) uint8, 1-based labels."""
    rng = np.random.default_rng(0)
    data = over.get("data", rng.integers(0, 255, (n, 3 * side * side)).astype(np.uint8))
    labels = over.get("labels", np.arange(1, n + 1) % 1000 + 1)
    np.savez(path, data=data, labels=labels)
    return path


def write_lmdb(path: Path, n: int, shape=(80, 100)) -> Path:
    """An LSUN-shaped lmdb database: 40-hex-digit keys to WEBP images of gray level 40 * i."""
    import io

    import lmdb
    from PIL import Image

    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(n):
            buf = io.BytesIO()
            Image.fromarray(np.full((*shape, 3), (40 * i) % 256, np.uint8)).save(buf, format="WEBP")
            txn.put(f"{i:040x}".encode(), buf.getvalue())
    env.close()
    return path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reads stderr: keep the access log out of it
        pass


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path / 'www'``; yields (folder, url)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
