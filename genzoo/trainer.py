"""Algorithm 1 of the paper: per iteration an alpha-step, a phi-step and theta-steps."""

from __future__ import annotations


import math
import random
import signal
import time
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from genzoo import assemble, checkpoint, distributed, plugins, rundir, threads
from genzoo.data import Example, WithIndex, batch_stream, samples_of, spread_samples
from genzoo.ema import CHECKPOINT_NAME as EMA, NORM_SEED as EMA_NORM_SEED, GeneratorEMA
from genzoo.errors import GenzooError
from genzoo.events import Events, RunInfo
from genzoo.interfaces import Models
from genzoo.latents import interpolation_latents
from genzoo.objective import Draws
from genzoo.occlusion import Incomplete, OccludedDataset
from genzoo.per_example import PerExample
from genzoo.recipe import Recipe
from genzoo.sampling import generate


ONE_PROCESS = ("incomplete images (data.occlusion) and objectives that keep a state per training "
               "example (abp) train on one process; drop --nproc")


class DivergenceError(GenzooError):
    """A loss or an energy became non-finite or left ``train.energy_bound``."""

    def __init__(self, reason: str, player: str, kept: int | None = -1):
        self.reason, self.player = reason, player
        where = ("the last good checkpoint is kept" if kept == -1 else
                 "no checkpoint had been written yet" if kept is None else
                 f"the checkpoint of step {kept} is kept")
        super().__init__(f"{reason}; lower train.{player}.lr, or set train.on_divergence = "
                         f"\"rollback\"; {where}")


