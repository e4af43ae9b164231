"""Every speed option of [train] leaves one step's losses equal to the default's, within the
tolerance its arithmetic allows."""

from __future__ import annotations

import pytest
import torch
from conftest import make_fashion_like

from genzoo.recipe import from_dict
from genzoo.training import Trainer

# fp32 options reorder float sums only; bf16 keeps 8 bits of mantissa (relative error ~ 4e-3
# per op, compounding through a few layers; the energies, ~1e-3 at initialisation, are the
# most sensitive)
OPTIONS = [
    ({"channels_last": True}, 1e-4),
    ({"threads": 1}, 1e-4),
    ({"autocast": "bf16"}, 3e-2),
    pytest.param({"compile": True}, 1e-4, marks=pytest.mark.slow),
]  # ~45 s to compile


def one_step(root, **train):
    r = from_dict(
        {
            "name": "speed",
            "objective": "triangle",
            "seed": 0,
            "device": "cpu",
            "model": {"arch": "dcgan", "width": 0.125, "latent_dim": 16},
            "data": {"name": "fashion_mnist", "root": str(root)},
            "train": {"steps": 1, "batch_size": 16, **train},
            "log": {"progress": False},
        }
    )
    t = Trainer(r)
    x = torch.stack([t.data.train[i][0] for i in range(16)])
    torch.manual_seed(1)
    return {k: float(v) for k, v in t.step(x).items()}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = make_fashion_like(tmp_path_factory.mktemp("fm"), n_train=32, n_test=8)
    threads = torch.get_num_threads()
    yield root, one_step(root)
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    "option,rel", OPTIONS, ids=["channels_last", "threads", "autocast", "compile"]
)
def test_speed_option_keeps_the_losses(baseline, option, rel):
    root, base = baseline
    if option.get("compile"):
        pytest.importorskip("torch._inductor")
    got = one_step(root, **option)
    assert got.keys() == base.keys()
    checked = [k for k in base if k.endswith("/loss") or k.startswith("energy/")]
    assert len(checked) == 5
    for k in checked:
        assert got[k] == pytest.approx(base[k], rel=rel, abs=1e-8), k
