"""The paper's Tables 1 and 2 side by side at CPU scale: train each objective on Fashion-MNIST
with identical networks, seeds and budget, evaluate each with `genzoo eval`, and write a
Markdown table to docs/results.md plus JSON.

    python benchmarks/objectives_table.py                      # about 70 minutes on 2 CPU cores
    python benchmarks/objectives_table.py --steps 500 --n-eval 2000   # a quick look
    python benchmarks/objectives_table.py --steps 20000 --width 1.0 --device cuda

The paper's claims checked: the triangle's test reconstruction MSE is lower than VAE's and
wake-sleep's (Table 2), and its samples are better than VAE's (Table 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tables import ROOT, add_common_options, common_overrides, publish

MARK = "<!-- objectives_table -->"
# baselines train with their own papers' optimiser settings (same nets, data and budget)
OWN_RECIPE = {"gan": "gan_fashion.toml", "wgan_gp": "wgan_fashion.toml",
              "coopnet": "coop_fashion.toml", "ali": "ali_fashion.toml",
              "alice": "alice_fashion.toml"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objectives", default="triangle,vae,acd,wake_sleep,gan,wgan_gp,coopnet,ali,alice")
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "dt_fashion.toml"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--n-eval", type=int, default=10000)
    ap.add_argument("--features", default=None, help="feature network (trained if missing)")
    add_common_options(ap, "objectives_table")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of other objectives from --json when its settings match")
    args = ap.parse_args(argv)

    from genzoo import recipe as recipe_mod
    from genzoo.evaluate import evaluate_run
    from genzoo.features import default_path, train_feature_network
    from genzoo.objective import Objective
    from genzoo.trainer import Trainer

    common = common_overrides(args)
    features = Path(args.features) if args.features else default_path("fashion_mnist")
    if not features.exists():
        opts = {"root": args.data_root} if args.data_root else {}
        meta = train_feature_network("fashion_mnist", opts, features)
        print(f"feature network: test accuracy {meta['test_accuracy']:.4f}", file=sys.stderr)
    rows = []
    for name in args.objectives.split(","):
        recipe_path = Path(args.recipe)
        if name in OWN_RECIPE and recipe_path.resolve() == (ROOT / "recipes" /
                                                            "dt_fashion.toml").resolve():
            recipe_path = ROOT / "recipes" / OWN_RECIPE[name]
        r = recipe_mod.load(recipe_path, [*common, f'objective="{name}"', f'name="{name}"'])
        run_dir = Path(args.out_dir) / name
        t0 = time.perf_counter()
        trainer = Trainer(r)
        trainer.fit(run_dir, force=True, progress=False)
        train_s = time.perf_counter() - t0
        rep = evaluate_run(run_dir, n=args.n_eval, features=features, device=args.device,
                           seed=args.seed)
        fm = rep["feature_metrics"] or {}
        inference = any(type(p.objective).phi is not Objective.phi
                        for p in trainer.objective.parts)
        rows.append({"objective": name, "recipe": recipe_path.name, "steps": args.steps,
                     "train_seconds": round(train_s, 1),
                     "inference_model": inference,
                     "fd": fm.get("fd"), "is": fm.get("is"), "precision": fm.get("precision"),
                     "recall": fm.get("recall"), "recon_mse": rep["recon_mse"],
                     "f_data": rep["energy"]["f_data"], "f_samples": rep["energy"]["f_samples"]})
        print(json.dumps(rows[-1]), file=sys.stderr)
    settings = {"recipe": Path(args.recipe).name, "steps": args.steps, "width": args.width,
                "n_eval": args.n_eval, "seed": args.seed, "device": args.device,
                "overrides": args.overrides, "feature_network": str(features)}
    if args.merge and Path(args.json).exists():
        old = json.loads(Path(args.json).read_text())
        if old["settings"] == settings:
            mine = {r["objective"] for r in rows}
            rows = [r for r in old["rows"] if r["objective"] not in mine] + rows
        else:
            print("--merge: the settings in --json differ; writing this run's rows only",
                  file=sys.stderr)
    publish(args, settings, rows, render(rows, settings), MARK,
            "Objectives side by side (Tables 1 and 2)")
    return 0


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def render(rows, settings) -> str:
    by = {r["objective"]: r for r in rows}
    lines = [
        f"Fashion-MNIST, `{settings['recipe']}` with `model.width = {settings['width']}`, "
        f"{settings['steps']} iterations of batch 64, seed {settings['seed']}, on "
        f"{settings['device']}; metrics on {settings['n_eval']} test images and as many samples. "
        f"FD-FMNIST is a Fréchet distance in the features of a classifier genzoo trains on the "
        f"training labels (not FID); lower is better. IS is the same classifier's Inception-Score "
        f"analogue (at most 10). Precision/recall: k-NN manifolds (k = 3) in those features. "
        f"MSE: per pixel on the [0, 1] scale (4x smaller than on the [-1, 1] scale).",
        "",
        "| objective | FD-FMNIST ↓ | IS ↑ | precision ↑ | recall ↑ | test MSE ↓ | mean f data / samples | train s |",
        "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mse = f"{r['recon_mse']:.5f}" if r.get("inference_model", True) else \
            "— (no inference model)"
        lines.append(f"| {r['objective']} | {fmt(r['fd'], '.2f')} | {fmt(r['is'], '.3f')} | "
                     f"{fmt(r['precision'], '.3f')} | {fmt(r['recall'], '.3f')} | "
                     f"{mse} | {r['f_data']:.3g} / {r['f_samples']:.3g} | "
                     f"{r['train_seconds']:.0f} |")
    claims = []
    t = by.get("triangle")
    if t:
        for other in ("vae", "wake_sleep", "ali", "alice"):
            if other in by:
                ok = t["recon_mse"] < by[other]["recon_mse"]
                claims.append(f"- Table 2: triangle MSE {t['recon_mse']:.5f} "
                              f"{'<' if ok else '>='} {other} {by[other]['recon_mse']:.5f}: "
                              f"{'reproduced' if ok else 'NOT reproduced'}.")
        for other in ("vae", "gan", "wgan_gp", "coopnet", "acd", "ali", "alice"):
            if other in by and t["fd"] is not None and by[other]["fd"] is not None:
                ok = t["fd"] < by[other]["fd"]
                claims.append(f"- Table 1: triangle FD-FMNIST {t['fd']:.2f} "
                              f"{'<' if ok else '>='} {other} {by[other]['fd']:.2f}: "
                              f"{'reproduced' if ok else 'NOT reproduced'}.")
    return "\n".join(lines + [""] + claims) + "\n"


if __name__ == "__main__":
    sys.exit(main())