class Interrupted(GenzooError):
    """SIGINT/SIGTERM stopped the run after a checkpoint was written."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


def make_optimizers(recipe: Recipe, params: dict[str, list[torch.nn.Parameter]]
                    ) -> dict[str, torch.optim.Adam]:
    """One Adam per player over its parameters (its network's and those of the networks
    objectives added to it), with the recipe's settings for that player."""
    out = {}
    for name, ps in params.items():
        o = getattr(recipe.train, name)
        out[name] = torch.optim.Adam(ps, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    return out


class Trainer:
    """Trains the three players of a recipe; ``fit`` runs the whole loop with a run directory.

    ``step(x)`` is one iteration of Algorithm 1 and can be used on its own (tests, notebooks).
    """

    def __init__(self, recipe: Recipe, registry=None, device: str | torch.device | None = None,
                 group: distributed.Group | None = None):
        self.recipe = recipe
        self.device = torch.device(device) if device is not None else \
            assemble.resolve_device(recipe.device)
        self.group = group or distributed.Group()
        self.device = distributed.device_for(self.group, self.device)
        distributed.check_batch(recipe.train.batch_size, self.group.world)
        self.thread_plan = threads.apply(recipe.train.threads)
        torch.manual_seed(recipe.seed)
        self.registry = registry
        self.data = assemble.build_data(recipe, registry)
        self.models = assemble.build_models(recipe, self.data.sample_shape, registry)
        self.objective = assemble.build_objective(recipe, registry)
        assemble.attach_networks(self.models, self.objective, recipe)
        self.players = self.models.players()
        # every trained network by checkpoint name: the players' and objectives' extras
        self.networks = {k: m for k, (_, m) in self.models.networks().items()}
        self.memory_format = torch.channels_last if recipe.train.channels_last and \
            len(self.data.sample_shape) == 3 else torch.preserve_format
        for module in self.networks.values():
            module.to(self.device, memory_format=self.memory_format).train()
        # the generator samples are drawn from: its weights' moving average (a copy of the
        # plain module, made before compiling), or the generator
        self.ema = GeneratorEMA(self.models.generator, recipe.train.generator_ema) \
            if recipe.train.generator_ema else None
        self._ema_norm_of = None  # (updates, stage) the average's norm statistics belong to
        if recipe.train.compile:
            for module in self.networks.values():
                module.compile()
        self.params = {p: [q for owner, m in self.models.networks().values() if owner == p
                           for q in m.parameters() if q.requires_grad] for p in self.players}
        self.optimizers = make_optimizers(recipe, self.params)
        # what the objective's forward passes go through: the networks, or their DDP wrappers
        self.forward_models = self.models
        if self.group.active:
            wrap = {k: distributed.wrap(m, self.group, self.device, recipe.train.sync_batchnorm,
                                        find_unused=self.models.growth is not None)
                    for k, m in self.networks.items()}
            self.forward_models = Models(wrap["theta"], wrap["phi"], wrap["alpha"], extras={
                n: (p, wrap[f"extra.{n}"]) for n, (p, _) in self.models.extras.items()})
        self.per_example = self._per_example_state()
        self.step_count = 0
        self._events: Events | None = None  # the training events, while fit() runs
        self._started = False  # whether fit() has trained a step (see rundir.restore)
        self.lr_scale = 1.0  # lowered by each divergence rollback
        self.rollbacks = 0  # divergence rollbacks so far, kept in checkpoints across resumes
        self._weights_before: dict[str, torch.Tensor] = {}  # set by step(), read on divergence
        self.set_learning_rates(0)  # a bare step() trains at epoch 0's rates too

    def _per_example_state(self) -> PerExample:
        """Rows kept per training example: the fill of incomplete images' hidden pixels
        (starting at 0, ``fill``) and the objective's own."""
        state = PerExample()
        n = len(self.data.train)
        if self.recipe.data.occlusion is not None:
            if self.models.growth is not None:
                raise GenzooError("data.occlusion does not work with growing networks; drop "
                                  "[data.occlusion] or pick an architecture that does not grow")
            state.add("fill", torch.zeros((n, *self.data.sample_shape)))
        for name, t in self.objective.per_example(n, self.models).items():
            state.add(name, t, "an objective")
        if state and self.group.active:
            raise GenzooError(ONE_PROCESS)
        return state.to(self.device)

    def noise(self, shape, device=None, dtype=None, generator=None) -> torch.Tensor:
        return self.group.noise(shape, device or self.device, dtype, generator)

    # --- one iteration -----------------------------------------------------------------------
    def step(self, x: torch.Tensor, mask: torch.Tensor | None = None,
             index: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One iteration of Algorithm 1 on the real batch ``x``; returns detached metrics.

        Incomplete images come with ``mask`` (True: observed) and their training-set ``index``:
        their hidden pixels are filled with the last reconstruction of that example (0 at
        first), and refilled with this iteration's after the steps (section 4.4)."""
        r = self.recipe
        if mask is not None:
            x = torch.where(mask, x, self.per_example.rows("fill", index))
        s = r.model.s
        if (stage := self.models.set_step(self.step_count)) is not None:
            x = self.models.real_view(x)
            if r.model.s_resolution:
                s *= stage.resolution / r.model.s_resolution
        if self.memory_format is torch.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        z = self.noise((x.shape[0], *self.models.generator.latent_shape))
        d = Draws(self.forward_models, x, z, s, noise=self.noise, index=index,
                  per_example=self.per_example, theta_z_hat=r.train.theta_z_hat,
                  running_stats=r.model.running_stats)
        metrics: dict[str, torch.Tensor] = {}
        order = [p for p in ["alpha", "phi"] + ["theta"] * r.train.theta_steps
                 if self.objective.steps_at(p, self.step_count)]
        checks = []
        # each player's largest weight as the iteration starts (read only if it diverges)
        with torch.no_grad():
            self._weights_before = {
                p: torch.stack(torch._foreach_norm(params, float("inf"))).max()
                for p, params in self.params.items() if params}
        for i, player in enumerate(order):
            with self._autocast():
                terms = self.objective.terms(player, d)
            if not terms:
                continue
            loss = torch.stack([t.float() for t in terms.values()]).sum()
            checks.append((player, loss.detach()))
            if player == "alpha":  # energies the alpha terms computed anyway
                for key in ("f_data", "f_dream"):
                    if d.cached(key) is not None:
                        checks.append(("energy", d.cached(key).detach().mean()))
                        metrics[f"energy/{key}"] = checks[-1][1]
            if f"{player}/loss" not in metrics:  # the first theta-step: the iteration's draws
                metrics[f"{player}/loss"] = loss.detach()
                metrics.update({f"{player}/{n}": v.detach() for n, v in terms.items()})
            opt = self.optimizers[player]
            opt.zero_grad(set_to_none=True)
            # graphs stay until the iteration's last step: later steps reuse forward passes
            loss.backward(inputs=self.params[player], retain_graph=i < len(order) - 1)
            clip = getattr(r.train, player).grad_clip
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(self.params[player], clip)
            opt.step()
            del loss, terms  # the step's graph goes now, not at the next step's assignment
            d.after_step(player)
        if checks:
            self._check_divergence(checks)
        if mask is not None:
            with torch.no_grad(), d.posterior_pass():  # g(z^): not sampling's statistics
                self.per_example.set_rows("fill", index, self.objective.reconstruct(d))
        if self.ema is not None:
            self.ema.update(self.models.generator)
        self.step_count += 1
        return metrics

    def _autocast(self):
        if self.recipe.train.autocast == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _check_divergence(self, checks: list[tuple[str, torch.Tensor]]) -> None:
        """One device sync per iteration: non-finite losses, or energies beyond the bound."""
        values = self.group.mean(torch.stack([v for _, v in checks]))  # all processes agree
        bad = ~torch.isfinite(values)
        bound = self.recipe.train.energy_bound
        if bound > 0:
            is_energy = torch.tensor([k == "energy" for k, _ in checks], device=values.device)
            bad |= is_energy & (values.abs() > bound)
        if not bool(bad.any()):
            return
        i = int(bad.nonzero()[0])
        kind, value = checks[i][0], values[i]
        step = self.step_count + 1
        what = (f"the energy model's mean f is {float(value):.3g}" if kind == "energy" else
                f"the {kind} player's loss is {float(value)}")
        beyond = "" if not torch.isfinite(value) else f", beyond train.energy_bound = {bound:g}"
        player = "alpha" if kind == "energy" else kind
        # a value goes bad in the first loss that reads it, which need not be the player whose
        # step broke it: blame the player whose parameters blew up, when one did
        blown = self.blown_up_players()
        if blown and player not in blown:
            what += f" after the parameters of {' and '.join(blown)} blew up"
            player = blown[0]
        raise DivergenceError(f"training diverged at step {step}: {what}{beyond}", player)

    def blown_up_players(self, limit: float = 1e6) -> list[str]:
        """Players whose weights, as the diverging iteration started, held a value that is
        not finite or beyond ``limit`` in magnitude (no network of genzoo's has weights near
        that after a sane step): the step before broke them."""
        out = []
        for player, top in self._weights_before.items():
            top = float(top)
            if not math.isfinite(top) or top > limit:
                out.append(player)
        return out

    def check_parameters(self) -> None:
        """Never checkpoint a network whose parameters are no longer finite."""
        for player, params in self.params.items():
            if not all(bool(torch.isfinite(p).all()) for p in params):
                raise DivergenceError(f"training diverged at step {self.step_count}: the {player} "
                                      f"player's parameters are not finite", player)

    def set_learning_rates(self, epoch: int) -> None:
        """Each player's rate at ``epoch``: ``lr * lr_decay^epoch``, or ``^(epoch + 1)`` with
        ``train.lr_decay_epoch0`` (the authors' scheduler steps before epoch 0 too)."""
        t = self.recipe.train
        for player, opt in self.optimizers.items():
            lr = getattr(t, player).lr * t.lr_decay ** (epoch + int(t.lr_decay_epoch0))
            lr *= self.lr_scale
            for group in opt.param_groups:
                group["lr"] = lr

    # --- sampling ------------------------------------------------------------------------------
    def fixed_noise(self, n: int) -> torch.Tensor:
        return fixed_noise(self.recipe, self.models, n).to(self.device)

    def real_examples(self, n: int) -> torch.Tensor:
        """``n`` training examples to show beside samples, spread evenly over the training set
        (neighbouring video clips, or crops of one photograph, are much alike)."""
        return spread_samples(self.data.train, n)

    def stage_measurements(self, n: int = 64) -> dict[str, float]:
        """At the end of a growing network's stage: ``stage_measurements`` of the trainer's
        models on its data, with ``n`` samples of the grids' fixed noise (whose first rows
        are the grid's own), drawn from ``sampling_generator``."""
        return stage_measurements(self.models, self.recipe, self.data, self.fixed_noise(n),
                                  n, self.device, generator=self.sampling_generator())

    def sampling_generator(self) -> torch.nn.Module:
        """The generator that grids and measurements draw from: with ``train.generator_ema``
        the moving average, at the live generator's stage, with batch-norm statistics of its
        own weights (``GeneratorEMA.refresh_norm``); else the generator itself."""
        if self.ema is None:
            return self.models.generator
        if self.models.stage is not None:
            self.ema.module.set_stage(self.models.stage)
        if self._ema_norm_of != (self.ema.updates, self.models.stage):  # once per state
            self.ema.refresh_norm(self.models.generator.latent_shape,
                                  self.recipe.train.batch_size, self.recipe.seed + EMA_NORM_SEED)
            self._ema_norm_of = (self.ema.updates, self.models.stage)
        return self.ema.module

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """``g(z)`` for sample grids, in the recipe's ``model.sample_norm`` mode, on the CPU,
        from ``sampling_generator``."""
        return generate(self.sampling_generator(), z, self.recipe.model.sample_norm,
                        batch=max(len(z), 1))

    # --- checkpoints ---------------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {"rng.torch": torch.get_rng_state(), **self.per_example.state_tensors()}
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                out[f"rng.cuda.{i}"] = s
        return out

    def save_checkpoint(self, run_dir: Path) -> Path | None:
        """Write a checkpoint (the main process only; every process checks its parameters)."""
        self.check_parameters()
        if not self.group.is_main:
            return None
        meta = {"recipe_hash": self.recipe.identity_hash(), "arch": self.recipe.model.arch,
                "objective": self.objective.names, "sample_shape": list(self.data.sample_shape),
                "lr_scale": self.lr_scale, "rollbacks": self.rollbacks,
                "rng": host_rng_state(),
                "threads": torch.get_num_threads(), "thread_plan": self.thread_plan.as_dict()}
        modules = dict(self.networks)
        if self.ema is not None:  # ready to sample from: norm statistics of its own weights
            self.models.set_step(max(self.step_count - 1, 0))
            self.sampling_generator()
            modules[EMA] = self.ema.averaged
        path = checkpoint.save(Path(run_dir) / rundir.CHECKPOINTS, self.step_count,
                               modules, self.optimizers, self.state_tensors(), meta,
                               keep=self.recipe.log.keep_checkpoints)
        if self._events is not None:
            self._events.checkpoint(step=self.step_count, path=path)
        return path

    def load_checkpoint(self, ckpt: checkpoint.Checkpoint, restore_training: bool = True) -> None:
        if ckpt.meta.get("recipe_hash") != self.recipe.identity_hash():
            raise GenzooError(f"checkpoint '{ckpt.path}' was written by a different recipe "
                              f"(recipe hash {ckpt.meta.get('recipe_hash')}, this recipe's "
                              f"{self.recipe.identity_hash()}); move the file away or use --force")
        for player, module in self.networks.items():
            try:
                module.load_state_dict(ckpt.module_state(player))
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0]
                raise GenzooError(f"checkpoint '{ckpt.path}' does not fit the {player} network "
                                  f"({first}); use the run's own recipe") from None
        if self.ema is not None:
            try:
                self.ema.load_state_dict(ckpt.module_state(EMA))
                self._ema_norm_of = None
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0]
                raise GenzooError(f"checkpoint '{ckpt.path}' holds no generator average that "
                                  f"fits ({first}); use the run's own recipe") from None
        self.per_example.load(ckpt.tensors, str(ckpt.path))
        if not restore_training:
            return
        for player, opt in self.optimizers.items():
            opt.load_state_dict(ckpt.optimizer_state(player))
        torch.set_rng_state(ckpt.tensors["rng.torch"])
        set_host_rng_state(ckpt.meta.get("rng"))
        self.lr_scale = float(ckpt.meta.get("lr_scale", 1.0))
        kept = ckpt.meta.get("rollbacks", 0)
        self.rollbacks = kept if type(kept) is int and kept >= 0 else 0
        trained_with = ckpt.meta.get("threads")
        if isinstance(trained_with, int) and trained_with != torch.get_num_threads() and \
                self.device.type == "cpu":
            warnings.warn(f"resuming with {torch.get_num_threads()} CPU threads where the run "
                          f"trained with {trained_with}: the sums inside each step then round "
                          f"differently, so the result is no longer bit-identical to an "
                          f"uninterrupted run; set train.threads = {trained_with} to keep it",
                          stacklevel=2)
        if torch.cuda.is_available():
            states = [ckpt.tensors[k] for k in sorted(ckpt.tensors) if k.startswith("rng.cuda.")]
            if len(states) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(states)
        self.step_count = ckpt.step

    # --- the whole run ------------------------------------------------------------------------
    def fit(self, run_dir: Path, resume: bool = False, force: bool = False,
            progress: bool | None = None, console=None) -> dict:
        """Train to ``train.steps`` writing into ``run_dir``; returns the last logged metrics."""
        r = self.recipe
        run_dir = Path(run_dir)
        main = self.group.is_main  # one process writes; all of them train
        if len(self.data.train) < r.train.batch_size:  # known now: before the folder is touched
            raise GenzooError(f"the data set holds {len(self.data.train)} training samples, "
                              f"fewer than one batch of {r.train.batch_size}; lower "
                              f"train.batch_size or use more data")
        lock = None
        if main:
            rundir.check(run_dir, r, resume=resume, force=force)  # before making anything
            lock = rundir.Lock(run_dir)
        try:
            if main:
                rundir.prepare(run_dir, r, resume=resume, force=force)
            try:
                with threads.computing():
                    return self._fit(run_dir, resume, progress, console)
            except BaseException:
                if main and not self._started:  # never trained a step: the old run comes back
                    rundir.restore(run_dir)
                raise
        finally:
            if lock is not None:
                lock.release()

    def _fit(self, run_dir: Path, resume: bool, progress: bool | None, console) -> dict:
        r = self.recipe
        ckpt_dir = run_dir / rundir.CHECKPOINTS
        main = self.group.is_main
        self._started = False
        if main and resume:
            checkpoint.remove_partial_writes(ckpt_dir)
        self.group.barrier()
        pm = (self.registry or plugins.registry()).pm
        events = self._events = Events(pm, RunInfo(r, run_dir, self.models,
                                                   tuple(self.data.sample_shape)), main)
        console = console if main else None
        if resume:
            ckpt = checkpoint.latest(ckpt_dir)
            if ckpt is None and checkpoint.list_checkpoints(ckpt_dir):
                raise GenzooError(f"no usable checkpoint in '{ckpt_dir}' (every one is corrupt); "
                                  f"use --force to start over")
            if ckpt is not None:
                self.load_checkpoint(ckpt)
            elif console is not None:
                console.print(f"[yellow]no checkpoint in '{ckpt_dir}' yet: --resume starts "
                              f"from step 0[/]")
        if console is not None:
            start = f" from step {self.step_count}" if self.step_count else ""
            where = f" x {self.group.world} processes" if self.group.active else ""
            if self.device.type == "cpu":
                p = self.thread_plan
                where += f" ({p.threads} thread{'s' * (p.threads > 1)}: {p.reason})"
            console.print(f"[bold]genzoo[/] {r.name}: objective {'+'.join(self.objective.names)}, "
                          f"arch {r.model.arch}, data {self.data.description or r.data.name} "
                          f"{tuple(self.data.sample_shape)}, {r.train.steps} steps{start} on "
                          f"{self.device}{where} -> {run_dir}")
        if self.step_count >= r.train.steps:
            return {"step": self.step_count}
        events.fit_start(step=self.step_count)
        if r.train.on_divergence == "rollback" and self.step_count == 0:
            self.save_checkpoint(run_dir)  # something to roll back to from the first step on
        noise = self.fixed_noise(r.log.n_samples)
        real = self.real_examples(r.log.n_samples)
        if self.step_count == 0:
            events.samples(step=0, name="data", images=real, real=None)
        real_above = real[:4] if self.data.is_video else None  # Fig. 12: training frames above
        growth = self.models.growth
        stage_ends = {s: f"{res}x{res}" for s, res in growth.stage_ends(r.train.steps)} \
            if growth else {}
        points = growth.stable_points(r.train.steps) if growth else {}
        sharpness_seen: dict[int, dict[int, float]] = {}  # resolution -> {step: sharpness}
        show = (r.log.progress if progress is None else progress) and main
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}  # per metric: a player may step only every k-th iteration
        last_target = None
        last: dict = {}
        batches = None
        t0 = time.perf_counter()
        with _progress(show, r.train.steps, self.step_count, console) as bar, \
                _stop_requests() as stop:
            while self.step_count < r.train.steps:
                if batches is None:
                    train = self.data.train
                    if self.per_example and not isinstance(train, OccludedDataset):
                        train = WithIndex(train)  # the state's rows are found by index
                    sampler, batches = batch_stream(train, r.train.batch_size, r.seed,
                                                    start_step=self.step_count,
                                                    num_workers=r.train.num_workers,
                                                    shard=(self.group.rank, self.group.world))
                self.set_learning_rates(sampler.epoch_of(self.step_count))
                batch = next(batches)
                try:
                    if isinstance(batch, Incomplete):
                        metrics = self.step(*(t.to(self.device, non_blocking=True)
                                              for t in batch))
                    elif isinstance(batch, Example):
                        metrics = self.step(batch.x.to(self.device, non_blocking=True),
                                            index=batch.index.to(self.device))
                    else:
                        metrics = self.step(batch.to(self.device, non_blocking=True))
                    if not self._started:
                        self._started = True
                        if main:
                            rundir.started(run_dir)  # the run --force replaces may go now
                    s = self.step_count
                    final = s == r.train.steps
                    stopping = stop.requested  # read once: a signal may land at any moment
                    if self.group.any(stopping is not None, self.device):  # all stop together
                        stopping = stopping or "SIGTERM"
                    if s % r.log.checkpoint_every == 0 or final or stopping:
                        self.save_checkpoint(run_dir)
                except DivergenceError as exc:
                    failed = self.step_count + 1
                    try:
                        target = self._rollback(exc, ckpt_dir, last_target)
                    except GenzooError:
                        events.divergence(step=failed, reason=exc.reason, rolled_back_to=None)
                        raise
                    events.divergence(step=failed, reason=exc.reason, rolled_back_to=target)
                    last_target = target
                    sums, counts, batches = {}, {}, None
                    bar.update(self.step_count, None)
                    continue
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0) + v
                    counts[k] = counts.get(k, 0) + 1
                if s % r.log.every == 0 or final:
                    means = self.group.mean(torch.stack(list(sums.values()))) / \
                        torch.tensor([counts[k] for k in sums], device=self.device)
                    last = {"step": s, **{k: float(v) for k, v in zip(sums, means)},
                            "time/elapsed_s": round(time.perf_counter() - t0, 3)}
                    events.log(step=s, metrics=last)
                    sums, counts = {}, {}
                    bar.update(s, last)
                if main and (s % r.log.sample_every == 0 or final):
                    events.samples(step=s, name="final" if final else f"step_{s:08d}",
                                   images=self.sample(noise), real=real_above)
                if s in points and main:  # growing: sharpness over each stable phase, whose
                    self.models.set_step(s - 1)  # last point is the stage's end
                    measured = self.stage_measurements() if s in stage_ends else \
                        {"stage/sharpness": stage_sharpness(
                            self.models, self.recipe, self.data, self.fixed_noise(64),
                            self.device, generator=self.sampling_generator())}
                    phase = sharpness_seen.setdefault(points[s], {})
                    phase[s] = measured["stage/sharpness"]  # a replay overwrites
                    events.log(step=s, metrics={"step": s, "stage/sharpness_point": phase[s]})
                if s in stage_ends and main:  # growing: a grid of each resolution as it ends
                    shown = torch.nn.functional.interpolate(  # at the data's size, to compare
                        self.sample(noise), size=tuple(self.data.sample_shape[-2:]))
                    events.stage_end(step=s, resolution=stage_ends[s])
                    seen = torch.tensor(list(phase.values()))
                    events.log(step=s, metrics={
                        "step": s, **measured, "stage/sharpness_mean": float(seen.mean()),
                        "stage/sharpness_sd": float(seen.std()) if len(seen) > 1 else 0.0,
                        "stage/sharpness_points": len(seen)})
                    events.samples(step=s, name=f"stage_{stage_ends[s]}", images=shown,
                                   real=None)
                if final and r.log.interpolation and main:
                    z = interpolation_latents(self.models.generator.latent_shape, 8, 10, r.seed)
                    events.samples(step=s, name="interpolation", images=self.sample(z),
                                   real=None)
                if stopping and not final:
                    events.fit_end(step=s, metrics=last)
                    raise Interrupted(f"stopped at step {s} by {stopping}; checkpoint saved; "
                                      f"continue with: genzoo run RECIPE --resume --out {run_dir}",
                                      int(signal.Signals[stopping]))
        events.fit_end(step=self.step_count, metrics=last)
        return last

    def _rollback(self, exc: DivergenceError, ckpt_dir: Path, last_target: int | None) -> int:
        """Restore the newest good checkpoint before the failure with lower learning rates
        (``train.on_divergence = "rollback"``), or re-raise. Returns the step rolled back to.
        The count of rollbacks travels in the checkpoints: a run killed and resumed between
        rollbacks still stops after ``train.max_rollbacks``."""
        rollbacks = self.rollbacks
        t = self.recipe.train
        if t.on_divergence != "rollback":
            newest = checkpoint.list_checkpoints(ckpt_dir)
            raise DivergenceError(exc.reason, exc.player,
                                  checkpoint.step_of(newest[-1]) if newest else None) from None
        if rollbacks >= t.max_rollbacks:
            raise GenzooError(f"{exc.reason}, still after {rollbacks} rollbacks (train.max_rollbacks); "
                              f"lower the learning rates") from None
        failed = self.step_count + 1
        # failing right after the last rollback target means that checkpoint is itself bad
        limit = last_target if last_target is not None and failed <= last_target + 1 else failed
        ckpt = checkpoint.latest(ckpt_dir, before=limit)
        if ckpt is None:
            raise GenzooError(f"{exc.reason}, and no earlier good checkpoint is left to roll back "
                              f"to; lower the learning rates") from None
        scale = self.lr_scale * t.rollback_lr_factor
        self.load_checkpoint(ckpt)
        self.lr_scale, self.rollbacks = scale, rollbacks + 1
        warnings.warn(f"{exc.reason}; rolled back to step {ckpt.step} ({ckpt.path.name}) with "
                      f"learning rates x{scale:g}", stacklevel=2)
        return ckpt.step


