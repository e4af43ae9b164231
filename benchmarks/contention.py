"""Training throughput where users train: k genzoo runs at once, or one beside busy programs,
under the thread policy (genzoo.threads) and under PyTorch's defaults (the policy off).

Each run is ``genzoo run recipes/dt_texture.toml`` for ``--steps`` iterations in a fresh
process; its speed is the iterations per second between its first and its last metrics line
(start-up, data preparation and the final grid and checkpoint are left out). The aggregate of
k runs is the sum of their speeds. The busy programs are matrix-product loops of one thread
each. Prints a table and writes benchmarks/results/contention.json.

    python benchmarks/contention.py               # about 5 minutes on 2 cores; run it alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY = "import torch\ntorch.set_num_threads(1)\na = torch.randn(384, 384)\nwhile True:\n    a @ a\n"
POLICIES = {"torch defaults": {"GENZOO_THREAD_POLICY": "torch"}, "genzoo policy": {}}


def environment(policy: dict) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GENZOO_THREAD_POLICY")
    }
    return {**env, **policy}


def speed(run_dir: Path) -> tuple[float, dict]:
    """Iterations per second between the first and the last metrics line, and the plan."""
    lines = [
        json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()
    ]
    lines = [x for x in lines if "time/elapsed_s" in x]
    first, last = lines[0], lines[-1]
    sidecars = sorted((run_dir / "checkpoints").glob("step_*.json"))
    plan = json.loads(sidecars[-1].read_text()).get("thread_plan", {}) if sidecars else {}
    return (last["step"] - first["step"]) / (last["time/elapsed_s"] - first["time/elapsed_s"]), plan


def trial(k: int, busy: int, policy: dict, steps: int, work: Path) -> dict:
    """``k`` runs started together beside ``busy`` busy programs."""
    hogs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
    try:
        if hogs:
            time.sleep(3)  # they are computing when the runs start
        dirs = [work / f"run{i}" for i in range(k)]
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "genzoo",
                    "run",
                    str(ROOT / "recipes" / "dt_texture.toml"),
                    "--out",
                    str(d),
                    "--force",
                    "--quiet",
                    "--set",
                    f"train.steps={steps}",
                    "--set",
                    "log.every=5",
                    "--set",
                    "log.sample_every=100000",
                    "--set",
                    "log.checkpoint_every=100000",
                ],
                env=environment(policy),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for d in dirs
        ]
        for p in procs:
            _, err = p.communicate()
            if p.returncode:
                raise SystemExit(f"a run failed: {err.strip().splitlines()[-1:]}")
        wall = time.perf_counter() - t0
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    measured = [speed(d) for d in dirs]
    return {
        "runs": k,
        "busy": busy,
        "wall_s": round(wall, 2),
        "it_per_s": [round(s, 3) for s, _ in measured],
        "aggregate_it_per_s": round(sum(s for s, _ in measured), 3),
        "threads": [p.get("threads") for _, p in measured],
        "wait_policy": [p.get("wait_policy") for _, p in measured],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--runs", default="1,2,4", help="concurrent runs to try")
    ap.add_argument("--busy", default="1,2", help="busy programs beside one run")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "contention.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="genzoo-contention-") as tmp:
        for name, policy in POLICIES.items():
            for k in map(int, args.runs.split(",")):
                rows.append({"policy": name, **trial(k, 0, policy, args.steps, Path(tmp))})
                print(json.dumps(rows[-1]), flush=True)
            for b in map(int, args.busy.split(",")):
                rows.append({"policy": name, **trial(1, b, policy, args.steps, Path(tmp))})
                print(json.dumps(rows[-1]), flush=True)
    idle = {r["policy"]: r["aggregate_it_per_s"] for r in rows if r["runs"] == 1 and not r["busy"]}
    best_alone = max(idle.values())
    for r in rows:
        r["vs_one_idle_run"] = round(r["aggregate_it_per_s"] / best_alone, 3)
    print(
        f"\n{'policy':<15} {'runs':>4} {'busy':>4} {'threads':>9} {'it/s each':>18} "
        f"{'together':>9} {'vs 1 idle':>9}"
    )
    for r in rows:
        each = ", ".join(f"{s:.2f}" for s in r["it_per_s"])
        print(
            f"{r['policy']:<15} {r['runs']:>4} {r['busy']:>4} "
            f"{','.join(map(str, r['threads'])):>9} {each:>18} "
            f"{r['aggregate_it_per_s']:>9.2f} {r['vs_one_idle_run']:>9.2f}"
        )
    out = {
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "processor": platform.processor() or platform.machine(),
        },
        "steps": args.steps,
        "recipe": "recipes/dt_texture.toml",
        "rows": rows,
        "targets": {"concurrent_runs_vs_one_idle_run": 0.9, "beside_one_busy_vs_idle": 0.45},
    }
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
