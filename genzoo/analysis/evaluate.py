"""``genzoo eval``, ``reconstruct`` and ``interpolate``: the paper's Tables 1-2 and Figs. 10, 13
for any run directory."""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path

import torch

from genzoo import assemble, metrics, plugins
from genzoo.analysis.features import classifier_extractor, default_path
from genzoo.analysis.texture import texture_report
from genzoo.api import load
from genzoo.assemble import resolve_device
from genzoo.data import samples_of
from genzoo.errors import GenzooError
from genzoo.images import save_grid
from genzoo.latents import interpolation_latents
from genzoo.occlusion import recovery_error
from genzoo.per_example import PREFIX as PER_EXAMPLE
from genzoo.store.checkpoint import latest
from genzoo.store.files import atomic_write
from genzoo.store.rundir import CHECKPOINTS


def batched(fn, x: torch.Tensor, batch: int, label: str = "", progress=None) -> torch.Tensor:
    out = []
    task = progress.add_task(label, total=len(x)) if progress is not None else None
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(fn(x[i : i + batch]))
            if task is not None:
                progress.advance(task, len(out[-1]))
    return torch.cat(out)


#: the held-out draws of this process (a study's worker measures the same images at every
#: point of every trial): key -> (images, labels, split name, data kind); a few kept
_HELD_OUT: dict[tuple, tuple] = {}
HELD_OUT_KEPT = 4


def held_out_draw(recipe, n: int, seed: int, split: str | None, remember: bool = False):
    """``n`` held-out examples of the recipe's data (``DataSource.draw_held_out``), their
    labels, the split's name and the data's kind (``DataSource.is_video``, ``.stationary``).
    With ``remember``, drawn once per process for the same data table, ``n``, ``seed`` and
    split (the files are not read again), each call given its own copy."""

    def draw():
        data = assemble.build_data(recipe)
        x, labels, name = data.draw_held_out(n, seed, split)
        return x, labels, name, {"video": data.is_video, "stationary": data.stationary}

    if not remember:
        return draw()
    key = (
        json.dumps(dataclasses.asdict(recipe.data), sort_keys=True, default=str),
        str(recipe.base_dir.resolve()),
        recipe.seed if recipe.data.occlusion is not None else None,  # occludes the train split
        n,
        seed,
        split,
    )
    if key not in _HELD_OUT:
        while len(_HELD_OUT) >= HELD_OUT_KEPT:
            _HELD_OUT.pop(next(iter(_HELD_OUT)))
        _HELD_OUT[key] = draw()
    x, labels, name, kind = _HELD_OUT[key]
    return x.clone(), None if labels is None else labels.clone(), name, dict(kind)