def host_rng_state() -> dict:
    """Python's and NumPy's global RNG states as JSON (plugins may draw from them)."""
    version, state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": [version, list(state), gauss],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}


def set_host_rng_state(rng: dict | None) -> None:
    if not rng:
        return
    version, state, gauss = rng["python"]
    random.setstate((version, tuple(state), gauss))
    kind, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


class _Stop:
    requested: str | None = None


@contextmanager
def _stop_requests():
    """SIGINT/SIGTERM ask the loop to finish its step, checkpoint and stop."""
    stop = _Stop()
    old = {}

    def handler(signum, frame):
        stop.requested = signal.Signals(signum).name

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield stop
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


class _NoBar:
    def update(self, step, metrics):
        pass


@contextmanager
def _progress(show: bool, total: int, start: int, console):
    if not show:
        yield _NoBar()
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    columns = [TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[losses]}")]
    with Progress(*columns, console=console, transient=False) as prog:
        task = prog.add_task("train", total=total, completed=start, losses="")

        class Bar:
            def update(self, step, metrics):
                if metrics is None:
                    prog.update(task, completed=step)
                    return
                parts = [f"{sym} {metrics[f'{p}/loss']:.3g}" for p, sym in
                         (("alpha", "α"), ("phi", "φ"), ("theta", "θ")) if f"{p}/loss" in metrics]
                prog.update(task, completed=step, losses="  ".join(parts))

        yield Bar()


