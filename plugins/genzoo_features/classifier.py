"""A small convolutional classifier whose 128-d penultimate layer serves as feature space."""

from __future__ import annotations

import torch
from torch import nn

from genzoo.interfaces import FeatureNetwork


class Classifier(FeatureNetwork):
    def __init__(self, channels: int, n_classes: int, width: int = 32, feature_dim: int = 128):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1),
            nn.BatchNorm2d(w),
            nn.ReLU(True),
            nn.Conv2d(w, w, 3, padding=1),
            nn.BatchNorm2d(w),
            nn.ReLU(True),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(True),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(True),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * w, feature_dim),
            nn.ReLU(True),
        )
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


def build_classifier(sample_shape: tuple[int, ...], n_classes: int) -> Classifier:
    """Four 3x3 convolutions and a 128-d feature layer, for small images."""
    if len(sample_shape) != 3:
        raise ValueError(f"the classifier takes images (C, H, W), got {tuple(sample_shape)}")
    return Classifier(sample_shape[0], n_classes)
