"""``RUN/metrics.jsonl``: one JSON line per logged step (every loss term of every player and the
mean energies), cut back to a checkpoint's step on resume and on rollback."""

from genzoo import hookimpl
from genzoo.store.rundir import METRICS, MetricsLog


def _log(run) -> MetricsLog:
    return run.state.setdefault("metrics_log", MetricsLog(run.dir / METRICS))


@hookimpl
def on_fit_start(run, step):
    _log(run).truncate_after(step)  # a resumed run logs the steps after its checkpoint again


@hookimpl
def on_log(run, step, metrics):
    _log(run).write(metrics)


@hookimpl
def on_divergence(run, step, reason, rolled_back_to):
    if rolled_back_to is not None:
        _log(run).truncate_after(rolled_back_to)