def held_out(models: Models, data, n: int = 64, device: str | torch.device = "cpu"
             ) -> torch.Tensor:
    """The test split's first ``n`` images (else the training set's) at the networks' current
    resolution: what a growing network's stage is measured against."""
    split = data.test if data.test is not None and len(data.test) else data.train
    x = torch.stack([samples_of(split[i]) for i in range(min(n, len(split)))])
    return models.real_view(x.to(device))


def fixed_noise(recipe: Recipe, models: Models, n: int) -> torch.Tensor:
    """The latents of a run's sample grids (their first rows) and stage measurements."""
    g = torch.Generator().manual_seed(recipe.seed + 12345)
    return torch.randn((n, *models.generator.latent_shape), generator=g)


def sharpness(samples: torch.Tensor, real: torch.Tensor) -> float:
    """The samples' mean high-frequency energy over the real images' (1: as detailed)."""
    from genzoo.metrics import high_frequency_energy

    return float(high_frequency_energy(samples.cpu()).mean() /
                 high_frequency_energy(real.cpu()).mean().clamp(min=1e-12))


def stage_sharpness(models: Models, recipe: Recipe, data, noise: torch.Tensor,
                    device: str | torch.device = "cpu", generator=None) -> float:
    """``sharpness`` of the samples of ``noise`` (from ``generator``, by default the models'
    own) against as many ``held_out`` images."""
    g = generator if generator is not None else models.generator
    return sharpness(generate(g, noise, recipe.model.sample_norm, batch=len(noise)),
                     held_out(models, data, len(noise), device))


