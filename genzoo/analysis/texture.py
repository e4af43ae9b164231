"""How much a set of texture samples looks like crops of the training image, without a
download: the power spectrum's highest frequencies (where transposed convolutions leave their
checkerboard), the distribution of local orientations (the structure tensor), and a distance
between Gram matrices of a fixed random convolutional network (Gatys-style texture statistics;
random filters describe textures nearly as well as trained ones, Ustyuzhaninov et al. 2017).

Every function takes gray or colour images ``(N, C, H, W)`` in [-1, 1]; colour is averaged to
gray for the spectrum and the orientations."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _gray(x: torch.Tensor) -> torch.Tensor:
    return x.float().mean(1)  # (N, H, W)


def power_spectrum(x: torch.Tensor) -> torch.Tensor:
    """The images' power spectrum, each image's mean removed, averaged over images; the zero
    frequency at index (0, 0) (``torch.fft`` order), normalised to sum 1."""
    g = _gray(x)
    g = g - g.mean(dim=(1, 2), keepdim=True)
    p = torch.fft.fft2(g).abs().pow(2).mean(0)
    return p / p.sum().clamp(min=1e-30)


def _frequencies(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer frequencies (cycles per image) of each spectrum entry, rows and columns."""
    ky = torch.fft.fftfreq(h) * h
    kx = torch.fft.fftfreq(w) * w
    return ky[:, None].expand(h, w), kx[None, :].expand(h, w)


def high_frequency_share(x: torch.Tensor, fraction: float = 28 / 32) -> float:
    """The share of power at radial frequencies ``|k| >= fraction`` of the Nyquist frequency."""
    p = power_spectrum(x)
    ky, kx = _frequencies(*p.shape)
    radius = torch.sqrt(ky**2 + kx**2)
    return float(p[radius >= fraction * min(p.shape) / 2].sum())


def nyquist_share(x: torch.Tensor) -> float:
    """The share of power on the Nyquist row and column (``|ky|`` or ``|kx|`` = H/2 or W/2):
    where a stride-2 checkerboard puts its energy."""
    p = power_spectrum(x)
    ky, kx = _frequencies(*p.shape)
    on = (ky.abs() == p.shape[0] // 2) | (kx.abs() == p.shape[1] // 2)
    return float(p[on].sum())


def orientation_histogram(x: torch.Tensor, bins: int = 18, sigma: float = 1.5) -> torch.Tensor:
    """The distribution of local orientations: the structure tensor's dominant direction at
    every pixel, weighted by how strongly oriented the pixel is (the eigenvalue difference),
    in ``bins`` bins over [-90, 90) degrees; sums to 1. A texture of vertical lines puts its
    mass in the bin at 0 degrees (gradients horizontal)."""
    g = _gray(x)[:, None]
    gy, gx = g[..., 1:, :-1] - g[..., :-1, :-1], g[..., :-1, 1:] - g[..., :-1, :-1]
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = (kernel[:, None] * kernel[None, :] / kernel.sum() ** 2)[None, None]

    def smooth(v):
        return F.conv2d(v, kernel, padding=radius)

    jxx, jyy, jxy = smooth(gx * gx), smooth(gy * gy), smooth(gx * gy)
    angle = 0.5 * torch.atan2(2 * jxy, jxx - jyy)  # the gradient's direction, in (-pi/2, pi/2]
    weight = torch.sqrt((jxx - jyy) ** 2 + 4 * jxy**2)  # lambda1 - lambda2
    index = ((angle + math.pi / 2) / math.pi * bins).long().clamp(0, bins - 1)
    hist = torch.zeros(bins).index_add_(0, index.flatten(), weight.flatten())
    return hist / hist.sum().clamp(min=1e-30)


def orientation_distance(a: torch.Tensor, b: torch.Tensor, bins: int = 18) -> float:
    """Total variation between two sets' orientation histograms: 0 alike, 1 disjoint."""
    return float(
        0.5 * (orientation_histogram(a, bins) - orientation_histogram(b, bins)).abs().sum()
    )


class RandomTextureFeatures(torch.nn.Module):
    """A fixed random convolutional network (seeded, never trained): three 3x3 convolutions of
    ``width`` filters with ReLU and 2x2 average pooling between them."""

    def __init__(self, channels: int, width: int = 64, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        sizes = [channels, width, width, width]
        self.weights = [
            torch.randn(o, i, 3, 3, generator=g) * math.sqrt(2 / (9 * i))
            for i, o in zip(sizes, sizes[1:])
        ]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, h = [], x.float()
        for i, w in enumerate(self.weights):
            h = F.relu(F.conv2d(h, w, padding=1))
            out.append(h)
            if i + 1 < len(self.weights):
                h = F.avg_pool2d(h, 2)
        return out


def gram_matrices(
    x: torch.Tensor, net: RandomTextureFeatures, chunk: int = 256
) -> list[torch.Tensor]:
    """Each layer's Gram matrix of channel correlations, averaged over positions and images;
    ``chunk`` images at a time (the first layer's features of 10,000 64x64 images alone would
    take 10 GB)."""
    sums: list[torch.Tensor] = []
    with torch.no_grad():
        for part in x.split(chunk):
            grams = [
                torch.einsum("nchw,ndhw->cd", f, f) / (f.shape[2] * f.shape[3]) for f in net(part)
            ]
            sums = grams if not sums else [s + g for s, g in zip(sums, grams)]
    return [s / len(x) for s in sums]


def gram_distance(a: torch.Tensor, b: torch.Tensor, seed: int = 0) -> float:
    """The mean over layers of ``|G_a - G_b|_F / |G_b|_F``, with ``b`` the reference (the
    data): 0 for the same texture statistics."""
    net = RandomTextureFeatures(a.shape[1], seed=seed)
    ga, gb = gram_matrices(a, net), gram_matrices(b, net)
    return float(sum((x - y).norm() / y.norm().clamp(min=1e-30) for x, y in zip(ga, gb)) / len(ga))


def texture_report(samples: torch.Tensor, data: torch.Tensor) -> dict[str, float]:
    """All of the above for ``samples`` against crops of the training image ``data``."""
    return {
        "high_frequency_share": high_frequency_share(samples),
        "high_frequency_share_data": high_frequency_share(data),
        "nyquist_share": nyquist_share(samples),
        "nyquist_share_data": nyquist_share(data),
        "orientation_distance": orientation_distance(samples, data),
        "gram_distance": gram_distance(samples, data),
    }
