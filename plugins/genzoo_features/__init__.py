"""Feature networks for sample-quality metrics: a small classifier genzoo trains itself
(FD-<dataset>), and the pytorch-fid-compatible Inception-v3 for real FID/IS."""

from genzoo import hookimpl

from genzoo_features.classifier import build_classifier


@hookimpl
def register_feature_networks(register):
    register("classifier", build_classifier)
