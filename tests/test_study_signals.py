"""A worker's stops: SIGTERM held back while a trial is taken or told and let through while it
runs, so a stop either fails-and-queues the running trial or lands between trials."""

from __future__ import annotations

import os
import signal
import sys

import optuna
import pytest
from optuna.trial import TrialState

from genzoo.study import work
from genzoo.study.storage import open_storage


@pytest.fixture
def exits_on_term():
    """SIGTERM raises SystemExit, as a study worker's handler does."""
    seen = []

    def handler(signum, frame):
        seen.append(signum)
        sys.exit(128 + signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, old)


def term_self():
    os.kill(os.getpid(), signal.SIGTERM)


def test_a_held_stop_arrives_when_the_block_ends(exits_on_term):
    with pytest.raises(SystemExit):
        with work.held():
            term_self()
            arrived_inside = list(exits_on_term)
    assert arrived_inside == [] and exits_on_term == [signal.SIGTERM]


def test_a_running_trial_takes_the_stop_and_is_failed_and_queued(exits_on_term, tmp_path):
    storage = open_storage(f"journal:{tmp_path / 'j.log'}", heartbeat=1)
    study = optuna.create_study(storage=storage, study_name="s")
    study.enqueue_trial({"x": 1.0})
    reached = []

    def fn(trial):
        trial.suggest_float("x", 0, 2)
        term_self()  # lets through inside the trial: the handler raises here
        reached.append("after")
        return 0.0

    with pytest.raises(SystemExit):
        with work.held():
            trial = work.claim(study, may_start_new=False)
            work.run(study, trial, fn)
    trials = study.get_trials()
    (failed,) = [t for t in trials if t.state == TrialState.FAIL]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == failed.number]
    assert reached == [] and retry.state == TrialState.WAITING and retry.params == {"x": 1.0}


def test_a_stop_while_the_outcome_is_told_leaves_the_trial_complete(exits_on_term, tmp_path):
    storage = open_storage(f"journal:{tmp_path / 'j.log'}", heartbeat=1)
    study = optuna.create_study(storage=storage, study_name="s")
    tell = study.tell

    def tell_with_a_stop(*args, **kw):  # the stop lands in the middle of telling
        term_self()
        return tell(*args, **kw)

    study.tell = tell_with_a_stop
    with pytest.raises(SystemExit):
        with work.held():
            trial = work.claim(study, may_start_new=True)
            work.run(study, trial, lambda t: 1.5)
    (t,) = study.get_trials()
    assert t.state == TrialState.COMPLETE and t.value == 1.5
