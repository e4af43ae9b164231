"""The ``genzoo`` command line: ``run``, ``sample``, ``export`` and ``plugins`` here, the
analysis commands (``genzoo.analysis.commands``) and any plugin's through the
``register_commands`` hook, and the boundary that turns every failure into one line."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import click

from genzoo.cli_options import NONNEGATIVE, NORM, POSITIVE, SEED, working_on
from genzoo.errors import GenzooError


def _warn_line(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="genzoo")
def cli():
    """genzoo: train, sample and compare generative models (divergence triangle and friends)."""


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a recipe value, e.g. --set train.steps=200 (repeatable).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Run directory (default: runs/<recipe name>).",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--force", is_flag=True, help="Start over in a run directory that holds a run.")
@click.option("--device", default=None, help="Override the recipe's device (auto|cpu|cuda).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--nproc",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Train on N processes of this machine with DistributedDataParallel "
    "(runs torchrun; across machines, launch torchrun yourself).",
)
def run(recipe, overrides, out, resume, force, device, quiet, nproc):
    """Train the models a RECIPE (a TOML file) describes."""
    import os

    from rich.console import Console

    from genzoo import assemble
    from genzoo import recipe as recipe_mod
    from genzoo.training import Trainer, distributed
    from genzoo.training.fit import ONE_PROCESS

    if resume and force:
        raise GenzooError("--resume and --force contradict each other; pass one of them")
    if device:
        overrides = (*overrides, f"device={device!r}".replace("'", '"'))
    r = recipe_mod.load(recipe, overrides)
    run_dir = out or Path("runs") / r.name
    working_on(run_dir)
    if nproc > 1:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise GenzooError(
                "--nproc under torchrun: torchrun already started the processes; drop --nproc"
            )
        # bad input gets its one-line error here, before any process starts
        from genzoo.store import rundir

        distributed.check_batch(r.train.batch_size, nproc)
        rundir.check(run_dir, r, resume, force)
        if assemble.one_process_only(r):
            raise GenzooError(ONE_PROCESS)
        raise click.exceptions.Exit(
            _torchrun(nproc, recipe, overrides, run_dir, resume, force, quiet)
        )
    console = Console(stderr=True)
    group = distributed.from_environment(assemble.resolve_device(r.device))
    try:
        trainer = Trainer(r, group=group)
        last = trainer.fit(run_dir, resume=resume, force=force, progress=not quiet, console=console)
    except BaseException:
        distributed.shutdown(wait=False)  # another process may never get to a barrier
        raise
    distributed.shutdown()
    if group.is_main:
        shown = ", ".join(
            f"{k} {v:.4g}"
            for k, v in last.items()
            if k.endswith("/loss") or k.startswith("energy/")
        )
        console.print(f"done at step {trainer.step_count}: {shown}")
        console.print(f"samples: {run_dir / 'samples'}   checkpoints: {run_dir / 'checkpoints'}")


def _torchrun(nproc, recipe, overrides, run_dir, resume, force, quiet) -> int:
    """``genzoo run`` again under torchrun on ``nproc`` local processes; its exit code."""
    import re
    import subprocess

    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "genzoo",
        "run",
        str(recipe),
        "--out",
        str(run_dir),
    ]
    for o in overrides:
        cmd += ["--set", o]
    cmd += [
        flag for flag, on in (("--resume", resume), ("--force", force), ("--quiet", quiet)) if on
    ]
    # the processes' own output passes through; torchrun's report of a failed process (a
    # Python traceback) and its log lines are dropped
    launcher_log = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d")  # torchrun's own log lines
    import signal

    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, bufsize=1) as p:
        # SIGTERM/SIGINT to this launcher reach torchrun, which stops its workers
        forward = {
            s: signal.signal(s, lambda signum, _: p.send_signal(signum))
            for s in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            hiding, said = False, set()
            for line in p.stderr:
                hiding = hiding or line.startswith("Traceback") or "ChildFailedError" in line
                if hiding or launcher_log.match(line):
                    continue
                if line.startswith(("error:", "internal error:")):
                    if line in said:  # every process meets it alike: said once
                        continue
                    said.add(line)
                sys.stderr.write(line)
        finally:
            for s, old in forward.items():
                signal.signal(s, old)
    return 2 if p.returncode else 0


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--n", "n", default=64, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("samples.png"), show_default=True
)
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--device", default="cpu", show_default=True)
@click.option(
    "--langevin-steps",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Revise the samples by K Langevin steps on the trained energy model.",
)
@click.option(
    "--step-size", default=0.01, show_default=True, type=POSITIVE, help="Langevin step size delta."
)
@click.option(
    "--reference-sigma",
    default=0.0,
    show_default=True,
    type=NONNEGATIVE,
    help="Reference Gaussian of the energy (0: none).",
)
@NORM
def sample(run_dir, n, out, seed, device, langevin_steps, step_size, reference_sigma, norm):
    """Draw N samples from the generator of a trained RUN_DIR (or an exported model folder)
    into a PNG grid (clips: an animated GIF and a frame strip beside it)."""
    working_on(run_dir)
    from genzoo.api import load
    from genzoo.images import save_samples

    model = load(run_dir, device)
    model.norm = norm or model.norm
    x = model.sample(n, seed)
    if langevin_steps:
        x = model.langevin(x, langevin_steps, step_size, reference_sigma, seed=seed)
    written = save_samples(x, out.with_suffix(""))
    if not written:
        raise GenzooError(
            f"the generator of '{run_dir}' makes samples of shape "
            f"{tuple(x.shape[1:])}, neither images (C, H, W) nor clips "
            f"(C, T, H, W); there is no picture to draw"
        )
    out = ", ".join(str(p) for p in written)
    click.echo(f"{n} samples from step {model.step} -> {out}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="The model folder to write (new or empty).",
)
@click.option(
    "--checkpoint",
    type=click.IntRange(min=0),
    default=None,
    help="The step of the checkpoint to export (default: the newest good one).",
)
@click.option("--force", is_flag=True, help="Replace the exported model already in --out.")
def export(run_dir, out, checkpoint, force):
    """Write a trained RUN_DIR as a portable model folder (weights, config, recipe, model card
    with a sample grid) that genzoo.load() and the Hugging Face Hub read."""
    working_on(run_dir)
    from genzoo.api import load

    model = load(run_dir, "cpu", checkpoint=checkpoint)
    folder = model.save(out, run_dir=run_dir, replace=force)
    click.echo(f"step {model.step} of {run_dir} -> {folder}")


@cli.command()
def plugins():
    """List every registered architecture, objective and data set, and where it came from."""
    from rich.console import Console
    from rich.table import Table

    from genzoo.plugins import KINDS, registry

    reg = registry()
    table = Table(title="genzoo plugins")
    for col in ("kind", "name", "distribution", "what it is"):
        table.add_column(col)
    for kind in KINDS:
        for name in reg.names(kind):
            e = reg.entries[kind][name]
            table.add_row(kind[:-1].replace("_", " "), name, e.dist, e.summary)
    for name, dist, summary in reg.sinks():
        table.add_row("event sink", name, dist, summary)
    for name, dist, summary in reg.command_plugins():
        table.add_row("commands", name, dist, summary)
    Console().print(table)


def main(argv=None) -> None:
    from genzoo import threads

    threads.decide_before_torch()  # OpenMP reads its wait policy once, as torch loads it
    with threads.computing():  # registered from the start: runs started together see each other
        warnings.showwarning = _warn_line
        threads.apply()  # every command computes with the policy's threads (a recipe may ask more)
        _dispatch(argv)


#: the commands defined here; plugins add theirs through register_commands at each start
BUILT_IN = dict(cli.commands)


def add_plugin_commands() -> None:
    """The commands of every plugin of the ``register_commands`` hook (the analysis commands
    are one), on top of the built-in ones."""
    from genzoo.plugins import registry

    cli.commands = dict(BUILT_IN)
    registry().pm.hook.register_commands(cli=cli)


def _dispatch(argv) -> None:
    """The command, with each kind of failure turned into its exit code and one line."""
    from genzoo.faults import describe_fault, write_error_log
    from genzoo.training.controls import Interrupted
    from genzoo.training.step import DivergenceError

    # under torchrun, what every process meets alike is said once, by rank 0
    quiet_rank = int(os.environ.get("RANK", "0")) > 0
    try:
        add_plugin_commands()
        code = cli.main(args=argv, prog_name="genzoo", standalone_mode=False)
        if isinstance(code, int) and code:  # a command's click Exit comes back as its code
            sys.exit(code)
    except Interrupted as exc:
        if not quiet_rank:
            click.echo(str(exc), err=True)
        sys.exit(exc.exit_code)
    except GenzooError as exc:
        if not (quiet_rank and isinstance(exc, DivergenceError)):
            click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:  # a bad option or argument: one line, with the command
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{where}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the boundary: one line, the traceback in a file
        line = describe_fault(exc)  # the input's or the machine's fault, by library family
        if line is not None:
            if not quiet_rank:
                click.echo(f"error: {line}", err=True)
            sys.exit(2)
        if not quiet_rank:
            log = write_error_log(exc)
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            click.echo(
                f"internal error: {type(exc).__name__}: {first}; full traceback in {log}", err=True
            )
        sys.exit(1)
    sys.exit(0)
