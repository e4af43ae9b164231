"""genzoo eval / reconstruct / interpolate / features train, end to end on tiny runs."""

import hashlib
import json

import pytest
import torch
from conftest import ROOT, cli, make_fashion_like, train_features
from PIL import Image

from genzoo.cli import main
from genzoo.errors import GenzooError


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    t = tmp_path_factory.mktemp("evalrun")
    root = make_fashion_like(t / "fm", n_train=256, n_test=64)
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "run",
                str(ROOT / "recipes" / "dt_fashion.toml"),
                "--out",
                str(t / "run"),
                "--quiet",
                "--set",
                f'data.root="{root}"',
                "--set",
                "train.steps=4",
                "--set",
                "train.batch_size=16",
                "--set",
                "model.width=0.0625",
                "--set",
                'device="cpu"',
            ]
        )
    assert exc.value.code == 0
    return t, root


def trained_features(capsys, monkeypatch, root, cache, epochs: int):
    """A feature network for the tiny run's data, trained into the genzoo cache ``cache``."""
    monkeypatch.setenv("GENZOO_CACHE", str(cache))
    train_features(capsys, root, epochs)
    return cache / "features" / "fashion_mnist.safetensors"


def test_eval_end_to_end_with_a_trained_feature_network(tiny_run, tmp_path, capsys, monkeypatch):
    t, root = tiny_run
    weights = trained_features(capsys, monkeypatch, root, tmp_path / "cache", 15)
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


@pytest.mark.filterwarnings("ignore:Metric `", "ignore:std")
def test_a_study_measures_its_held_out_images_once_with_the_same_numbers(
    tiny_run, tmp_path, capsys, monkeypatch
):
    """``remember`` (a study's measurements): the data are read and drawn once per process
    and their features passed once, and every number is the one measured without it."""
    from genzoo import assemble, metrics
    from genzoo.analysis import evaluate

    t, root = tiny_run
    weights = trained_features(capsys, monkeypatch, root, tmp_path / "cache", 2)
    monkeypatch.setattr(evaluate, "_HELD_OUT", {})
    monkeypatch.setattr(metrics, "_REMEMBERED", {})
    reads = []
    build = assemble.build_data
    monkeypatch.setattr(assemble, "build_data", lambda r, *a, **k: reads.append(1) or build(r))

    def measure(remember):
        rep = evaluate.evaluate_run(t / "run", n=48, features=weights, remember=remember)
        numbers = {k: v for k, v in rep["feature_metrics"].items() if k != "protocol"}
        return json.dumps({"recon_mse": rep["recon_mse"], **rep["energy"], **numbers})

    plain = measure(False)
    assert len(reads) == 1 and not metrics._REMEMBERED
    assert measure(True) == plain and len(reads) == 2
    assert measure(True) == plain and len(reads) == 2  # neither read nor drawn again
    assert len(metrics._REMEMBERED) == 1  # the 48 test images: one batch


def test_eval_without_a_feature_network_warns_and_skips(tiny_run, tmp_path, capsys, monkeypatch):
    t, _ = tiny_run
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "empty"))
    code, _, err = cli(capsys, "eval", t / "run", "--n", 16)
    assert code == 0
    assert "genzoo features train fashion_mnist" in err
    assert json.loads((t / "run" / "eval.json").read_text())["feature_metrics"] is None


def random_inception_weights(path):
    """torch-fidelity's Inception-v3 with random weights, saved as a state dict of tensors."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    real_load, real_torch_load = FeatureExtractorInceptionV3.load_state_dict, torch.load
    FeatureExtractorInceptionV3.load_state_dict = lambda self, state: None  # keep the init
    torch.load = lambda *a, **k: {}
    try:
        torch.manual_seed(0)
        net = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
        )
    finally:
        FeatureExtractorInceptionV3.load_state_dict, torch.load = real_load, real_torch_load
    torch.save({k: v.contiguous() for k, v in net.state_dict().items()}, path)
    return path


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "weights-inception-2015-12-05-6726825d.pth"
    return random_inception_weights(path)


@pytest.mark.filterwarnings("ignore:Metric `")
def test_fid_kid_is_through_torchmetrics_with_random_inception_weights(
    tiny_run, tmp_path, capsys, monkeypatch, inception_file
):
    t, _ = tiny_run
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "empty"))
    code, _, err = cli(capsys, "eval", t / "run", "--n", 12, "--inception-weights", inception_file)
    assert code == 0, err
    inc = json.loads((t / "run" / "eval.json").read_text())["inception"]
    assert inc["name"] == "FID" and inc["fd"] >= 0 and 1 <= inc["is"] <= 1008
    p = inc["protocol"]
    assert (
        p["n_real"] == p["n_fake"] == 12
        and p["weights_sha256"] == hashlib.sha256(inception_file.read_bytes()).hexdigest()[:16]
    )
    assert p["split"] == "test" and p["sample_norm"] == "running" and "299" in p["resize"]
    assert "FID (Fréchet" in err and "KID" in err
    code, _, err = cli(
        capsys, "eval", t / "run", "--n", 4, "--inception-weights", tmp_path / "nope.pth"
    )
    assert code == 2 and "not found" in err and "Traceback" not in err
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, bad)
    code, _, err = cli(capsys, "eval", t / "run", "--n", 4, "--inception-weights", bad)
    assert code == 2 and "not the FID Inception-v3 state dict" in err


def test_inception_weights_download_checked_and_cached(
    tmp_path, monkeypatch, inception_file, server
):
    from genzoo_features import inception as inc

    www, url = server
    (www / inception_file.name).write_bytes(inception_file.read_bytes())
    monkeypatch.setattr(inc, "INCEPTION_URL", url + inception_file.name)
    monkeypatch.delenv(inc.ENV, raising=False)
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(inc, "SHA256_PREFIX", "0123abcd")  # not the served file's hash
    with pytest.raises(GenzooError, match="failed their checksum and were removed"):
        inc.weights_path()
    assert not any((tmp_path / "cache").rglob("*.pth"))
    digest = hashlib.sha256(inception_file.read_bytes()).hexdigest()
    monkeypatch.setattr(inc, "SHA256_PREFIX", digest[:8])
    got = inc.weights_path()
    assert got.parent == tmp_path / "cache" / "inception"
    assert got.read_bytes() == inception_file.read_bytes()
    (www / inception_file.name).unlink()
    assert inc.weights_path() == got  # cached: the server is not asked again


def test_reconstruct_and_interpolate_grids(tiny_run, tmp_path, capsys):
    t, _ = tiny_run
    code, _, err = cli(capsys, "reconstruct", t / "run", "--n", 16, "--out", tmp_path / "r.png")
    assert code == 0, err
    assert Image.open(tmp_path / "r.png").size == (8 * 30 + 2, 4 * 30 + 2)  # 8 wide, 2x2 rows
    code, _, err = cli(
        capsys, "interpolate", t / "run", "--rows", 3, "--steps", 5, "--out", tmp_path / "i.png"
    )
    assert code == 0, err
    assert Image.open(tmp_path / "i.png").size == (5 * 30 + 2, 3 * 30 + 2)
