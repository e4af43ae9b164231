"""Nothing lost or mixed after a kill, model folders with integrity, and the new surfaces (API,
export, report, downloads) answering bad input in one line: each defect reproduced first, at
the chosen moment, then a generated sweep of the same kinds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import cli, tiny_texture_toml
from safetensors.torch import load_file

import genzoo
from genzoo.errors import GenzooError
from genzoo.store import checkpoint

TINY = tiny_texture_toml("integrity", seed=3, image="brick", n_crops=32, steps=3)


def genzoo_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "genzoo", *map(str, args)]


@pytest.fixture
def done(tmp_path, capsys):
    """A finished three-step run with a checkpoint per step, and its recipe."""
    recipe = tmp_path / "r.toml"
    recipe.write_text(TINY)
    code, _, err = cli(capsys, "run", recipe, "--out", tmp_path / "X", "--quiet")
    assert code == 0, err
    return tmp_path / "X", recipe


def files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def steps_logged(run: Path) -> list[int]:
    return [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]


# --- kills -------------------------------------------------------------------------------------
def test_several_orphaned_weights_are_refused_and_nothing_is_touched(done, capsys):
    run, recipe = done
    for sidecar in (run / "checkpoints").glob("*.json"):
        sidecar.unlink()
    before = files(run)
    code, _, err = cli(capsys, "run", recipe, "--out", run, "--resume", "--quiet")
    assert code == 2 and "3 weights files newer than its newest complete checkpoint" in err
    assert "--force" in err and len(err.strip().splitlines()) == 1
    assert files(run) == before


def test_one_orphan_newer_than_every_sidecar_is_a_crash_and_goes(done, capsys):
    run, recipe = done
    (run / "checkpoints" / "step_00000003.json").unlink()
    code, _, err = cli(capsys, "run", recipe, "--out", run, "--resume", "--quiet")
    assert code == 0 and "removed" in err and "step_00000003.safetensors" in err
    assert (run / "checkpoints" / "step_00000003.json").is_file()  # trained again to step 3


def test_a_half_done_move_aside_is_undone_at_the_next_start(done, capsys):
    run, recipe = done
    kept = files(run / "checkpoints")
    aside = run / ".previous-run"
    aside.mkdir()  # what a SIGKILL in the middle of --force's move-aside leaves
    for name in ("checkpoints", "samples"):
        (run / name).rename(aside / name)
    code, out, err = cli(
        capsys, "run", recipe, "--out", run, "--resume", "--quiet", "--set", "train.steps=4"
    )
    assert code == 0, err
    assert not aside.exists()
    assert "from step 3" in err + out  # the old run's checkpoints were found again
    assert all(
        (run / "checkpoints" / n).read_bytes() == b
        for n, b in kept.items()
        if (run / "checkpoints" / n).exists()
    )
    assert steps_logged(run) == [1, 2, 3, 4]


def test_a_deletion_cut_short_after_the_new_run_started_is_finished(done, capsys):
    run, recipe = done
    doomed = run / ".previous-run.deleting"  # the replaced run, renamed before its deletion
    (doomed / "checkpoints").mkdir(parents=True)
    code, _, err = cli(capsys, "run", recipe, "--out", run, "--resume", "--quiet")
    assert code == 0, err
    assert not doomed.exists() and (run / "checkpoints" / "step_00000003.json").is_file()


KILL_AFTER_CHECKPOINT = """
import os, signal, sys
import genzoo.training.fit as fit
real = fit.save
def save(trainer, run_dir):
    path = real(trainer, run_dir)
    if trainer.step_count == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return path
fit.save = save
from genzoo.cli import main
main(sys.argv[2:])
"""


def test_a_kill_between_a_checkpoint_and_its_metrics_line_loses_no_line(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(tiny_texture_toml("killed", seed=1, image="brick", n_crops=32, steps=5))
    ref, run = tmp_path / "ref", tmp_path / "run"
    subprocess.run(genzoo_cmd("run", recipe, "--out", ref, "--quiet"), check=True)
    p = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_CHECKPOINT, "3", "run", recipe, "--out", run, "--quiet"],
        stderr=subprocess.DEVNULL,
    )
    assert p.returncode == -signal.SIGKILL
    subprocess.run(genzoo_cmd("run", recipe, "--out", run, "--resume", "--quiet"), check=True)
    assert steps_logged(run) == [1, 2, 3, 4, 5]

    def lines(r):
        return [
            {k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
            for x in (r / "metrics.jsonl").read_text().splitlines()
        ]

    assert lines(run) == lines(ref)
    a, b = (load_file(r / "checkpoints" / "step_00000005.safetensors") for r in (ref, run))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert files(run / "samples") == files(ref / "samples")


KILL_IN_EXPORT = """
import os, signal, sys
import genzoo.store.model_folder as mf
calls = [0]
real = mf.atomic_write
def atomic_write(path, data):
    calls[0] += 1
    if calls[0] == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(path, data)
