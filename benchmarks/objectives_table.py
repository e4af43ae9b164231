"""The paper's Tables 1 and 2 side by side at CPU scale: train each objective on Fashion-MNIST
with identical networks and budget over several seeds, evaluate each run with `genzoo eval` in
both of the generator's sampling modes, and write a Markdown table (mean ± std over seeds) to
docs/results/objectives.md plus JSON.

    python benchmarks/objectives_table.py --seeds 0,1,2          # about 70 minutes a seed
    python benchmarks/objectives_table.py --steps 500 --n-eval 2000   # a quick look
    python benchmarks/objectives_table.py --steps 20000 --width 1.0 --device cuda

Runs live in --out-dir/OBJECTIVE/seedN; a finished run is evaluated again, not retrained, and an
interrupted one resumes from its last checkpoint, so the script can be stopped and rerun.
The paper's claims checked: the triangle's test reconstruction MSE is lower than VAE's and
wake-sleep's (Table 2), and its samples are better than the baselines' (Table 1); an ordering
"holds beyond the spread" when the two means differ by more than the sum of their stds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from tables import ROOT, add_common_options, common_overrides, compare, publish, spread

# baselines train with their own papers' optimiser settings (same nets, data and budget)
OWN_RECIPE = {
    "gan": "gan_fashion.toml",
    "wgan_gp": "wgan_fashion.toml",
    "coopnet": "coop_fashion.toml",
    "ali": "ali_fashion.toml",
    "alice": "alice_fashion.toml",
}
METRICS = ("fd", "is", "precision", "recall", "recon_mse")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--objectives", default="triangle,vae,acd,wake_sleep,gan,wgan_gp,coopnet,ali,alice"
    )
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "dt_fashion.toml"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--n-eval", type=int, default=10000)
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default: --seed)")
    ap.add_argument(
        "--norms",
        default="running,batch",
        help="sampling modes to evaluate each run in (model.sample_norm)",
    )
    ap.add_argument("--tag", default="", help="a name for this table (its own section and JSON)")
    ap.add_argument(
        "--curve-every",
        type=int,
        default=0,
        help="also evaluate the checkpoint of every N-th iteration (FD curves)",
    )
    ap.add_argument("--features", default=None, help="feature network (trained if missing)")
    ap.add_argument(
        "--shared-settings",
        action="store_true",
        help="every objective with --recipe's optimiser settings (default: the "
        "baselines gan, wgan_gp, coopnet, ali, alice with their own papers')",
    )
    add_common_options(ap, "objectives_table")
    ap.add_argument(
        "--only-finished",
        action="store_true",
        help="table the runs that have finished; train nothing (others are left out and named)",
    )
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of other objectives from --json when its settings match",
    )
    args = ap.parse_args(argv)
    if args.tag:
        if args.json == str(ROOT / "benchmarks" / "results" / "objectives_table.json"):
            args.json = str(ROOT / "benchmarks" / "results" / f"objectives_table_{args.tag}.json")
        if args.out_dir == str(ROOT / "runs" / "objectives_table"):
            args.out_dir = str(ROOT / "runs" / f"objectives_table_{args.tag}")

    from genzoo import recipe as recipe_mod
    from genzoo.analysis.evaluate import evaluate_run
    from genzoo.analysis.features import default_path, train_feature_network
    from genzoo.objective import Objective
    from genzoo.store import checkpoint, rundir
    from genzoo.training import Trainer

    seeds = [int(s) for s in (args.seeds or str(args.seed)).split(",")]
    norms = args.norms.split(",")
    features = Path(args.features) if args.features else default_path("fashion_mnist")
    if not features.exists():
        opts = {"root": args.data_root} if args.data_root else {}
        meta = train_feature_network("fashion_mnist", opts, features)
        print(f"feature network: test accuracy {meta['test_accuracy']:.4f}", file=sys.stderr)
    runs = []
    for name in args.objectives.split(","):
        recipe_path = Path(args.recipe)
        if (
            name in OWN_RECIPE
            and not args.shared_settings
            and recipe_path.resolve() == (ROOT / "recipes" / "dt_fashion.toml").resolve()
        ):
            recipe_path = ROOT / "recipes" / OWN_RECIPE[name]
        for seed in seeds:
            args.seed = seed
            curve = (
                [
                    f"log.checkpoint_every={args.curve_every}",
                    f"log.keep_checkpoints={args.steps // args.curve_every + 2}",
                ]
                if args.curve_every
                else []
            )
            r = recipe_mod.load(
                recipe_path,
                [*common_overrides(args), f'objective="{name}"', f'name="{name}"', *curve],
            )
            run_dir = Path(args.out_dir) / name / f"seed{seed}"
            t0 = time.perf_counter()
            trainer = Trainer(r)
            last = checkpoint.latest(run_dir / rundir.CHECKPOINTS) if run_dir.exists() else None
            done = last is not None and last.step >= args.steps
            if not done and args.only_finished:
                print(f"left out: {name} seed {seed} has not finished", file=sys.stderr)
                continue
            if not done:
                trainer.fit(run_dir, resume=last is not None, force=last is None, progress=False)
            train_s = time.perf_counter() - t0
            timings = (
                json.loads((run_dir / "timing.json").read_text())
                if done and (run_dir / "timing.json").exists()
                else {"train_seconds": train_s}
            )
            (run_dir / "timing.json").write_text(json.dumps(timings))
            inference = any(
                type(p.objective).phi is not Objective.phi for p in trainer.objective.parts
            )
            run = {
                "objective": name,
                "seed": seed,
                "recipe": recipe_path.name,
                "steps": args.steps,
                "train_seconds": round(timings["train_seconds"], 1),
                "inference_model": inference,
                "norms": {},
            }
            kept = run_dir / "benchmark_eval.json"  # earlier evaluations of this very run
            old = json.loads(kept.read_text()) if kept.exists() else {}
            if old.get("step") != args.steps or old.get("n_eval") != args.n_eval:
                old = {}
            for norm in norms:
                if norm in old.get("norms", {}):
                    run["norms"][norm] = old["norms"][norm]
                    continue
                rep = evaluate_run(
                    run_dir,
                    n=args.n_eval,
                    features=features,
                    device=args.device,
                    seed=seed,
                    norm=norm,
                )
                fm = rep["feature_metrics"] or {}
                run["norms"][norm] = {
                    "fd": fm.get("fd"),
                    "is": fm.get("is"),
                    "precision": fm.get("precision"),
                    "recall": fm.get("recall"),
                    "recon_mse": rep["recon_mse"],
                    "f_data": rep["energy"]["f_data"],
                    "f_samples": rep["energy"]["f_samples"],
                }
            if args.curve_every:  # FD over training, in the recipe's own sampling mode
                run["curve"] = old.get("curve") or []
                done_steps = {c["step"] for c in run["curve"]}
                for step in range(args.curve_every, args.steps + 1, args.curve_every):
                    if step in done_steps:
                        continue
                    rep = evaluate_run(
                        run_dir,
                        n=args.n_eval,
                        features=features,
                        device=args.device,
                        seed=seed,
                        checkpoint=step,
                    )
                    fm = rep["feature_metrics"] or {}
                    run["curve"].append(
                        {"step": step, "fd": fm.get("fd"), "recon_mse": rep["recon_mse"]}
                    )
            kept.write_text(
                json.dumps(
                    {
                        "step": args.steps,
                        "n_eval": args.n_eval,
                        "norms": run["norms"],
                        "curve": run.get("curve"),
                    }
                )
            )
            runs.append(run)
            print(json.dumps(run), file=sys.stderr)
    settings = {
        "recipe": Path(args.recipe).name,
        "steps": args.steps,
        "width": args.width,
        "n_eval": args.n_eval,
        "seeds": seeds,
        "norms": norms,
        "device": args.device,
        "overrides": args.overrides,
        "feature_network": str(features),
    }
    if args.merge and Path(args.json).exists():
        old = json.loads(Path(args.json).read_text())
        if old["settings"] == settings:
            mine = {r["objective"] for r in runs}
            runs = [r for r in old["runs"] if r["objective"] not in mine] + runs
        else:
            print(
                "--merge: the settings in --json differ; writing this run's rows only",
                file=sys.stderr,
            )
    mark = f"<!-- objectives_table{'_' + args.tag if args.tag else ''} -->"
    title = "Objectives side by side (Tables 1 and 2)" + (f": {args.tag}" if args.tag else "")
    publish(args, settings, runs, render(runs, settings), mark, title, rows_key="runs")
    return 0


def summarise(runs: list[dict], norm: str) -> dict[str, dict]:
    """Per objective: each metric's (mean, std, n) over its seeds in sampling mode ``norm``."""
    out: dict[str, dict] = {}
    for r in runs:
        m = r["norms"].get(norm)
        if m is None:
            continue
        row = out.setdefault(
            r["objective"],
            {
                "runs": [],
                "inference_model": r["inference_model"],
                "train_seconds": [],
                "recipe": r.get("recipe"),
            },
        )
        row["runs"].append(m)
        row["train_seconds"].append(r["train_seconds"])
    for row in out.values():
        for k in METRICS + ("f_data", "f_samples"):
            vals = [m[k] for m in row["runs"] if m.get(k) is not None]
            row[k] = (
                (
                    statistics.fmean(vals),
                    statistics.stdev(vals) if len(vals) > 1 else 0.0,
                    len(vals),
                )
                if vals
                else None
            )
    return out


