"""Crash safety and the divergence guard."""

import json
import random
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch
from conftest import tiny_texture_toml, toy_recipe
from safetensors.torch import load_file

from genzoo.errors import GenzooError
from genzoo.store import checkpoint
from genzoo.training import Trainer
from genzoo.training.step import DivergenceError

BLOW_UP = {"steps": 40, "alpha": {"lr": 10.0, "grad_clip": 0.0}, "energy_bound": 1e3}


def test_divergence_stops_naming_player_and_step_and_keeps_the_good_checkpoint(
    toy_plugin, tmp_path
):
    r = toy_recipe(
        train={**BLOW_UP, "alpha": {"lr": 1.0, "grad_clip": 0.0}}, log={"checkpoint_every": 2}
    )
    with pytest.raises(DivergenceError) as exc:
        Trainer(r).fit(tmp_path / "run")
    msg = str(exc.value)
    assert msg.startswith("training diverged at step 4: the energy model's mean f is")
    assert "train.alpha.lr" in msg and "\n" not in msg
    (good,) = checkpoint.list_checkpoints(tmp_path / "run" / "checkpoints")
    ck = checkpoint.read(good)
    assert ck.step == 2 and all(
        torch.isfinite(t).all() for t in ck.tensors.values() if t.is_floating_point()
    )


def test_non_finite_loss_is_caught(toy_plugin, tmp_path):
    r = toy_recipe(
        train={"steps": 20, "theta": {"lr": 1e30, "grad_clip": 0.0}, "energy_bound": 0.0}
    )
    with pytest.raises(DivergenceError, match=r"training diverged at step \d+: the \w+ ") as exc:
        Trainer(r).fit(tmp_path / "run")
    # the generator's step broke it, whichever loss read the bad values first
    assert exc.value.player == "theta" and "lower train.theta.lr" in str(exc.value)


