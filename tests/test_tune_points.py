"""The points a search tries: workers that take trials at the same moment on one storage draw
different points, the same trial number draws the same point, and a trial that repeats an
earlier point is not counted as search effort nor as one of the trials the best is chosen
among."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from study_files import TUNE, study_text

from genzoo.study import spec as spec_mod
from genzoo.study import work
from genzoo.study.storage import open_storage
from genzoo.study.tune import best_trial, counted, draw, each_point_once, tune_study

SPACE = """"train.alpha.lr" = {low = 1e-5, high = 1e-3, log = true}
"train.phi.lr" = {low = 1e-5, high = 1e-3, log = true}
"""


def study_spec(tmp_path, trials=3):
    path = tmp_path / "s.toml"
    tune = TUNE.replace("trials = 3", f"trials = {trials}") + SPACE
    path.write_text(study_text(tune=tune))
    return spec_mod.load(path)


def two_workers_claim(spec, storage):
    """What two worker processes do when both look for work at once: each opens the study
    its own way and claims a new trial before either draws."""
    a, b = (tune_study(spec, storage, "triangle") for _ in range(2))
    ta, tb = work.claim(a, True), work.claim(b, True)
    return (a, ta, draw(spec, a, "triangle", ta)), (b, tb, draw(spec, b, "triangle", tb))


def test_workers_claiming_at_once_draw_different_points(tmp_path):
    spec = study_spec(tmp_path, trials=12)
    storage = open_storage(f"journal:{tmp_path / 'j.journal'}")
    seen = []
    for _ in range(5):  # through the random start-up trials into TPE's own proposals
        (a, ta, pa), (b, tb, pb) = two_workers_claim(spec, storage)
        assert pa != pb
        seen += [pa, pb]
        for study, trial, p in ((a, ta, pa), (b, tb, pb)):
            study.tell(trial, p["train.theta.lr"] * 1000 + p["train.alpha.lr"])
    assert len({tuple(sorted(p.items())) for p in seen}) == len(seen)
    # the same trial number draws the same point again
    again = open_storage(f"journal:{tmp_path / 'again.journal'}")
    (_, ta, pa), (_, tb, pb) = two_workers_claim(spec, again)
    assert (ta.number, tb.number) == (0, 1) and (pa, pb) == (seen[0], seen[1])


def finished(number, lr, value, state=TrialState.COMPLETE):
    return create_trial(
        state=state,
        value=value,
        params={"train.theta.lr": lr},
        distributions={"train.theta.lr": FloatDistribution(1e-5, 1e-3, log=True)},
        intermediate_values={2: value},
    )


def test_a_repeated_point_is_no_search_effort(tmp_path):
    spec = study_spec(tmp_path, trials=3)
    study = optuna.create_study()
    # two workers once drew 1e-4 together; then 2e-4, a repeat of it, and 3e-4
    for i, (lr, value) in enumerate([(1e-4, 5.0), (1e-4, 5.0), (2e-4, 4.0), (2e-4, 4.0)]):
        study.add_trial(finished(i, lr, value))
    trials = study.get_trials()
    assert [t.number for t in each_point_once(trials)] == [0, 2]
    assert counted(trials) == 2  # one more point to try before the search is done
    best, first = best_trial(spec, study)
    assert [t.number for t in first] == [0, 2] and best.number == 2
    study.add_trial(finished(4, 3e-4, 1.0, TrialState.PRUNED))
    study.add_trial(finished(5, 5e-4, 0.5))  # a fourth point: beyond the three trials
    best, first = best_trial(spec, study)
    assert [t.number for t in first] == [0, 2, 4] and best.number == 2
    assert counted(study.get_trials()) == 4


def test_a_variant_tuned_elsewhere_is_not_searched_and_trains_its_own_recipe(tmp_path):
    """``tuned_in``: a variant whose settings another search of the same effort chose is not
    searched again; its recipe is its best, the cells train it, the table says where."""
    from study_files import genzoo

    from genzoo.study.storage import open_storage

    text = study_text(tune=TUNE, seeds=(0,)).replace(
        '[variants.vae]\nobjective = "vae"',
        '[variants.vae]\nobjective = "vae"\nset = ["train.phi.lr=0.000123"]\n'
        'tuned_in = "study tables_x (16 points, the same space and trial budget)"',
    )
    path = tmp_path / "elsewhere.toml"
    path.write_text(text)
    journal = tmp_path / "j.journal"
    p = genzoo("tune", path, "--out", tmp_path / "out", "--storage", journal, "--quiet")
    assert p.returncode == 0, p.stderr
    names = {
        s.study_name for s in optuna.get_all_study_summaries(open_storage(f"journal:{journal}"))
    }
    assert "elsewhere:tune:triangle" in names and "elsewhere:tune:vae" not in names
    best = (tmp_path / "out" / "best" / "vae.toml").read_text()
    assert best.startswith("# vae: not searched in study 'elsewhere'; tuned in study tables_x")
    assert "lr = 0.000123" in best and "train.theta.lr" not in best
    cell = (tmp_path / "out" / "cells" / "vae" / "seed0" / "recipe.toml").read_text()
    assert "lr = 0.000123" in cell
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| vae | not searched here: tuned in study tables_x" in table


def test_tuned_in_without_a_search_is_one_line(tmp_path):
    from study_files import genzoo

    path = tmp_path / "bad.toml"
    path.write_text(study_text().replace('objective = "vae"', 'objective = "vae"\ntuned_in = "x"'))
    p = genzoo("study", path, "--out", tmp_path / "out")
    assert p.returncode == 2 and "tuned_in" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_a_worker_goes_on_to_the_next_variant_while_others_finish_a_search(tmp_path):
    """A variant whose last trial another worker runs does not hold this worker up: it tunes
    the next variant meanwhile, and comes back until the other trial is told."""
    import threading
    import time

    from genzoo.study.folder import StudyFolder
    from genzoo.study.tune import run_tune

    spec = study_spec(tmp_path, trials=1)
    storage = open_storage(f"journal:{tmp_path / 'j.journal'}")
    triangle = tune_study(spec, storage, "triangle")
    elsewhere = triangle.ask()  # the one triangle trial, being run by another worker
    held_up = []

    def the_other_worker():
        vae = tune_study(spec, storage, "vae")
        deadline = time.monotonic() + 120
        while not vae.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
            if time.monotonic() > deadline:
                held_up.append(True)  # this worker waited on the triangle
                break
            time.sleep(0.2)
        triangle.tell(elsewhere, 1.0)

    other = threading.Thread(target=the_other_worker)
    other.start()
    run_tune(spec, StudyFolder(tmp_path / "out"), storage)
    other.join()
    assert not held_up
    assert [t.state for t in triangle.get_trials()] == [TrialState.COMPLETE]
    assert (tmp_path / "out" / "best" / "triangle.toml").exists()
    assert (tmp_path / "out" / "best" / "vae.toml").exists()