def stage_measurements(models: Models, recipe: Recipe, data, noise: torch.Tensor, n: int = 64,
                       device: str | torch.device = "cpu", generator=None) -> dict[str, float]:
    """A growing network's measurements at its current resolution: the reconstruction error of
    ``held_out`` images, the mean energy on them, on samples of ``noise`` and on uniform
    noise, the samples' ``sharpness``, and the mean squared difference between the samples
    drawn with the generator's batch-norm running statistics and with each batch's own
    (``norm_gap``; 0 without batch norm; large where the running statistics do not fit the
    prior draws, see ``model.running_stats``). Samples and reconstructions come from
    ``generator``, by default the models' own."""
    from genzoo.metrics import mse_unit_range
    from genzoo.sampling import norm_mode

    x = held_out(models, data, n, device)
    g = generator if generator is not None else models.generator
    e, f = models.encoder, models.energy
    norm = recipe.model.sample_norm
    with torch.no_grad(), norm_mode(e, "batch"), norm_mode(f, "batch"):
        fake = generate(g, noise, norm, batch=len(noise)).to(device)
        recon = generate(g, x, norm, len(x), device, fn=lambda b: g(e(b).mean))
        noise_x = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
        energies = {k: float(f(v.to(device)).mean()) for k, v in
                    (("f_data", x), ("f_samples", fake), ("f_noise", noise_x))}
        other = "batch" if norm == "running" else "running"
        norm_gap = mse_unit_range(fake.cpu(), generate(g, noise, other, len(noise))).mean()
    return {"stage/resolution": int(x.shape[-1]),
            "stage/recon_mse": float(mse_unit_range(x.cpu(), recon).mean()),
            **{f"stage/{k}": v for k, v in energies.items()},
            "stage/sharpness": sharpness(fake, x), "stage/samples": len(noise),
            "stage/norm_gap": float(norm_gap)}


