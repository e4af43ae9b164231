"""Portable model folders: what a person needs to use a trained model elsewhere.

``genzoo export RUN --out FOLDER`` (or ``Model.save(FOLDER)``) writes the layout the Hugging Face
Hub hosts, so the standard upload tool publishes it as it is:

    model.safetensors   the three networks' weights (generator.*, encoder.*, energy.*)
    config.json         format, architecture and its options, sample and latent shapes, step,
                        and the plugin distributions (with versions) needed to rebuild it
    recipe.toml         the resolved recipe that trained it
    samples.png         a sample grid (an animated GIF and a frame strip for clips)
    README.md           a model card: objective, data, steps, eval numbers, the sample grid

``genzoo.load(FOLDER)`` reads it back; a folder whose architecture plugin is not installed, or
that a newer genzoo wrote, is one line saying what to do.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from genzoo import plugins, schema, toml_text
from genzoo import recipe as recipe_mod
from genzoo.errors import GenzooError
from genzoo.interfaces import Unused
from genzoo.store.files import atomic_write
from genzoo.store.loading import load_weights

FORMAT = 1  # the layout of an exported model folder
WEIGHTS, CONFIG, RECIPE, CARD = "model.safetensors", "config.json", "recipe.toml", "README.md"
NETWORKS = ("generator", "encoder", "energy")


def is_model_folder(path: Path) -> bool:
    return (Path(path) / CONFIG).is_file() and (Path(path) / WEIGHTS).is_file()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _plugin(kind: str, name: str) -> dict:
    entry = plugins.registry().get(kind, name)
    return {"name": name, "distribution": entry.dist, "version": _version(entry.dist)}


def export_model(model, folder: Path, run_dir: Path | None = None, replace: bool = False) -> Path:
    """Write ``model`` (a :class:`genzoo.api.Model`) as the folder ``folder``, new or empty
    (``replace``: or an exported model, replaced); ``run_dir``'s ``eval.json``, if any, goes
    into the model card. The folder is written beside its place and renamed into it, so a kill
    leaves the old folder or the new one, never a mix."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        if not is_model_folder(folder):
            raise GenzooError(
                f"'{folder}' exists and is not an exported model; choose an empty or new folder"
            )
        if not replace:
            raise GenzooError(
                f"'{folder}' already holds an exported model; choose a new or empty folder, or "
                f"replace it with --force (replace=True)"
            )
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{folder.name}.*-export"):  # a killed export's
        shutil.rmtree(stale, ignore_errors=True)
    work = folder.with_name(f".{folder.name}.{os.getpid()}-export")
    work.mkdir()
    try:
        _write_model(model, work, run_dir)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.{os.getpid()}.old-export")
            folder.rename(old)
            work.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def _write_model(model, folder: Path, run_dir: Path | None) -> None:
    from genzoo.images import save_samples

    r = model.recipe
    tensors = {
        f"{net}.{k}": v.detach().cpu().contiguous().clone()
        for net in NETWORKS
        for k, v in getattr(model.models, net).state_dict().items()
    }
    tensors.update(  # the objective's own networks (a latent energy prior draws the samples)
        {
            f"extra.{name}.{k}": v.detach().cpu().contiguous().clone()
            for name, (_, module) in model.models.extras.items()
            for k, v in module.state_dict().items()
        }
    )
    blob = st_save(tensors, metadata={"format": "pt"})
    atomic_write(folder / WEIGHTS, blob)
    objectives = r.objective if isinstance(r.objective, list) else [r.objective]
    names = [o["name"] if isinstance(o, dict) else o for o in objectives]
    config = {
        "library": "genzoo",
        "format": FORMAT,
        "genzoo_version": _version("genzoo"),
        "name": r.name,
        "arch": r.model.arch,
        "model": r.to_dict()["model"],
        "sample_shape": list(model.sample_shape),
        "latent_shape": list(model.latent_shape),
        "step": model.step,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "objective": r.objective,
        "data": r.data.name,
        "plugins": {
            "architecture": _plugin("architectures", r.model.arch),
            "objectives": [_plugin("objectives", n) for n in names],
            "dataset": _plugin("datasets", r.data.name),
        },
    }
    atomic_write(folder / CONFIG, json.dumps(config, indent=1).encode())
    atomic_write(folder / RECIPE, toml_text.dumps(r.to_dict()).encode())
    shown = save_samples(
        model.sample(16 if len(model.sample_shape) == 4 else 64, seed=0), folder / "samples"
    )
    report = None
    if run_dir is not None and (Path(run_dir) / "eval.json").is_file():
        report = json.loads((Path(run_dir) / "eval.json").read_text())
    atomic_write(folder / CARD, model_card(config, report, [p.name for p in shown]).encode())


