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
    of a Fréchet distance and whose class probabilities give an Inception-Score analogue; or
    ``register(name, genzoo.interfaces.PretrainedFeatures(load))`` for an extractor with
    published weights (``genzoo eval --inception`` asks for the one named ``inception``).
    """


@hookspec
def register_commands(cli):
    """Add subcommands to the ``genzoo`` command line.

    ``cli`` is the ``click.Group`` of ``genzoo``: decorate functions with ``@cli.command()`` (or
    ``@cli.group()``) inside the hook. A command raises ``genzoo.GenzooError`` for bad input: the
    command line prints its one line and exits with code 2. genzoo's own analysis commands
    (``eval``, ``landscape``, ``report``, ...) are a plugin of this hook.
    """


# --- training events ---------------------------------------------------------------------------
# Called on the main process only (one under --nproc), in the order below. ``run`` is a
# genzoo.events.RunInfo: the recipe, the run directory, the models and a ``state`` dict a sink
# may keep its own objects in. genzoo's own metrics log, sample grids and TensorBoard writer are
# plugins of these hooks (genzoo_sinks), registered exactly as a third party's would be.


@hookspec
def on_fit_start(run, step):
    """Training into ``run.dir`` starts (``step`` > 0 when it resumes from a checkpoint)."""


@hookspec
def on_log(run, step, metrics):
    """A logged step: ``metrics`` maps each loss term and energy to its mean over the
    iterations since the last one (the line ``metrics.jsonl`` gets)."""


@hookspec
def on_samples(run, step, name, images, real):
    """A grid of samples to show: ``name`` is ``"data"`` (training examples), ``"step_%08d"``,
    ``"final"``, ``"stage_16x16"`` (a growing network's stage end, upsampled to the data's size)
    or ``"interpolation"`` (rows along straight latent lines); ``images`` in [-1, 1] on the CPU;
    ``real`` holds training clips to show above generated ones (video), else None."""


@hookspec
def on_checkpoint(run, step, path):
    """A checkpoint of ``step`` was written to ``path`` (its weights file)."""


@hookspec
def on_stage_end(run, step, resolution):
    """A growing network finished its stage at ``resolution`` (e.g. ``"16x16"``)."""


@hookspec
def on_divergence(run, step, reason, rolled_back_to):
    """Training diverged at ``step`` (``reason``: the message); ``rolled_back_to`` is the step of
    the checkpoint training goes on from (``train.on_divergence = "rollback"``) or None when the
    run stops."""


@hookspec
def on_fit_end(run, step, metrics):
    """Training ended at ``step`` (done, or stopped by a signal); ``metrics`` as last logged."""
