"""DCGAN's objective (Goodfellow et al., 2014; Radford et al., 2016), non-saturating form."""

import torch.nn.functional as F

from genzoo.objective import Draws, Objective, Terms


class GAN(Objective):
    """DCGAN's non-saturating GAN (Goodfellow et al., 2014; Radford et al., 2016).

    The energy network is the discriminator's logit: ``D(x) = sigmoid(f(x))``.

    alpha minimises ``-E_data log D(x) - E_p log(1 - D(x~))`` (``bce.data``, ``bce.dream``);
    theta minimises the non-saturating ``-E_p log D(x~)`` (``nonsaturating``). No inference
    model: phi is not stepped.
    """

    def alpha(self, d: Draws) -> Terms:
        return {
            "bce.data": F.softplus(-d.f_data).mean(),  # -log sigmoid(f)
            "bce.dream": F.softplus(d.f_dream).mean(),
        }  # -log (1 - sigmoid(f))

    def theta(self, d: Draws) -> Terms:
        return {"nonsaturating": F.softplus(-d.f_dream).mean()}
