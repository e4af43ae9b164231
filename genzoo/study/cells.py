"""``genzoo study``'s grid: every variant × seed is a cell, queued once in the storage as an
Optuna trial and claimed by one worker at a time; each cell trains its variant's recipe (the
tuned one after ``genzoo tune``) for the iterations its budget gives it and is measured at
every evaluation point on the study's split."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from genzoo import recipe as recipe_mod
from genzoo.errors import GenzooError
from genzoo.study import compute, runs, shared, work
from genzoo.study.folder import StudyFolder
from genzoo.study.spec import StudyFile

POLL = 2.0


def recipe_of(spec: StudyFile, folder: StudyFolder, variant: str, seed=None, steps=None):
    """The recipe a cell of ``variant`` trains: the tuned one where the study tunes."""
    if spec.tune is None:
        return runs.variant_recipe(spec, variant, seed=seed, steps=steps)
    best = folder.best(variant)
    if not best.exists():
        raise GenzooError(
            f"the study tunes its variants and '{best}' is missing: run 'genzoo tune "
            f"{spec.path}' first (it runs the cells too)"
        )
    extra = [f"seed={seed}"] if seed is not None else []
    extra += [f"train.steps={steps}"] if steps is not None else []
    return recipe_mod.load(best, extra)


def plan(spec: StudyFile, folder: StudyFolder) -> dict:
    """Each variant's iterations under the study's budget and its per-iteration FLOPs (and
    seconds, for a wall-clock budget)."""
    b = spec.budget
    flops = {v: compute.iteration_flops(recipe_of(spec, folder, v)) for v in spec.variants}
    seconds = (
        {v: compute.iteration_seconds(recipe_of(spec, folder, v), b.threads) for v in flops}
        if b.compute == "seconds"
        else None
    )
    iterations = compute.iterations_for(b, seconds if b.compute == "seconds" else flops)
    return {"iterations": iterations, "flops_per_iteration": flops, "seconds": seconds}


def cells_study(spec: StudyFile, folder: StudyFolder, storage) -> tuple[optuna.Study, dict]:
    """The cells' Optuna study, every cell queued once by the worker that makes it."""
    name = shared.name_of(spec, "cells")

    def queue() -> dict:
        study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True)
        for v in spec.variants:
            for s in spec.seeds:
                study.enqueue_trial({"variant": v, "seed": s}, skip_if_exists=True)
        return plan(spec, folder)

    the_plan = shared.computed_once(storage, shared.name_of(spec, "plan"), queue)
    return optuna.load_study(storage=storage, study_name=name), the_plan


def run_cells(spec: StudyFile, folder: StudyFolder, storage, board=None) -> None:
    """Work through the study's cells until none is left to any worker."""
    study, the_plan = cells_study(spec, folder, storage)
    features = shared.features_for(spec, folder)
    total = len(spec.variants) * len(spec.seeds)
    while True:
        with work.held():  # a stop waits while a cell is taken or told
            trial = work.claim(study, may_start_new=False)
            if trial is None:
                trials = study.get_trials(deepcopy=False)
                done = {(t.params["variant"], t.params["seed"]) for t in trials if _finished(t)}
                lost = [t for t in work.failed_for_good(trials) if t.params]
                if len(done) + len(lost) >= total or not work.in_flight(trials):
                    return
                if board:
                    board.note("waiting for cells that other workers run (or that went stale)")
                work.wait(POLL)
                continue
            variant = trial.suggest_categorical("variant", list(spec.variants))
            seed = trial.suggest_categorical("seed", list(spec.seeds))
            steps = the_plan["iterations"][variant]
            if board:
                board.note(f"cell {variant} seed {seed}: {steps} iterations")

            def cell(trial, variant=variant, seed=seed, steps=steps) -> float:
                r = recipe_of(spec, folder, variant, seed, steps)
                at = runs.points(steps, spec.evaluate.every)
                done = runs.train_and_measure(
                    r,
                    folder.cell(variant, seed),
                    at,
                    lambda d: runs.measure(d, spec, spec.evaluate.split, features, r.device),
                )
                trial.set_user_attr("evaluations", {str(k): v for k, v in done.items()})
                return float(len(done))

            work.run(study, trial, cell)
            if board:
                board.refresh()


def _finished(t) -> bool:
    return t.state == TrialState.COMPLETE and "evaluations" in t.user_attrs


def finished_cells(spec: StudyFile, storage) -> dict[tuple[str, int], dict]:
    """(variant, seed) -> {step: metrics} of the cells that have finished."""
    try:
        study = optuna.load_study(storage=storage, study_name=shared.name_of(spec, "cells"))
    except KeyError:
        return {}
    out = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "evaluations" in t.user_attrs:
            out[(t.params["variant"], t.params["seed"])] = {
                int(k): v for k, v in t.user_attrs["evaluations"].items()
            }
    return out


def plan_of(spec: StudyFile, storage) -> dict | None:
    """The cells' plan (iterations and per-iteration cost of each variant), once made."""
    try:
        holder = optuna.load_study(storage=storage, study_name=shared.name_of(spec, "plan"))
    except KeyError:
        return None
    return holder.user_attrs.get("value")
