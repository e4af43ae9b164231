"""Colour photographs that installed packages ship (scikit-image's, and the portrait in
matplotlib's sample data), served as random crops."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from PIL import Image
from pydantic import Field
from torch.utils.data import ConcatDataset, Dataset

from genzoo.data import DataSource
from genzoo.errors import GenzooError, did_you_mean
from genzoo_datasets.pil_images import pil_to_tensor
from genzoo_datasets.texture_image import RandomCrops

# Natural colour photographs of skimage.data that need no download, the left view of its
# stereo motorcycle, and matplotlib's sample portrait of Grace Hopper.
BUNDLED = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "motorcycle",
    "grace_hopper",
)


def load_photo(name: str) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 pixels of a bundled photograph."""
    from skimage import data as skdata

    if name == "motorcycle":
        return np.asarray(skdata.stereo_motorcycle()[0])
    if name == "grace_hopper":
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.asarray(Image.open(f).convert("RGB"))
    return np.asarray(getattr(skdata, name)())


def photos(
    names: list[str] | None = None,
    resize: Annotated[int, Field(ge=1, le=65536)] = 128,
    size: Annotated[int, Field(ge=1, le=16384)] = 64,
    n_crops: Annotated[int, Field(ge=1, le=10**8)] = 20000,
    test_photo: str = "",
    labelled: bool = False,
) -> DataSource:
    """Random ``size`` x ``size`` crops of scikit-image's bundled colour photographs, each
    scaled so its shorter side is ``resize`` pixels. ``names``: which photographs (default:
    all of astronaut, coffee, chelsea, rocket, hubble_deep_field, immunohistochemistry,
    retina, motorcycle, grace_hopper). ``test_photo``: one of them held out for the test split
    (none by default). ``labelled``: items are ``(crop, index of its photograph)`` and the
    test split holds crops of the same photographs at other places: what ``genzoo features
    train photos --option labelled=true`` fits the classifier of FD-photos on."""
    names = list(names) if names else list(BUNDLED)
    for n in names + ([test_photo] if test_photo else []):
        if n not in BUNDLED:
            raise GenzooError(
                f"data.names: '{n}' is not a bundled photograph{did_you_mean(n, BUNDLED)}"
            )
    if size <= 0 or n_crops <= 0 or resize < size:
        raise GenzooError(
            f"data.size and data.n_crops must be positive and data.resize at "
            f"least data.size, got size {size}, resize {resize}"
        )

    def scaled(name: str) -> torch.Tensor:
        im = Image.fromarray(load_photo(name)).convert("RGB")
        w, h = im.size
        k = resize / min(w, h)
        im = im.resize((max(resize, round(w * k)), max(resize, round(h * k))), Image.BICUBIC)
        return pil_to_tensor(im)

    def crops(name: str, n: int, seed: int) -> RandomCrops:
        return RandomCrops(scaled(name), size, n, seed=seed)

    train_names = [n for n in names if n != test_photo]
    if not train_names:
        raise GenzooError("data.test_photo leaves no photograph to train on")
    per = max(1, n_crops // len(train_names))
    if labelled:
        if test_photo:
            raise GenzooError(
                "data.labelled labels crops by their photograph, so no "
                "photograph can be held out; drop data.test_photo"
            )
        images = [scaled(n) for n in train_names]  # each photograph read and scaled once
        train = ConcatDataset(
            [
                Labelled(RandomCrops(im, size, per, seed=20190101 + i), i)
                for i, im in enumerate(images)
            ]
        )
        test = ConcatDataset(
            [
                Labelled(RandomCrops(im, size, max(1, per // 5), seed=7 + i), i)
                for i, im in enumerate(images)
            ]
        )
        return DataSource(
            train,
            (3, size, size),
            test,
            description=f"{size}x{size} crops of {len(train_names)} bundled "
            f"photographs, labelled by photograph",
        )
    train = ConcatDataset([crops(n, per, 20190101 + i) for i, n in enumerate(train_names)])
    test = crops(test_photo, 1000, 7) if test_photo else None
    return DataSource(
        train,
        (3, size, size),
        test,
        description=f"{size}x{size} crops of {len(train_names)} bundled photographs",
    )


class Labelled(Dataset):
    """The items of ``data`` paired with one ``label``."""

    def __init__(self, data: Dataset, label: int):
        self.data, self.label = data, label

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data[i], self.label
