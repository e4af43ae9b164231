"""Feature networks for sample-quality metrics: a small classifier genzoo trains itself
(FD-<dataset>), and the standard Inception-v3 of FID/KID/IS (through torch-fidelity)."""

from genzoo import hookimpl

from genzoo_features.classifier import build_classifier


@hookimpl
def register_feature_networks(register):
    register("classifier", build_classifier)
