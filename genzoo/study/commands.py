"""``genzoo study`` and ``genzoo tune``: a built-in plugin of the ``register_commands`` hook."""

from __future__ import annotations

from pathlib import Path

import click

from genzoo.hookspecs import hookimpl

STORAGE_HELP = (
    "Where trials and cells are coordinated: sqlite (a file in the study folder; the default "
    "for one worker), journal (a journal file there; the default for several), a journal "
    "file's path, or a database URL such as postgresql://user:pw@host/db for workers on "
    "several machines."
)

OUT = click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Study folder (default: runs/studies/<name>).",
)


def study_options(fn):
    fn = click.option("--quiet", is_flag=True, help="No progress bars or table.")(fn)
    fn = click.option(
        "--heartbeat",
        default=20,
        show_default=True,
        type=click.IntRange(min=1),
        help="Seconds between a running trial's heartbeats; a trial silent for three is "
        "failed and queued again.",
    )(fn)
    fn = click.option(
        "--workers",
        default=1,
        show_default=True,
        type=click.IntRange(min=1, max=256),
        help="Worker processes on this machine (more can join from other machines with the "
        "same --storage).",
    )(fn)
    fn = click.option("--storage", default=None, help=STORAGE_HELP)(fn)
    fn = OUT(fn)
    return click.argument("study_file", type=click.Path(path_type=Path))(fn)


def _show(res: dict, quiet: bool, out) -> None:
    if quiet:
        return
    for c in res["claims"]:
        p = "—" if c["p_holm"] is None else f"{c['p_holm']:.3g}"
        click.echo(f"{c['claim']}: {c['verdict']} (p Holm {p})")
    click.echo(f"wrote {out}")


@hookimpl
def register_commands(cli):
    @cli.command()
    @study_options
    def study(study_file, out, storage, workers, heartbeat, quiet):
        """Train every variant x seed of STUDY_FILE for its budget, measure the curves, test the
        claims and write study.json and table.md; an interrupted study resumes, a finished cell
        is never trained again. SIGUSR1 stops it once the running cells have finished."""
        from genzoo.study.drive import drive

        res, folder = drive(
            study_file, out, storage, workers, heartbeat, tune=False, show=not quiet
        )
        _show(res, quiet, folder / "table.md")

    @cli.command()
    @study_options
    @click.option("--no-cells", is_flag=True, help="Tune only; run the cells later.")
    def tune(study_file, out, storage, workers, heartbeat, quiet, no_cells):
        """Search each variant's [tune] space with Optuna (TPE, pruning) on the validation
        split, the same trials and budget for all; write each best recipe to best/ and then
        train the study's cells with them. SIGUSR1 stops it once the running trials (or cells)
        have finished."""
        from genzoo.study.drive import drive

        res, folder = drive(
            study_file,
            out,
            storage,
            workers,
            heartbeat,
            tune=True,
            cells=not no_cells,
            show=not quiet,
        )
        _show(res, quiet, folder / "table.md")

    @cli.command()
    @click.argument("study_file", type=click.Path(path_type=Path))
    @OUT
    @click.option("--storage", default=None, help="The study's storage, if not its folder's.")
    def status(study_file, out, storage):
        """How far STUDY_FILE's study has got, read from its storage (nothing is written): each
        variant's search points finished, pruned and queued, the best validation value so far,
        the tuning hours, and the cells finished."""
        from genzoo.study.progress import status_of

        status_of(study_file, out, storage)
