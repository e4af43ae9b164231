"""genzoo: a plugin-based zoo of generative models built around the divergence triangle.

The core holds the interfaces (:mod:`genzoo.interfaces`), the plugin hooks
(:mod:`genzoo.hookspecs`, :mod:`genzoo.plugins`), the recipe schema (:mod:`genzoo.recipe`),
objective composition (:mod:`genzoo.objective`), the trainer (:mod:`genzoo.trainer`),
checkpoints (:mod:`genzoo.checkpoint`), the Python API (:mod:`genzoo.api`: ``genzoo.train``,
``genzoo.load``) and the command line (:mod:`genzoo.cli`).
No concrete network, objective or data set lives here: those are plugins.
"""

from genzoo.errors import GenzooError
from genzoo.hookspecs import hookimpl
from genzoo.interfaces import Encoder, Energy, Generator, Posterior
from genzoo.api import Model, Run, load, train

__all__ = ["Encoder", "Energy", "Generator", "GenzooError", "Model", "Posterior", "Run",
           "hookimpl", "load", "train"]

__version__ = "0.1.0"
