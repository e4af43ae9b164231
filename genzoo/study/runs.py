"""One run of a study (a cell's seed, or a tuning trial): its recipe, trained in segments to
each evaluation point and measured there, every measurement kept in the run folder's
``evaluations.json``, so an interrupted run resumes from its last checkpoint and never
measures a point twice."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from genzoo import recipe as recipe_mod
from genzoo import toml_text
from genzoo.recipe import Recipe
from genzoo.store import checkpoint, rundir
from genzoo.store.files import atomic_write
from genzoo.study.spec import StudyFile

EVALUATIONS = "evaluations.json"
SAMPLE_QUALITY = {"fd", "kid", "is", "precision", "recall", "density", "coverage"}


def variant_recipe(
    spec: StudyFile,
    variant: str,
    params: dict | None = None,
    seed: int | None = None,
    steps: int | None = None,
) -> Recipe:
    """The recipe of ``variant``: its own recipe file or the study's, the study's ``set``, the
    validation share, its objective and ``set``, then ``params`` (tuned or a trial's), the
    seed and the run length."""
    v = spec.variants[variant]
    overrides = [*spec.set]
    if spec.evaluate.validation:
        overrides.append(f"data.validation={spec.evaluate.validation}")
    if v.objective is not None:
        overrides.append(f"objective={toml_text.toml_value(v.objective)}")
    overrides += v.set
    overrides += [f"{k}={toml_text.toml_value(x)}" for k, x in (params or {}).items()]
    overrides += [f'name="{variant}"', "log.progress=false"]
    if seed is not None:
        overrides.append(f"seed={seed}")
    if steps is not None:
        overrides.append(f"train.steps={steps}")
    return recipe_mod.load(v.recipe or spec.recipe, overrides)


def with_steps(recipe: Recipe, steps: int) -> Recipe:
    raw = toml_text.apply_overrides(recipe.to_dict(), [f"train.steps={steps}"])
    return recipe_mod.from_dict(raw, recipe.path)


def measure(
    run_dir: Path,
    spec: StudyFile,
    split: str,
    features: Path | None,
    device: str = "cpu",
    checkpoint: int | None = None,
    sampler_of=None,
) -> dict[str, float | None]:
    """The study's metrics of the run's newest checkpoint (or that of step ``checkpoint``) on
    ``split`` (with samples from ``sampler_of(model)``, if given: ``evaluate_run``)."""
    from genzoo.analysis.evaluate import evaluate_run

    ev = spec.evaluate
    rep = evaluate_run(
        run_dir,
        n=ev.n,
        features=features,
        seed=ev.seed,
        split=split,
        device=device,
        checkpoint=checkpoint,
        remember=True,  # the same held-out images at every point of every run
        sampler_of=sampler_of,
    )
    fm = rep["feature_metrics"] or {}
    energy = rep["energy"] or dict.fromkeys(("f_data", "f_samples", "f_noise"))
    values = {**{k: fm.get(k) for k in SAMPLE_QUALITY}, **energy}
    values["recon_mse"] = rep["recon_mse"]  # None where the objective has no inference model
    values["recovery"] = rep["recovery"]["error"] if rep["recovery"] else None
    values["sample_gflops"] = rep["sampling"]["gflops_per_sample"]
    tex = rep.get("texture") or {}
    if tex:
        values["high_frequency_ratio"] = (
            tex["high_frequency_share"] / tex["high_frequency_share_data"]
        )
        values["nyquist_ratio"] = tex["nyquist_share"] / tex["nyquist_share_data"]
        values["orientation_distance"] = tex["orientation_distance"]
        values["gram_distance"] = tex["gram_distance"]
    return {m: values.get(m) for m in ev.metrics}


def load_recipe(run_dir: Path) -> Recipe:
    return recipe_mod.load(Path(run_dir) / rundir.RECIPE)


def points(steps: int, every: int) -> list[int]:
    """The evaluation points of a run of ``steps`` iterations: every ``every`` and the end."""
    out = list(range(every, steps, every)) if every else []
    return out + [steps]


def read_evaluations(run_dir: Path) -> dict[int, dict]:
    path = Path(run_dir) / EVALUATIONS
    if not path.exists():
        return {}
    try:
        return {int(k): v for k, v in json.loads(path.read_text()).items()}
    except (ValueError, AttributeError):
        return {}  # a torn file: measured again


def train_and_measure(
    recipe: Recipe,
    run_dir: Path,
    at: list[int],
    measure_at: Callable[[Path], dict],
    after_point: Callable[[int, dict], None] | None = None,
) -> dict[int, dict]:
    """Train ``recipe`` into ``run_dir`` to each step of ``at`` in turn, measuring there
    (``measure_at(run_dir)``: step -> metrics, with the seconds trained so far); an
    ``after_point(step, metrics)`` may stop the run by raising (a pruned trial)."""
    from genzoo.training import Trainer

    run_dir = Path(run_dir)
    done = read_evaluations(run_dir)
    for step in at:
        if step not in done:
            last = checkpoint.latest(run_dir / rundir.CHECKPOINTS) if run_dir.exists() else None
            t0 = time.perf_counter()
            Trainer(with_steps(recipe, step)).fit(
                run_dir, resume=last is not None, force=last is None, progress=False
            )
            seconds = time.perf_counter() - t0 + _seconds_before(done)
            done[step] = {**measure_at(run_dir), "train_seconds": round(seconds, 2)}
            atomic_write(
                run_dir / EVALUATIONS, json.dumps({str(k): v for k, v in done.items()}).encode()
            )
        if after_point is not None:
            after_point(step, done[step])
    return done


def _seconds_before(done: dict[int, dict]) -> float:
    return max((d.get("train_seconds", 0.0) for d in done.values()), default=0.0)
