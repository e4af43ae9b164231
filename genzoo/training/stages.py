"""Measurements of a growing network's stages (section 4.1.3): the sharpness of its samples
over each stable phase, and at each stage's end the reconstruction error, the energies, the
norm gap and a grid at the data's size. :class:`StageMeter` takes them as the loop runs and
hands them to the training events."""

from __future__ import annotations

import torch

from genzoo.data import samples_of
from genzoo.interfaces import Models
from genzoo.metrics import high_frequency_energy, mse_unit_range
from genzoo.recipe import Recipe
from genzoo.sampling import generate, norm_mode


def held_out_images(
    models: Models, data, n: int = 64, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """The first ``n`` images of the held-out split (:meth:`DataSource.held_out`; the
    validation split where there is one, so that training never reads the test split) at the
    networks' current resolution: what a growing network's stage is measured against."""
    split, _ = data.held_out("validation" if data.validation is not None else None)
    x = torch.stack([samples_of(split[i]) for i in range(min(n, len(split)))])
    return models.real_view(x.to(device))


def sharpness(samples: torch.Tensor, real: torch.Tensor) -> float:
    """The samples' mean high-frequency energy over the real images' (1: as detailed)."""
    return float(
        high_frequency_energy(samples.cpu()).mean()
        / high_frequency_energy(real.cpu()).mean().clamp(min=1e-12)
    )


def stage_sharpness(
    models: Models,
    recipe: Recipe,
    data,
    noise: torch.Tensor,
    device: str | torch.device = "cpu",
    generator=None,
) -> float:
    """``sharpness`` of the samples of ``noise`` (from ``generator``, by default the models'
    own) against as many ``held_out_images``."""
    g = generator if generator is not None else models.generator
    return sharpness(
        generate(g, noise, recipe.model.sample_norm, batch=len(noise)),
        held_out_images(models, data, len(noise), device),
    )


def stage_measurements(
    models: Models,
    recipe: Recipe,
    data,
    noise: torch.Tensor,
    n: int = 64,
    device: str | torch.device = "cpu",
    generator=None,
) -> dict[str, float]:
    """A growing network's measurements at its current resolution: the reconstruction error of
    ``held_out_images``, the mean energy on them, on samples of ``noise`` and on uniform
    noise, the samples' ``sharpness``, and the mean squared difference between the samples
    drawn with the generator's batch-norm running statistics and with each batch's own
    (``norm_gap``; 0 without batch norm; large where the running statistics do not fit the
    prior draws, see ``model.running_stats``). Samples and reconstructions come from
    ``generator``, by default the models' own."""
    x = held_out_images(models, data, n, device)
    g = generator if generator is not None else models.generator
    e, f = models.encoder, models.energy
    norm = recipe.model.sample_norm
    with torch.no_grad(), norm_mode(e, "batch"), norm_mode(f, "batch"):
        fake = generate(g, noise, norm, batch=len(noise)).to(device)
        recon = generate(g, x, norm, len(x), device, fn=lambda b: g(e(b).mean))
        noise_x = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
        energies = {
            k: float(f(v.to(device)).mean())
            for k, v in (("f_data", x), ("f_samples", fake), ("f_noise", noise_x))
        }
        other = "batch" if norm == "running" else "running"
        norm_gap = mse_unit_range(fake.cpu(), generate(g, noise, other, len(noise))).mean()
    return {
        "stage/resolution": int(x.shape[-1]),
        "stage/recon_mse": float(mse_unit_range(x.cpu(), recon).mean()),
        **{f"stage/{k}": v for k, v in energies.items()},
        "stage/sharpness": sharpness(fake, x),
        "stage/samples": len(noise),
        "stage/norm_gap": float(norm_gap),
    }


class StageMeter:
    """A growing network's measurements over one run: ``after_step(s)`` takes the sharpness at
    the stable-phase points and, at a stage's end, the stage measurements, the phase's mean and
    spread of sharpness and a grid of the stage at the data's size."""

    def __init__(
        self, team, recipe: Recipe, data, device, events, noise: torch.Tensor, noise64: torch.Tensor
    ):
        self.team, self.recipe, self.data, self.device, self.events = (
            team,
            recipe,
            data,
            device,
            events,
        )
        self.noise, self.noise64 = noise, noise64
        growth = team.models.growth
        self.stage_ends = {s: f"{res}x{res}" for s, res in growth.stage_ends(recipe.train.steps)}
        self.points = growth.stable_points(recipe.train.steps)
        self.seen: dict[int, dict[int, float]] = {}  # resolution -> {step: sharpness}

    def after_step(self, s: int) -> None:
        if s not in self.points:
            return
        team, end = self.team, s in self.stage_ends  # a stable phase's last point is its end
        team.models.set_step(s - 1)
        if end:
            measured = stage_measurements(
                team.models,
                self.recipe,
                self.data,
                self.noise64,
                64,
                self.device,
                team.sampling_generator(),
            )
        else:
            measured = {
                "stage/sharpness": stage_sharpness(
                    team.models,
                    self.recipe,
                    self.data,
                    self.noise64,
                    self.device,
                    team.sampling_generator(),
                )
            }
        phase = self.seen.setdefault(self.points[s], {})
        phase[s] = measured["stage/sharpness"]  # a replay overwrites
        self.events.log(step=s, metrics={"step": s, "stage/sharpness_point": phase[s]})
        if not end:
            return
        shown = torch.nn.functional.interpolate(  # at the data's size, to compare
            team.sample(self.noise), size=tuple(self.data.sample_shape[-2:])
        )
        self.events.stage_end(step=s, resolution=self.stage_ends[s])
        seen = torch.tensor(list(phase.values()))
        self.events.log(
            step=s,
            metrics={
                "step": s,
                **measured,
                "stage/sharpness_mean": float(seen.mean()),
                "stage/sharpness_sd": float(seen.std()) if len(seen) > 1 else 0.0,
                "stage/sharpness_points": len(seen),
            },
        )
        self.events.samples(step=s, name=f"stage_{self.stage_ends[s]}", images=shown, real=None)
