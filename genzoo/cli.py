"""The ``genzoo`` command line: run, sample, plugins."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import click

from genzoo.errors import GenzooError


def _warn_line(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="genzoo")
def cli():
    """genzoo: train, sample and compare generative models (divergence triangle and friends)."""


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, e.g. --set train.steps=200 (repeatable).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run directory (default: runs/<recipe name>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--force", is_flag=True, help="Start over in a run directory that holds a run.")
@click.option("--device", default=None, help="Override the recipe's device (auto|cpu|cuda).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--nproc", default=1, show_default=True, type=click.IntRange(min=1),
              help="Train on N processes of this machine with DistributedDataParallel "
                   "(runs torchrun; across machines, launch torchrun yourself).")
def run(recipe, overrides, out, resume, force, device, quiet, nproc):
    """Train the models a RECIPE (a TOML file) describes."""
    import os

    from rich.console import Console

    from genzoo import distributed
    from genzoo import recipe as recipe_mod
    from genzoo.assemble import resolve_device
    from genzoo.trainer import ONE_PROCESS, Trainer

    if resume and force:
        raise GenzooError("--resume and --force contradict each other; pass one of them")
    if device:
        overrides = (*overrides, f"device={device!r}".replace("'", '"'))
    r = recipe_mod.load(recipe, overrides)
    run_dir = out or Path("runs") / r.name
    _RUN_DIR.append(Path(run_dir))
    if nproc > 1:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise GenzooError("--nproc under torchrun: torchrun already started the processes; "
                              "drop --nproc")
        # bad input gets its one-line error here, before any process starts
        from genzoo import rundir

        distributed.check_batch(r.train.batch_size, nproc)
        rundir.check(run_dir, r, resume, force)
        if Trainer(r, device="cpu").per_example:
            raise GenzooError(ONE_PROCESS)
        raise click.exceptions.Exit(_torchrun(nproc, recipe, overrides, run_dir, resume, force,
                                              quiet))
    console = Console(stderr=True)
    group = distributed.from_environment(resolve_device(r.device))
    try:
        trainer = Trainer(r, group=group)
        last = trainer.fit(run_dir, resume=resume, force=force, progress=not quiet,
                           console=console)
    except BaseException:
        distributed.shutdown(wait=False)  # another process may never get to a barrier
        raise
    distributed.shutdown()
    if group.is_main:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items()
                          if k.endswith("/loss") or k.startswith("energy/"))
        console.print(f"done at step {trainer.step_count}: {shown}")
        console.print(f"samples: {run_dir / 'samples'}   checkpoints: {run_dir / 'checkpoints'}")


def _torchrun(nproc, recipe, overrides, run_dir, resume, force, quiet) -> int:
    """``genzoo run`` again under torchrun on ``nproc`` local processes; its exit code."""
    import re
    import subprocess

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "-m", "genzoo", "run", str(recipe), "--out", str(run_dir)]
    for o in overrides:
        cmd += ["--set", o]
    cmd += [flag for flag, on in (("--resume", resume), ("--force", force), ("--quiet", quiet))
            if on]
    # the processes' own output passes through; torchrun's report of a failed process (a
    # Python traceback) and its log lines are dropped
    launcher_log = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d")  # torchrun's own log lines
    import signal

    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, bufsize=1) as p:
        # SIGTERM/SIGINT to this launcher reach torchrun, which stops its workers
        forward = {s: signal.signal(s, lambda signum, _: p.send_signal(signum))
                   for s in (signal.SIGTERM, signal.SIGINT)}
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


class Finite(click.ParamType):
    """A finite number within ``[low, high]`` (``open_low``: strictly above ``low``): click's
    FloatRange lets NaN through, since every comparison with NaN is false."""

    name = "number"

    def __init__(self, low: float | None = None, open_low: bool = False,
                 high: float | None = None):
        self.low, self.open_low, self.high = low, open_low, high

    def convert(self, value, param, ctx):
        import math

        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.low is not None and (v < self.low or (self.open_low and v == self.low)):
            self.fail(f"{v} must be {'>' if self.open_low else '>='} {self.low}", param, ctx)
        if self.high is not None and v > self.high:
            self.fail(f"{v} must be <= {self.high}", param, ctx)
        return v


POSITIVE, NONNEGATIVE = Finite(0, open_low=True), Finite(0)
SEED = click.IntRange(0, 2**32 - 1)

NORM = click.option("--norm", type=click.Choice(["running", "batch"]), default=None,
                    help="The generator's batch norm: running statistics or each batch's own "
                         "(default: the recipe's model.sample_norm).")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--n", "n", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--out", type=click.Path(path_type=Path), default=Path("samples.png"),
              show_default=True)
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--device", default="cpu", show_default=True)
@click.option("--langevin-steps", default=0, show_default=True, type=click.IntRange(min=0),
              help="Revise the samples by K Langevin steps on the trained energy model.")
@click.option("--step-size", default=0.01, show_default=True, type=POSITIVE,
              help="Langevin step size delta.")
@click.option("--reference-sigma", default=0.0, show_default=True,
              type=NONNEGATIVE, help="Reference Gaussian of the energy (0: none).")
@NORM
def sample(run_dir, n, out, seed, device, langevin_steps, step_size, reference_sigma, norm):
    """Draw N samples from the generator of a trained RUN_DIR (or an exported model folder)
    into a PNG grid (clips: an animated GIF and a frame strip beside it)."""
    _RUN_DIR.append(Path(run_dir))
    from genzoo.api import load
    from genzoo.images import save_samples

    model = load(run_dir, device)
    model.norm = norm or model.norm
    x = model.sample(n, seed)
    if langevin_steps:
        x = model.langevin(x, langevin_steps, step_size, reference_sigma, seed=seed)
    written = save_samples(x, out.with_suffix(""))
    if not written:
        raise GenzooError(f"the generator of '{run_dir}' makes samples of shape "
                          f"{tuple(x.shape[1:])}, neither images (C, H, W) nor clips "
                          f"(C, T, H, W); there is no picture to draw")
    out = ", ".join(str(p) for p in written)
    click.echo(f"{n} samples from step {model.step} -> {out}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--n", "n", default=2000, show_default=True, type=click.IntRange(min=2),
              help="Starting points.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: RUN_DIR/landscape).")
@click.option("--start", type=click.Choice(["data", "samples"]), default="data",
              show_default=True, help="Start from held-out data or from generated samples.")
@click.option("--eta", default=0.01, show_default=True, type=POSITIVE, help="Descent step size.")
@click.option("--max-steps", default=300, show_default=True, type=click.IntRange(min=1))
@click.option("--grad-tol", default=1e-3, show_default=True, type=NONNEGATIVE)
@click.option("--energy-tol", default=1e-5, show_default=True, type=NONNEGATIVE)
@click.option("--same-tol", default=1e-3, show_default=True, type=NONNEGATIVE,
              help="Minima closer than this (RMS per pixel) are the same minimum.")
@click.option("--threshold", default=None, type=Finite(),
              help="Barrier under which minima share a basin (default: set by --basins).")
@click.option("--basins", "n_basins", default=20, show_default=True, type=click.IntRange(min=1),
              help="Without --threshold: cut the merge tree where this many basins remain.")
@click.option("--neighbours", default=10, show_default=True, type=click.IntRange(min=1),
              help="Barriers are computed to this many nearest minima (plus what connects).")
@click.option("--grid", default=32, show_default=True, type=click.IntRange(min=2),
              help="Points on each straight path.")
@click.option("--min-size", default=4, show_default=True, type=click.IntRange(min=1),
              help="Smallest basin drawn.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--device", default="cpu", show_default=True)
def landscape(run_dir, n, out, start, eta, max_steps, grad_tol, energy_tol, same_tol, threshold,
              n_basins, neighbours, grid, min_size, seed, device):
    """Map the energy landscape of a trained RUN_DIR: minima, barriers, basins (section 4.3)."""
    _RUN_DIR.append(Path(run_dir))
    from genzoo.landscape_report import run_landscape

    run_landscape(run_dir, out or Path(run_dir) / "landscape", n=n, start=start, eta=eta,
                  max_steps=max_steps, grad_tol=grad_tol, energy_tol=energy_tol,
                  same_tol=same_tol, threshold=threshold, n_basins=n_basins,
                  neighbours=neighbours, grid=grid,
                  min_size=min_size, seed=seed, device=device)


@cli.command(name="eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--n", "n", default=10000, show_default=True, type=click.IntRange(min=2),
              help="Held-out images (and as many samples).")
@click.option("--features", type=click.Path(path_type=Path), default=None,
              help="Feature network (default: the cache's one for the run's data set).")
@click.option("--inception", is_flag=True,
              help="Also FID, KID and IS with the standard Inception-v3 (weights downloaded "
                   "once into the cache, or --inception-weights / GENZOO_INCEPTION_WEIGHTS).")
@click.option("--inception-weights", type=click.Path(path_type=Path), default=None,
              help="torch-fidelity's Inception-v3 weights file (.pth or .safetensors); "
                   "implies --inception.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--device", default="cpu", show_default=True)
@NORM
def evaluate(run_dir, n, features, inception, inception_weights, seed, device, norm):
    """Reconstruction MSE, FD/IS/precision/recall and energy statistics of RUN_DIR; for a run
    on incomplete images also the recovery error (Table 3) and RUN_DIR/recovery.png."""
    _RUN_DIR.append(Path(run_dir))
    from rich.console import Console

    from genzoo.evaluate import evaluate_run, print_report

    console = Console(stderr=True)
    report = evaluate_run(run_dir, n=n, features=features, inception_weights=inception_weights,
                          device=device, seed=seed, console=console, norm=norm,
                          inception=inception)
    print_report(report, console)
    console.print(f"wrote {Path(run_dir) / 'eval.json'}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--n", "n", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="PNG (default: RUN_DIR/reconstructions.png).")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--device", default="cpu", show_default=True)
@NORM
def reconstruct(run_dir, n, out, seed, device, norm):
    """Held-out images (odd rows) above their reconstructions (even rows)."""
    _RUN_DIR.append(Path(run_dir))
    from genzoo.evaluate import reconstruct_grid

    path = reconstruct_grid(run_dir, out or Path(run_dir) / "reconstructions.png", n, seed, device,
                            norm=norm)
    click.echo(f"wrote {path}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--rows", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--steps", default=10, show_default=True, type=click.IntRange(min=2))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="PNG (default: RUN_DIR/interpolations.png).")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--device", default="cpu", show_default=True)
@NORM
def interpolate(run_dir, rows, steps, out, seed, device, norm):
    """Rows of samples along straight lines between two latent vectors."""
    _RUN_DIR.append(Path(run_dir))
    from genzoo.evaluate import interpolate_grid

    path = interpolate_grid(run_dir, out or Path(run_dir) / "interpolations.png", rows, steps,
                            seed, device, norm=norm)
    click.echo(f"wrote {path}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The model folder to write (new or empty).")
@click.option("--checkpoint", type=click.IntRange(min=0), default=None,
              help="The step of the checkpoint to export (default: the newest good one).")
def export(run_dir, out, checkpoint):
    """Write a trained RUN_DIR as a portable model folder (weights, config, recipe, model card
    with a sample grid) that genzoo.load() and the Hugging Face Hub read."""
    _RUN_DIR.append(Path(run_dir))
    from genzoo.api import load

    model = load(run_dir, "cpu", checkpoint=checkpoint)
    folder = model.save(out, run_dir=run_dir)
    click.echo(f"step {model.step} of {run_dir} -> {folder}")


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="HTML file (default: RUN_DIR/report.html for one run, report.html for "
                   "several).")
def report(run_dirs, out):
    """One self-contained HTML page of one or more runs: recipe (differences), loss and energy
    curves, sample grids, pictures and eval results side by side."""
    from genzoo.report import build_report

    _RUN_DIR.append(Path(run_dirs[0]))
    out = out or (Path(run_dirs[0]) / "report.html" if len(run_dirs) == 1 else
                  Path("report.html"))
    click.echo(f"wrote {build_report(list(run_dirs), out)}")


@cli.group()
def features():
    """Feature networks for sample-quality metrics."""


@features.command(name="train")
@click.argument("dataset")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A data set option, e.g. --option root=/data/fmnist (repeatable).")
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(min=1))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Weights file (default: the cache, where 'genzoo eval' looks).")
@click.option("--seed", default=0, show_default=True, type=SEED)
def features_train(dataset, options, epochs, out, seed):
    """Train the classifier whose features define FD-<DATASET> and the IS analogue."""
    from genzoo.features import train_feature_network
    from genzoo.recipe import parse_override

    opts = {}
    for text in options:
        keys, value = parse_override(text)
        opts[".".join(keys)] = value
    meta = train_feature_network(dataset, opts, out, epochs=epochs, seed=seed)
    click.echo(f"test accuracy {meta['test_accuracy']:.4f} -> {meta['path']}")
    if meta["test_accuracy"] < 0.9:
        click.echo("warning: under 90% test accuracy; train longer with --epochs", err=True)


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
    Console().print(table)


def main(argv=None) -> None:
    from genzoo import threads

    threads.decide_before_torch()  # OpenMP reads its wait policy once, as torch loads it
    warnings.showwarning = _warn_line
    threads.apply()  # every command computes with the policy's threads (a recipe may ask more)
    with threads.computing():
        _dispatch(argv)


def _dispatch(argv) -> None:
    """The command, with each kind of failure turned into its exit code and one line."""
    from genzoo.trainer import DivergenceError, Interrupted

    # under torchrun, what every process meets alike is said once, by rank 0
    quiet_rank = int(os.environ.get("RANK", "0")) > 0
    try:
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
    except (OSError, MemoryError, RecursionError) as exc:  # the file system, memory, nesting
        if not quiet_rank:
            click.echo(f"error: {describe_fault(exc)}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the boundary: one line, the traceback in a file
        if _is_data_error(exc):
            if not quiet_rank:
                click.echo(f"error: {describe_fault(exc)}", err=True)
            sys.exit(2)
        if not quiet_rank:
            log = _write_error_log(exc)
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            click.echo(f"internal error: {type(exc).__name__}: {first}; full traceback in {log}",
                       err=True)
        sys.exit(1)
    sys.exit(0)


#: the run directory the command works on, for its error.log (set by the commands)
_RUN_DIR: list[Path] = []


def _is_data_error(exc: BaseException) -> bool:
    """A file's content that cannot be decoded (an image bomb, a torch out-of-memory for an
    absurd size): the input's fault, not genzoo's."""
    try:
        from PIL import Image

        if isinstance(exc, Image.DecompressionBombError):
            return True
    except ImportError:  # pragma: no cover - PIL is a dependency
        pass
    import torch

    return isinstance(exc, torch.OutOfMemoryError)


def describe_fault(exc: BaseException) -> str:
    """One line naming the file and the cause of an OS, memory or decoding failure."""
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return ("out of memory; lower train.batch_size, model.width or the data's size, or "
                "use a device with more memory")
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read (a recipe or file of absurd depth); simplify it"
    if isinstance(exc, OSError):
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        cause = exc.strerror or str(exc) or type(exc).__name__
        return f"cannot use{where}: {cause}; check the path, its permissions and the free space"
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return f"{first}; the file cannot be decoded: replace it"


def _write_error_log(exc: BaseException) -> Path:
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(exc))
    for folder in (*_RUN_DIR[-1:], Path(tempfile.gettempdir())):
        try:
            if Path(folder).is_dir():
                path = Path(folder) / ("error.log" if folder in _RUN_DIR else
                                       f"genzoo-error-{os.getpid()}.log")
                path.write_text(text)
                return path
        except OSError:
            continue
    return Path("(unwritable: " + tempfile.gettempdir() + ")")
