"""genzoo: a plugin-based zoo of generative models built around the divergence triangle.

The core holds the interfaces (:mod:`genzoo.interfaces`), the plugin hooks
(:mod:`genzoo.hookspecs`, :mod:`genzoo.plugins`), the recipe schema (:mod:`genzoo.recipe`),
objective composition (:mod:`genzoo.objective`), the trainer (:mod:`genzoo.trainer`),
checkpoints (:mod:`genzoo.checkpoint`), the Python API (:mod:`genzoo.api`: ``genzoo.train``,
``genzoo.load``) and the command line (:mod:`genzoo.cli`).
No concrete network, objective or data set lives here: those are plugins.

The public names load on first use, so that the command line can set up the process (its
thread policy: :mod:`genzoo.threads`) before torch is imported.
"""

import importlib

__all__ = ["Encoder", "Energy", "Generator", "GenzooError", "Model", "Posterior", "Run",
           "hookimpl", "load", "train"]

__version__ = "0.1.0"

_HOME = {"GenzooError": "genzoo.errors", "hookimpl": "genzoo.hookspecs",
         "Encoder": "genzoo.interfaces", "Energy": "genzoo.interfaces",
         "Generator": "genzoo.interfaces", "Posterior": "genzoo.interfaces",
         "Model": "genzoo.api", "Run": "genzoo.api", "load": "genzoo.api", "train": "genzoo.api"}


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genzoo' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
