"""Feature networks for sample-quality metrics: a small classifier genzoo trains itself
(FD-<dataset>), and the standard Inception-v3 of FID/KID/IS (through torch-fidelity)."""

from genzoo import hookimpl
from genzoo.interfaces import PretrainedFeatures
from genzoo_features.classifier import build_classifier
from genzoo_features.inception import inception_extractor


@hookimpl
def register_feature_networks(register):
    register("classifier", build_classifier)
    register("inception", PretrainedFeatures(inception_extractor))
