"""The Python API: load what a run trained, and use the three networks (``genzoo.train``, in
:mod:`genzoo.training.run`, trains one).

    import genzoo
    run = genzoo.train("recipes/dt_texture.toml", overrides={"train.steps": 200})
    model = genzoo.load(run)
    x = model.sample(16, seed=0)              # images in [-1, 1]
    z = model.encode(x).mean                   # the posterior q(z|x)
    f = model.energy(x)                        # f(x), one score per image
    x_ref = model.langevin(x, steps=20, step_size=0.01)

The CLI's ``sample``, ``reconstruct``, ``interpolate`` and ``eval`` call these same methods.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from genzoo import sampling
from genzoo.errors import GenzooError
from genzoo.faults import boundary
from genzoo.interfaces import NETWORKS, Models, Posterior
from genzoo.recipe import Recipe


def check_seed(seed) -> int:
    """A seed torch's generators take: an integer in [0, 2**64)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise GenzooError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    return seed


class Model:
    """A trained generator, inference model and energy model (eval mode) with their recipe.

    Every method takes and returns tensors in the data's value range, [-1, 1], shaped
    ``(B, *sample_shape)`` (a single sample without the batch axis is accepted too); latents are
    ``(B, *latent_shape)``. Inputs are checked: a wrong shape, a value outside [-1, 1] or a
    non-finite value is one :class:`GenzooError` line.
    """

    def __init__(
        self,
        recipe: Recipe,
        models: Models,
        sample_shape: tuple[int, ...],
        step: int,
        device: torch.device,
    ):
        self.recipe, self.models, self.step = recipe, models, step
        self.sample_shape, self.device = tuple(sample_shape), torch.device(device)
        #: how the generator's batch norm draws: "running" statistics or each batch's own
        #: ("batch", in batches of the training batch size); the recipe's model.sample_norm
        self.norm = recipe.model.sample_norm
        extras = [m for _, m in models.extras.values()]
        sampler = [m for m in (models.sampler, models.reconstructor) if m is not None]
        for net in (models.generator, models.encoder, models.energy, *extras, *sampler):
            net.to(self.device).eval()

    # --- what it is -------------------------------------------------------------------------
    @property
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(self.models.drawing.latent_shape)

    def __repr__(self) -> str:
        return (
            f"Model({self.recipe.name}: {self.recipe.model.arch}, objective "
            f"{self.recipe.objective}, step {self.step}, samples {self.sample_shape}, "
            f"latents {self.latent_shape}, on {self.device})"
        )

    # --- checks -----------------------------------------------------------------------------
    def _batch(self, t, shape: tuple[int, ...], what: str, bounded: bool) -> torch.Tensor:
        if not torch.is_tensor(t):
            raise GenzooError(f"{what} must be a torch tensor, got {type(t).__name__}")
        if tuple(t.shape) == shape:
            t = t.unsqueeze(0)
        if t.dim() != len(shape) + 1 or tuple(t.shape[1:]) != shape:
            raise GenzooError(
                f"{what} must have shape (B, {', '.join(map(str, shape))}), got {tuple(t.shape)}"
            )
        if len(t) == 0:
            raise GenzooError(f"{what} is an empty batch; pass at least one")
        if not t.is_floating_point():
            raise GenzooError(f"{what} must be floating point in [-1, 1], got {t.dtype}")
        if not bool(torch.isfinite(t).all()):
            raise GenzooError(f"{what} holds NaN or infinite values")
        if bounded and (float(t.min()) < -1 - 1e-6 or float(t.max()) > 1 + 1e-6):
            raise GenzooError(
                f"{what} must lie in [-1, 1] (the data's range), got values in "
                f"[{float(t.min()):.3g}, {float(t.max()):.3g}]; scale images "
                f"with x * 2 - 1 from [0, 1]"
            )
        return t.float()

    def check_images(self, x) -> torch.Tensor:
        return self._batch(x, self.sample_shape, "images", bounded=True)

    def check_latents(self, z) -> torch.Tensor:
        return self._batch(z, self.latent_shape, "latents", bounded=False)

    def needs(self, player: str, what: str) -> None:
        """A clear error where ``what`` needs a network the objective does not use."""
        if not self.models.uses(player):
            raise GenzooError(
                f"{what} needs the {NETWORKS[player][1]} ({player}), and objective "
                f"{self.recipe.objective!r} has none"
            )

    @property
    def sample_batch(self) -> int:
        """The batch samples are drawn in: the training batch for batch statistics."""
        if self.norm not in sampling.NORMS:
            raise GenzooError(
                f"sample normalisation must be one of {', '.join(sampling.NORMS)}, "
                f"got '{self.norm}'"
            )
        return self.recipe.train.batch_size if self.norm == "batch" else 256

    # --- the three networks -----------------------------------------------------------------
    @boundary
    def prior(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` draws of ``z ~ N(0, I)`` (from a generator seeded with ``seed`` if given)."""
        if not isinstance(n, int) or n < 1:
            raise GenzooError(f"n must be a positive integer, got {n!r}")
        g = torch.Generator().manual_seed(check_seed(seed)) if seed is not None else None
        return torch.randn((n, *self.latent_shape), generator=g)

    @boundary
    def decode(self, z) -> torch.Tensor:
        """``g(z)``: latents to samples (the generator's batch norm in ``self.norm`` mode), or
        the objective's own sampler where it has one (an energy model's Langevin chains)."""
        z = self.check_latents(z)
        return sampling.generate(self.models.drawing, z, self.norm, self.sample_batch, self.device)

    @boundary
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` samples ``g(z)``, ``z ~ N(0, I)``."""
        return self.decode(self.prior(n, seed))

    @boundary
    def encode(self, x) -> Posterior:
        """The posterior ``q(z|x)`` (its ``mean`` and ``std``), on the CPU."""
        x = self.check_images(x)
        self.needs("phi", "encode")
        means, log_stds = [], []
        with torch.no_grad():
            for i in range(0, len(x), 256):
                q = self.models.encoder(x[i : i + 256].to(self.device))
                means.append(q.mean.cpu())
                log_stds.append(q.log_std.cpu())
        return Posterior(torch.cat(means), torch.cat(log_stds))

    @boundary
    def reconstruct(self, x) -> torch.Tensor:
        """``g(mean of q(z|x))``: what ``genzoo eval``'s test MSE compares with ``x``."""
        x = self.check_images(x)
        g, e = self.models.generator, self.models.encoder
        fn = self.models.reconstructor  # the objective's own (posterior chains), if it has one
        if fn is None:
            self.needs("phi", "reconstruct")
            fn = lambda b: g(e(b).mean)  # noqa: E731
        return sampling.generate(g, x, self.norm, self.sample_batch, self.device, fn=fn)

    @boundary
    def energy(self, x) -> torch.Tensor:
        """``f(x)`` per example (density ``exp f``: higher is more data-like)."""
        x = self.check_images(x)
        self.needs("alpha", "energy")
        with torch.no_grad():
            return torch.cat(
                [
                    self.models.energy(x[i : i + 256].to(self.device)).cpu()
                    for i in range(0, len(x), 256)
                ]
            )

    @boundary
    def interpolate(self, a, b, steps: int = 10) -> torch.Tensor:
        """Samples along ``(1 - t) a + t b`` for ``steps`` values of t in [0, 1], between two
        latents (or batches of them): shape ``(B * steps, *sample_shape)``, row by row."""
        a, b = self.check_latents(a), self.check_latents(b)
        if a.shape != b.shape or not isinstance(steps, int) or steps < 2:
            raise GenzooError("interpolate takes two latent batches of one shape and steps >= 2")
        t = torch.linspace(0, 1, steps).view(1, steps, *([1] * len(self.latent_shape)))
        z = (1 - t) * a.unsqueeze(1) + t * b.unsqueeze(1)
        return self.decode(z.reshape(-1, *self.latent_shape))

    @boundary
    def langevin(
        self,
        x,
        steps: int = 20,
        step_size: float = 0.01,
        reference_sigma: float = 0.0,
        noise: bool = True,
        seed: int | None = None,
    ) -> torch.Tensor:
        """``x`` revised by ``steps`` Langevin steps on the energy model (the sampler CoopNets
        and ABP train with; ``genzoo.langevin``), kept in [-1, 1]."""
        from genzoo.langevin import langevin

        x = self.check_images(x)
        self.needs("alpha", "langevin")
        if (
            not isinstance(steps, int)
            or steps < 0
            or not step_size > 0
            or not math.isfinite(step_size)
            or not reference_sigma >= 0
        ):
            raise GenzooError(
                "langevin needs steps >= 0, a finite step_size > 0 and reference_sigma >= 0"
            )
        g = (
            torch.Generator(device=self.device).manual_seed(check_seed(seed))
            if seed is not None
            else None
        )
        try:
            out = langevin(
                self.models.energy,
                x.to(self.device),
                steps,
                step_size,
                noise=noise,
                reference_sigma=reference_sigma,
                bounds=(-1.0, 1.0),
                generator=g,
            )
        except OverflowError:  # step_size ** 2 beyond a float
            out = None
        if out is None or not bool(torch.isfinite(out).all()):
            raise GenzooError(
                f"the Langevin steps diverged (step size {step_size:g} is too large for this "
                f"energy); lower step_size"
            )
        return out.cpu()

    @boundary
    def save(
        self, folder: str | Path, run_dir: str | Path | None = None, replace: bool = False
    ) -> Path:
        """Write a portable model folder, new or empty (``replace``: or replace an exported
        model there) (:func:`genzoo.store.model_folder.export_model`)."""
        from genzoo.store.model_folder import export_model

        return export_model(self, Path(folder), run_dir, replace=replace)


@boundary
def load(path, device: str | torch.device = "cpu", checkpoint: int | None = None) -> Model:
    """A :class:`Model` from a run directory (its newest good checkpoint, or the one of step
    ``checkpoint``; a :class:`genzoo.training.run.Run` is one) or from a folder ``genzoo
    export`` wrote."""
    from genzoo.assemble import resolve_device
    from genzoo.store.loading import load_trained
    from genzoo.store.model_folder import is_model_folder, read_model_folder

    path = Path(getattr(path, "dir", path))
    dev = resolve_device(str(device)) if not isinstance(device, torch.device) else device
    if is_model_folder(path):
        if checkpoint is not None:
            raise GenzooError(
                f"'{path}' is an exported model with one set of weights; drop checkpoint"
            )
        recipe, models, sample_shape, step = read_model_folder(path)
        return Model(recipe, models, sample_shape, step, dev)
    if not path.is_dir():
        raise GenzooError(
            f"'{path}' is not a genzoo run directory nor an exported model "
            f"folder; pass the folder 'genzoo run' or 'genzoo export' wrote"
        )
    recipe, models, ckpt = load_trained(path, dev, checkpoint=checkpoint)
    return Model(recipe, models, tuple(ckpt.meta["sample_shape"]), ckpt.step, dev)
