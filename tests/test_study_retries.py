"""How often a study's trial runs again: a failure (an exception, a worker whose heartbeat
stopped) up to ``RETRIES`` times, a stop that was asked for (SIGTERM, Ctrl-C) always, so a
study stopped and resumed every day never runs out of retries."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from genzoo.study import work
from genzoo.study.storage import INTERRUPTIONS, RETRIES, open_storage
from genzoo.training.controls import Interrupted


@pytest.fixture
def study(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    return optuna.create_study(storage=storage, study_name="s")


def attempt(study, first: bool, fails: BaseException):
    """One claim and run of the study's trial, whose objective raises ``fails``; the trial
    claimed, or None where nothing was queued."""
    trial = work.claim(study, may_start_new=first)
    if trial is None:
        return None

    def fn(t):
        t.suggest_float("x", 0.0, 1.0)
        raise fails

    if isinstance(fails, (KeyboardInterrupt, Interrupted)):
        with pytest.raises(type(fails)):
            work.run(study, trial, fn)
    else:
        assert work.run(study, trial, fn) == "failed"
    return trial


def test_stops_queue_a_trial_again_without_using_up_its_retries(study):
    stops = [Interrupted("stopped at step 5 by SIGTERM", 15), KeyboardInterrupt()] * 3
    first = attempt(study, True, stops[0])
    x = first.params["x"]
    for stop in stops[1:]:  # six stops in all, twice the retries
        assert attempt(study, False, stop).params["x"] == x  # the same point, queued again
    last = study.get_trials(deepcopy=False)[-1]
    assert last.state == TrialState.WAITING and last.system_attrs[INTERRUPTIONS] == 6
    # failures still count: the first and RETRIES retries run, then it is failed for good
    for _ in range(RETRIES + 1):
        assert attempt(study, False, RuntimeError("out of memory")).params["x"] == x
    assert attempt(study, False, RuntimeError("out of memory")) is None
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 6 + RETRIES + 1 and all(t.state == TrialState.FAIL for t in trials)
    assert len(work.failed_for_good(trials)) == 1


def test_a_trial_that_fails_runs_again_as_often_as_before(study):
    for i in range(RETRIES + 1):
        assert attempt(study, i == 0, RuntimeError("nan")) is not None
    assert attempt(study, False, RuntimeError("nan")) is None
    assert [t.state for t in study.get_trials(deepcopy=False)] == [TrialState.FAIL] * (RETRIES + 1)