def load_trained(run_dir: Path, device: str | torch.device = "cpu", registry=None,
                 checkpoint: int | None = None, average: bool = True):
    """``(recipe, models, checkpoint)`` of a run directory's newest good checkpoint (or the one
    of step ``checkpoint``), with the networks in eval mode on ``device``. A run trained with
    ``train.generator_ema`` gets its averaged generator (what its grids were drawn from) unless
    ``average`` is False."""
    from genzoo import checkpoint as ckpts

    run_dir = Path(run_dir)
    recipe = rundir.load_recipe(run_dir)
    if checkpoint is None:
        ckpt = ckpts.latest(run_dir / rundir.CHECKPOINTS)
    else:
        sidecar = run_dir / rundir.CHECKPOINTS / f"step_{int(checkpoint):08d}.json"
        if not sidecar.is_file():
            kept = [p.stem.split("_")[1].lstrip("0") or "0"
                    for p in ckpts.list_checkpoints(run_dir / rundir.CHECKPOINTS)]
            raise GenzooError(f"run directory '{run_dir}' holds no checkpoint of step "
                              f"{checkpoint}; it keeps steps {', '.join(kept) or 'none'}")
        ckpt = ckpts.read(sidecar)
    if ckpt is None:
        raise GenzooError(f"run directory '{run_dir}' holds no usable checkpoint; train it "
                          f"first with 'genzoo run'")
    if ckpt.meta.get("recipe_hash") != recipe.identity_hash():
        raise GenzooError(f"checkpoint '{ckpt.path}' was written by a different recipe than "
                          f"'{run_dir / rundir.RECIPE}'")
    models = assemble.build_models(recipe, tuple(ckpt.meta["sample_shape"]), registry)
    averaged = {k.removeprefix("module."): v for k, v in ckpt.module_state(EMA).items()
                if k.startswith("module.")}
    for player, module in models.players().items():
        state = averaged if player == "theta" and average and averaged else \
            ckpt.module_state(player)
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise GenzooError(f"checkpoint '{ckpt.path}' does not fit the {player} network "
                              f"({str(exc).splitlines()[0]})") from None
        module.to(device).eval()
    models.set_step(max(ckpt.step - 1, 0))  # growing nets: the stage of the last step trained
    return recipe, models, ckpt