mf.atomic_write = atomic_write
from genzoo.cli import main
main(sys.argv[2:])
"""


def test_a_kill_during_an_export_over_another_leaves_one_model_whole(done, tmp_path, capsys):
    run, recipe = done
    other = tmp_path / "Y"
    code, _, err = cli(capsys, "run", recipe, "--out", other, "--quiet", "--set", "seed=9")
    assert code == 0, err
    folder = tmp_path / "F"
    assert cli(capsys, "export", run, "--out", folder)[0] == 0
    first = genzoo.load(folder).sample(3, seed=0)
    for nth in (2, 3):  # after the weights; after the config
        p = subprocess.run(
            [
                sys.executable,
                "-c",
                KILL_IN_EXPORT,
                str(nth),
                "export",
                other,
                "--out",
                folder,
                "--force",
            ],
            stderr=subprocess.DEVNULL,
        )
        assert p.returncode == -signal.SIGKILL
        assert torch.equal(genzoo.load(folder).sample(3, seed=0), first)  # the old one, whole
    assert cli(capsys, "export", other, "--out", folder, "--force")[0] == 0
    assert not torch.equal(genzoo.load(folder).sample(3, seed=0), first)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".F")) == []


# --- model folders -----------------------------------------------------------------------------
@pytest.fixture
def exported(done, tmp_path, capsys):
    run, _ = done
    assert cli(capsys, "export", run, "--out", tmp_path / "M")[0] == 0
    return tmp_path / "M"


def test_a_flipped_bit_or_another_models_weights_do_not_load(exported, tmp_path, capsys):
    weights = exported / "model.safetensors"
    good = weights.read_bytes()
    flipped = bytearray(good)
    flipped[-5] ^= 0x10
    weights.write_bytes(bytes(flipped))
    with pytest.raises(GenzooError, match="SHA-256"):
        genzoo.load(exported)
    code, _, err = cli(capsys, "sample", exported, "--out", tmp_path / "s.png")
    assert code == 2 and "SHA-256" in err
    weights.write_bytes(good)
    config = json.loads((exported / "config.json").read_text())
    del config["weights_sha256"]  # deleting the field must not switch the check off
    (exported / "config.json").write_text(json.dumps(config))
    with pytest.raises(GenzooError, match="weights_sha256"):
        genzoo.load(exported)


def test_an_export_never_overwrites_another_model_unasked(done, exported, capsys):
    run, _ = done
    before = files(exported)
    code, _, err = cli(capsys, "export", run, "--out", exported)
    assert code == 2 and "already holds an exported model" in err and "--force" in err
    with pytest.raises(GenzooError, match="already holds"):
        genzoo.load(run).save(exported)
    assert files(exported) == before
    assert genzoo.load(run).save(exported, replace=True) == exported


CONFIG_FIELDS = ["step", "sample_shape", "latent_shape", "plugins", "weights_sha256"]
BAD_VALUES = ["3", [], None, {"a": 1}, -1, 1.5, True]


@pytest.mark.parametrize("field", CONFIG_FIELDS)
def test_a_tampered_config_is_one_line(exported, field):
    config = json.loads((exported / "config.json").read_text())
    for bad in BAD_VALUES:
        (exported / "config.json").write_text(json.dumps({**config, field: bad}))
        with pytest.raises(GenzooError) as exc:
            genzoo.load(exported)
        assert "\n" not in str(exc.value)
    (exported / "config.json").write_text(json.dumps([config]))  # a list, not an object
    with pytest.raises(GenzooError, match="not a JSON object"):
        genzoo.load(exported)
    no_plugins = {k: v for k, v in config.items() if k != "plugins"}
    (exported / "config.json").write_text(json.dumps(no_plugins))
    with pytest.raises(GenzooError, match="'plugins'"):
        genzoo.load(exported)


def test_truncated_or_foreign_weights_are_one_line(exported):
    weights = exported / "model.safetensors"
    for blob in (weights.read_bytes()[:100], b"not a safetensors file at all"):
        weights.write_bytes(blob)
        with pytest.raises(GenzooError, match="model.safetensors"):
            genzoo.load(exported)


# --- checkpoint sidecars ------------------------------------------------------------------------
def resign(sidecar: Path, **fields) -> None:
    meta = {**json.loads(sidecar.read_text()), **fields}
    meta.pop("sidecar_sha256", None)
    meta["sidecar_sha256"] = checkpoint._fields_hash(meta)
    sidecar.write_text(json.dumps(meta))


def test_a_sidecar_without_its_checksum_is_not_trusted(done):
    run, _ = done
    sidecar = run / "checkpoints" / "step_00000003.json"
    meta = json.loads(sidecar.read_text())
    del meta["sidecar_sha256"]
    sidecar.write_text(json.dumps({**meta, "lr_scale": 1e-20}))
    with pytest.raises(GenzooError, match="no checksum"):
        checkpoint.read(sidecar)
    with pytest.warns(UserWarning, match="falling back"):
        assert checkpoint.latest(run / "checkpoints").step == 2


SIDECAR_FIELDS = {
    "lr_scale": ["1", None, float("inf"), -1.0, [1]],
    "rollbacks": ["0", -1, 1.5, None],
    "sample_shape": ["1,32,32", [1, "32", 32], [], None],
    "threads": ["2", 0, 2.5],
    "rng": ["x", {"python": [], "numpy": []}, None],
    "recipe_hash": [1, None],
    "optim": ["adam", []],
}


@pytest.mark.parametrize("field", sorted(SIDECAR_FIELDS))
def test_sidecars_resigned_with_wrong_types_fall_back(done, field, capsys):
    run, recipe = done
    sidecar = run / "checkpoints" / "step_00000003.json"
    good = sidecar.read_text()
    for bad in SIDECAR_FIELDS[field]:
        sidecar.write_text(good)
        resign(sidecar, **{field: bad})
        with pytest.raises(GenzooError, match=f"'{field}'"):
            checkpoint.read(sidecar)
        code, _, err = cli(capsys, "run", recipe, "--out", run, "--resume", "--quiet")
        assert code == 0 and "falling back" in err and "internal error" not in err
        assert checkpoint.read(sidecar).step == 3  # trained again from step 2


# --- run folders and logs ------------------------------------------------------------------------
def test_a_stray_byte_in_the_metrics_log_does_not_stop_a_resume(done, capsys):
    run, recipe = done
    log = run / "metrics.jsonl"
    log.write_bytes(log.read_bytes() + b'{"step": 9, "x": "\xff\xfe"}\n\xff\n')
    code, _, err = cli(
        capsys, "run", recipe, "--out", run, "--resume", "--quiet", "--set", "train.steps=4"
    )
    assert code == 0, err
    assert steps_logged(run) == [1, 2, 3, 4]


def test_a_run_that_failed_before_any_checkpoint_may_start_again(tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text(TINY.replace("[train]", "[train]\nenergy_bound = 1e-9"))
    args = ("run", recipe, "--out", tmp_path / "X", "--quiet", "--set", "log.checkpoint_every=5")
    first = cli(capsys, *args)
    assert first[0] == 2 and "training diverged at step 1" in first[2]
    again = cli(capsys, *args)  # the same command meets the same fault, not a refusal
    assert again[0] == 2 and "training diverged at step 1" in again[2]
    assert "already holds a run" not in again[2]


def test_a_read_only_tensorboard_folder_is_one_line(done, capsys):
    if not shutil.which("chattr"):
        pytest.skip(
            "chattr (e2fsprogs) is not installed: no way to make a folder read-only for root"
        )
    run, recipe = done
    folder = run / "tensorboard"
    folder.mkdir()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("this file system has no immutable attribute")
    try:
        code, _, err = cli(
            capsys,
            "run",
            recipe,
            "--out",
            run,
            "--quiet",
            "--force",
            "--set",
            "log.tensorboard=true",
        )
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert code == 2 and "cannot write TensorBoard files" in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        line for line in err.splitlines() if "TensorBoard" in line
    ]
    assert "Traceback" not in err and "b'/" not in err  # no writer thread, no bytes path


# --- reports --------------------------------------------------------------------------------------
def test_a_report_reads_only_the_run_folders_own_files(done, tmp_path, capsys):
    run, _ = done
    secret = tmp_path / "secret.txt"
    secret.write_text("the secret")
    final = run / "samples" / "final.png"
    final.unlink()
    final.symlink_to(secret)
    code, _, err = cli(capsys, "report", run, "--out", tmp_path / "r.html")
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    import base64

    assert base64.b64encode(b"the secret").decode() not in page and "the secret" not in page


def test_a_report_on_torn_files_is_one_line_and_never_overwrites_a_log(done, tmp_path, capsys):
    run, _ = done
    log = run / "metrics.jsonl"
    log.write_bytes(log.read_bytes() + b'{"step": 4, "theta/lo')  # a line a kill cut short
    code, _, err = cli(capsys, "report", run, "--out", tmp_path / "r.html")
    assert code == 0, err
    (run / "eval.json").write_text('{"recon_mse": 0.1, "ener')
    code, _, err = cli(capsys, "report", run, "--out", tmp_path / "r.html")
    assert code == 2 and "eval.json" in err and "genzoo eval" in err
    (run / "eval.json").unlink()
    kept = log.read_bytes()
    code, _, err = cli(capsys, "report", run, "--out", log)
    assert code == 2 and ".html" in err and log.read_bytes() == kept


# --- downloads ------------------------------------------------------------------------------------
@pytest.fixture
def stalling_server():
    """A server on 127.0.0.1 that accepts connections and never answers; yields its URL and
    the number of connections it took."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    taken, held, stop = [0], [], threading.Event()

    def serve():
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            taken[0] += 1
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/", taken
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    sock.close()


