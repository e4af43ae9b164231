"""``genzoo study`` and ``genzoo tune`` from start to end: the study file checked, the folder
claimed, the storage opened, the work done here (one worker) or by ``workers`` processes that
join the same storage (as workers started on other machines do), and the results written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from genzoo.errors import GenzooError
from genzoo.study import results, work
from genzoo.study import spec as spec_mod
from genzoo.study.board import Board
from genzoo.study.cells import finished_cells, plan_of, run_cells
from genzoo.study.folder import StudyFolder
from genzoo.study.storage import open_storage


def default_out(spec) -> Path:
    return Path("runs") / "studies" / spec.title


def drive(
    file: Path,
    out: Path | None,
    where: str | None,
    workers: int,
    heartbeat: int,
    tune: bool,
    cells: bool = True,
    show: bool = True,
    console=None,
) -> tuple[dict, Path]:
    spec = spec_mod.load(file)
    if tune and spec.tune is None:
        raise GenzooError(f"'{file}' has no [tune] table; add one, or run 'genzoo study'")
    preflight(spec)
    folder = StudyFolder(out or default_out(spec))
    url = folder.claim(spec, where, workers)
    storage = open_storage(url, heartbeat)
    if not tune and spec.tune is not None:
        missing = [v for v in spec.variants if not folder.best(v).exists()]
        if missing:
            raise GenzooError(
                f"the study tunes its variants and has no tuned recipe for "
                f"{', '.join(missing)}: run 'genzoo tune {file}' first (it runs the cells too)"
            )
    # SIGTERM (a scheduler's stop) unwinds like Ctrl-C: the running trial is told failed and
    # queued again, local workers are stopped too (training stops after a checkpoint)
    signal.signal(signal.SIGTERM, work.stop_on_sigterm)
    if work.FINISH is not None:  # SIGUSR1: finish what runs, take nothing more
        signal.signal(work.FINISH, work.finish_on_sigusr1)
    with Board(spec, storage, show, console) as board:
        if workers > 1:
            spawn(file, folder, url, workers, heartbeat, tune, cells, board)
        else:
            if tune:
                from genzoo.study.tune import run_tune

                run_tune(spec, folder, storage, board)
            if cells:
                run_cells(spec, folder, storage, board)
        board.refresh()
    work.exit_if_stopped()
    return finish(spec, folder, storage), folder.root


def finish(spec, folder: StudyFolder, storage) -> dict:
    tuned = None
    if spec.tune is not None:
        from genzoo.study.tune import write_best

        tuned = write_best(spec, folder, storage)
    res = results.collect(spec, finished_cells(spec, storage), plan_of(spec, storage), tuned)
    res["added"] = folder.read().get("added", [])  # a study grown by variants: what, when
    results.write(spec, folder, res)
    return res


def spawn(file, folder: StudyFolder, url, workers, heartbeat, tune, cells, board) -> None:
    """``workers`` worker processes on this machine, each a ``genzoo`` of one worker on the
    same storage, their output in ``workers/workerK.log``; the bars follow the storage."""
    logs = folder.root / "workers"
    logs.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "genzoo", "tune" if tune else "study", str(file)]
    cmd += ["--out", str(folder.root), "--storage", url, "--workers", "1", "--quiet"]
    cmd += ["--heartbeat", str(heartbeat)] + ([] if cells else ["--no-cells"])
    env = {**os.environ, "GENZOO_WORKERS": str(workers)}
    procs = []
    if work.FINISH is not None:  # the workers start ignoring SIGUSR1, until they handle it
        signal.signal(work.FINISH, signal.SIG_IGN)
    for k in range(workers):
        log = open(logs / f"worker{k}.log", "ab")
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    if work.FINISH is not None:  # a SIGUSR1 to this process is passed on to every worker

        def pass_on(signum, frame) -> None:
            work.finish_on_sigusr1(signum, frame)
            for p, _ in procs:
                if p.poll() is None:
                    p.send_signal(signum)

        signal.signal(work.FINISH, pass_on)
    try:
        while any(p.poll() is None for p, _ in procs):
            board.refresh()
            time.sleep(2.0)
    finally:
        for p, log in procs:
            if p.poll() is None:
                p.terminate()
                p.wait()
            log.close()
    bad = [(k, p.returncode) for k, (p, _) in enumerate(procs) if p.returncode != 0]
    if bad and work.FINISH is not None and {c for _, c in bad} == {128 + work.FINISH}:
        raise work.finished_early(work.FINISH)  # each stopped between trials as asked
    if bad:
        k, code = bad[0]
        raise GenzooError(
            f"worker {k} exited with code {code}; see '{logs / f'worker{k}.log'}', then run "
            f"the same command again to resume"
        )


def preflight(spec) -> None:
    """Every variant's recipe built, every search key tried at its low end and the measured
    splits found, before anything is written: a bad study file is one line."""
    from genzoo import assemble
    from genzoo.study import runs
    from genzoo.study.spec import space_of

    for v in spec.variants:
        r = runs.variant_recipe(spec, v)
        assemble.build_objective(r)  # objective names and options
        if spec.tune is not None:
            space = space_of(spec, v)
            trial = {
                k: p.choices[0] if p.choices else (int(p.low) if p.integer else p.low)
                for k, p in space.items()
            }
            runs.variant_recipe(spec, v, trial)
    data = assemble.build_data(r)
    data.held_out(spec.evaluate.split)
    if spec.tune is not None:
        data.held_out("validation")