def evaluate_run(
    run_dir: Path,
    n: int = 10000,
    features: Path | None = None,
    inception_weights: Path | None = None,
    device: str = "cpu",
    batch: int = 256,
    seed: int = 0,
    k: int = 3,
    pr_max: int = 5000,
    console=None,
    norm: str | None = None,
    inception: bool = False,
    checkpoint: int | None = None,
    split: str | None = None,
    remember: bool = False,
    sampler_of=None,
) -> dict:
    """Reconstruction error, energies, and sample quality in a trained classifier's features
    (``features``, FD-<dataset>) and, with ``inception`` (or ``inception_weights``), in the
    standard Inception-v3's (FID, KID, IS), each with the protocol it was measured under.
    ``checkpoint``: the step of the checkpoint to evaluate (default: the newest good one);
    ``split``: ``"validation"`` or ``"test"`` (default: the test split, else the training one);
    ``remember``: the data and their features do not change in this process (a study's
    worker, which measures the same held-out images again and again), so they are drawn and
    passed through the feature network once (:func:`held_out_draw`, ``Extractor.pair``);
    ``sampler_of``: samples are drawn from ``sampler_of(model)`` instead of the run's own
    sampler (the same energy with longer chains, measured again), and eval.json is left as
    the run's own measurement wrote it."""
    from rich.progress import Progress

    run_dir = Path(run_dir)
    dev = resolve_device(device)
    model = load(run_dir, dev, checkpoint=checkpoint)
    recipe, models = model.recipe, model.models
    model.norm = norm or model.norm
    if sampler_of is not None:
        model.models.sampler = sampler_of(model).to(dev).eval()
    g_batch = model.sample_batch
    norm = model.norm
    t0 = time.perf_counter()
    x, labels, split, kind = held_out_draw(recipe, n, seed, split, remember)
    x = models.real_view(x)
    report: dict = {
        "run": str(run_dir),
        "step": model.step,
        "objective": recipe.objective,
        "split": split,
        "n": len(x),
        "kind": "clips" if kind["video"] else "images",
        "sample_norm": norm,
        "sample_batch": g_batch,
    }
    inception = inception or inception_weights is not None
    if inception and x.dim() != 4:
        raise GenzooError(
            "FID, KID and IS need images (C, H, W); this run's data are "
            f"{tuple(x.shape[1:])}: drop --inception"
        )
    with Progress(console=console, transient=True, disable=console is None) as prog:

        def quality(ext, real, fake_images):
            return metrics.sample_quality(
                ext,
                real,
                fake_images,
                batch,
                k,
                pr_max,
                seed=seed,
                progress=prog,
                remember=remember,
            )

        report["recon_mse"] = None  # an objective without an inference model reconstructs nothing
        if models.uses("phi") or models.reconstructor is not None:
            x_hat = model.reconstruct(x)
            report["recon_mse"] = float(metrics.mse_unit_range(x, x_hat).mean())
        fake = model.sample(len(x), seed + 1)
        report["energy"] = None  # an objective without an energy model on images
        if models.uses("alpha"):
            f = lambda b: models.energy(b.to(dev)).cpu()  # noqa: E731
            noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed + 2))
            noise = noise * 2 - 1
            report["energy"] = {
                "f_data": float(batched(f, x, batch, "energy on data", prog).mean()),
                "f_samples": float(batched(f, fake, batch, "energy on samples", prog).mean()),
                "f_noise": float(batched(f, noise, batch, "energy on noise", prog).mean()),
            }
        report["sampling"] = sample_cost(model)
        report["texture"] = (  # one stationary texture: its statistics against the crops
            texture_report(fake, x) if kind["stationary"] and x.dim() == 4 else None
        )
        fd_name = f"FD-{recipe.data.name}"
        report["feature_metrics"] = None
        path = Path(features) if features else default_path(recipe.data.name)
        if labels is None:
            pass
        elif not path.exists():
            warnings.warn(
                f"no feature network for '{recipe.data.name}' at '{path}': sample-quality "
                f"metrics skipped; train one with 'genzoo features train "
                f"{recipe.data.name}'",
                stacklevel=2,
            )
        else:
            ext = classifier_extractor(path, dev)
            report["feature_metrics"] = {"name": fd_name, **quality(ext, x, fake)}
        report["inception"] = None
        if inception:
            inception_features = plugins.registry().get("feature_networks", "inception").obj
            ext = inception_features.load(
                Path(inception_weights) if inception_weights else None, dev
            )
            report["inception"] = {"name": "FID", **quality(ext, x, fake)}
        for block in (report["feature_metrics"], report["inception"]):
            if block:
                block["protocol"].update(
                    split=split,
                    seed=seed,
                    sample_norm=norm,
                    sample_batch=g_batch,
                    checkpoint_step=model.step,
                )
    report["recovery"] = (
        recovery(recipe, kept_fill(latest(run_dir / CHECKPOINTS)), run_dir / "recovery.png")
        if recipe.data.occlusion is not None
        else None
    )
    report["seconds"] = round(time.perf_counter() - t0, 2)
    if sampler_of is None:
        atomic_write(run_dir / "eval.json", json.dumps(report, indent=1).encode())
    return report


def kept_fill(ckpt) -> torch.Tensor:
    """The fills of the hidden pixels a run on incomplete images kept, one per training image
    (its last reconstruction of that image)."""
    fill = ckpt.tensors.get(PER_EXAMPLE + "fill")
    if fill is None:
        raise GenzooError(
            f"checkpoint '{ckpt.path}' holds no recovered images; train the run with its own recipe"
        )
    return fill


def recovery(recipe, fill: torch.Tensor, picture: Path | None = None, shown: int = 10) -> dict:
    """Table 3 for a recipe on incomplete images: the recovery error of the occluded pixels of
    its training images, recovered as ``fill`` (one image per training image), against the
    images as they are; and a picture like Fig. 16 (rows: original, occluded with hidden pixels
    mid-gray, recovered) of ``shown`` examples."""
    complete = assemble.build_data(recipe, complete=True).train
    occluded = assemble.build_data(recipe).train
    if len(fill) != len(complete):
        raise GenzooError(
            f"{len(fill)} recovered images for a training set of {len(complete)}; "
            f"evaluate the run with its own recipe"
        )
    errors, hidden_total = 0.0, 0
    for i in range(0, len(complete), 1024):
        idx = range(i, min(i + 1024, len(complete)))
        true = torch.stack([samples_of(complete[j]) for j in idx])
        mask = torch.stack([occluded.mask(j) for j in idx])
        hidden = int((~mask).expand_as(true).sum())
        errors += recovery_error(true, fill[i : i + len(true)], mask) * hidden
        hidden_total += hidden
    out = {
        "occlusion": recipe.data.occlusion.name,
        "error": errors / hidden_total,
        "n_images": len(complete),
        "hidden_fraction": hidden_total / fill.numel(),
    }
    if picture is not None:
        idx = torch.linspace(0, len(complete) - 1, min(shown, len(complete))).long().tolist()
        true = torch.stack([samples_of(complete[j]) for j in idx])
        mask = torch.stack([occluded.mask(j) for j in idx])
        rows = [
            true,
            torch.where(mask, true, torch.zeros_like(true)),
            torch.where(mask, true, fill[idx]),
        ]
        out["picture"] = str(save_grid(torch.cat(rows), picture, nrow=len(idx)))
    return out


