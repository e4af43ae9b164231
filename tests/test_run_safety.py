"""Nothing is lost by --force or --resume, NaN and inf never pass validation, and no fault ends
in a traceback: the CLI's error boundary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from conftest import cli, tiny_texture_toml
from pydantic import Field

from genzoo import plugins, schema
from genzoo import recipe as recipe_mod
from genzoo.errors import GenzooError

TINY = tiny_texture_toml("safety", seed=0, image="brick", n_crops=32, steps=3)


@pytest.fixture
def done(tmp_path, capsys):
    """A finished tiny run: its folder, and a snapshot of every file in it."""
    (tmp_path / "r.toml").write_text(TINY)
    code, _, err = cli(capsys, "run", tmp_path / "r.toml", "--out", tmp_path / "X", "--quiet")
    assert code == 0, err
    return tmp_path / "X", snapshot(tmp_path / "X")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_force_with_a_recipe_that_cannot_start_keeps_the_old_run(done, tmp_path, capsys):
    run, before = done
    code, _, err = cli(
        capsys,
        "run",
        tmp_path / "r.toml",
        "--out",
        run,
        "--force",
        "--quiet",
        "--set",
        "train.batch_size=64",
    )  # 32 crops: fewer than one batch
    assert code == 2 and "fewer than one batch of 64" in err and "Traceback" not in err
    assert snapshot(run) == before  # checkpoints, metrics, grids: every byte back


def test_force_that_fails_in_its_first_step_restores_the_old_run(
    done, tmp_path, capsys, monkeypatch
):
    from genzoo.training import Trainer

    run, before = done

    def boom(self, *a, **k):
        raise OSError(28, "No space left on device", str(run / "checkpoints"))

    monkeypatch.setattr(Trainer, "step", boom)
    code, _, err = cli(capsys, "run", tmp_path / "r.toml", "--out", run, "--force", "--quiet")
    assert code == 2 and "No space left on device" in err and "Traceback" not in err
    assert snapshot(run) == before


def test_force_replaces_the_old_run_once_the_new_one_has_started(done, tmp_path, capsys):
    run, before = done
    code, _, err = cli(
        capsys, "run", tmp_path / "r.toml", "--out", run, "--force", "--quiet", "--set", "seed=5"
    )
    assert code == 0, err
    after = snapshot(run)
    assert not (run / ".previous-run").exists()
    assert (
        after["checkpoints/step_00000003.safetensors"]
        != before["checkpoints/step_00000003.safetensors"]
    )


def test_force_refuses_a_folder_genzoo_did_not_make(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "recipe.toml").write_text("# my notes, not a genzoo run\n")
    (mine / "samples").mkdir()
    (mine / "samples" / "holiday.png").write_bytes(b"precious")
    (tmp_path / "r.toml").write_text(TINY)
    code, _, err = cli(capsys, "run", tmp_path / "r.toml", "--out", mine, "--force", "--quiet")
    assert code == 2 and "not a run genzoo made" in err
    assert (mine / "samples" / "holiday.png").read_bytes() == b"precious"


def test_checkpoints_are_ordered_by_the_step_they_hold(tmp_path):
    from genzoo.store.checkpoint import list_checkpoints

    for step in (99_999_999, 100_000_000, 5):
        (tmp_path / f"step_{step:08d}.json").write_text("{}")
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "step_00000005.json",
        "step_99999999.json",
        "step_100000000.json",
    ]


def numeric_keys() -> list[str]:
    """Every number of the recipe schema, and each built-in plugin's numeric options (their
    options schemas, read from the plugins' signatures): generated, so a key added later is
    covered without editing this test."""
    keys = [k for k, _ in schema.numeric_keys(recipe_mod.Recipe)]
    reg = plugins.registry()
    kinds = (
        ("arch", "architectures", ("texture", "dcgan", "video3d", "progressive"), "model"),
        ("data", "datasets", reg.names("datasets"), "data"),
        ("objective", "objectives", reg.names("objectives"), None),
    )
    for tag, group, names, section in kinds:
        for name in names:
            obj = reg.get(group, name).obj
            if not callable(obj):  # a composition: a list of other objectives
                continue
            opts = schema.options_schema(obj)
            for key, _ in schema.numeric_keys(opts):
                where = section or f"objectives.{name}"
                keys.append(f"{tag}:{name}:{where}.{key}")
    return keys


def test_the_schema_reaches_every_table_and_plugin():
    keys = numeric_keys()
    for expected in (
        "seed",
        "train.steps",
        "train.alpha.lr",
        "train.theta.grad_clip",
        "train.energy_bound",
        "model.s",
        "log.n_samples",
        "arch:dcgan:model.width",
        "objective:acd:objectives.acd.entropy_weight",
        "data:image_folder:data.test_fraction",
    ):
        assert expected in keys
    assert len(keys) > 60


@pytest.mark.parametrize("key", numeric_keys())
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_nan_and_inf_are_refused_for_every_number(key, value, tmp_path, capsys):
    extra = []
    if key.startswith("arch:"):
        _, arch, key = key.split(":")
        extra = ["--set", f'model.arch="{arch}"']
    elif key.startswith("objective:"):
        _, name, key = key.split(":")
        extra = ["--set", f'objective="{name}"']
    elif key.startswith("data:"):
        _, name, key = key.split(":")
        extra = ["--set", f'data={{name="{name}"}}']
    (tmp_path / "r.toml").write_text(TINY)
    code, _, err = cli(
        capsys,
        "run",
        tmp_path / "r.toml",
        "--out",
        tmp_path / "run",
        "--quiet",
        *extra,
        "--set",
        f"{key}={value}",
    )
    assert code == 2, (key, err)
    # a float key says "finite"; an integer key says it wants an integer
    assert ("finite" in err or "must be an integer" in err) and key.rsplit(".", 1)[-1] in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_a_plugins_declared_ranges_and_types_are_its_schema():
    def build(
        sample_shape,
        width: Annotated[float, Field(gt=0, le=16)] = 1.0,
        depth: Annotated[int, Field(ge=1, le=12)] = 4,
        root: Path | None = None,
        kind: str = "a",
    ):
        return None

    def check(**opts):
        return schema.check_options(build, opts, "model", Path("/base"), ("sample_shape",))

    assert check(width=3, depth=2, root="data") == {
        "width": 3.0,
        "depth": 2,
        "root": Path("/base/data"),
    }
    for opts, message in [
        ({"width": -1}, "recipe key 'model.width' must lie in (0, 16], got -1"),
        ({"width": float("nan")}, "recipe key 'model.width' must be a finite number"),
        ({"depth": 2.0}, "recipe key 'model.depth' must be an integer, got number 2.0"),
        ({"depth": 13}, "recipe key 'model.depth' must lie in [1, 12], got 13"),
        ({"kind": 3}, "recipe key 'model.kind' must be a string, got integer 3"),
        ({"root": ""}, "recipe key 'model.root' must be a path string"),
        ({"widht": 1}, "unknown recipe key 'model.widht' (did you mean 'width'?)"),
    ]:
        with pytest.raises(GenzooError) as exc:
            check(**opts)
        assert message in str(exc.value)


@pytest.mark.parametrize("seed", [-1, 2**32, 2**70])
def test_seeds_outside_the_rngs_range_are_refused(seed, tmp_path, capsys):
    (tmp_path / "r.toml").write_text(TINY)
    code, _, err = cli(
        capsys, "run", tmp_path / "r.toml", "--out", tmp_path / "run", "--set", f"seed={seed}"
    )
    assert code == 2 and "'seed' must lie in [0, 2^32)" in err
    assert not (tmp_path / "run").exists()


def test_a_deeply_nested_recipe_is_one_line(tmp_path, capsys):
    (tmp_path / "deep.toml").write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, _, err = cli(capsys, "run", tmp_path / "deep.toml")
    assert code == 2 and "nested too deeply" in err and "Traceback" not in err


def test_an_internal_error_is_one_line_with_the_traceback_in_the_run(tmp_path, capsys, monkeypatch):
    from genzoo.training import Trainer

    def bug(self, *a, **k):
        raise KeyError("a bug in genzoo")

    monkeypatch.setattr(Trainer, "step", bug)
    (tmp_path / "r.toml").write_text(TINY)
    code, _, err = cli(capsys, "run", tmp_path / "r.toml", "--out", tmp_path / "run", "--quiet")
    last = err.strip().splitlines()[-1]
    assert code == 1 and last.startswith("internal error: KeyError") and "Traceback" not in err
    log = tmp_path / "run" / "error.log"
    assert f"full traceback in {log}" in err and "Traceback" in log.read_text()


def test_os_errors_name_the_file(tmp_path, capsys):
    (tmp_path / "r.toml").write_text(TINY)
    (tmp_path / "file").write_text("")
    code, _, err = cli(capsys, "sample", tmp_path / "file" / "run", "--out", tmp_path / "s.png")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_16_bit_and_float_images_keep_their_precision(tmp_path):
    import numpy as np
    from PIL import Image

    from genzoo.errors import GenzooError
    from genzoo_datasets.pil_images import open_image, pil_to_tensor

    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    x = pil_to_tensor(open_image(tmp_path / "ramp16.png", None))
    assert x.shape == (1, 64, 64) and len(x.unique()) > 1000  # not two levels, not 256
    assert abs(float(x.min()) + 1) < 1e-6 and abs(float(x.max()) - 1) < 1e-6
    assert abs(float(x.mean())) < 1e-3
    f = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    Image.fromarray(f, mode="F").save(tmp_path / "float.tiff")
    y = pil_to_tensor(open_image(tmp_path / "float.tiff", None))
    assert len(y.unique()) > 500 and abs(float(y.max()) - 1) < 1e-5
    Image.fromarray(f * 4, mode="F").save(tmp_path / "hot.tiff")
    with pytest.raises(GenzooError, match="outside \\[0, 1\\]"):
        open_image(tmp_path / "hot.tiff", None)


def test_a_second_writer_is_refused_while_a_run_holds_the_folder(done, tmp_path, capsys):
    import os

    from genzoo.store import rundir

    run, before = done
    held = rundir.Lock(run)  # as a training process holds it
    try:
        code, _, err = cli(
            capsys,
            "run",
            tmp_path / "r.toml",
            "--out",
            run,
            "--resume",
            "--quiet",
            "--set",
            "train.steps=6",
        )
        assert code == 2 and f"in use by process {os.getpid()}" in err
    finally:
        held.release()
    code, _, err = cli(
        capsys,
        "run",
        tmp_path / "r.toml",
        "--out",
        run,
        "--resume",
        "--quiet",
        "--set",
        "train.steps=6",
    )
    assert code == 0, err  # released (or its process gone): the lock is taken over


def test_an_edited_sidecar_falls_back_to_the_previous_checkpoint(done, capsys):
    import json

    from genzoo.store.checkpoint import latest

    run, _ = done
    newest = run / "checkpoints" / "step_00000003.json"
    meta = json.loads(newest.read_text())
    meta["lr_scale"] = 1e-20
    newest.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="edited or damaged"):
        assert latest(run / "checkpoints").step == 2
    meta["step"] = "three"
    newest.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="does not match the file name"):
        assert latest(run / "checkpoints").step == 2
    meta.update(step=3, format=7)
    newest.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="format 7"):
        assert latest(run / "checkpoints").step == 2


@pytest.mark.parametrize("name", ["", "..", "../escape", "/abs/path", " padded"])
def test_recipe_names_that_are_not_folder_names_are_refused(name, tmp_path, capsys):
    (tmp_path / "r.toml").write_text(TINY)
    code, _, err = cli(capsys, "run", tmp_path / "r.toml", "--set", f'name="{name}"')
    assert code == 2 and "plain folder name" in err


def test_resuming_with_another_thread_count_is_warned_about(done, tmp_path, capsys):
    import torch

    run, _ = done
    threads = torch.get_num_threads()
    code, _, err = cli(
        capsys,
        "run",
        tmp_path / "r.toml",
        "--out",
        run,
        "--resume",
        "--quiet",
        "--set",
        "train.steps=4",
        "--set",
        f"train.threads={threads + 1}",
    )
    torch.set_num_threads(threads)
    assert code == 0 and "no longer bit-identical" in err and f"train.threads = {threads}" in err


@pytest.mark.parametrize(
    "args",
    [
        ["landscape", "RUN", "--eta", "nan"],
        ["landscape", "RUN", "--grad-tol", "inf"],
        ["landscape", "RUN", "--threshold", "nan"],
        ["landscape", "RUN", "--grid", "0"],
        ["sample", "RUN", "--step-size", "nan", "--langevin-steps", "2"],
        ["sample", "RUN", "--reference-sigma", "-inf"],
        ["sample", "RUN", "--seed", "-3"],
        ["eval", "RUN", "--n", "1"],
        ["eval", "RUN", "--norm", "sideways"],
        ["reconstruct", "RUN", "--seed", str(2**40)],
        ["interpolate", "RUN", "--steps", "1"],
        ["export", "RUN"],
        ["run", "R", "--nproc", "0"],
    ],
)
def test_bad_command_options_are_one_line_exit_2(args, done, tmp_path, capsys):
    run, before = done
    args = [str(run) if a == "RUN" else str(tmp_path / "r.toml") if a == "R" else a for a in args]
    code, _, err = cli(capsys, *args)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert snapshot(run) == before


def test_a_divergence_says_which_checkpoint_is_kept(tmp_path, capsys):
    (tmp_path / "r.toml").write_text(TINY)
    code, _, err = cli(
        capsys,
        "run",
        tmp_path / "r.toml",
        "--out",
        tmp_path / "a",
        "--quiet",
        "--set",
        "train.energy_bound=1e-12",
    )
    assert code == 2 and "no checkpoint had been written yet" in err
    code, _, err = cli(capsys, "run", tmp_path / "r.toml", "--out", tmp_path / "b", "--quiet")
    assert code == 0
    code, _, err = cli(
        capsys,
        "run",
        tmp_path / "r.toml",
        "--out",
        tmp_path / "b",
        "--quiet",
        "--resume",
        "--set",
        "train.steps=5",
        "--set",
        "train.energy_bound=1e-12",
    )
    assert code == 2 and "the checkpoint of step 3 is kept" in err
