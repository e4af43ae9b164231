"""``genzoo eval``, ``reconstruct`` and ``interpolate``: the paper's Tables 1-2 and Figs. 10, 13
for any run directory."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import torch

from genzoo import assemble, metrics, sampling
from genzoo.assemble import resolve_device
from genzoo.checkpoint import atomic_write
from genzoo.data import samples_of
from genzoo.errors import GenzooError
from genzoo.features import default_path, load_feature_network
from genzoo.images import save_grid
from genzoo.latents import interpolation_latents
from genzoo.occlusion import recovery_error
from genzoo.per_example import PREFIX as PER_EXAMPLE
from genzoo.trainer import load_trained


def batched(fn, x: torch.Tensor, batch: int, label: str = "", progress=None) -> torch.Tensor:
    out = []
    task = progress.add_task(label, total=len(x)) if progress is not None else None
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(fn(x[i:i + batch]))
            if task is not None:
                progress.advance(task, len(out[-1]))
    return torch.cat(out)


def held_out(recipe, n: int, seed: int):
    """Up to ``n`` examples of the test split (the training split where there is none), with
    labels when the data set has them, and the split's name."""
    data = assemble.build_data(recipe)
    split, name = (data.test, "test") if data.test is not None and len(data.test) else \
        (data.train, "train")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(split), generator=g)[:n].tolist() if n < len(split) else \
        list(range(len(split)))
    items = [split[i] for i in idx]
    x = torch.stack([samples_of(it) for it in items])
    labels = torch.tensor([int(it[1]) for it in items]) if isinstance(items[0], (tuple, list)) \
        else None
    return x, labels, name, data


