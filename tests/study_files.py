"""Tiny study files for the study tests: texture crops at 32x32 with the narrowest networks,
so a cell trains in a fraction of a second."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "model.width=0.0625",
    "data.size=32",
    "data.n_crops=32",
    "train.batch_size=8",
    "log.n_samples=4",
    'device="cpu"',
    "log.checkpoint_every=1000",
    "log.sample_every=1000",
]


def tiny_fashion(root: Path, *more: str) -> str:
    """The ``set = [...]`` line of a tiny study on the Fashion-MNIST-like IDX files at
    ``root``, with ``more`` settings."""
    tiny = [
        f'data.root="{root}"',
        "model.width=0.0625",
        "train.batch_size=16",
        'device="cpu"',
        "log.sample_every=1000",
        "log.checkpoint_every=1000",
        *more,
    ]
    return "set = [" + ", ".join(f"'{s}'" for s in tiny) + "]"


def study_text(
    seeds=(0, 1),
    budget='compute = "flops"\niterations = 4\nreference = "triangle"',
    variants=("triangle", "vae"),
    claims=("triangle < vae on recon_mse",),
    tune: str = "",
    metrics=("recon_mse", "f_data"),
    extra: str = "",
) -> str:
    lines = [
        f'recipe = "{(ROOT / "recipes" / "dt_texture.toml").as_posix()}"',
        f"seeds = {list(seeds)}",
        "set = [" + ", ".join(f"'{s}'" for s in TINY) + "]",
        "claims = [" + ", ".join(f'"{c}"' for c in claims) + "]",
        extra,
        "[budget]",
        budget,
        "[evaluate]",
        f"metrics = {list(metrics)}".replace("'", '"'),
        'n = 8\nevery = 2\nsplit = "validation"\nvalidation = 0.25',
    ]
    for v in variants:
        lines += [f"[variants.{v}]", f'objective = "{v}"']
    if tune:
        lines.append(tune)
    return "\n".join(lines) + "\n"


TUNE = """[tune]
metric = "recon_mse"
trials = 3
startup_trials = 1
report_every = 2
[tune.budget]
iterations = 4
[tune.space]
"train.theta.lr" = {low = 1e-5, high = 1e-3, log = true}
"""


def genzoo(*args, cwd=None, env=None, **kw) -> subprocess.CompletedProcess:
    """``genzoo ARGS`` in a fresh process, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "genzoo", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        **kw,
    )


def fashion_study(tmp_path: Path, capsys, text, n_train: int = 128, n_test: int = 48, epochs=2):
    """A tiny study on Fashion-MNIST-like IDX files, with a feature classifier trained on them:
    ``text(root, features)`` is the study file, run to its end by ``genzoo study``. Returns the
    file, the study's folder and its study.json."""
    import json

    from conftest import make_fashion_like, train_features

    root = make_fashion_like(tmp_path / "fm", n_train=n_train, n_test=n_test)
    features = tmp_path / "features.safetensors"
    train_features(capsys, root, epochs, "--out", features)
    path = tmp_path / "study.toml"
    path.write_text(text(root, features))
    out = tmp_path / "study"
    p = genzoo("study", path, "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    return path, out, json.loads((out / "study.json").read_text())
