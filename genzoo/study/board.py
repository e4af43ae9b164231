"""A study's progress bars, read from its storage: each variant's trials (how many pruned,
the best so far) and the cells done, with a line saying what is running."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from genzoo.study import shared
from genzoo.study.cells import cell_studies
from genzoo.study.spec import StudyFile, searched


class Board:
    def __init__(self, spec: StudyFile, storage, show: bool = True, console=None):
        self.spec, self.storage, self.show = spec, storage, show
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show,
        )
        self.tasks = {}
        if spec.tune is not None:
            for v in searched(spec):
                self.tasks[f"tune:{v}"] = self.progress.add_task(
                    f"tune {v}", total=spec.tune.trials
                )
        self.tasks["cells"] = self.progress.add_task(
            "cells", total=len(spec.variants) * len(spec.seeds)
        )
        self.status = self.progress.add_task("", total=None, start=False)

    def __enter__(self):
        if self.show:
            self.progress.__enter__()
            self.refresh()
        return self

    def __exit__(self, *exc):
        if self.show:
            self.progress.__exit__(*exc)

    def note(self, text: str) -> None:
        if self.show:
            self.progress.update(self.status, description=f"[dim]{text}")

    def _trials(self, part: str):
        try:
            study = optuna.load_study(
                storage=self.storage, study_name=shared.name_of(self.spec, part)
            )
        except KeyError:
            return None, []
        return study, study.get_trials(deepcopy=False)

    def refresh(self) -> None:
        if not self.show:
            return
        for key, task in self.tasks.items():
            if key == "cells":  # every group's (a study grown by variants has several)
                studies = cell_studies(self.spec, self.storage)
                done = sum(t.state == TrialState.COMPLETE for c in studies for t in c.get_trials())
                self.progress.update(task, completed=done)
                continue
            study, trials = self._trials(key)
            finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
            pruned = sum(t.state == TrialState.PRUNED for t in finished)
            best = ""
            if study is not None and any(t.state == TrialState.COMPLETE for t in trials):
                best = f", best {study.best_value:.4g}"
            name = key.split(":", 1)[1]
            self.progress.update(
                task,
                completed=min(len(finished), self.spec.tune.trials),
                description=f"tune {name} ({pruned} pruned{best})",
            )