def sample_cost(model, n: int = 16) -> dict:
    """What one sample costs at inference, in floating-point operations (torch's flop_counter
    formulas, machine independent, the backward passes of Langevin chains included) and in
    seconds on this machine (as busy as it is): one generator pass, or K Langevin steps."""
    from genzoo.flops import CountFlops

    model.sample(2, seed=0)  # warm
    t0 = time.perf_counter()
    model.sample(n, seed=0)
    seconds = time.perf_counter() - t0
    with CountFlops() as counter:
        model.sample(n, seed=0)
    return {"gflops_per_sample": counter.total / n / 1e9, "seconds_per_sample": seconds / n}


def recon_text(report: dict) -> str:
    """The test reconstruction error as a table shows it, or why it does not apply."""
    if report.get("recon_mse") is None:
        return (
            f"does not apply: objective {report['objective']!r} trains no inference model "
            f"and has no reconstruction of its own"
        )
    return f"{report['recon_mse']:.5f}"


def print_report(report: dict, console) -> None:
    from rich.table import Table

    t = Table(
        title=f"{report['run']} at step {report['step']} ({report['n']} {report['split']} "
        f"{report.get('kind', 'images')})"
    )
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("test reconstruction MSE (per pixel, [0, 1] scale)", recon_text(report))
    cost = report.get("sampling")
    if cost:
        t.add_row(
            "cost of one sample (GFLOPs, seconds)",
            f"{cost['gflops_per_sample']:.4g}, {cost['seconds_per_sample']:.3g}",
        )
    for block, what in (
        (report.get("feature_metrics"), "classifier"),
        (report.get("inception"), "Inception-v3"),
    ):
        if not block:
            continue
        t.add_row(f"{block['name']} (Fréchet distance, {what} features)", f"{block['fd']:.3f}")
        t.add_row(f"KID ({what})", f"{block['kid']:.4f} ± {block['kid_std']:.4f}")
        t.add_row(f"IS ({what})", f"{block['is']:.3f} ± {block['is_std']:.3f}")
        t.add_row(
            f"precision / recall (k={block['k']})",
            f"{block['precision']:.3f} / {block['recall']:.3f}",
        )
        t.add_row(
            f"density / coverage (k={block['k']})",
            f"{block['density']:.3f} / {block['coverage']:.3f}",
        )
    rec = report.get("recovery")
    if rec:
        t.add_row(
            f"recovery error, {rec['occlusion']} (occluded pixels / range)", f"{rec['error']:.4f}"
        )
    tex = report.get("texture")
    if tex:
        t.add_row(
            "texture: high-frequency share, samples / data",
            f"{tex['high_frequency_share']:.4f} / {tex['high_frequency_share_data']:.4f}",
        )
        t.add_row(
            "texture: Nyquist share, samples / data",
            f"{tex['nyquist_share']:.5f} / {tex['nyquist_share_data']:.5f}",
        )
        t.add_row(
            "texture: orientation / Gram distance to the data",
            f"{tex['orientation_distance']:.4f} / {tex['gram_distance']:.4f}",
        )
    e = report["energy"]
    t.add_row(
        "mean f: data / samples / noise",
        f"{e['f_data']:.3g} / {e['f_samples']:.3g} / {e['f_noise']:.3g}"
        if e
        else "does not apply (no energy model on images)",
    )
    console.print(t)


def reconstruct_grid(
    run_dir: Path,
    out: Path,
    n: int = 32,
    seed: int = 0,
    device: str = "cpu",
    per_row: int = 8,
    norm: str | None = None,
) -> Path:
    """Test images above their reconstructions, row by row (Fig. 13)."""
    model = load(run_dir, resolve_device(device))
    model.norm = norm or model.norm
    x, _, _ = assemble.build_data(model.recipe).draw_held_out(n, seed)
    x = model.models.real_view(x)
    if x.dim() != 4:
        raise GenzooError("reconstruction grids need image data (C, H, W)")
    x_hat = model.reconstruct(x)
    rows = []
    for i in range(0, len(x), per_row):
        rows += [x[i : i + per_row], x_hat[i : i + per_row]]
    return save_grid(torch.cat(rows), out, nrow=per_row)


def interpolate_grid(
    run_dir: Path,
    out: Path,
    rows: int = 8,
    steps: int = 10,
    seed: int = 0,
    device: str = "cpu",
    norm: str | None = None,
) -> Path:
    """Rows of generator outputs along straight lines ``(1 - a) z0 + a z1`` (Fig. 10)."""
    model = load(run_dir, resolve_device(device))
    model.norm = norm or model.norm
    z = interpolation_latents(model.latent_shape, rows, steps, seed)
    x = model.decode(z)
    if x.dim() != 4:
        raise GenzooError("interpolation grids need image data (C, H, W)")
    return save_grid(x, out, nrow=steps)