def generate(models, n: int, seed: int, device, batch: int = 256,
             norm: str = "running") -> torch.Tensor:
    """``n`` samples from fixed prior draws (``seed``), in batches of ``batch``, with the
    generator's batch norm in ``norm`` mode (:mod:`genzoo.sampling`)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, *models.generator.latent_shape), generator=g)
    return sampling.generate(models.generator, z, norm, batch, device)


def reconstruct(models, x: torch.Tensor, device, batch: int = 256,
                norm: str = "running") -> torch.Tensor:
    """``x -> q_phi -> g_theta``: the generator applied to the posterior mean."""
    return sampling.generate(models.generator, x, norm, batch, device,
                             fn=lambda b: models.generator(models.encoder(b).mean))


def sample_norm_of(recipe, norm: str | None) -> tuple[str, int]:
    """The normalisation mode asked for (the recipe's ``model.sample_norm`` by default) and
    the batch size samples are drawn in: the training batch for batch statistics."""
    norm = norm or recipe.model.sample_norm
    if norm not in sampling.NORMS:
        raise GenzooError(f"sample normalisation must be one of {', '.join(sampling.NORMS)}, "
                          f"got '{norm}'")
    return norm, recipe.train.batch_size


def evaluate_run(run_dir: Path, n: int = 10000, features: Path | None = None,
                 inception_weights: Path | None = None, device: str = "cpu", batch: int = 256,
                 seed: int = 0, k: int = 3, pr_max: int = 5000, console=None,
                 norm: str | None = None) -> dict:
    from rich.progress import Progress

    run_dir = Path(run_dir)
    dev = resolve_device(device)
    recipe, models, ckpt = load_trained(run_dir, dev)
    norm, g_batch = sample_norm_of(recipe, norm)
    if norm == "running":
        g_batch = batch
    t0 = time.perf_counter()
    x, labels, split, data = held_out(recipe, n, seed)
    x = models.real_view(x)
    report: dict = {"run": str(run_dir), "step": ckpt.step, "objective": recipe.objective,
                    "split": split, "n": len(x), "kind": "clips" if data.is_video else "images",
                    "sample_norm": norm, "sample_batch": g_batch}
    with Progress(console=console, transient=True) as prog:
        x_hat = reconstruct(models, x, dev, g_batch, norm)
        report["recon_mse"] = float(metrics.mse_unit_range(x, x_hat).mean())
        fake = generate(models, len(x), seed + 1, dev, g_batch, norm)
        f = lambda b: models.energy(b.to(dev)).cpu()  # noqa: E731
        noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed + 2)) * 2 - 1
        report["energy"] = {
            "f_data": float(batched(f, x, batch, "energy on data", prog).mean()),
            "f_samples": float(batched(f, fake, batch, "energy on samples", prog).mean()),
            "f_noise": float(batched(f, noise, batch, "energy on noise", prog).mean())}
        fd_name = f"FD-{recipe.data.name}"
        report["feature_metrics"] = None
        path = Path(features) if features else default_path(recipe.data.name)
        if labels is None:
            pass
        elif not path.exists():
            warnings.warn(f"no feature network for '{recipe.data.name}' at '{path}': sample-quality "
                          f"metrics skipped; train one with 'genzoo features train "
                          f"{recipe.data.name}'", stacklevel=2)
        else:
            net, meta = load_feature_network(path)
            net.to(dev)
            feats = lambda b: net.features(b.to(dev)).cpu()  # noqa: E731
            fr = batched(feats, x, batch, "features of data", prog)
            ff = batched(feats, fake, batch, "features of samples", prog)
            with torch.no_grad():
                probs = net.logits(ff.to(dev)).softmax(1).cpu()
            p, r = metrics.precision_recall(fr[:pr_max], ff[:pr_max], k)
            report["feature_metrics"] = {
                "name": fd_name, "fd": metrics.frechet_distance_of(fr, ff),
                "is": metrics.inception_score(probs, splits=10 if len(x) >= 1000 else 1)[0],
                "precision": p, "recall": r, "k": k,
                "feature_network": str(path),
                "feature_network_accuracy": meta["test_accuracy"]}
        report["inception"] = None
        if inception_weights is not None:
            from genzoo_features.inception import load_fid_inception
            inc = load_fid_inception(Path(inception_weights)).to(dev)
            fi = lambda b: inc.features(b.to(dev)).cpu()  # noqa: E731
            fr_i = batched(fi, x, batch, "Inception features of data", prog)
            ff_i = batched(fi, fake, batch, "Inception features of samples", prog)
            with torch.no_grad():
                probs_i = inc.logits(ff_i.to(dev)).softmax(1).cpu()
            report["inception"] = {"fid": metrics.frechet_distance_of(fr_i, ff_i),
                                   "is": metrics.inception_score(probs_i, splits=10 if len(x) >= 1000 else 1)[0],
                                   "weights": str(inception_weights)}
    report["recovery"] = recovery(recipe, kept_fill(ckpt), run_dir / "recovery.png") \
        if recipe.data.occlusion is not None else None
    report["seconds"] = round(time.perf_counter() - t0, 2)
    atomic_write(run_dir / "eval.json", json.dumps(report, indent=1).encode())
    return report


def kept_fill(ckpt) -> torch.Tensor:
    """The fills of the hidden pixels a run on incomplete images kept, one per training image
    (its last reconstruction of that image)."""
    fill = ckpt.tensors.get(PER_EXAMPLE + "fill")
    if fill is None:
        raise GenzooError(f"checkpoint '{ckpt.path}' holds no recovered images; train the run "
                          f"with its own recipe")
    return fill


def recovery(recipe, fill: torch.Tensor, picture: Path | None = None, shown: int = 10) -> dict:
    """Table 3 for a recipe on incomplete images: the recovery error of the occluded pixels of
    its training images, recovered as ``fill`` (one image per training image), against the
    images as they are; and a picture like Fig. 16 (rows: original, occluded with hidden pixels
    mid-gray, recovered) of ``shown`` examples."""
    complete = assemble.build_data(recipe, complete=True).train
    occluded = assemble.build_data(recipe).train
    if len(fill) != len(complete):
        raise GenzooError(f"{len(fill)} recovered images for a training set of {len(complete)}; "
                          f"evaluate the run with its own recipe")
    errors, hidden_total = 0.0, 0
    for i in range(0, len(complete), 1024):
        idx = range(i, min(i + 1024, len(complete)))
        true = torch.stack([samples_of(complete[j]) for j in idx])
        mask = torch.stack([occluded.mask(j) for j in idx])
        hidden = int((~mask).expand_as(true).sum())
        errors += recovery_error(true, fill[i:i + len(true)], mask) * hidden
        hidden_total += hidden
    out = {"occlusion": recipe.data.occlusion.name, "error": errors / hidden_total,
           "n_images": len(complete), "hidden_fraction": hidden_total / fill.numel()}
    if picture is not None:
        idx = torch.linspace(0, len(complete) - 1, min(shown, len(complete))).long().tolist()
        true = torch.stack([samples_of(complete[j]) for j in idx])
        mask = torch.stack([occluded.mask(j) for j in idx])
        rows = [true, torch.where(mask, true, torch.zeros_like(true)),
                torch.where(mask, true, fill[idx])]
        out["picture"] = str(save_grid(torch.cat(rows), picture, nrow=len(idx)))
    return out


def print_report(report: dict, console) -> None:
    from rich.table import Table

    t = Table(title=f"{report['run']} at step {report['step']} ({report['n']} {report['split']} "
                    f"{report.get('kind', 'images')})")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("test reconstruction MSE (per pixel, [0, 1] scale)", f"{report['recon_mse']:.5f}")
    fm = report.get("feature_metrics")
    if fm:
        t.add_row(f"{fm['name']} (Fréchet distance, classifier features)", f"{fm['fd']:.3f}")
        t.add_row("IS analogue (classifier)", f"{fm['is']:.3f}")
        t.add_row(f"precision / recall (k={fm['k']})",
                  f"{fm['precision']:.3f} / {fm['recall']:.3f}")
    inc = report.get("inception")
    if inc:
        t.add_row("FID (Inception-v3)", f"{inc['fid']:.3f}")
        t.add_row("IS (Inception-v3)", f"{inc['is']:.3f}")
    rec = report.get("recovery")
    if rec:
        t.add_row(f"recovery error, {rec['occlusion']} (occluded pixels / range)",
                  f"{rec['error']:.4f}")
    e = report["energy"]
    t.add_row("mean f: data / samples / noise",
              f"{e['f_data']:.3g} / {e['f_samples']:.3g} / {e['f_noise']:.3g}")
    console.print(t)


def reconstruct_grid(run_dir: Path, out: Path, n: int = 32, seed: int = 0,
                     device: str = "cpu", per_row: int = 8, norm: str | None = None) -> Path:
    """Test images above their reconstructions, row by row (Fig. 13)."""
    dev = resolve_device(device)
    recipe, models, _ = load_trained(run_dir, dev)
    norm, g_batch = sample_norm_of(recipe, norm)
    x, _, _, _ = held_out(recipe, n, seed)
    x = models.real_view(x)
    if x.dim() != 4:
        raise GenzooError("reconstruction grids need image data (C, H, W)")
    x_hat = reconstruct(models, x, dev, g_batch, norm)
    rows = []
    for i in range(0, len(x), per_row):
        rows += [x[i:i + per_row], x_hat[i:i + per_row]]
    return save_grid(torch.cat(rows), out, nrow=per_row)


def interpolate_grid(run_dir: Path, out: Path, rows: int = 8, steps: int = 10, seed: int = 0,
                     device: str = "cpu", norm: str | None = None) -> Path:
    """Rows of generator outputs along straight lines ``(1 - a) z0 + a z1`` (Fig. 10)."""
    dev = resolve_device(device)
    recipe, models, _ = load_trained(run_dir, dev)
    norm, _ = sample_norm_of(recipe, norm)
    z = interpolation_latents(models.generator.latent_shape, rows, steps, seed)
    x = sampling.generate(models.generator, z, norm, len(z), dev)
    if x.dim() != 4:
        raise GenzooError("interpolation grids need image data (C, H, W)")
    return save_grid(x, out, nrow=steps)
