"""One iteration of Algorithm 1: an alpha-step, a phi-step and ``train.theta_steps`` theta-steps
on one batch, and the divergence guard that checks the iteration's losses and energies."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from genzoo.errors import GenzooError
from genzoo.objective import Draws
from genzoo.per_example import PerExample
from genzoo.training.players import Team, blown_up


class DivergenceError(GenzooError):
    """A loss or an energy became non-finite or left ``train.energy_bound``."""

    def __init__(self, reason: str, player: str, kept: int | None = -1):
        self.reason, self.player = reason, player
        where = (
            "the last good checkpoint is kept"
            if kept == -1
            else "no checkpoint had been written yet"
            if kept is None
            else f"the checkpoint of step {kept} is kept"
        )
        super().__init__(
            f'{reason}; lower train.{player}.lr, or set train.on_divergence = "rollback"; {where}'
        )


class RollbacksExhausted(DivergenceError):
    """Training diverged and no rollback is left to try (``train.max_rollbacks`` spent, or no
    good checkpoint before the failure)."""

    def __init__(self, message: str, reason: str, player: str):
        self.reason, self.player = reason, player
        GenzooError.__init__(self, message)


def iteration(
    team: Team,
    x: torch.Tensor,
    step: int,
    noise,
    group,
    per_example: PerExample,
    mask: torch.Tensor | None = None,
    index: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Iteration ``step`` (0-based) of Algorithm 1 on the real batch ``x``; returns detached
    metrics. Incomplete images come with ``mask`` (True: observed) and their training-set
    ``index``: their hidden pixels are filled with the last reconstruction of that example (0
    at first), and refilled with this iteration's after the steps (section 4.4)."""
    r, models, objective = team.recipe, team.models, team.objective
    if mask is not None:
        x = torch.where(mask, x, per_example.rows("fill", index))
    s = r.model.s
    if (stage := models.set_step(step)) is not None:
        x = models.real_view(x)
        if r.model.s_resolution:
            s *= stage.resolution / r.model.s_resolution
    if team.memory_format is torch.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    z = noise((x.shape[0], *models.generator.latent_shape))
    d = Draws(
        team.forward_models,
        x,
        z,
        s,
        noise=noise,
        index=index,
        per_example=per_example,
        theta_z_hat=r.train.theta_z_hat,
        running_stats=r.model.running_stats,
    )
    metrics: dict[str, torch.Tensor] = {}
    order = [
        p for p in ["alpha", "phi"] + ["theta"] * r.train.theta_steps if objective.steps_at(p, step)
    ]
    checks = []
    largest = team.largest_weights()  # as the iteration starts (read only if it diverges)
    for i, player in enumerate(order):
        with autocast(r, x.device):
            terms = objective.terms(player, d)
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
        opt = team.optimizers[player]
        opt.zero_grad(set_to_none=True)
        # graphs stay until the iteration's last step: later steps reuse forward passes
        loss.backward(inputs=team.params[player], retain_graph=i < len(order) - 1)
        clip = getattr(r.train, player).grad_clip
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(team.params[player], clip)
        opt.step()
        del loss, terms  # the step's graph goes now, not at the next step's assignment
        d.after_step(player)
    if checks:
        check_divergence(checks, group, r.train.energy_bound, step + 1, largest)
    if mask is not None:
        with torch.no_grad(), d.posterior_pass():  # g(z^): not sampling's statistics
            per_example.set_rows("fill", index, objective.reconstruct(d))
    if team.ema is not None:
        team.ema.update(models.generator)
    return metrics


def autocast(recipe, device: torch.device):
    if recipe.train.autocast == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def check_divergence(
    checks: list[tuple[str, torch.Tensor]],
    group,
    bound: float,
    step: int,
    largest: dict[str, torch.Tensor],
) -> None:
    """One device sync per iteration: non-finite losses, or energies beyond ``bound``, at
    (1-based) ``step``; ``largest`` are the players' largest weights as the step began."""
    values = group.mean(torch.stack([v for _, v in checks]))  # all processes agree
    bad = ~torch.isfinite(values)
    if bound > 0:
        is_energy = torch.tensor([k == "energy" for k, _ in checks], device=values.device)
        bad |= is_energy & (values.abs() > bound)
    if not bool(bad.any()):
        return
    i = int(bad.nonzero()[0])
    kind, value = checks[i][0], values[i]
    what = (
        f"the energy model's mean f is {float(value):.3g}"
        if kind == "energy"
        else f"the {kind} player's loss is {float(value)}"
    )
    beyond = "" if not torch.isfinite(value) else f", beyond train.energy_bound = {bound:g}"
    player = "alpha" if kind == "energy" else kind
    # a value goes bad in the first loss that reads it, which need not be the player whose
    # step broke it: blame the player whose parameters blew up, when one did
    blown = blown_up(largest)
    if blown and player not in blown:
        what += f" after the parameters of {' and '.join(blown)} blew up"
        player = blown[0]
    raise DivergenceError(f"training diverged at step {step}: {what}{beyond}", player)
