"""genzoo eval / reconstruct / interpolate / features train, end to end on tiny runs."""

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from conftest import ROOT, cli, make_fashion_like
from genzoo.cli import main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    t = tmp_path_factory.mktemp("evalrun")
    root = make_fashion_like(t / "fm", n_train=256, n_test=64)
    with pytest.raises(SystemExit) as exc:
        main(["run", str(ROOT / "recipes" / "dt_fashion.toml"), "--out", str(t / "run"),
              "--quiet", "--set", f'data.root="{root}"', "--set", "train.steps=4",
              "--set", "train.batch_size=16", "--set", "model.width=0.0625",
              "--set", 'device="cpu"'])
    assert exc.value.code == 0
    return t, root


def test_eval_end_to_end_with_a_trained_feature_network(tiny_run, tmp_path, capsys, monkeypatch):
    t, root = tiny_run
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    code, out, err = cli(capsys, "features", "train", "fashion_mnist", "--option",
                         f'root="{root}"', "--epochs", 15)
    assert code == 0, err
    weights = tmp_path / "cache" / "features" / "fashion_mnist.safetensors"
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert meta["test_accuracy"] > 0.5  # ten bar angles are easy to tell apart
    code, out, err = cli(capsys, "eval", t / "run", "--n", 48)
    assert code == 0, err
    report = json.loads((t / "run" / "eval.json").read_text())
    assert report["split"] == "test" and report["n"] == 48
    assert 0 < report["recon_mse"] < 1
    fm = report["feature_metrics"]
    assert fm["name"] == "FD-fashion_mnist" and fm["fd"] > 0
    assert 1 <= fm["is"] <= 10 and 0 <= fm["precision"] <= 1 and 0 <= fm["recall"] <= 1
    assert set(report["energy"]) == {"f_data", "f_samples", "f_noise"}
    assert "test reconstruction MSE" in err


def test_eval_without_a_feature_network_warns_and_skips(tiny_run, tmp_path, capsys, monkeypatch):
    t, _ = tiny_run
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "empty"))
    code, _, err = cli(capsys, "eval", t / "run", "--n", 16)
    assert code == 0
    assert "genzoo features train fashion_mnist" in err
    assert json.loads((t / "run" / "eval.json").read_text())["feature_metrics"] is None


def test_inception_path_with_random_weights_and_the_missing_file_error(tiny_run, tmp_path, capsys,
                                                                      monkeypatch):
    from genzoo_features.inception import FIDInception
    t, _ = tiny_run
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "empty"))
    torch.manual_seed(0)
    net = FIDInception()
    weights = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in net.net.state_dict().items()}, str(weights))
    code, _, err = cli(capsys, "eval", t / "run", "--n", 4, "--inception-weights", weights)
    assert code == 0, err
    inc = json.loads((t / "run" / "eval.json").read_text())["inception"]
    assert inc["fid"] >= 0 and inc["is"] >= 1
    code, _, err = cli(capsys, "eval", t / "run", "--n", 4, "--inception-weights",
                       tmp_path / "nope.pth")
    assert code == 2 and "do not exist" in err and "Traceback" not in err
    assert net.features(torch.zeros(2, 1, 28, 28)).shape == (2, 2048)


def test_reconstruct_and_interpolate_grids(tiny_run, tmp_path, capsys):
    t, _ = tiny_run
    code, _, err = cli(capsys, "reconstruct", t / "run", "--n", 16, "--out", tmp_path / "r.png")
    assert code == 0, err
    assert Image.open(tmp_path / "r.png").size == (8 * 30 + 2, 4 * 30 + 2)  # 8 wide, 2x2 rows
    code, _, err = cli(capsys, "interpolate", t / "run", "--rows", 3, "--steps", 5, "--out",
                       tmp_path / "i.png")
    assert code == 0, err
    assert Image.open(tmp_path / "i.png").size == (5 * 30 + 2, 3 * 30 + 2)
