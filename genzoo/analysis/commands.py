"""genzoo's analysis commands: eval, reconstruct, interpolate, landscape, report, features.

A built-in plugin of the ``register_commands`` hook, registered through the same entry-point
group as a third-party package's commands."""

from __future__ import annotations

from pathlib import Path

import click

from genzoo.cli_options import NONNEGATIVE, NORM, POSITIVE, SEED, Finite, working_on
from genzoo.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    @cli.command()
    @click.argument("run_dir", type=click.Path(path_type=Path))
    @click.option(
        "--n",
        "n",
        default=2000,
        show_default=True,
        type=click.IntRange(min=2),
        help="Starting points.",
    )
    @click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=None,
        help="Output folder (default: RUN_DIR/landscape).",
    )
    @click.option(
        "--start",
        type=click.Choice(["data", "samples"]),
        default="data",
        show_default=True,
        help="Start from held-out data or from generated samples.",
    )
    @click.option(
        "--eta", default=0.01, show_default=True, type=POSITIVE, help="Descent step size."
    )
    @click.option("--max-steps", default=300, show_default=True, type=click.IntRange(min=1))
    @click.option(
        "--grad-tol",
        default=1e-3,
        show_default=True,
        type=NONNEGATIVE,
        help="A descent has converged where the gradient's norm inside the pixel box is this "
        "share of its norm at the start (projected), or under this value (steepest).",
    )
    @click.option("--energy-tol", default=1e-5, show_default=True, type=NONNEGATIVE)
    @click.option(
        "--same-tol",
        default=1e-3,
        show_default=True,
        type=NONNEGATIVE,
        help="Minima closer than this (RMS per pixel) are the same minimum.",
    )
    @click.option(
        "--threshold",
        default=None,
        type=Finite(),
        help="Barrier under which minima share a basin (default: set by --basins).",
    )
    @click.option(
        "--basins",
        "n_basins",
        default=20,
        show_default=True,
        type=click.IntRange(min=1),
        help="Without --threshold: cut the merge tree where this many basins remain.",
    )
    @click.option(
        "--neighbours",
        default=10,
        show_default=True,
        type=click.IntRange(min=1),
        help="Barriers are computed to this many nearest minima (plus what connects).",
    )
    @click.option(
        "--grid",
        default=32,
        show_default=True,
        type=click.IntRange(min=2),
        help="Points on each straight path.",
    )
    @click.option(
        "--min-size",
        default=4,
        show_default=True,
        type=click.IntRange(min=1),
        help="Smallest basin drawn.",
    )
    @click.option(
        "--descent",
        "method",
        type=click.Choice(["projected", "steepest"]),
        default="projected",
        show_default=True,
        help="projected: gradient descent in the pixel box with a line search, stopping at a "
        "minimum; steepest: the paper's fixed step --eta.",
    )
    @click.option(
        "--min-converged",
        default=0.9,
        show_default=True,
        type=click.FloatRange(0, 1),
        help="Refuse to map unless this share of the descents reached a minimum.",
    )
    @click.option(
        "--paths", is_flag=True, help="Also relax a string (minimum-energy path) per pair."
    )
    @click.option("--path-images", default=12, show_default=True, type=click.IntRange(min=3))
    @click.option("--path-iterations", default=100, show_default=True, type=click.IntRange(min=1))
    @click.option("--path-step", default=0.01, show_default=True, type=POSITIVE)
    @click.option("--seed", default=0, show_default=True, type=SEED)
    @click.option("--device", default="cpu", show_default=True)
    def landscape(run_dir, out, paths, path_images, path_iterations, path_step, **options):
        """Map the energy landscape of a trained RUN_DIR: minima, barriers, basins (section 4.3)."""
        working_on(run_dir)
        from genzoo.analysis.landscape_command import run_landscape

        run_landscape(
            run_dir,
            out or Path(run_dir) / "landscape",
            paths=(
                {"images": path_images, "iterations": path_iterations, "step": path_step}
                if paths
                else None
            ),
            **options,
        )

    @cli.command(name="eval")
    @click.argument("run_dir", type=click.Path(path_type=Path))
    @click.option(
        "--n",
        "n",
        default=10000,
        show_default=True,
        type=click.IntRange(min=2),
        help="Held-out images (and as many samples).",
    )
    @click.option(
        "--features",
        type=click.Path(path_type=Path),
        default=None,
        help="Feature network (default: the cache's one for the run's data set).",
    )
    @click.option(
        "--inception",
        is_flag=True,
        help="Also FID, KID and IS with the standard Inception-v3 (weights downloaded "
        "once into the cache, or --inception-weights / GENZOO_INCEPTION_WEIGHTS).",
    )
    @click.option(
        "--inception-weights",
        type=click.Path(path_type=Path),
        default=None,
        help="torch-fidelity's Inception-v3 weights file (.pth or .safetensors); "
        "implies --inception.",
    )
    @click.option(
        "--split",
        type=click.Choice(["test", "validation"]),
        default=None,
        help="Held-out split to measure on (default: test, else the training images).",
    )
    @click.option("--seed", default=0, show_default=True, type=SEED)
    @click.option("--device", default="cpu", show_default=True)
    @NORM
    def evaluate(run_dir, n, features, inception, inception_weights, split, seed, device, norm):
        """Reconstruction MSE, FD/IS/precision/recall and energy statistics of RUN_DIR; for a run
        on incomplete images also the recovery error (Table 3) and RUN_DIR/recovery.png."""
        working_on(run_dir)
        from rich.console import Console

        from genzoo.analysis.evaluate import evaluate_run, print_report

        console = Console(stderr=True)
        report = evaluate_run(
            run_dir,
            n=n,
            features=features,
            inception_weights=inception_weights,
            device=device,
            seed=seed,
            console=console,
            norm=norm,
            inception=inception,
            split=split,
        )
        print_report(report, console)
        console.print(f"wrote {Path(run_dir) / 'eval.json'}")

    @cli.command()
    @click.argument("run_dir", type=click.Path(path_type=Path))
    @click.option("--n", "n", default=32, show_default=True, type=click.IntRange(min=1))
    @click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=None,
        help="PNG (default: RUN_DIR/reconstructions.png).",
    )
    @click.option("--seed", default=0, show_default=True, type=SEED)
    @click.option("--device", default="cpu", show_default=True)
    @NORM
    def reconstruct(run_dir, n, out, seed, device, norm):
        """Held-out images (odd rows) above their reconstructions (even rows)."""
        working_on(run_dir)
        from genzoo.analysis.evaluate import reconstruct_grid

        path = reconstruct_grid(
            run_dir, out or Path(run_dir) / "reconstructions.png", n, seed, device, norm=norm
        )
        click.echo(f"wrote {path}")

    @cli.command()
    @click.argument("run_dir", type=click.Path(path_type=Path))
    @click.option("--rows", default=8, show_default=True, type=click.IntRange(min=1))
    @click.option("--steps", default=10, show_default=True, type=click.IntRange(min=2))
    @click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=None,
        help="PNG (default: RUN_DIR/interpolations.png).",
    )
    @click.option("--seed", default=0, show_default=True, type=SEED)
    @click.option("--device", default="cpu", show_default=True)
    @NORM
    def interpolate(run_dir, rows, steps, out, seed, device, norm):
        """Rows of samples along straight lines between two latent vectors."""
        working_on(run_dir)
        from genzoo.analysis.evaluate import interpolate_grid

        path = interpolate_grid(
            run_dir,
            out or Path(run_dir) / "interpolations.png",
            rows,
            steps,
            seed,
            device,
            norm=norm,
        )
        click.echo(f"wrote {path}")

    @cli.command()
    @click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
    @click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=None,
        help="HTML file (default: RUN_DIR/report.html for one run, report.html for several).",
    )
    def report(run_dirs, out):
        """One self-contained HTML page of one or more runs: recipe (differences), loss and energy
        curves, sample grids, pictures and eval results side by side; of a study folder: its
        cells, claims, curves against iterations and FLOPs, and final samples."""
        from genzoo.analysis.report import build_report
        from genzoo.study.report import build_study_report, is_study

        working_on(run_dirs[0])
        if len(run_dirs) == 1 and is_study(run_dirs[0]):  # a study folder: its own page
            out = out or Path(run_dirs[0]) / "report.html"
            click.echo(f"wrote {build_study_report(run_dirs[0], out)}")
            return
        out = out or (
            Path(run_dirs[0]) / "report.html" if len(run_dirs) == 1 else Path("report.html")
        )
        click.echo(f"wrote {build_report(list(run_dirs), out)}")

    @cli.group()
    def features():
        """Feature networks for sample-quality metrics."""

    @features.command(name="train")
    @click.argument("dataset")
    @click.option(
        "--option",
        "options",
        multiple=True,
        metavar="KEY=VALUE",
        help="A data set option, e.g. --option root=/data/fmnist (repeatable).",
    )
    @click.option("--epochs", default=3, show_default=True, type=click.IntRange(min=1))
    @click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=None,
        help="Weights file (default: the cache, where 'genzoo eval' looks).",
    )
    @click.option("--seed", default=0, show_default=True, type=SEED)
    def features_train(dataset, options, epochs, out, seed):
        """Train the classifier whose features define FD-<DATASET> and the IS analogue."""
        from genzoo.analysis.features import train_feature_network
        from genzoo.toml_text import parse_override

        opts = {}
        for text in options:
            keys, value = parse_override(text)
            opts[".".join(keys)] = value
        meta = train_feature_network(dataset, opts, out, epochs=epochs, seed=seed)
        click.echo(f"test accuracy {meta['test_accuracy']:.4f} -> {meta['path']}")
        if meta["test_accuracy"] < 0.9:
            click.echo("warning: under 90% test accuracy; train longer with --epochs", err=True)
