"""``genzoo tune``: a hyperparameter search per variant with Optuna's TPE sampler and a
pruner on the validation metric at checkpoints, the same number of trials and the same
compute budget per trial for every variant, measured on the validation split only. The best
trial of each variant (among its first ``trials`` finished ones) is written out as a recipe
that the study's cells then train over their seeds."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
from optuna.trial import TrialState

from genzoo import toml_text
from genzoo.errors import GenzooError
from genzoo.study import compute, runs, shared, work
from genzoo.study.folder import StudyFolder
from genzoo.study.spec import Param, StudyFile, direction, searched, space_of
from genzoo.training.step import DivergenceError

POLL = 2.0


def sampler_for(spec: StudyFile, index: int, number: int = 0) -> optuna.samplers.TPESampler:
    """TPE for trial ``number`` of the ``index``-th variant, seeded by the study's seed, the
    variant and the trial: workers that take trials at the same moment draw different points
    (one seed per worker drew the same point in every worker), and the same trial draws the
    same point again. Trials still running count as bad ones (the constant liar), so a worker
    does not propose next to a point another one is training."""
    t = spec.tune
    seed = int(np.random.SeedSequence([t.seed, index, number]).generate_state(1)[0])
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=max(t.startup_trials, 1), constant_liar=True
    )


def sampler_and_pruner(spec: StudyFile, index: int):
    t = spec.tune
    sampler = sampler_for(spec, index)
    if t.pruner == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=t.startup_trials)
    elif t.pruner == "halving":
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    else:
        pruner = optuna.pruners.NopPruner()
    return sampler, pruner


def suggest(trial: optuna.Trial, key: str, p: Param):
    if p.choices is not None:
        return trial.suggest_categorical(key, p.choices)
    if p.integer:
        return trial.suggest_int(key, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
    return trial.suggest_float(key, p.low, p.high, log=p.log, step=p.step)


def draw(spec: StudyFile, study: optuna.Study, variant: str, trial: optuna.Trial) -> dict:
    """The point of ``variant``'s search space that ``trial`` trains (a queued retry's own
    point), drawn by the sampler of its number."""
    study.sampler = sampler_for(spec, list(spec.variants).index(variant), trial.number)
    return {k: suggest(trial, k, p) for k, p in space_of(spec, variant).items()}


def tune_study(spec: StudyFile, storage, variant: str) -> optuna.Study:
    sampler, pruner = sampler_and_pruner(spec, list(spec.variants).index(variant))
    return optuna.create_study(
        storage=storage,
        study_name=shared.name_of(spec, f"tune:{variant}"),
        direction=direction(spec.tune.metric),
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


def budget_total(spec: StudyFile) -> float | None:
    """The compute one trial gets (FLOPs or seconds), or None for matched iterations."""
    b = spec.tune.budget
    if b.compute == "iterations":
        return None
    given = b.flops if b.compute == "flops" else b.seconds
    if given is not None:
        return given
    base = runs.variant_recipe(spec, b.reference)
    one = (
        compute.iteration_flops(base)
        if b.compute == "flops"
        else compute.iteration_seconds(base, b.threads)
    )
    return b.iterations * one


def trial_iterations(spec: StudyFile, recipe, total: float | None) -> int:
    b = spec.tune.budget
    if total is None:
        return b.iterations
    cost = (
        compute.iteration_flops(recipe)
        if b.compute == "flops"
        else compute.iteration_seconds(recipe, b.threads)
    )
    matched = dataclasses.replace(b, flops=total, seconds=total)
    return compute.iterations_for(matched, {"trial": cost})["trial"]


def each_point_once(trials) -> list:
    """``trials`` in their order, less those that repeat an earlier one's parameters: a
    repeat (two workers that drew the same point) measures the same run again and is no
    search effort. A queued trial, whose parameters are not drawn yet, is its own point."""
    seen, out = set(), []
    for t in trials:
        point = tuple(sorted(t.params.items())) if t.params else ("trial", t.number)
        if point not in seen:
            seen.add(point)
            out.append(t)
    return out


def counted(trials) -> int:
    """The points of the search spent or being spent: finished, running, queued, failed for
    good, each point once."""
    live = [
        t for t in trials if t.state in (*work.FINISHED, TrialState.RUNNING, TrialState.WAITING)
    ]
    return len(each_point_once(live)) + len(work.failed_for_good(trials))


def run_tune(spec: StudyFile, folder: StudyFolder, storage, board=None) -> None:
    """Work through every variant's trials until each has its ``trials`` settled. A worker
    that finds no trial of a variant left to start, while others still run some, goes on to
    the next variant and comes back for any that fail and are queued again."""
    total = shared.computed_once(
        storage, shared.name_of(spec, "tune-budget"), lambda: {"total": budget_total(spec)}
    )["total"]
    features = shared.features_for(spec, folder)
    studies = {v: tune_study(spec, storage, v) for v in searched(spec)}
    while studies:
        ran = False
        for variant, study in list(studies.items()):
            while (
                outcome := take_trial(spec, folder, study, variant, total, features, board)
            ) == "ran":
                ran = True
            if outcome == "settled":
                del studies[variant]
        if studies and not ran:
            if board:
                board.note(f"tune: waiting for trials other workers run ({', '.join(studies)})")
            work.wait(POLL)
    write_best(spec, folder, storage)


def take_trial(spec, folder, study, variant: str, total, features, board=None) -> str:
    """Run one trial of ``variant``'s search if one is left to take: "ran", else "wait" (other
    workers still run some) or "settled" (every trial finished)."""
    t = spec.tune
    with work.held():  # a stop waits while a trial is taken or told
        trials = study.get_trials(deepcopy=False)
        trial = work.claim(study, may_start_new=counted(trials) < t.trials)
        if trial is None:
            return "wait" if work.in_flight(study.get_trials(deepcopy=False)) else "settled"
        params = draw(spec, study, variant, trial)
        number = work.first_number(study, trial)
        if board:
            board.note(f"tune {variant}: trial {number}")

        def one(trial) -> float:
            r = runs.variant_recipe(spec, variant, params, seed=t.seed)
            steps = trial_iterations(spec, r, total)
            r = runs.with_steps(r, steps)
            trial.set_user_attr("iterations", steps)
            every = t.report_every or max(steps // 4, 1)

            def report(step: int, m: dict) -> None:
                value = m[t.metric]
                if value is None:
                    raise GenzooError(
                        f"tune.metric '{t.metric}' does not apply to variant '{variant}'"
                    )
                trial.report(value, step)
                if trial.should_prune():
                    raise optuna.TrialPruned()

            try:
                done = runs.train_and_measure(
                    r,
                    folder.trial(variant, number),
                    runs.points(steps, every),
                    lambda d: runs.measure(d, spec, "validation", features, r.device),
                    report,
                )
            except DivergenceError as exc:  # settings that diverge: a finished trial,
                trial.set_user_attr("diverged", str(exc).splitlines()[0][:300])
                raise optuna.TrialPruned() from None  # counted, never the best
            return done[steps][t.metric]

        work.run(study, trial, one)
    if board:
        board.refresh()
    return "ran"


def best_trial(spec: StudyFile, study: optuna.Study):
    """The best complete trial among the first ``trials`` finished (complete or pruned, in
    the order they finished, each point once): every variant's search spends the same
    number of trials."""
    finished = each_point_once(
        sorted(
            study.get_trials(deepcopy=False, states=work.FINISHED),
            key=lambda t: t.datetime_complete,
        )
    )[: spec.tune.trials]
    complete = [t for t in finished if t.state == TrialState.COMPLETE]
    if not complete:
        return None, finished
    pick = min if direction(spec.tune.metric) == "minimize" else max
    return pick(complete, key=lambda t: t.value), finished


def tuned(spec: StudyFile, storage) -> dict[str, dict]:
    """Per variant: the best trial's number, value, parameters, and the trials spent."""
    out = {}
    for variant in spec.variants:
        if spec.variants[variant].tuned_in:
            out[variant] = {"tuned_in": spec.variants[variant].tuned_in, "params": {}}
            continue
        study = tune_study(spec, storage, variant)
        best, finished = best_trial(spec, study)
        out[variant] = {
            "trials": len(finished),
            "pruned": sum(t.state == TrialState.PRUNED for t in finished),
            "best_trial": best.number if best else None,
            "best_value": best.value if best else None,
            "params": dict(best.params) if best else None,
        }
    return out


def write_best(spec: StudyFile, folder: StudyFolder, storage) -> dict:
    """``best/VARIANT.toml`` for every variant whose search has finished, and for each variant
    tuned elsewhere its own recipe."""
    results = tuned(spec, storage)
    for variant, res in results.items():
        if res["params"] is None or res.get("trials", spec.tune.trials) < spec.tune.trials:
            continue
        r = runs.variant_recipe(spec, variant, res["params"])
        d = r.to_dict()
        d["train"].pop("steps", None)
        path = folder.best(variant)
        path.parent.mkdir(parents=True, exist_ok=True)
        head = (
            f"# {variant}: not searched in study '{spec.title}'; tuned in {res['tuned_in']}\n"
            if "tuned_in" in res
            else f"# {variant}: the best of {res['trials']} trials of study '{spec.title}' "
            f"(trial {res['best_trial']}, validation {spec.tune.metric} = {res['best_value']:.6g})\n"
        )
        from genzoo.store.files import atomic_write

        atomic_write(path, (head + toml_text.dumps(d)).encode())
    return results
