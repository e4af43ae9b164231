"""Colour photographs scikit-image ships inside its package, served as random crops."""

from __future__ import annotations

import numpy as np
from PIL import Image
from torch.utils.data import ConcatDataset

from genzoo.data import DataSource
from genzoo.errors import GenzooError, did_you_mean
from genzoo_datasets.pil_images import pil_to_tensor
from genzoo_datasets.texture_image import RandomCrops

# Natural colour photographs of skimage.data that need no download.
BUNDLED = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
           "immunohistochemistry", "retina")


def photos(names: list[str] | None = None, resize: int = 128, size: int = 64,
           n_crops: int = 20000, test_photo: str = "") -> DataSource:
    """Random ``size`` x ``size`` crops of scikit-image's bundled colour photographs, each
    scaled so its shorter side is ``resize`` pixels. ``names``: which photographs (default:
    all of astronaut, coffee, chelsea, rocket, hubble_deep_field, immunohistochemistry,
    retina). ``test_photo``: one of them held out for the test split (none by default)."""
    from skimage import data as skdata

    names = list(names) if names else list(BUNDLED)
    for n in names + ([test_photo] if test_photo else []):
        if n not in BUNDLED:
            raise GenzooError(f"data.names: '{n}' is not a bundled photograph"
                              f"{did_you_mean(n, BUNDLED)}")
    if size <= 0 or n_crops <= 0 or resize < size:
        raise GenzooError(f"data.size and data.n_crops must be positive and data.resize at "
                          f"least data.size, got size {size}, resize {resize}")

    def crops(name: str, n: int, seed: int) -> RandomCrops:
        im = Image.fromarray(np.asarray(getattr(skdata, name)())).convert("RGB")
        w, h = im.size
        k = resize / min(w, h)
        im = im.resize((max(resize, round(w * k)), max(resize, round(h * k))), Image.BICUBIC)
        return RandomCrops(pil_to_tensor(im), size, n, seed=seed)

    train_names = [n for n in names if n != test_photo]
    if not train_names:
        raise GenzooError("data.test_photo leaves no photograph to train on")
    per = max(1, n_crops // len(train_names))
    train = ConcatDataset([crops(n, per, 20190101 + i) for i, n in enumerate(train_names)])
    test = crops(test_photo, 1000, 7) if test_photo else None
    return DataSource(train, (3, size, size), test,
                      description=f"{size}x{size} crops of {len(train_names)} scikit-image "
                                  f"photographs")
