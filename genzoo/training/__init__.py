"""Training: the :class:`Trainer` (``fit.py``) and what it is made of: the players' networks,
optimisers and learning rates (``players.py``), one iteration of Algorithm 1 and the divergence
guard (``step.py``), checkpoints and resume (``resume.py``), a growing network's stage
measurements (``stages.py``), the progress bar and signals (``controls.py``), several processes
(``distributed.py``), the generator's moving average (``ema.py``) and ``genzoo.train``
(``run.py``). ``Trainer`` loads on first use, so that importing one of these modules does not
import them all."""

import importlib

__all__ = ["Trainer"]


def __getattr__(name: str):
    if name == "Trainer":
        return importlib.import_module("genzoo.training.fit").Trainer
    raise AttributeError(f"module 'genzoo.training' has no attribute {name!r}")
