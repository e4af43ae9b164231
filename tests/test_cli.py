"""The command line end to end: run, --set, plugins, sample, resume, and bad input."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, cli, make_fashion_like, tiny_texture_toml
from safetensors.torch import load_file

TINY = tiny_texture_toml(
    "tiny", seed=3, image="grass", n_crops=200, steps=6, sample_every=3, checkpoint_every=3
)


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


def test_run_writes_a_complete_run_directory(tiny, tmp_path, capsys):
    code, out, err = cli(
        capsys, "run", tiny, "--out", tmp_path / "run", "--quiet", "--set", "train.steps=4"
    )
    assert code == 0, err
    run = tmp_path / "run"
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 4]
    for key in (
        "alpha/loss",
        "phi/loss",
        "theta/loss",
        "alpha/acd.kl_p_pi",
        "alpha/acd.kl_q_pi",
        "phi/vae.kl_q_p.recon",
        "phi/vae.kl_q_p.prior",
        "phi/acd.kl_p_pi.inference",
        "theta/vae.kl_q_p.recon",
        "theta/acd.kl_p_pi.energy",
        "theta/acd.kl_p_pi.entropy",
        "energy/f_data",
        "energy/f_dream",
    ):
        assert key in lines[-1]
    for png in ("data.png", "step_00000003.png", "final.png"):
        assert (run / "samples" / png).stat().st_size > 100
    assert (run / "checkpoints" / "step_00000004.safetensors").exists()
    assert "steps = 4" in (run / "recipe.toml").read_text()


def test_resume_gives_the_same_parameters_as_an_uninterrupted_run(tiny, tmp_path, capsys):
    full, part = tmp_path / "full", tmp_path / "part"
    assert cli(capsys, "run", tiny, "--out", full, "--quiet")[0] == 0
    assert cli(capsys, "run", tiny, "--out", part, "--quiet", "--set", "train.steps=3")[0] == 0
    code, _, err = cli(capsys, "run", tiny, "--out", part, "--quiet", "--resume")
    assert code == 0, err
    a = load_file(full / "checkpoints" / "step_00000006.safetensors")
    b = load_file(part / "checkpoints" / "step_00000006.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("optim.theta") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k

    def metrics(run):
        return [
            {k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
            for x in (run / "metrics.jsonl").read_text().splitlines()
        ]

    assert metrics(full) == metrics(part)


def test_sample_draws_a_grid_from_a_trained_run(tiny, tmp_path, capsys):
    assert cli(capsys, "run", tiny, "--out", tmp_path / "run", "--quiet")[0] == 0
    code, out, err = cli(capsys, "sample", tmp_path / "run", "--n", 9, "--out", tmp_path / "g.png")
    assert code == 0, err
    from PIL import Image

    im = Image.open(tmp_path / "g.png")
    assert im.size == (3 * 32 + 4 * 2, 3 * 32 + 4 * 2)  # 3x3 grid with 2-pixel padding


def test_plugins_lists_names_and_distributions(capsys):
    code, out, _ = cli(capsys, "plugins")
    assert code == 0
    for name in (
        "triangle",
        "vae",
        "acd",
        "wake_sleep",
        "dcgan",
        "texture",
        "texture_image",
        "fashion_mnist",
        "image_folder",
    ):
        assert name in out
    assert "genzoo" in out


def test_fashion_recipe_runs_on_local_idx_files(tmp_path, capsys):
    root = make_fashion_like(tmp_path / "fm")
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_fashion.toml",
        "--out",
        tmp_path / "run",
        "--quiet",
        "--set",
        f'data.root="{root}"',
        "--set",
        "train.steps=2",
        "--set",
        "train.batch_size=8",
        "--set",
        "model.width=0.0625",
        "--set",
        'device="cpu"',
    )
    assert code == 0, err
    assert (tmp_path / "run" / "samples" / "final.png").exists()


BAD = [
    (["--set", 'objective="triangel"'], "unknown objective 'triangel' (did you mean 'triangle'?)"),
    (["--set", "train.stpes=3"], "unknown recipe key 'train.stpes' (did you mean 'steps'?)"),
    (["--set", 'train.steps="ten"'], "recipe key 'train.steps' must be an integer"),
    (["--set", 'model.arch="dcgn"'], "unknown architecture 'dcgn' (did you mean 'dcgan'?)"),
    (["--set", 'data.path="missing.png"'], "missing.png' does not exist"),
    (
        ["--set", 'data.image="bricks"'],
        "data.image 'bricks' is not a bundled texture (did you mean 'brick'?)",
    ),
    (["--set", "data.size=1024"], "data.size 1024 is larger than the image"),
    (["--set", "data.size=48"], "multiples of 32"),
    (["--set", "train.steps"], "--set expects KEY=VALUE"),
]


@pytest.mark.parametrize("extra,expected", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_input_is_one_line_exit_2(tiny, tmp_path, capsys, extra, expected):
    code, out, err = cli(capsys, "run", tiny, "--out", tmp_path / "run", "--quiet", *extra)
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_missing_recipe_and_fashion_data_errors(tmp_path, capsys):
    code, _, err = cli(capsys, "run", tmp_path / "nope.toml")
    assert code == 2 and "recipe file" in err and "does not exist" in err
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_fashion.toml",
        "--out",
        tmp_path / "r",
        "--set",
        f'data.root="{tmp_path / "empty"}"',
    )
    assert code == 2 and "apt-get install dataset-fashion-mnist" in err


def test_existing_run_is_refused_unless_resume_or_force(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(capsys, "run", tiny, "--out", run, "--quiet", "--set", "train.steps=1")[0] == 0
    code, _, err = cli(capsys, "run", tiny, "--out", run, "--quiet")
    assert code == 2 and "already holds a run" in err
    code, _, err = cli(
        capsys, "run", tiny, "--out", run, "--quiet", "--resume", "--set", "model.width=0.125"
    )
    assert code == 2 and "different recipe" in err and "model.width" in err
    assert (run / "checkpoints" / "step_00000001.safetensors").exists()  # nothing lost
    code, _, err = cli(
        capsys, "run", tiny, "--out", run, "--quiet", "--force", "--set", "train.steps=2"
    )
    assert code == 0, err


def test_a_real_process_prints_one_line_without_traceback(tiny, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "genzoo",
            "run",
            str(tiny),
            "--set",
            "train.stpes=1",
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert p.returncode == 2
    assert p.stderr.strip() == ("error: unknown recipe key 'train.stpes' (did you mean 'steps'?)")


@pytest.mark.parametrize(
    "signame",
    [pytest.param("SIGINT", marks=pytest.mark.slow), "SIGTERM"],  # one in the fast selection
)
def test_a_stop_signal_finishes_the_step_checkpoints_and_says_how_to_resume(
    tiny, tmp_path, signame
):
    import signal
    import time

    sig = getattr(signal, signame)
    run = tmp_path / "run"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genzoo",
            "run",
            str(tiny),
            "--quiet",
            "--out",
            str(run),
            "--set",
            "train.steps=100000",
            "--set",
            "log.checkpoint_every=100000",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (
        not metrics.exists() or len(metrics.read_text().splitlines()) < 3
    ):
        time.sleep(0.2)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig, err
    assert "checkpoint saved" in err and "--resume" in err and "Traceback" not in err
    (ckpt,) = sorted((run / "checkpoints").glob("step_*.json"))
    step = json.loads(ckpt.read_text())["step"]
    assert step >= 3
    code = subprocess.run(
        [
            sys.executable,
            "-m",
            "genzoo",
            "run",
            str(tiny),
            "--quiet",
            "--out",
            str(run),
            "--resume",
            "--set",
            f"train.steps={step + 2}",
        ]
    ).returncode
    assert code == 0
    assert (run / "checkpoints" / f"step_{step + 2:08d}.json").exists()
