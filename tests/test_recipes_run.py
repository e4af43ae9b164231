"""A tiny-size run of every shipped recipe, through the same trainer the CLI uses."""

import pytest

from conftest import ROOT, make_fashion_like, write_clip
from genzoo import recipe
from genzoo.data import data_home
from genzoo.trainer import Trainer

RECIPES = sorted((ROOT / "recipes").glob("*.toml"))
TINY = ["train.steps=2", "train.batch_size=4", "model.width=0.0625", "device=\"cpu\"",
        "log.n_samples=4", "log.progress=false"]


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory):
    return make_fashion_like(tmp_path_factory.mktemp("fm"), n_train=32, n_test=8)


@pytest.fixture(scope="module")
def default_clip():
    """A synthetic clip where the video recipes look for their default one (the data folder,
    which the suite points at an empty folder of its own)."""
    data_home().mkdir(parents=True, exist_ok=True)
    return write_clip(data_home() / "tree.avi", n=48)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_tiny_run(path, tmp_path, fashion_root, request):
    data = recipe.load(path).data.name
    if data == "video_clips":
        request.getfixturevalue("default_clip")
    extra = {"texture_image": ["data.size=32", "data.n_crops=16"],
             "fashion_mnist": [f"data.root=\"{fashion_root}\""]}.get(data, [])
    r = recipe.load(path, TINY + extra)
    tr = Trainer(r)
    last = tr.fit(tmp_path / "run")
    assert last["step"] == 2
    assert all(v == v for v in last.values())  # no NaN
    assert (tmp_path / "run" / "checkpoints" / "step_00000002.safetensors").exists()
