"""Algorithm 1 of the paper over a whole run: the :class:`Trainer` assembles a recipe's data and
players, and ``fit`` trains them into a run directory (lock, resume, the loop, and the events
that write logs, grids and checkpoints)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import torch

from genzoo import assemble, plugins, threads
from genzoo.data import Example, WithIndex, batch_stream, spread_samples
from genzoo.errors import GenzooError
from genzoo.events import Events, RunInfo
from genzoo.latents import fixed_noise, interpolation_latents
from genzoo.occlusion import Incomplete, OccludedDataset
from genzoo.per_example import PerExample
from genzoo.recipe import Recipe
from genzoo.store import checkpoint, rundir
from genzoo.training import controls, distributed
from genzoo.training.players import Team
from genzoo.training.resume import resume_latest, roll_back, save
from genzoo.training.stages import StageMeter
from genzoo.training.step import DivergenceError, iteration

ONE_PROCESS = (
    "incomplete images (data.occlusion) and objectives that keep a state per training "
    "example (abp) train on one process; drop --nproc"
)


class Trainer:
    """Trains the players of a recipe; ``fit`` runs the whole loop with a run directory.

    ``step(x)`` is one iteration of Algorithm 1 and can be used on its own (tests, notebooks).
    """

    def __init__(
        self,
        recipe: Recipe,
        registry=None,
        device: str | torch.device | None = None,
        group: distributed.Group | None = None,
    ):
        self.recipe, self.registry = recipe, registry
        self.group = group or distributed.Group()
        device = assemble.resolve_device(recipe.device if device is None else device)
        self.device = distributed.device_for(self.group, device)
        distributed.check_batch(recipe.train.batch_size, self.group.world)
        self.thread_plan = threads.apply(recipe.train.threads)
        torch.manual_seed(recipe.seed)
        self.data = assemble.build_data(recipe, registry)
        self.team = Team(recipe, self.data.sample_shape, registry, self.device, self.group)
        self.models, self.objective = self.team.models, self.team.objective
        self.players = self.models.players()  # player -> its network
        self.per_example = per_example_state(recipe, self.data, self.team, self.group.active).to(
            self.device
        )
        self.step_count = 0
        self.rollbacks = 0  # divergence rollbacks so far, kept in checkpoints across resumes
        self.events: Events | None = None  # the training events, while fit() runs
        self._started = False  # whether fit() has trained a step (see rundir.restore)

    def noise(self, shape, device=None, dtype=None, generator=None) -> torch.Tensor:
        return self.group.noise(shape, device or self.device, dtype, generator)

    def step(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, index: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """One iteration of Algorithm 1 on the real batch ``x`` (:func:`step.iteration`)."""
        metrics = iteration(
            self.team, x, self.step_count, self.noise, self.group, self.per_example, mask, index
        )
        self.step_count += 1
        return metrics

    def save_checkpoint(self, run_dir: Path) -> Path | None:
        return save(self, run_dir)

    # --- the whole run ------------------------------------------------------------------------
    def fit(
        self,
        run_dir: Path,
        resume: bool = False,
        force: bool = False,
        progress: bool | None = None,
        console=None,
    ) -> dict:
        """Train to ``train.steps`` writing into ``run_dir``; returns the last logged metrics."""
        r, run_dir, main = self.recipe, Path(run_dir), self.group.is_main  # one process writes
        if len(self.data.train) < r.train.batch_size:  # known now: before the folder is touched
            raise GenzooError(
                f"the data set holds {len(self.data.train)} training samples, "
                f"fewer than one batch of {r.train.batch_size}; lower "
                f"train.batch_size or use more data"
            )
        with (
            rundir.claimed(run_dir, r, resume, force, main, lambda: self._started),
            threads.computing(),
        ):
            return self._fit(run_dir, resume, progress, console)

    def _fit(self, run_dir: Path, resume: bool, progress: bool | None, console) -> dict:
        r, main, ckpt_dir = self.recipe, self.group.is_main, run_dir / rundir.CHECKPOINTS
        self._started = False
        if main and resume:
            checkpoint.remove_partial_writes(ckpt_dir)
        self.group.barrier()
        pm = (self.registry or plugins.registry()).pm
        events = self.events = Events(
            pm,
            RunInfo(r, run_dir, self.models, tuple(self.data.sample_shape), data=self.data),
            main,
        )
        console = console if main else None
        if resume:
            resume_latest(self, ckpt_dir, console)
        controls.announce(self, console, run_dir)
        if self.step_count >= r.train.steps:
            return {"step": self.step_count}
        events.fit_start(step=self.step_count)
        if r.train.on_divergence == "rollback" and self.step_count == 0:
            self.save_checkpoint(run_dir)  # something to roll back to from the first step on
        show = (r.log.progress if progress is None else progress) and main
        out = Outputs(self, run_dir)
        means, last_target, batches = controls.Means(), None, None
        with (
            controls.progress(show, r.train.steps, self.step_count, console) as bar,
            controls.stop_requests() as stop,
        ):
            while self.step_count < r.train.steps:
                if batches is None:
                    sampler, batches = self.batches()
                self.team.set_learning_rates(sampler.epoch_of(self.step_count))
                try:
                    metrics = self.step_on(next(batches))
                    if not self._started:
                        self._started = True
                        if main:
                            rundir.started(run_dir)  # the run --force replaces may go now
                    s, final = self.step_count, self.step_count == r.train.steps
                    stopping = stop.requested  # read once: a signal may land at any moment
                    if self.group.any(stopping is not None, self.device):  # all stop together
                        stopping = stopping or "SIGTERM"
                    means.add(metrics)
                    # step s's outputs go before its checkpoint: a kill between the two loses
                    # no metrics line and no grid (a resume starts after step s)
                    out.after_step(s, final, means, bar)
                    if s % r.log.checkpoint_every == 0 or final or stopping:
                        self.save_checkpoint(run_dir)
                except DivergenceError as exc:
                    last_target = roll_back(self, exc, ckpt_dir, last_target)
                    means, batches = controls.Means(), None
                    bar.update(self.step_count, None)
                    continue
                if stopping and not final:
                    events.fit_end(step=s, metrics=out.last)
                    stop.acted = True
                    raise controls.Interrupted(
                        f"stopped at step {s} by {stopping}; checkpoint saved; continue with: "
                        f"genzoo run RECIPE --resume --out {run_dir}",
                        int(signal.Signals[stopping]),
                    )
        events.fit_end(step=self.step_count, metrics=out.last)
        return out.last

    def batches(self):
        """The training batches from ``step_count`` on, and their sampler (epochs); feed
        them to :meth:`step_on`."""
        train = self.data.train
        if self.per_example and not isinstance(train, OccludedDataset):
            train = WithIndex(train)  # the state's rows are found by index
        return batch_stream(
            train,
            self.recipe.train.batch_size,
            self.recipe.seed,
            start_step=self.step_count,
            num_workers=self.recipe.train.num_workers,
            shard=(self.group.rank, self.group.world),
        )

    def step_on(self, batch) -> dict[str, torch.Tensor]:
        """:meth:`step` on a batch of :meth:`batches` (images, or incomplete or indexed ones)."""
        to = {"device": self.device, "non_blocking": True}
        if isinstance(batch, Incomplete):
            return self.step(*(t.to(**to) for t in batch))
        if isinstance(batch, Example):
            return self.step(batch.x.to(**to), index=batch.index.to(self.device))
        return self.step(batch.to(**to))


class Outputs:
    """What a run shows after each step: the metrics line every ``log.every`` steps (the means
    since the last one), sample grids of fixed latents every ``log.sample_every`` steps, a
    growing network's stage measurements, and the interpolation grid at the end."""

    def __init__(self, trainer: Trainer, run_dir: Path):
        r, self.trainer, self.main = trainer.recipe, trainer, trainer.group.is_main
        self.noise = fixed_noise(r, trainer.models, r.log.n_samples).to(trainer.device)
        real = spread_samples(trainer.data.train, r.log.n_samples)  # evenly over the data
        if trainer.step_count == 0:
            trainer.events.samples(step=0, name="data", images=real, real=None)
        self.real_above = real[:4] if trainer.data.is_video else None  # Fig. 12: frames above
        self.stages = (
            StageMeter(
                trainer.team,
                r,
                trainer.data,
                trainer.device,
                trainer.events,
                self.noise,
                fixed_noise(r, trainer.models, 64).to(trainer.device),
            )
            if trainer.models.growth is not None and self.main
            else None
        )
        self.last: dict = {}
        self.t0 = time.perf_counter()

    def after_step(self, s: int, final: bool, means: controls.Means, bar) -> None:
        t, r = self.trainer, self.trainer.recipe
        if s % r.log.every == 0 or final:
            self.last = {
                "step": s,
                **means.take(t.group, t.device),
                "time/elapsed_s": round(time.perf_counter() - self.t0, 3),
            }
            t.events.log(step=s, metrics=self.last)
            bar.update(s, self.last)
        if self.main and (s % r.log.sample_every == 0 or final):
            t.events.samples(
                step=s,
                name="final" if final else f"step_{s:08d}",
                images=t.team.sample(self.noise),
                real=self.real_above,
            )
        if self.stages is not None:
            self.stages.after_step(s)
        if final and r.log.interpolation and self.main:
            z = interpolation_latents(t.models.drawing.latent_shape, 8, 10, r.seed)
            t.events.samples(step=s, name="interpolation", images=t.team.sample(z), real=None)


def per_example_state(recipe: Recipe, data, team: Team, several_processes: bool) -> PerExample:
    """Rows kept per training example: the fill of incomplete images' hidden pixels (starting
    at 0, ``fill``) and the objective's own."""
    state = PerExample()
    n = len(data.train)
    if recipe.data.occlusion is not None:
        if team.models.growth is not None:
            raise GenzooError(
                "data.occlusion does not work with growing networks; drop "
                "[data.occlusion] or pick an architecture that does not grow"
            )
        state.add("fill", torch.zeros((n, *data.sample_shape)))
    for name, t in team.objective.per_example(n, team.models).items():
        state.add(name, t, "an objective")
    if state and several_processes:
        raise GenzooError(ONE_PROCESS)
    return state
