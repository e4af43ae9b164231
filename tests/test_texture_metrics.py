"""Texture statistics (genzoo.analysis.texture) against images whose answers are known: pure
frequencies, lines of one orientation, and the calibration the texture issue asks for (data
against data near 0, blurred data and data with a checkerboard added far off)."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.analysis import texture


def wave(n: int, size: int, ky: int, kx: int) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    phase = torch.rand(n, 1, 1) * 2 * math.pi
    return torch.cos(2 * math.pi * (ky * y + kx * x) / size + phase)[:, None]


def test_the_spectrum_of_a_pure_frequency_sits_at_that_frequency():
    x = wave(4, 64, 0, 5)
    p = texture.power_spectrum(x)
    assert float(p.sum()) == pytest.approx(1.0)
    assert float(p[0, 5] + p[0, -5]) == pytest.approx(1.0, abs=1e-5)
    assert texture.high_frequency_share(x) == pytest.approx(0.0, abs=1e-6)
    assert texture.nyquist_share(x) == pytest.approx(0.0, abs=1e-6)


def test_a_checkerboard_is_all_nyquist_and_all_high_frequency():
    board = wave(2, 64, 32, 32)  # (-1)^(x+y), the stride-2 artefact in its purest form
    assert texture.nyquist_share(board) == pytest.approx(1.0, abs=1e-5)
    assert texture.high_frequency_share(board) == pytest.approx(1.0, abs=1e-5)
    stripes = wave(2, 64, 0, 32)  # the Nyquist column alone
    assert texture.nyquist_share(stripes) == pytest.approx(1.0, abs=1e-5)


def test_orientations_of_lines_land_in_their_bins():
    vertical = wave(3, 64, 0, 4)  # varies along x: vertical lines, horizontal gradients
    horizontal = wave(3, 64, 4, 0)
    hv, hh = texture.orientation_histogram(vertical), texture.orientation_histogram(horizontal)
    assert float(hv.sum()) == pytest.approx(1.0) and float(hh.sum()) == pytest.approx(1.0)
    bins = len(hv)
    assert int(hv.argmax()) in (bins // 2 - 1, bins // 2)  # gradient angle 0
    assert int(hh.argmax()) in (0, bins - 1)  # gradient angle +-90 degrees
    assert texture.orientation_distance(vertical, horizontal) > 0.9
    assert texture.orientation_distance(vertical, wave(3, 64, 0, 6)) < 0.1


@pytest.fixture(scope="module")
def bricks():
    """Two disjoint sets of 64x64 crops of scikit-image's brick image, in [-1, 1]."""
    from genzoo_datasets.texture_image import texture_image

    torch.manual_seed(0)
    src = texture_image(image="brick", size=64, resize=256, n_crops=64)
    crops = torch.stack([src.train[i] for i in range(len(src.train))])
    return crops[:32], crops[32:]


def test_calibration_data_against_data_blurred_and_checkerboarded(bricks):
    a, b = bricks
    from torchvision.transforms.functional import gaussian_blur

    blurred = gaussian_blur(a, kernel_size=7, sigma=1.5)
    y, x = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    board = (a + 0.15 * ((-1.0) ** (x + y))).clamp(-1, 1)
    hf = texture.high_frequency_share
    assert 0.5 < hf(a) / hf(b) < 2.0  # data against data: alike
    assert hf(blurred) < 0.5 * hf(b)  # blur removes the highest frequencies
    assert texture.nyquist_share(board) > 20 * texture.nyquist_share(b)
    same = texture.gram_distance(a, b)
    assert same < 0.2
    assert texture.gram_distance(board, b) > 2 * same
    assert texture.gram_distance(blurred, b) > 2 * same
    assert texture.orientation_distance(a, b) < 0.1
    report = texture.texture_report(board, b)
    assert report["nyquist_share"] > 20 * report["nyquist_share_data"]


def test_gram_matrices_in_chunks_are_the_mean_over_every_image_and_position():
    x = torch.randn(10, 1, 16, 16, generator=torch.Generator().manual_seed(5))
    net = texture.RandomTextureFeatures(1, width=8)
    # the definition, one image at a time: G = mean over images and positions of f f^T
    per_image = [
        [torch.einsum("chw,dhw->cd", f[0], f[0]) / (f.shape[2] * f.shape[3]) for f in net(im)]
        for im in x.split(1)
    ]
    expected = [sum(layers) / 10 for layers in zip(*per_image)]
    for chunk in (3, 10, 256):
        for got, want in zip(texture.gram_matrices(x, net, chunk=chunk), expected):
            assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gram_statistics_ignore_where_things_are():
    x = wave(4, 32, 3, 2)
    shifted = torch.roll(x, shifts=(7, 11), dims=(2, 3))  # only the borders' padding differs
    other = wave(4, 32, 9, 1)
    assert texture.gram_distance(shifted, x) < 0.1 * texture.gram_distance(other, x)
    assert texture.gram_distance(x, x) == 0.0


def _interior_nyquist(x: torch.Tensor) -> float:
    """Power at the Nyquist frequencies of the interior (borders cut: padding's own pattern)."""
    inner = x[..., 4:-4, 4:-4]
    inner = inner - inner.mean(dim=(-2, -1), keepdim=True)
    signs = torch.ones(inner.shape[-2:])
    signs[1::2] *= -1
    signs[:, 1::2] *= -1
    return float((inner * signs).mean(dim=(-2, -1)).abs().max())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_transposed_convolution_paints_a_checkerboard_and_resize_convolution_does_not(seed):
    from torch import nn

    from genzoo.layers import conv_stack

    torch.manual_seed(seed)
    flat = torch.ones(1, 4, 8, 8)  # a constant input: any pattern in the output is the layer's
    transposed = conv_stack([(3, 4, 2, 1, False)], 4, transpose=True, act=nn.ReLU(), last_act=None)
    resized = conv_stack(
        [(3, 4, 2, 1, False)], 4, transpose=True, act=nn.ReLU(), last_act=None, resize="nearest"
    )
    with torch.no_grad():
        a, b = transposed(flat), resized(flat)
    assert a.shape == b.shape == (1, 3, 16, 16)
    assert _interior_nyquist(a) > 1e-3  # the kernel's taps alternate with the output's parity
    assert _interior_nyquist(b) < 1e-6  # resize then convolve: constant in, constant out


def test_a_texture_run_logs_its_texture_statistics_and_eval_reports_them(tmp_path):
    import json

    from conftest import ROOT

    from genzoo import recipe
    from genzoo.analysis.evaluate import evaluate_run
    from genzoo.training import Trainer

    r = recipe.load(
        ROOT / "recipes" / "dt_texture.toml",
        [
            "train.steps=4",
            "train.batch_size=4",
            "model.width=0.0625",
            "data.size=32",
            "data.n_crops=16",
            'device="cpu"',
            "log.n_samples=4",
            "log.sample_every=2",
            "log.progress=false",
            'model.upsample="nearest"',
        ],
    )
    Trainer(r).fit(tmp_path / "run")
    lines = [json.loads(x) for x in (tmp_path / "run" / "texture.jsonl").read_text().splitlines()]
    assert [x["grid"] for x in lines] == ["step_00000002", "final"]
    assert all(0 <= x["nyquist_share"] <= 1 and x["gram_distance"] >= 0 for x in lines)
    rep = evaluate_run(tmp_path / "run", n=8)
    assert rep["texture"]["high_frequency_share_data"] > 0
