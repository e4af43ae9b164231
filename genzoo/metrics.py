"""Sample-quality and reconstruction metrics.

FD (FID on Inception features), KID and IS are torchmetrics' own metric objects, fed by any
feature extractor (:class:`Extractor`: genzoo's trained classifiers or the standard
Inception-v3), so FD-FMNIST and FID are one code path. k-NN precision/recall and
density/coverage on given features, and per-pixel MSE, are written here and tested against
closed forms."""

from __future__ import annotations

import json
from collections.abc import Callable

import torch
from torch import nn


def _kth_radius(x: torch.Tensor, k: int, batch: int = 1024) -> torch.Tensor:
    out = []
    for i in range(0, len(x), batch):
        d = torch.cdist(x[i : i + batch], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(out)


def _covered(
    points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, batch: int = 1024
) -> torch.Tensor:
    out = []
    for i in range(0, len(points), batch):
        d = torch.cdist(points[i : i + batch], centres)
        out.append((d <= radii.unsqueeze(0)).any(1))
    return torch.cat(out)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision and recall (Kynkäänniemi et al., 2019): precision is the share
    of generated points inside the real manifold (the union of balls around each real point
    reaching its k-th nearest real neighbour); recall the share of real points inside the
    generated manifold. Mode dropping lowers recall."""
    real, fake = real.double(), fake.double()
    precision = _covered(fake, real, _kth_radius(real, k)).double().mean()
    recall = _covered(real, fake, _kth_radius(fake, k)).double().mean()
    return float(precision), float(recall)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Density and coverage (Naeem et al., 2020) with the k-NN balls of the real points:
    density is the mean number of real balls holding a generated point, over k (about 1 when
    the two sets are alike, above 1 where samples crowd dense regions); coverage the share of
    real balls holding at least one generated point. No maintained package computes these on
    given features (``prdc`` is unmaintained), so they are written here."""
    real, fake = real.double(), fake.double()
    radii = _kth_radius(real, k)
    inside = torch.zeros(len(real), dtype=torch.long)
    hits = 0
    for i in range(0, len(fake), 1024):
        within = torch.cdist(fake[i : i + 1024], real) <= radii.unsqueeze(0)
        hits += int(within.sum())
        inside += within.sum(0)
    return hits / (k * len(fake)), float((inside > 0).double().mean())


def high_frequency_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean squared response of each image (B, C, H, W) to the discrete Laplacian: how much
    fine detail it holds. Blurred images score low; the ratio samples / data is a sharpness
    statistic (1 when samples are as detailed as the data)."""
    k = torch.tensor(
        [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=x.dtype, device=x.device
    )
    c = x.shape[1]
    response = torch.nn.functional.conv2d(x, k.expand(c, 1, 3, 3), groups=c)
    return response.pow(2).flatten(1).mean(1)


def mse_unit_range(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example mean squared error per pixel after mapping [-1, 1] to [0, 1]."""
    return ((x - y) / 2).pow(2).flatten(1).mean(1)


# --- through torchmetrics ------------------------------------------------------------------
#: the feature pairs of the data batches this process has measured (a study measures the same
#: held-out images at every point): (extractor's protocol, batch digest) -> (features, logits)
_REMEMBERED: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
REMEMBERED_KEPT = 256  # batches: two splits of 5000 images in batches of 256 are 40


def _digest(x: torch.Tensor) -> str:
    import hashlib

    t = x.detach().cpu().contiguous()
    return hashlib.blake2b(t.numpy().tobytes() + str((t.dtype, t.shape)).encode()).hexdigest()


class Extractor(nn.Module):
    """Images in [-1, 1] -> features, for torchmetrics' FID, KID and IS as a custom feature
    extractor: genzoo's trained classifiers or the standard Inception-v3. ``pair(x)`` returns
    ``(features, logits)`` of one forward pass; the pair of the batch seen last is kept, so the
    metric objects fed the same batch share one pass, and ``pair(x, remember=True)`` keeps a
    batch's pair for the rest of the process, found again by the batch's contents and the
    extractor's protocol (the data's batches, which every measurement sees again). Runs
    ``net`` on ``device``, returns CPU tensors."""

    def __init__(
        self,
        pair_fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        num_features: int,
        protocol: dict,
        device="cpu",
    ):
        super().__init__()
        self.pair_fn, self.num_features, self.protocol = pair_fn, num_features, protocol
        self.device = torch.device(device)
        self._last: tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]] | None = None

    def pair(self, x: torch.Tensor, remember: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        if self._last is not None and self._last[0] is x:
            return self._last[1]
        key = None
        if remember:
            about = json.dumps(
                {**self.protocol, "device": str(self.device)}, sort_keys=True, default=str
            )
            key = (about, _digest(x))
        if key in _REMEMBERED:
            out = tuple(t.clone() for t in _REMEMBERED[key])
        else:
            with torch.no_grad():
                f, logits = self.pair_fn(x.to(self.device))
            out = (f.float().cpu(), logits.float().cpu())
            if key is not None:
                while len(_REMEMBERED) >= REMEMBERED_KEPT:
                    _REMEMBERED.pop(next(iter(_REMEMBERED)))
                _REMEMBERED[key] = tuple(t.clone() for t in out)
        self._last = (x, out)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pair(x)[0]


class LogitsOf(nn.Module):
    """The class logits of an :class:`Extractor` (torchmetrics' IS takes logits)."""

    def __init__(self, extractor: Extractor):
        super().__init__()
        self.extractor = extractor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extractor.pair(x)[1]


def sample_quality(
    extractor: Extractor,
    real: torch.Tensor,
    fake: torch.Tensor,
    batch: int = 256,
    k: int = 3,
    pr_max: int = 5000,
    kid_subset: int = 1000,
    kid_subsets: int = 100,
    seed: int = 0,
    progress=None,
    remember: bool = False,
) -> dict:
    """FD (FID with Inception features), KID and IS by torchmetrics, with k-NN precision /
    recall and density / coverage, of ``fake`` against ``real`` images in [-1, 1]; with
    ``remember``, the real batches' features are kept for the process (``Extractor.pair``)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    n = min(len(real), len(fake))
    subset = min(kid_subset, n)
    fid = FrechetInceptionDistance(feature=extractor, normalize=False)
    kid = KernelInceptionDistance(
        feature=extractor, subsets=kid_subsets, subset_size=subset, normalize=False
    )
    splits = 10 if len(fake) >= 1000 else 1
    inception_score = InceptionScore(feature=LogitsOf(extractor), splits=splits, normalize=False)
    feats = {True: [], False: []}
    for is_real, images in ((True, real), (False, fake)):
        task = (
            progress.add_task(f"features of {'data' if is_real else 'samples'}", total=len(images))
            if progress is not None
            else None
        )
        for i in range(0, len(images), batch):
            b = images[i : i + batch]
            feats[is_real].append(extractor.pair(b, remember=remember and is_real)[0])
            fid.update(b, real=is_real)
            kid.update(b, real=is_real)
            if not is_real:
                inception_score.update(b)
            if task is not None:
                progress.advance(task, len(b))
    fr, ff = torch.cat(feats[True]), torch.cat(feats[False])
    with torch.random.fork_rng():  # KID and IS draw subsets: seeded, without side effects
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
        is_mean, is_std = inception_score.compute()
    p, r = precision_recall(fr[:pr_max], ff[:pr_max], k)
    d, c = density_coverage(fr[:pr_max], ff[:pr_max], k)
    return {
        "fd": float(fid.compute()),
        "kid": float(kid_mean),
        "kid_std": float(kid_std),
        "is": float(is_mean),
        "is_std": float(is_std),
        "precision": p,
        "recall": r,
        "density": d,
        "coverage": c,
        "k": k,
        "protocol": {
            **extractor.protocol,
            "n_real": len(real),
            "n_fake": len(fake),
            "kid_subset_size": subset,
            "kid_subsets": kid_subsets,
            "is_splits": splits,
            "pr_max": pr_max,
            "library": f"torchmetrics {_version('torchmetrics')}",
        },
    }


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)
