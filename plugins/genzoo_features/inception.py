"""Inception-v3 as pytorch-fid builds it (the TensorFlow FID network), for real FID and IS.

The weights are never downloaded: pass the file (pytorch-fid's ``pt_inception-2015-12-05``
state dict, as .safetensors or as a .pth read with ``weights_only=True``). Features are the
2048-d pool3 activations of images resized to 299x299 (bilinear) in [-1, 1], exactly as
pytorch-fid computes them.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE

from genzoo.errors import GenzooError
from genzoo.interfaces import FeatureNetwork


class FIDInceptionA(InceptionA):
    def forward(self, x):
        out = [self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
               self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
               self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))]
        return torch.cat(out, 1)


class FIDInceptionC(InceptionC):
    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            bd = layer(bd)
        out = [self.branch1x1(x), b7, bd,
               self.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))]
        return torch.cat(out, 1)


class FIDInceptionE(InceptionE):
    def __init__(self, in_channels: int, max_pool: bool):
        super().__init__(in_channels)
        self.max_pool = max_pool

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        pool = F.max_pool2d(x, 3, 1, 1) if self.max_pool else \
            F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pool)], 1)


class FIDInception(FeatureNetwork):
    """pool3 features (2048) and 1008-way logits of the FID Inception network."""

    def __init__(self):
        super().__init__()
        net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        net.Mixed_5b = FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = FIDInceptionA(288, pool_features=64)
        net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        net.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        net.Mixed_7c = FIDInceptionE(2048, max_pool=True)
        self.net = net

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        n = self.net
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1,
                      n.Conv2d_3b_1x1, n.Conv2d_4a_3x3, n.maxpool2, n.Mixed_5b, n.Mixed_5c,
                      n.Mixed_5d, n.Mixed_6a, n.Mixed_6b, n.Mixed_6c, n.Mixed_6d, n.Mixed_6e,
                      n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = layer(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.fc(features)


def load_fid_inception(path: Path) -> FIDInception:
    """The FID Inception network with the weights in ``path`` (.safetensors or .pth)."""
    path = Path(path)
    if not path.exists():
        raise GenzooError(f"Inception weights '{path}' do not exist; pass the file of "
                          f"pytorch-fid's pt_inception-2015-12-05 weights (never downloaded)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decode failure means an unusable file
        raise GenzooError(f"cannot read Inception weights '{path}' ({type(exc).__name__}); "
                          f"pass a .safetensors or .pth state dict") from None
    net = FIDInception()
    try:
        net.net.load_state_dict(state)
    except RuntimeError as exc:
        raise GenzooError(f"'{path}' does not hold FID Inception-v3 weights "
                          f"({str(exc).splitlines()[0]})") from None
    return net.eval()
