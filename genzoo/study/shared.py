"""What every worker of a study reads from its storage: the Optuna studies by name, a setting
computed once by the first worker (the budget, the cells' plan), and the feature network the
study's sample-quality metrics are measured in."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import optuna

from genzoo.study.folder import StudyFolder
from genzoo.study.runs import SAMPLE_QUALITY
from genzoo.study.spec import StudyFile

optuna.logging.set_verbosity(optuna.logging.WARNING)


def name_of(spec: StudyFile, part: str) -> str:
    return f"{spec.title}:{part}"


def computed_once(
    storage, name: str, compute: Callable[[], dict], poll: float = 1.0, patience: float = 900
) -> dict:
    """``compute()`` run by the worker that creates the Optuna study ``name`` and kept in its
    user attributes; the other workers wait for it and read it (and compute it themselves if
    the first one died: nothing written for ``patience`` seconds)."""
    try:
        holder = optuna.create_study(storage=storage, study_name=name)
    except optuna.exceptions.DuplicatedStudyError:
        holder = optuna.load_study(storage=storage, study_name=name)
        start = time.time()
        while "value" not in (attrs := holder.user_attrs):
            if time.time() - max(attrs.get("since", 0.0), start) > patience:
                break
            time.sleep(poll)
        else:
            return attrs["value"]
    holder.set_user_attr("since", time.time())
    value = compute()
    holder.set_user_attr("value", value)
    return holder.user_attrs["value"]


def features_for(spec: StudyFile, folder: StudyFolder) -> Path | None:
    """The feature network of the study's sample-quality metrics: ``evaluate.features``, or one
    trained once into the study folder on the base recipe's data set's training labels."""
    if not SAMPLE_QUALITY & set(spec.evaluate.metrics):
        return None
    if spec.evaluate.features is not None:
        return spec.evaluate.features
    from genzoo import recipe as recipe_mod
    from genzoo.analysis.features import train_feature_network

    r = recipe_mod.load(spec.recipe)
    path = folder.root / "features" / f"{r.data.name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    with folder.locked("features"):
        if not path.exists():
            train_feature_network(r.data.name, dict(r.data.options), path, show_progress=False)
    return path
