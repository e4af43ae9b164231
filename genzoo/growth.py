"""Layer-wise growing (section 4.1.3): the schedule of resolutions and fade-ins, and the real
data at each stage.

An architecture that grows returns its :class:`~genzoo.interfaces.Models` with a
:class:`GrowthSchedule`; its three networks implement ``set_stage(stage)``. The trainer sets
the stage of every iteration from the step count alone (so a resumed run is at the same
stage), and shows the networks the real batch at the stage's resolution, faded in the same way
as the generator's output (as in progressive GANs): during the fade-in of resolution r, real
images are ``(1 - fade) * up(down(x, r/2)) + fade * down(x, r)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Stage:
    """Where growing stands: ``level`` counts doublings from 4x4, ``fade`` is the weight of the
    newest layer (1 once it is fully in)."""

    level: int
    resolution: int
    fade: float = 1.0


class GrowthSchedule:
    """From ``start`` to ``final`` resolution by doubling. The first resolution trains for
    ``stage_steps``; every later one first fades in over ``fade_steps``, then trains for
    ``stage_steps``; the final resolution then stays until the run ends."""

    def __init__(self, start: int, final: int, stage_steps: int, fade_steps: int):
        if start < 4 or final < start or not _power_of_two(start) or not _power_of_two(final):
            raise ValueError(
                f"growing goes from a start resolution >= 4 to the data's size by "
                f"doubling, so both must be powers of two; got {start} -> {final}"
            )
        if stage_steps <= 0 or fade_steps < 0:
            raise ValueError("stage_steps must be positive and fade_steps 0 or more")
        self.start, self.final = start, final
        self.stage_steps, self.fade_steps = stage_steps, fade_steps
        self.first_level = int(math.log2(start // 4))
        self.levels = int(math.log2(final // start))  # doublings after the start

    @property
    def steps_to_final(self) -> int:
        """Steps until the final resolution is fully faded in and has had its stage_steps."""
        return self.stage_steps + self.levels * (self.fade_steps + self.stage_steps)

    def stage_ends(self, run_steps: int = 0) -> list[tuple[int, int]]:
        """``(step, resolution)`` at the end of each resolution's stage. The final resolution
        stays until the run ends, so its stage ends at ``run_steps`` where that is later."""
        out, step = [], self.stage_steps
        out.append((step, self.start))
        for k in range(1, self.levels + 1):
            step += self.fade_steps + self.stage_steps
            out.append((step, self.start << k))
        out[-1] = (max(out[-1][0], run_steps), out[-1][1])
        return out

    def stable_points(self, run_steps: int = 0, k: int = 8) -> dict[int, int]:
        """``{step: resolution}``: ``k`` evenly spaced steps of each resolution's stable phase
        (after its fade-in), the last at its stage's end: where the samples' sharpness is
        measured, so that a stage is judged by more than its last iteration."""
        ends = self.stage_ends(run_steps)
        final_in = self.steps_to_final - self.stage_steps  # the final resolution fully in
        out = {}
        for i, (end, res) in enumerate(ends):
            stable = end - final_in if i == len(ends) - 1 else self.stage_steps
            for j in range(k):
                out[end - (j * stable) // k] = res
        return dict(sorted(out.items()))

    def at(self, step: int) -> Stage:
        """The stage of the iteration that follows ``step`` completed steps."""
        k, rest = 0, step - self.stage_steps
        while rest >= 0 and k < self.levels:
            k += 1
            if rest < self.fade_steps:
                return Stage(self.first_level + k, self.start << k, rest / self.fade_steps)
            rest -= self.fade_steps + self.stage_steps
        return Stage(self.first_level + k, self.start << k, 1.0)


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def downsample(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Average-pool images ``(B, C, H, W)`` to ``resolution`` x ``resolution``."""
    if x.shape[-1] == resolution:
        return x
    return F.adaptive_avg_pool2d(x, resolution)


def upsample(x: torch.Tensor) -> torch.Tensor:
    """Double the size of images by repeating pixels (the inverse of 2x2 average pooling on
    blocky images)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def real_at(x: torch.Tensor, stage: Stage) -> torch.Tensor:
    """The real batch as the networks see it at ``stage``."""
    now = downsample(x, stage.resolution)
    if stage.fade >= 1.0:
        return now
    before = upsample(downsample(now, stage.resolution // 2))
    return before + stage.fade * (now - before)
