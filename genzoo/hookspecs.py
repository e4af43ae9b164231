"""The hooks a genzoo plugin implements. Each hook receives a ``register`` callback.

A plugin module (named in the ``genzoo`` entry-point group of its distribution) implements any
of these with ``@genzoo.hookimpl``::

    from genzoo import hookimpl

    @hookimpl
    def register_architectures(register):
        register("my_net", build_my_net)

The core owns the bookkeeping: names, conflicts between distributions, and which distribution
each name came from (``genzoo plugins`` lists them).
"""

import pluggy

PROJECT = "genzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_architectures(register):
    """Register network families.

    ``register(name, build)``, where ``build(sample_shape, **options) -> genzoo.interfaces.Models``
    builds a Generator, an Encoder and an Energy for samples of ``sample_shape`` (e.g.
    ``(C, H, W)``). ``options`` are the ``[model]`` keys of a recipe other than ``arch``,
    ``s`` and ``init_std``; their names, defaults and type annotations are the recipe's schema.
    """


@hookspec
def register_objectives(register):
    """Register training objectives.

    ``register(name, factory)``, where ``factory(**options) -> genzoo.objective.Objective``
    (usually the Objective subclass itself); options come from the recipe's
    ``[objectives.NAME]`` table. ``register(name, ["a", "b"])`` registers a composition: the sum
    of registered objectives, built exactly as a recipe's ``objective = ["a", "b"]`` is.
    """


@hookspec
def register_datasets(register):
    """Register data sources.

    ``register(name, build)``, where ``build(**options) -> genzoo.data.DataSource``; options come
    from the recipe's ``[data]`` table (other than ``name``). Relative paths in options are
    resolved against the recipe's folder by the core for parameters annotated ``Path``.
    """


@hookspec
def register_feature_networks(register):
    """Register feature networks for sample-quality metrics.

    ``register(name, build)``, where ``build(sample_shape, n_classes) ->
    genzoo.interfaces.FeatureNetwork``: a classifier whose penultimate layer gives the features
    of a Fréchet distance and whose class probabilities give an Inception-Score analogue.
    """