def render(runs, settings) -> str:
    lines = [
        f"Fashion-MNIST, `{settings['recipe']}` with `model.width = {settings['width']}`"
        f"{' and ' + ', '.join(f'`{o}`' for o in settings['overrides']) if settings['overrides'] else ''}, "
        f"{settings['steps']} iterations of batch 64, seeds {', '.join(map(str, settings['seeds']))} "
        f"(mean ± std over seeds), on {settings['device']}; metrics on {settings['n_eval']} test "
        f"images and as many samples. FD-FMNIST is a Fréchet distance in the features of a "
        f"classifier genzoo trains on the training labels (not FID); lower is better. IS is the "
        f"same classifier's Inception-Score analogue (at most 10). Precision/recall: k-NN "
        f"manifolds (k = 3) in those features. MSE: per pixel on the [0, 1] scale."
    ]
    for norm in settings["norms"]:
        rows = summarise(runs, norm)
        lines += [
            "",
            f"Samples and reconstructions with the generator's **{norm}** batch-norm "
            f"statistics (`--norm {norm}`):",
            "",
            "| objective | settings | seeds | FD-FMNIST ↓ | IS ↑ | precision ↑ | recall ↑ | test MSE ↓ | mean f data / samples | train s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in rows.items():
            mse = (
                spread(r["recon_mse"], ".5f") if r["inference_model"] else "— (no inference model)"
            )
            f = f"{r['f_data'][0]:.3g} / {r['f_samples'][0]:.3g}"
            own = r["recipe"] != settings["recipe"]
            where = f"`{r['recipe']}` ({'its own paper' if own else 'shared'})"
            lines.append(
                f"| {name} | {where} | {len(r['runs'])} | {spread(r['fd'], '.2f')} | "
                f"{spread(r['is'], '.3f')} | {spread(r['precision'], '.3f')} | "
                f"{spread(r['recall'], '.3f')} | {mse} | {f} | "
                f"{statistics.fmean(r['train_seconds']):.0f} |"
            )
        t = rows.get("triangle")
        if t:
            lines.append("")
            for other in ("vae", "wake_sleep", "ali", "alice"):
                if other in rows and rows[other]["recon_mse"]:
                    lines.append(
                        f"- Table 2 ({norm}): triangle MSE {spread(t['recon_mse'], '.5f')}"
                        f" vs {other} {spread(rows[other]['recon_mse'], '.5f')}: "
                        f"{compare(t['recon_mse'], rows[other]['recon_mse'])}."
                    )
            for other in ("vae", "gan", "wgan_gp", "coopnet", "acd", "ali", "alice"):
                if other in rows and t["fd"] and rows[other]["fd"]:
                    lines.append(
                        f"- Table 1 ({norm}): triangle FD-FMNIST {spread(t['fd'], '.2f')}"
                        f" vs {other} {spread(rows[other]['fd'], '.2f')}: "
                        f"{compare(t['fd'], rows[other]['fd'])}."
                    )
    curves = [r for r in runs if r.get("curve")]
    if curves:
        steps = sorted({c["step"] for r in curves for c in r["curve"]})
        lines += [
            "",
            "FD-FMNIST over training (each run's own sampling mode):",
            "",
            "| objective | seed | " + " | ".join(str(s) for s in steps) + " |",
            "|---|---|" + "---|" * len(steps),
        ]
        for r in curves:
            fd = {c["step"]: c["fd"] for c in r["curve"]}
            lines.append(
                f"| {r['objective']} | {r['seed']} | "
                + " | ".join(f"{fd[s]:.2f}" if fd.get(s) is not None else "—" for s in steps)
                + " |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
