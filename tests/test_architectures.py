"""The built-in networks against the paper: layer lists of Tables 4-6 and section 4.1.4."""

import pytest
from torch import nn

from genzoo_dcgan.nets import build_dcgan
from genzoo_texture.nets import build_texture


def convs(module, kind):
    return [
        (m.out_channels, m.kernel_size[0], m.stride[0]) for m in module.modules() if type(m) is kind
    ]


def has_bn(module):
    return any(isinstance(m, nn.BatchNorm2d) for m in module.modules())


# (size, channels): generator convT rows, encoder conv rows, energy conv rows, BN in enc/energy
PAPER = {
    (28, 1): (
        [(1024, 3, 1), (512, 4, 2), (256, 4, 2), (1, 4, 2)],
        [(128, 4, 2), (256, 4, 2), (512, 4, 2), (200, 3, 1)],
        [(128, 4, 2), (256, 4, 2), (512, 4, 2), (1, 3, 1)],
        False,
    ),
    (32, 3): (
        [(512, 4, 1), (512, 4, 2), (256, 4, 2), (128, 4, 2), (3, 3, 1)],
        [(64, 3, 1), (128, 4, 2), (256, 4, 2), (512, 4, 2), (200, 4, 1)],
        [(64, 3, 1), (128, 4, 2), (256, 4, 2), (256, 4, 2), (1, 4, 1)],
        False,
    ),
    (64, 3): (
        [(512, 4, 1), (512, 4, 2), (256, 4, 2), (128, 4, 2), (3, 4, 2)],
        [(64, 4, 2), (128, 4, 2), (256, 4, 2), (512, 4, 2), (200, 4, 1)],
        [(64, 4, 2), (128, 4, 2), (256, 4, 2), (256, 4, 2), (1, 4, 1)],
        True,
    ),
}


@pytest.mark.parametrize("size,c", list(PAPER))
def test_dcgan_follows_the_appendix_tables(size, c):
    gen, enc, en, bn = PAPER[(size, c)]
    m = build_dcgan((c, size, size))
    assert convs(m.generator, nn.ConvTranspose2d) == gen
    assert convs(m.encoder, nn.Conv2d) == enc
    assert convs(m.energy, nn.Conv2d) == en
    assert has_bn(m.generator) and has_bn(m.encoder) == bn and has_bn(m.energy) == bn
    z = m.generator.sample_latent(2)
    assert z.shape == (2, 100)
    x = m.generator(z)
    assert x.shape == (2, c, size, size) and x.abs().max() <= 1
    q = m.encoder(x)
    assert q.mean.shape == (2, 100) and q.log_std.shape == (2, 100)
    assert m.energy(x).shape == (2,)


def test_dcgan_width_and_bad_sizes():
    m = build_dcgan((1, 28, 28), width=0.25, latent_dim=16)
    assert convs(m.generator, nn.ConvTranspose2d)[0] == (256, 3, 1)
    assert m.generator.latent_shape == (16,)
    with pytest.raises(ValueError, match="28x28, 32x32 or 64x64"):
        build_dcgan((3, 48, 48))


def test_texture_nets_follow_section_4_1_4():
    m = build_texture((3, 224, 224))
    assert m.generator.latent_shape == (5, 7, 7)
    assert convs(m.generator, nn.ConvTranspose2d) == [
        (512, 4, 2),
        (512, 4, 2),
        (256, 4, 2),
        (128, 4, 2),
        (3, 4, 2),
    ]
    assert convs(m.encoder, nn.Conv2d) == [
        (128, 4, 2),
        (256, 4, 2),
        (512, 4, 2),
        (512, 4, 2),
        (10, 4, 2),
    ]
    assert convs(m.energy, nn.Conv2d) == [(100, 7, 2), (70, 7, 2), (30, 5, 1)]
    small = build_texture((1, 64, 64), width=0.25)
    z = small.generator.sample_latent(3)
    assert z.shape == (3, 5, 2, 2)
    x = small.generator(z)
    assert x.shape == (3, 1, 64, 64)
    q = small.encoder(x)
    assert q.mean.shape == z.shape and q.log_std.shape == z.shape
    assert small.energy(x).shape == (3,)
    with pytest.raises(ValueError, match="multiples of 32"):
        build_texture((1, 48, 48))


def test_a_smooth_energy_has_a_gradient_without_jumps():
    """energy_activation = "silu": only the energy's hidden activations change, and f is
    smooth. Along a line, N steps of dt move a smooth f's gradient by ~H v dt each, so the sum
    of their squares shrinks 100x when the segment (and dt) shrinks 10x; a piecewise-linear f
    (the paper's leaky ReLU) moves its gradient only by jumps at the kinks crossed, whose
    number (and so the sum) shrinks only 10x."""
    import torch

    torch.manual_seed(0)
    smooth = build_dcgan((1, 28, 28), width=0.125, energy_activation="silu")
    plain = build_dcgan((1, 28, 28), width=0.125)
    kinds = (nn.SiLU, nn.LeakyReLU)
    acts = lambda m: {type(a) for a in m.modules() if isinstance(a, kinds)}  # noqa: E731
    assert acts(smooth.energy) == {nn.SiLU} and acts(plain.energy) == {nn.LeakyReLU}
    assert acts(smooth.encoder) == acts(plain.encoder) == {nn.LeakyReLU}
    x, v = torch.rand(1, 1, 28, 28) * 2 - 1, torch.randn(1, 1, 28, 28)

    def moved(model, length):
        ts = torch.linspace(0, length, 201).view(-1, 1, 1, 1)
        pts = (x + ts * v).requires_grad_(True)
        (g,) = torch.autograd.grad(model.energy.eval()(pts).sum(), pts)
        return float((g.flatten(1).double().diff(dim=0).norm(dim=1) ** 2).sum())

    assert moved(smooth, 0.1) / moved(smooth, 1.0) < 0.02  # 0.01 for a smooth f
    assert moved(plain, 0.1) / moved(plain, 1.0) > 0.05  # 0.1: jumps at kinks
