"""Tensors with one row per training example, kept from iteration to iteration: the current
fill of the hidden pixels of incomplete images (section 4.4) and objectives' own, such as
alternating back-propagation's latent vectors. The trainer checkpoints them with the networks,
so a resumed run continues from the same rows. A tensor with fewer rows than there are examples
is shared among them: example ``i`` uses row ``i mod rows`` (a replay buffer smaller than the
data set)."""

from __future__ import annotations

import torch

from genzoo.errors import GenzooError

PREFIX = "per_example."


class PerExample:
    def __init__(self):
        self.tensors: dict[str, torch.Tensor] = {}

    def __bool__(self) -> bool:
        return bool(self.tensors)

    def add(self, name: str, initial: torch.Tensor, owner: str = "the trainer") -> None:
        if name in self.tensors:
            raise GenzooError(
                f"{owner} keeps a per-example tensor '{name}' that another part of "
                f"the recipe keeps too; keep one of them"
            )
        self.tensors[name] = initial

    def rows(self, name: str, index: torch.Tensor) -> torch.Tensor:
        t = self.tensors[name]
        return t[index.to(t.device) % len(t)]

    def set_rows(self, name: str, index: torch.Tensor, values: torch.Tensor) -> None:
        t = self.tensors[name]
        t[index.to(t.device) % len(t)] = values.detach().to(t.device, t.dtype)

    def to(self, device) -> PerExample:
        self.tensors = {k: v.to(device) for k, v in self.tensors.items()}
        return self

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {PREFIX + k: v for k, v in self.tensors.items()}

    def load(self, tensors: dict[str, torch.Tensor], where: str) -> None:
        for name, t in self.tensors.items():
            saved = tensors.get(PREFIX + name)
            if saved is None or saved.shape != t.shape:
                raise GenzooError(
                    f"checkpoint '{where}' lacks the per-example tensor '{name}' "
                    f"of shape {tuple(t.shape)}; use the run's own recipe"
                )
            t.copy_(saved)