def test_a_stalled_download_times_out_and_is_retried(tmp_path, monkeypatch, stalling_server):
    from torchvision.datasets import FashionMNIST

    from genzoo_datasets import idx as idx_mod
    from genzoo_datasets.idx import fashion_mnist

    url, taken = stalling_server
    monkeypatch.setattr(FashionMNIST, "mirrors", [url])
    monkeypatch.setattr(idx_mod, "fashion_search", lambda: ())
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GENZOO_DOWNLOAD_TIMEOUT", "0.5")
    monkeypatch.setenv("GENZOO_DOWNLOAD_ATTEMPTS", "2")
    t0 = time.perf_counter()
    with pytest.raises(GenzooError) as exc:
        fashion_mnist(download=True)
    assert time.perf_counter() - t0 < 30  # not the minutes a socket without a timeout waits
    message = str(exc.value)
    assert "failed 2 times" in message and "0.5 s" in message and "\n" not in message
    assert taken[0] == 2
    monkeypatch.setenv("GENZOO_DOWNLOAD_TIMEOUT", "soon")
    with pytest.raises(GenzooError, match="GENZOO_DOWNLOAD_TIMEOUT must be a number"):
        fashion_mnist(download=True)


# --- the Python API and command options -----------------------------------------------------------
@pytest.fixture
def model(done):
    return genzoo.load(done[0])