def test_rollback_lowers_learning_rates_and_finishes(toy_plugin, tmp_path):
    r = toy_recipe(
        train={
            **BLOW_UP,
            "on_divergence": "rollback",
            "max_rollbacks": 10,
            "rollback_lr_factor": 0.1,
        },
        log={"checkpoint_every": 5},
    )
    tr = Trainer(r)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        last = tr.fit(tmp_path / "run")
    rolled = [str(w.message) for w in caught if "rolled back to step" in str(w.message)]
    assert rolled and "with learning rates x0.1" in rolled[0]
    assert last["step"] == 40 and tr.team.lr_scale < 1
    sidecar = json.loads((tmp_path / "run" / "checkpoints" / "step_00000040.json").read_text())
    assert sidecar["lr_scale"] == pytest.approx(tr.team.lr_scale)
    assert abs(last["energy/f_data"]) < 1e3
    steps = [
        json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == list(range(1, 41))  # the rolled-back steps were logged again, once


def test_rollback_gives_up_after_max_rollbacks(toy_plugin, tmp_path):
    r = toy_recipe(
        train={
            **BLOW_UP,
            "alpha": {"lr": 1e4, "grad_clip": 0.0},
            "on_divergence": "rollback",
            "max_rollbacks": 2,
            "rollback_lr_factor": 0.9,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(GenzooError, match="still after 2 rollbacks"):
            Trainer(r).fit(tmp_path / "run")


def test_a_resume_does_not_reset_the_count_of_rollbacks(toy_plugin, tmp_path):
    # lr 10 blows up again a few steps after every rollback; each rollback lands on a
    # checkpoint written after the previous one, which carries the count
    r = toy_recipe(
        train={
            **BLOW_UP,
            "on_divergence": "rollback",
            "max_rollbacks": 2,
            "rollback_lr_factor": 0.9,
        },
        log={"checkpoint_every": 1},
    )
    with warnings.catch_warnings(record=True) as first:
        warnings.simplefilter("always")
        with pytest.raises(GenzooError, match="still after 2 rollbacks"):
            Trainer(r).fit(tmp_path / "run")
    assert sum("rolled back to step" in str(w.message) for w in first) == 2
    newest = checkpoint.latest(tmp_path / "run" / "checkpoints")
    assert newest.meta["rollbacks"] >= 1
    with warnings.catch_warnings(record=True) as again:  # resumed: the budget is not renewed
        warnings.simplefilter("always")
        with pytest.raises(GenzooError, match="rollbacks"):
            Trainer(r).fit(tmp_path / "run", resume=True)
    assert (
        sum("rolled back to step" in str(w.message) for w in again) <= 2 - newest.meta["rollbacks"]
    )


TINY = tiny_texture_toml(
    "killme", seed=11, image="gravel", n_crops=64, steps=40, sample_every=7, keep_checkpoints=2
)


def genzoo(*args):
    return [sys.executable, "-m", "genzoo", *map(str, args)]


def tensors(run, step):
    return load_file(run / "checkpoints" / f"step_{step:08d}.safetensors")


def metrics(run):
    return [
        {k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
        for x in (run / "metrics.jsonl").read_text().splitlines()
    ]


# Runs genzoo with a SIGKILL inside the n-th checkpoint file write of this process:
# "partial" dies with half of the temporary file written; "before" dies before writing it.
KILL_IN_WRITE = """
import os, signal, sys
import genzoo.store.checkpoint as ck
mode, nth = sys.argv[1], int(sys.argv[2])
calls = [0]
real = ck.atomic_write
def atomic_write(path, data):
    calls[0] += 1
    if calls[0] == nth:
        if mode == "partial":
            with open(path.with_name("." + path.name + ".tmp"), "wb") as fh:
                fh.write(data[: len(data) // 2])
                fh.flush()
                os.fsync(fh.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
    return real(path, data)
ck.atomic_write = atomic_write
from genzoo.cli import main
main(sys.argv[3:])
"""


@pytest.mark.slow  # 40 s of killed processes; test_integrity's kills run in the fast selection
def test_sigkill_anywhere_then_resume_ends_exactly_like_an_uninterrupted_run(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(TINY)
    ref, run = tmp_path / "ref", tmp_path / "run"
    subprocess.run(genzoo("run", recipe, "--quiet", "--out", ref), check=True)
    ck = run / "checkpoints"

    def run_args(first):
        return ["run", str(recipe), "--quiet", "--out", str(run)] + ([] if first else ["--resume"])

    # 1) inside checkpoint writes: each checkpoint is two writes (weights, then sidecar)
    for i, (mode, nth) in enumerate([("partial", 7), ("before", 4), ("partial", 6)]):
        p = subprocess.run(
            [sys.executable, "-c", KILL_IN_WRITE, mode, str(nth), *run_args(i == 0)],
            stderr=subprocess.DEVNULL,
        )
        assert p.returncode == -signal.SIGKILL
        orphans = [w for w in ck.glob("step_*.safetensors") if not w.with_suffix(".json").exists()]
        assert list(ck.glob(".*.tmp")) or orphans, "the kill did not land inside a write"

    # 2) at random moments
    rng = random.Random(0)
    for _ in range(3):
        p = subprocess.Popen(genzoo(*run_args(False)), stderr=subprocess.DEVNULL)
        metrics_file = run / "metrics.jsonl"
        target = len(metrics_file.read_text().splitlines()) + rng.randint(1, 4)
        deadline = time.time() + 60
        while (
            p.poll() is None
            and time.time() < deadline
            and len(metrics_file.read_text().splitlines()) < target
        ):
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.02))
        p.send_signal(signal.SIGKILL)
        p.wait()

    subprocess.run(genzoo(*run_args(False)), check=True, stdout=subprocess.DEVNULL)
    a, b = tensors(ref, 40), tensors(run, 40)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert metrics(ref) == metrics(run)
    assert not list(ck.glob(".*.tmp"))


def test_a_stop_signal_during_the_last_step_reaches_the_program_around_the_run(
    toy_plugin, tmp_path
):
    """The run finishes (nothing to stop early), and the signal is delivered again to the
    handler that was installed before fit, once: a study's worker stops instead of going on."""
    import os

    from genzoo.training import Trainer

    seen = []
    old = signal.signal(signal.SIGTERM, lambda signum, _: seen.append(signum))
    try:
        t = Trainer(toy_recipe(train={"steps": 3, "batch_size": 64}))
        save = t.save_checkpoint

        def save_and_signal(run_dir):
            if t.step_count == 3:  # the last step's checkpoint
                os.kill(os.getpid(), signal.SIGTERM)
            return save(run_dir)

        t.save_checkpoint = save_and_signal
        t.fit(tmp_path / "run")
        assert t.step_count == 3 and seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)
