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


def plan(spec: StudyFile, folder: StudyFolder, variants, reference: dict | None = None) -> dict:
    """Each of ``variants``' iterations under the study's budget and its per-iteration FLOPs
    (and seconds, for a wall-clock budget); ``reference``: the plan the budget's reference
    variant is in, for variants added after it was made."""
    b = spec.budget
    fixed = {}  # the reference's measured cost, where it was planned before
    if reference and b.reference in reference["flops_per_iteration"]:
        fixed = {"flops": reference["flops_per_iteration"][b.reference]}
        if b.compute == "seconds":
            fixed["seconds"] = reference["seconds"][b.reference]
    ours = [v for v in variants if not (fixed and v == b.reference)]
    flops = {v: compute.iteration_flops(recipe_of(spec, folder, v)) for v in ours}
    seconds = (
        {v: compute.iteration_seconds(recipe_of(spec, folder, v), b.threads) for v in ours}
        if b.compute == "seconds"
        else None
    )
    cost = dict(seconds if b.compute == "seconds" else flops)
    if fixed and b.reference not in cost:
        cost[b.reference] = fixed["seconds" if b.compute == "seconds" else "flops"]
    iterations = compute.iterations_for(b, cost)
    return {
        "iterations": {v: iterations[v] for v in ours},
        "flops_per_iteration": flops,
        "seconds": seconds,
    }


def groups(spec: StudyFile, folder: StudyFolder, storage) -> list[tuple[optuna.Study, dict]]:
    """The cells' Optuna studies, each with its plan: one for the variants the study had when
    its cells were first queued, and one for those of each later addition (a study grown by
    variants, ``grown.py``). Every cell is queued once, by the worker that makes its group."""
    out, covered = [], set()
    additions = [[*spec.variants]] + [a["variants"] for a in folder.read().get("added", [])]
    for k, variants in enumerate(additions):
        rest = [v for v in variants if v not in covered and v in spec.variants]
        if not rest:
            continue
        name = shared.name_of(spec, "cells" if k == 0 else f"cells+{k}")

        def queue(name=name, rest=rest) -> dict:
            study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True)
            for v in rest:
                for s in spec.seeds:
                    study.enqueue_trial({"variant": v, "seed": s}, skip_if_exists=True)
            return plan(spec, folder, rest, out[0][1] if out else None)

        part = "plan" if k == 0 else f"plan+{k}"
        the_plan = shared.computed_once(storage, shared.name_of(spec, part), queue)
        out.append((optuna.load_study(storage=storage, study_name=name), the_plan))
        covered |= set(the_plan["iterations"])
    return out


def run_cells(spec: StudyFile, folder: StudyFolder, storage, board=None) -> None:
    """Work through the study's cells until none is left to any worker."""
    features = shared.features_for(spec, folder)
    for study, the_plan in groups(spec, folder, storage):
        run_group(spec, folder, study, the_plan, features, board)


def run_group(spec, folder: StudyFolder, study, the_plan: dict, features, board=None) -> None:
    variants = list(the_plan["iterations"])
    total = len(variants) * len(spec.seeds)
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
            variant = trial.suggest_categorical("variant", variants)
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


def cell_studies(spec: StudyFile, storage) -> list[optuna.Study]:
    """The cells' Optuna studies that exist in ``storage`` (one per group, ``groups``)."""
    first = shared.name_of(spec, "cells")
    names = optuna.get_all_study_names(storage)
    return [
        optuna.load_study(storage=storage, study_name=n)
        for n in names
        if n == first or n.startswith(first + "+")
    ]


def finished_cells(spec: StudyFile, storage) -> dict[tuple[str, int], dict]:
    """(variant, seed) -> {step: metrics} of the cells that have finished."""
    out = {}
    for study in cell_studies(spec, storage):
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if "evaluations" in t.user_attrs:
                out[(t.params["variant"], t.params["seed"])] = {
                    int(k): v for k, v in t.user_attrs["evaluations"].items()
                }
    return out


def plan_of(spec: StudyFile, storage) -> dict | None:
    """The cells' plan (iterations and per-iteration cost of each variant), once made: the
    plans of every group, merged."""
    merged = None
    first = shared.name_of(spec, "plan")
    for n in optuna.get_all_study_names(storage):
        if n != first and not n.startswith(first + "+"):
            continue
        part = optuna.load_study(storage=storage, study_name=n).user_attrs.get("value")
        if not part:
            continue
        merged = merged or {"iterations": {}, "flops_per_iteration": {}, "seconds": None}
        for key in ("iterations", "flops_per_iteration"):
            merged[key].update(part[key])
        if part.get("seconds"):
            merged["seconds"] = {**(merged["seconds"] or {}), **part["seconds"]}
    return merged
