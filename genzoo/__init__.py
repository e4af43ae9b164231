"""genzoo: a plugin-based zoo of generative models built around the divergence triangle.

The core holds the contracts (:mod:`genzoo.interfaces`, :mod:`genzoo.hookspecs`,
:mod:`genzoo.objective`, :mod:`genzoo.data`, :mod:`genzoo.events`), the recipe and its schema,
the plugin registry, the assembly of a recipe into objects (:mod:`genzoo.assemble`), shared
tensor tools, the Python API (:mod:`genzoo.api`) and the command line (:mod:`genzoo.cli`).
Three wings stand on it: :mod:`genzoo.training` (the trainer), :mod:`genzoo.store` (what a run
leaves on disk and how it is read back) and :mod:`genzoo.analysis` (evaluation, features,
reports, the energy landscape). No concrete network, objective or data set lives here: those
are plugins.

The public names load on first use, so that the command line can set up the process (its
thread policy: :mod:`genzoo.threads`) before torch is imported.
"""

import importlib

__all__ = [
    "Encoder",
    "Energy",
    "Generator",
    "GenzooError",
    "Model",
    "Posterior",
    "Run",
    "hookimpl",
    "load",
    "train",
]

__version__ = "0.1.0"

_HOME = {
    "GenzooError": "genzoo.errors",
    "hookimpl": "genzoo.hookspecs",
    "Encoder": "genzoo.interfaces",
    "Energy": "genzoo.interfaces",
    "Generator": "genzoo.interfaces",
    "Posterior": "genzoo.interfaces",
    "Model": "genzoo.api",
    "load": "genzoo.api",
    "Run": "genzoo.training.run",
    "train": "genzoo.training.run",
}


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genzoo' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