def api_calls(m, run):
    """Every public entry point of a trained model (and ``genzoo.load`` of its ``run``) with
    each kind of bad argument."""
    shape = m.sample_shape
    lat = m.latent_shape
    bad_images = [
        torch.zeros(0, *shape),
        torch.zeros(2, *shape, dtype=torch.int64),
        torch.full((2, *shape), float("nan")),
        torch.zeros(2, 3, 5),
        "images",
        torch.full((2, *shape), 3.0),
    ]
    bad_latents = [torch.zeros(0, *lat), torch.full((2, *lat), float("inf")), [0.0]]
    for x in bad_images:
        yield "encode", lambda x=x: m.encode(x)
        yield "reconstruct", lambda x=x: m.reconstruct(x)
        yield "energy", lambda x=x: m.energy(x)
        yield "langevin", lambda x=x: m.langevin(x, steps=2)
    for z in bad_latents:
        yield "decode", lambda z=z: m.decode(z)
        yield "interpolate", lambda z=z: m.interpolate(z, z)
    for seed in (2**70, -1, 1.5, "0", True):
        yield "sample", lambda seed=seed: m.sample(4, seed=seed)
        yield "langevin", lambda seed=seed: m.langevin(m.sample(2, seed=0), steps=1, seed=seed)
    for n in (0, -3, 2.5, "4"):
        yield "sample", lambda n=n: m.sample(n)
    yield "langevin", lambda: m.langevin(m.sample(2, seed=0), steps=3, step_size=1e300)
    for device in ("tpu", "meta", "cuda:x", "", 3):
        yield "load", lambda device=device: genzoo.load(run, device=device)


def test_the_api_answers_bad_input_in_one_line(model, done):
    seen = 0
    for name, call in api_calls(model, done[0]):
        seen += 1
        with pytest.raises(GenzooError) as exc:
            call()
        assert "\n" not in str(exc.value), name
    assert seen > 40


@pytest.mark.parametrize("command", ["sample", "eval", "reconstruct", "interpolate"])
@pytest.mark.parametrize("device", ["tpu", "meta"])
def test_device_names_are_checked_once_for_every_command(done, command, device, capsys):
    run, _ = done
    code, _, err = cli(capsys, command, run, "--device", device)
    assert code == 2 and "device must be auto, cpu, cuda or cuda:N" in err


def test_an_absurd_sample_count_is_out_of_memory_in_one_line(done, tmp_path, capsys):
    run, _ = done
    code, _, err = cli(capsys, "sample", run, "--n", 10**12, "--out", tmp_path / "s.png")
    assert code == 2 and "out of memory" in err and "internal error" not in err


def test_a_langevin_step_that_diverges_is_one_line(done, tmp_path, capsys):
    run, _ = done
    code, _, err = cli(
        capsys,
        "sample",
        run,
        "--langevin-steps",
        3,
        "--step-size",
        "1e300",
        "--out",
        tmp_path / "s.png",
    )
    assert code == 2 and "diverged" in err and "lower" in err
    assert os.path.exists(tmp_path / "s.png") is False
