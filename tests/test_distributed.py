"""DistributedDataParallel on CPU: two gloo processes launched by torchrun against one process on
the combined batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import cli, tiny_texture_toml
from safetensors.torch import load_file

TESTS = Path(__file__).resolve().parent

WORKER = """
import sys
sys.path.insert(0, {tests!r})
import torch
from safetensors.torch import save_file
from conftest import ToyPlugin, toy_recipe
from genzoo import plugins
from genzoo.training import distributed
from genzoo.training import Trainer

plugins.register_plugin(ToyPlugin(), dist="genzoo-tests")
r = toy_recipe(objective={objective!r}, objectives={{"ali": {{"dropout": 0.0}}}},
               model={{"batch_norm": {bn}, "init_std": 0.2}}, train={{"steps": {steps}, "batch_size": 64}},
               log={{"every": 1, "progress": False, "checkpoint_every": 2}})
group = distributed.from_environment(torch.device("cpu"))
t = Trainer(r, group=group)
t.fit({out!r} + "/run", resume={resume})
save_file({{f"{{p}}.{{k}}": v.contiguous() for p, m in t.team.networks.items()
           for k, v in m.state_dict().items()}},
          {out!r} + f"/params_{{group.world}}_{{group.rank}}.safetensors")
distributed.shutdown()
"""

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def launch(
    tmp: Path,
    nproc: int,
    steps: int = 5,
    bn: bool = False,
    resume: bool = False,
    out: Path | None = None,
    objective: str = "triangle",
) -> Path:
    out = out or tmp / f"n{nproc}_bn{bn}"
    out.mkdir(parents=True, exist_ok=True)
    script = tmp / "worker.py"
    script.write_text(
        WORKER.format(
            tests=str(TESTS), steps=steps, bn=bn, out=str(out), resume=resume, objective=objective
        )
    )
    cmd = (
        [sys.executable, str(script)]
        if nproc == 1
        else [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            str(script),
        ]
    )
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def test_two_processes_match_one_process_on_the_combined_batch(tmp_path):
    """Without batch norm, 2 x 32 examples give the gradients of 1 x 64: the same data shards,
    the same noise (every process draws the whole batch's and keeps its share), DDP's average.
    What remains is float rounding (sums in another order): under 1e-5 after 5 Adam steps.
    (Weights start N(0, 0.2) here: at the paper's 0.02 this toy's first energy gradients are
    at rounding level, and Adam's first step, about lr * sign(g), turns rounding into +-lr.)"""
    one = load_file(launch(tmp_path, 1) / "params_1_0.safetensors")
    two = launch(tmp_path, 2)
    r0, r1 = (load_file(two / f"params_2_{r}.safetensors") for r in (0, 1))
    assert max_diff(r0, r1) == 0.0  # replicas stay identical
    assert max_diff(r0, one) < 1e-5
    start = load_file(
        next((tmp_path / "n1_bnFalse" / "run" / "checkpoints").glob("step_00000002.safetensors"))
    )
    start = {k[len("model.") :]: v for k, v in start.items() if k.startswith("model.")}
    assert max_diff(start, one) > 1e-4  # it did train
    # rank 0 alone wrote the run directory; its metrics are means over both processes
    m1 = [
        json.loads(line)
        for line in (tmp_path / "n1_bnFalse" / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    m2 = [json.loads(line) for line in (two / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in m2] == [1, 2, 3, 4, 5]
    for a, b in zip(m1, m2):
        assert a["phi/loss"] == pytest.approx(b["phi/loss"], rel=1e-4)
        assert a["alpha/loss"] == pytest.approx(b["alpha/loss"], rel=1e-3, abs=1e-4)


def test_a_network_an_objective_adds_is_trained_by_ddp_like_the_players(tmp_path):
    """ALI's joint discriminator (dropout off, so both runs draw the same): in DDP like the
    players' own networks, so two processes match one on the combined batch."""
    one = load_file(launch(tmp_path, 1, objective="ali") / "params_1_0.safetensors")
    two = launch(tmp_path, 2, objective="ali")
    r0, r1 = (load_file(two / f"params_2_{r}.safetensors") for r in (0, 1))
    joint = [k for k in r0 if k.startswith("extra.ali_joint.")]
    assert joint
    assert max_diff(r0, r1) == 0.0
    assert max_diff({k: r0[k] for k in joint}, {k: one[k] for k in joint}) < 1e-5
    assert max_diff(r0, one) < 1e-5


@pytest.mark.slow  # 11 s of two processes; run with -m slow
def test_batch_norm_statistics_stay_per_process_but_replicas_agree(tmp_path):
    """With batch norm each process normalises by its own 32 examples (SyncBatchNorm, which
    would make it 64, runs on GPUs only), so the result differs from one process; DDP still
    keeps the replicas identical."""
    one = load_file(launch(tmp_path, 1, bn=True) / "params_1_0.safetensors")
    two = launch(tmp_path, 2, bn=True)
    r0, r1 = (load_file(two / f"params_2_{r}.safetensors") for r in (0, 1))
    weights = [k for k in r0 if "running_" not in k and "num_batches" not in k]
    assert len(weights) < len(r0)
    # running statistics are each process's own between forwards (DDP broadcasts rank 0's at
    # every forward; rank 0's are the ones checkpointed); the weights are identical
    assert max_diff({k: r0[k] for k in weights}, {k: r1[k] for k in weights}) == 0.0
    assert max_diff(r0, one) > 1e-5


@pytest.mark.slow  # 28 s of torchrun; resume is bit-exact in one process in the fast selection
def test_distributed_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    full = load_file(launch(tmp_path, 2, steps=5, out=tmp_path / "full") / "params_2_0.safetensors")
    launch(tmp_path, 2, steps=3, out=tmp_path / "split")
    resumed = load_file(
        launch(tmp_path, 2, steps=5, resume=True, out=tmp_path / "split") / "params_2_0.safetensors"
    )
    assert max_diff(full, resumed) == 0.0


@pytest.mark.slow  # 13 s; the resume and SIGTERM tests also launch torchrun
def test_genzoo_run_nproc_trains_with_torchrun(tmp_path, capsys, monkeypatch):
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        tiny_texture_toml("ddp", seed=0, image="grass", n_crops=64, steps=2, checkpoint_every=2)
    )
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code, _, err = cli(capsys, "run", recipe, "--nproc", 2, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    assert (tmp_path / "run" / "checkpoints" / "step_00000002.safetensors").is_file()
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2
    code, _, err = cli(
        capsys,
        "run",
        recipe,
        "--nproc",
        2,
        "--out",
        tmp_path / "odd",
        "--set",
        "train.batch_size=5",
    )
    assert code == 2 and "does not split evenly over 2 processes" in err
    # bad input is caught before any process starts; a failure inside the processes (here a
    # divergence at step 1) is one line, said once, with no launcher traceback
    code, _, err = cli(
        capsys,
        "run",
        recipe,
        "--nproc",
        2,
        "--out",
        tmp_path / "nope",
        "--set",
        'data.path="missing.png"',
    )
    assert code == 2 and "missing.png' does not exist" in err and not (tmp_path / "nope").exists()
    code, _, err = cli(
        capsys,
        "run",
        recipe,
        "--nproc",
        2,
        "--out",
        tmp_path / "div",
        "--quiet",
        "--set",
        "train.energy_bound=1e-12",
    )
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and "diverged at step 1" in errors[0], err
    assert "Traceback" not in err


def test_sync_batchnorm_on_cpu_is_a_clear_error(tmp_path):
    from genzoo.training import distributed

    with pytest.raises(Exception, match="needs GPUs"):
        distributed.wrap(
            torch.nn.Linear(2, 2),
            distributed.Group(0, 2),
            torch.device("cpu"),
            sync_batchnorm=True,
            find_unused=False,
        )


def test_noise_shards_the_global_draw():
    from genzoo.training.distributed import Group

    torch.manual_seed(3)
    whole = torch.randn(8, 2)
    parts = []
    for rank in (0, 1):
        torch.manual_seed(3)
        parts.append(Group(rank, 2).noise((4, 2)))
    assert torch.equal(parts[0], whole[0::2]) and torch.equal(parts[1], whole[1::2])


def test_sigterm_to_the_nproc_launcher_stops_every_worker(tmp_path):
    """The launcher forwards SIGTERM to torchrun, which stops its workers: none is orphaned,
    and the workers checkpoint and exit as a stopped run does."""
    import signal
    import time

    recipe = tmp_path / "r.toml"
    recipe.write_text(
        tiny_texture_toml(
            "ddp_term", seed=0, image="grass", n_crops=64, steps=100000, checkpoint_every=1000
        )
    )
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genzoo",
            "run",
            str(recipe),
            "--nproc",
            "2",
            "--out",
            str(out),
            "--quiet",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "metrics.jsonl").exists():
        time.sleep(0.5)
    assert (out / "metrics.jsonl").exists(), "training never started"
    p.send_signal(signal.SIGTERM)  # the launcher only, not its process group
    try:
        _, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise AssertionError("the launcher did not stop on SIGTERM") from None
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True).stdout
    assert left.strip() == "", f"workers left running: {left}"
    assert p.returncode != 0 and "Traceback" not in err
