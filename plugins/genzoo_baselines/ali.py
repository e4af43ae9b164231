"""Adversarially learned inference: ALI (Dumoulin et al., 2017; Donahue et al., 2017) and ALICE
(Li et al., 2017)."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.interfaces import Encoder, Models
from genzoo.objective import Draws, Objective, Terms


class JointDiscriminator(nn.Module):
    """``D(x, z)``, a logit: an x-branch with the architecture's encoder layout (a fresh copy:
    its ``[mean, log_std]`` output read as 2d features of ``x``), a z-branch MLP and a joint MLP
    on both, with dropout as in ALI's discriminators."""

    def __init__(
        self, x_branch: Encoder, latent_shape: tuple[int, ...], hidden: int, dropout: float
    ):
        super().__init__()
        d = math.prod(latent_shape)
        self.x_branch = x_branch
        self.z_branch = nn.Sequential(
            nn.Linear(d, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
        )
        self.joint = nn.Sequential(
            nn.Linear(2 * d + hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        q = self.x_branch(x)
        h = torch.cat([q.mean.flatten(1), q.log_std.flatten(1), self.z_branch(z.flatten(1))], 1)
        return self.joint(h).squeeze(1)


class ALI(Objective):
    """ALI (Dumoulin et al., 2017): matches the encoder's joint ``q(x, z) = p_data(x) q(z|x)`` with the generator's
    ``p(x, z) = p(z) p(x|z)`` adversarially (the Jensen-Shannon divergence of the two joints).

    A joint discriminator ``D(x, z) = sigmoid(l(x, z))`` (network ``ali_joint`` of player
    alpha) tells ``(x, z^)``, ``z^ ~ q(z|x)``, from ``(x~, z)``, ``x~ = g(z)``. alpha minimises
    ``-log D(x, z^) - log(1 - D(x~, z))`` (``jsd_joint.data``, ``jsd_joint.dream``); phi and
    theta the non-saturating ``-log(1 - D(x, z^))`` and ``-log D(x~, z)``, each the term it
    acts through. The energy network is not used.
    """

    network = "ali_joint"

    def __init__(self, hidden: int = 256, dropout: float = 0.2):
        if hidden < 1 or not 0 <= dropout < 1:
            raise ValueError("ali needs hidden >= 1 and 0 <= dropout < 1")
        self.hidden, self.dropout = hidden, dropout

    def networks(self, models: Models) -> dict[str, tuple[str, nn.Module]]:
        joint = JointDiscriminator(
            copy.deepcopy(models.encoder), models.encoder.latent_shape, self.hidden, self.dropout
        )
        return {self.network: ("alpha", joint)}

    def logit_data(self, d: Draws) -> torch.Tensor:
        """``l(x, z^)`` per example."""
        return d.memo(
            "ali.logit_data",
            ("alpha", "phi"),
            lambda: d.models.extras[self.network][1](d.x, d.z_hat),
        )

    def logit_dream(self, d: Draws) -> torch.Tensor:
        """``l(x~, z)`` per example."""
        return d.memo(
            "ali.logit_dream",
            ("alpha", "theta"),
            lambda: d.models.extras[self.network][1](d.x_tilde, d.z),
        )

    def alpha(self, d: Draws) -> Terms:
        return {
            "jsd_joint.data": F.softplus(-self.logit_data(d)).mean(),  # -log D
            "jsd_joint.dream": F.softplus(self.logit_dream(d)).mean(),
        }  # -log (1 - D)

    def phi(self, d: Draws) -> Terms:
        return {"jsd_joint.data": F.softplus(self.logit_data(d)).mean()}

    def theta(self, d: Draws) -> Terms:
        return {"jsd_joint.dream": F.softplus(-self.logit_dream(d)).mean()}


class ALICE(ALI):
    """ALICE (Li et al., 2017): ALI plus a bound on the conditional entropy ``H(x|z)``.

    The bound is the reconstruction error ``E -log p(x|z^) = |x - g(z^)|^2 / (2 s^2)`` (ALICE's
    explicit cycle-consistency, ``cond_entropy``), which phi and theta minimise besides ALI's
    terms.
    As in ALICE's code the error is averaged over the sample's D values (pixels), so it sits on
    the scale of the adversarial terms; ``reconstruction_weight`` multiplies it."""

    def __init__(self, hidden: int = 256, dropout: float = 0.2, reconstruction_weight: float = 1.0):
        super().__init__(hidden, dropout)
        if reconstruction_weight < 0:
            raise ValueError("alice needs reconstruction_weight >= 0")
        self.reconstruction_weight = reconstruction_weight

    def cond_entropy(self, d: Draws) -> torch.Tensor:
        per_value = d.reconstruction_error().mean() / d.x[0].numel()
        return self.reconstruction_weight * per_value

    def phi(self, d: Draws) -> Terms:
        return {**super().phi(d), "cond_entropy": self.cond_entropy(d)}

    def theta(self, d: Draws) -> Terms:
        return {**super().theta(d), "cond_entropy": self.cond_entropy(d)}
