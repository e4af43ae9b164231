"""A tiny-size run of every shipped recipe, through the same trainer the CLI uses."""

import pytest
from conftest import (
    ROOT,
    make_celeba,
    make_cifar_like,
    make_fashion_like,
    write_clip,
    write_lmdb,
    write_npz,
)

from genzoo import recipe
from genzoo.data import data_home
from genzoo.training import Trainer

RECIPES = sorted((ROOT / "recipes").glob("*.toml"))
TINY = [
    "train.steps=2",
    "train.batch_size=4",
    "model.width=0.0625",
    'device="cpu"',
    "log.n_samples=4",
    "log.progress=false",
]


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory):
    return make_fashion_like(tmp_path_factory.mktemp("fm"), n_train=32, n_test=8)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_tiny_run(path, tmp_path, fashion_root, monkeypatch):
    data = recipe.load(path).data.name
    # data the recipe finds in its default place, the data folder (as a download leaves it)
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    if data == "video_clips":  # a synthetic clip where the default tree.avi is looked for
        write_clip(data_home() / "tree.avi", n=48)
    if data == "cifar10":
        make_cifar_like(data_home(), monkeypatch, n_train=16, n_test=4)
    if data == "celeba64":
        make_celeba(data_home(), monkeypatch, n=20)
    if data == "lsun":
        write_lmdb(data_home() / "bedroom_train_lmdb", 8)
    if data == "imagenet32":
        (data_home() / "Imagenet32_train_npz").mkdir()
        write_npz(data_home() / "Imagenet32_train_npz" / "train_data_batch_1.npz", 8, 32)
    if data == "image_folder":  # a few photos made here, at a small size
        import numpy as np
        from PIL import Image

        (tmp_path / "photos").mkdir()
        for i in range(6):
            pixels = np.random.default_rng(i).integers(0, 255, (20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / f"{i}.png")
    extra = {
        "texture_image": ["data.size=32", "data.n_crops=16"],
        "image_folder": [
            f'data.root="{tmp_path / "photos"}"',
            "data.size=16",
            "model.stage_steps=1",
            "model.fade_steps=1",
        ],
        "fashion_mnist": [f'data.root="{fashion_root}"'],
        "celeba64": ["data.n_train=8", "data.n_test=2"],
    }.get(data, [])
    r = recipe.load(path, TINY + extra)
    tr = Trainer(r)
    last = tr.fit(tmp_path / "run")
    assert last["step"] == 2
    assert all(v == v for v in last.values())  # no NaN
    assert (tmp_path / "run" / "checkpoints" / "step_00000002.safetensors").exists()