def model_card(config: dict, report: dict | None, pictures: list[str]) -> str:
    arch = config["plugins"]["architecture"]
    needs = sorted({p["distribution"] for p in [arch, *config["plugins"]["objectives"]]})
    lines = [
        "---",
        "library_name: genzoo",
        "tags:",
        "- generative-model",
        "- divergence-triangle",
        f"- {config['arch']}",
        "---",
        "",
        f"# {config['name']}",
        "",
        f"A generative model trained with genzoo: objective `{config['objective']}`, "
        f"architecture `{config['arch']}` ({arch['distribution']} {arch['version']}), data "
        f"`{config['data']}`, {config['step']} training iterations. Samples are "
        f"{tuple(config['sample_shape'])} in [-1, 1], latents "
        f"{tuple(config['latent_shape'])}.",
        "",
        "```python",
        "import genzoo",
        'model = genzoo.load("THIS_FOLDER")',
        "x = model.sample(16, seed=0)        # images in [-1, 1]",
        "q = model.encode(x)                 # the posterior q(z|x)",
        "f = model.energy(x)                 # the energy model's score",
        "```",
        "",
        f"Needs: `pip install {' '.join(needs)}`. The recipe that trained it is "
        f"`recipe.toml`; `config.json` lists the plugins and versions.",
        "",
    ]
    if pictures:
        lines += ["## Samples", "", *[f"![samples]({p})" for p in pictures], ""]
    if report:
        lines += [
            "## Evaluation (`genzoo eval`)",
            "",
            "| metric | value |",
            "|---|---|",
            "| test reconstruction MSE ([0, 1] scale) | "
            + (
                "does not apply (no inference model) |"
                if report.get("recon_mse") is None
                else f"{report['recon_mse']:.5f} |"
            ),
        ]
        for key in ("feature_metrics", "inception"):
            block = report.get(key)
            if block:
                lines.append(f"| {block['name']} | {block['fd']:.3f} |")
                if "kid" in block:
                    lines.append(f"| KID ({block['name']} features) | {block['kid']:.4f} |")
                lines.append(f"| IS ({block['name']} features) | {block['is']:.3f} |")
        e = report["energy"]
        if e is not None:
            lines.append(
                f"| mean f: data / samples / noise | {e['f_data']:.3g} / "
                f"{e['f_samples']:.3g} / {e['f_noise']:.3g} |"
            )
        lines += [
            "",
            f"Measured on {report['n']} {report['split']} {report.get('kind', 'images')} "
            f"at step {report['step']}.",
            "",
        ]
    return "\n".join(lines)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GenzooError(
            f"'{path}' is unreadable ({type(exc).__name__}); export the model again"
        ) from None


def check_config(config, path: Path) -> None:
    """What loading reads from a ``config.json``, with the types genzoo writes; one line
    naming the first field that is not."""

    def positive_ints(v) -> bool:
        return (
            isinstance(v, list)
            and len(v) > 0
            and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)
        )

    def plugin(v) -> bool:
        return isinstance(v, dict) and all(
            isinstance(v.get(k), str) for k in ("name", "distribution")
        )

    if not isinstance(config, dict):
        raise GenzooError(f"'{path}' is damaged (not a JSON object); export the model again")
    rules = {
        "step": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "sample_shape": positive_ints,
        "latent_shape": positive_ints,
        "plugins": lambda v: isinstance(v, dict) and plugin(v.get("architecture")),
    }
    for key, ok in rules.items():
        if key not in config or not ok(config[key]):
            raise GenzooError(
                f"'{path}' is damaged: its field '{key}' is missing or holds "
                f"{schema.shown(config.get(key))}; export the model again"
            )


def read_model_folder(folder: Path):
    """``(recipe, models, sample_shape, step)`` of an exported folder, the networks built and
    loaded (on the CPU)."""
    from genzoo.assemble import attach_networks, build_models, build_objective

    folder = Path(folder)
    config = read_json(folder / CONFIG)
    check_config(config, folder / CONFIG)
    fmt = config.get("format")
    if not isinstance(fmt, int) or fmt > FORMAT:
        raise GenzooError(
            f"'{folder}' was exported by a newer genzoo (format {fmt}; this one "
            f"reads up to {FORMAT}): pip install --upgrade genzoo"
        )
    arch = config["plugins"]["architecture"]
    if arch["name"] not in plugins.registry().names("architectures"):
        raise GenzooError(
            f"'{folder}' needs the architecture '{arch['name']}' from the "
            f"distribution '{arch['distribution']}' ({arch['version']}), which "
            f"is not installed: pip install {arch['distribution']}"
        )
    r = recipe_mod.load(folder / RECIPE)
    models = build_models(r, tuple(config["sample_shape"]))
    attach_networks(models, build_objective(r), r)  # its networks and sampler, if it has them
    try:
        blob = (folder / WEIGHTS).read_bytes()
        want = config.get("weights_sha256")
        if not isinstance(want, str):
            raise ValueError("config.json records no weights_sha256 to check them against")
        if hashlib.sha256(blob).hexdigest() != want:
            raise ValueError(
                "their SHA-256 is not the one config.json records: damaged, or another model's"
            )
        tensors = st_load(blob)
    except (OSError, RuntimeError, ValueError, SafetensorError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise GenzooError(
            f"'{folder / WEIGHTS}' is unreadable ({first}); export the model again"
        ) from None
    for net in NETWORKS:
        if isinstance(getattr(models, net), Unused):  # the objective does not use it
            continue
        prefix = f"{net}."
        load_weights(
            getattr(models, net),
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)},
            folder / WEIGHTS,
            f"{net} network",
            "export the model again",
        )
    for name, (_, module) in models.extras.items():
        prefix = f"extra.{name}."
        load_weights(
            module,
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)},
            folder / WEIGHTS,
            f"network '{name}'",
            "export the model again",
        )
    models.set_step(max(int(config["step"]) - 1, 0))
    return r, models, tuple(config["sample_shape"]), int(config["step"])
