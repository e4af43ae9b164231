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
