"""Training throughput of the divergence triangle: genzoo's trainer against a plain PyTorch loop
of the same math (and a naive one with a fresh forward pass per term), achieved GFLOP/s against
the machine's measured fp32 matmul peak, the memory training adds, and the speed options of
[train].

    python benchmarks/throughput.py                       # widths 1.0, 0.5, 0.25; options at 1.0
    python benchmarks/throughput.py --widths 0.25 --rounds 2 --steps 5 --options none
    python benchmarks/throughput.py --widths 0.25 --options threads1,threads1+bf16 \
        --out benchmarks/results/throughput_quarter.json   # a study worker's speed, fp32 and bf16

Fashion-MNIST-shaped data (1x28x28, random values: speed does not depend on them), the `dcgan`
nets of Table 6, batch 64. Prints a table and writes benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from genzoo import hookimpl, plugins
from genzoo.data import DataSource
from genzoo.recipe import from_dict
from genzoo.training import Trainer

HERE = Path(__file__).resolve().parent


class FashionShaped:
    """An in-process dataset plugin: random images of Fashion-MNIST's shape."""

    @hookimpl
    def register_datasets(self, register):
        def fashion_shaped(n: int = 256) -> DataSource:
            g = torch.Generator().manual_seed(0)
            return DataSource(
                TensorDataset(torch.rand(n, 1, 28, 28, generator=g) * 2 - 1), (1, 28, 28)
            )

        register("fashion_shaped", fashion_shaped)


def recipe(width: float, batch: int, **train):
    return from_dict(
        {
            "name": "throughput",
            "objective": "triangle",
            "seed": 0,
            "device": "auto",
            "model": {"arch": "dcgan", "width": width},
            "data": {"name": "fashion_shaped"},
            "train": {"batch_size": batch, **train},
            "log": {"progress": False},
        }
    )


# --- the plain loop: the same math as genzoo's triangle, written out ---------------------------
class PlainLoop:
    """Algorithm 1 with the triangle's terms (vae + acd, entropy weight 0.1, prior KL averaged
    over units, s^2 = 0.5), the same networks, three Adam optimisers and gradient clipping as
    the trainer, as one would write it without genzoo. ``reuse``: the theta-step reuses the
    phi-step's g(z^) as the trainer does (graphs retained); without it every term gets a fresh
    forward pass (one more generator pass per iteration)."""

    def __init__(self, trainer: Trainer, reuse: bool = True):
        self.reuse = reuse
        r = trainer.recipe
        self.g = copy.deepcopy(trainer.models.generator)
        self.q = copy.deepcopy(trainer.models.encoder)
        self.f = copy.deepcopy(trainer.models.energy)
        self.s2 = r.model.s**2
        self.clip = {k: getattr(r.train, k).grad_clip for k in ("alpha", "phi", "theta")}

        def adam(net, o):
            return torch.optim.Adam(
                net.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay
            )

        self.opt = {
            "alpha": adam(self.f, r.train.alpha),
            "phi": adam(self.q, r.train.phi),
            "theta": adam(self.g, r.train.theta),
        }
        self.latent = trainer.models.generator.latent_shape

    @staticmethod
    def neg_log_q(mean, log_std, z):
        return (
            (log_std + 0.5 * ((z - mean) / log_std.exp()) ** 2 + 0.5 * math.log(2 * math.pi))
            .flatten(1)
            .sum(1)
        )

    def update(self, player, net, loss, retain=False):
        opt = self.opt[player]
        opt.zero_grad(set_to_none=True)
        loss.backward(inputs=list(net.parameters()), retain_graph=retain)
        torch.nn.utils.clip_grad_norm_(net.parameters(), self.clip[player])
        opt.step()

    def step(self, x):
        z = torch.randn((x.shape[0], *self.latent), device=x.device)
        x_dream = self.g(z)
        # alpha: max E_data f - E_P f
        self.update("alpha", self.f, self.f(x_dream).mean() - self.f(x).mean(), self.reuse)
        # phi: KL(Q||P) + 0.1 * E_P[-log q(z|x~)]
        post = self.q(x)
        z_hat = post.mean + post.std * torch.randn_like(post.mean)
        x_recon = self.g(z_hat)
        recon = (x - x_recon).pow(2).flatten(1).sum(1) / (2 * self.s2)
        prior = 0.5 * (post.mean**2 + post.std**2 - 1 - 2 * post.log_std)
        dream = self.q(x_dream)
        self.update(
            "phi",
            self.q,
            recon.mean()
            + prior.flatten(1).mean(1).mean()
            + 0.1 * self.neg_log_q(dream.mean, dream.log_std, z).mean(),
            self.reuse,
        )
        # theta: KL(Q||P) with z^ fixed, - E_P f, 0.1 * E_P[-log q(z|x~)]
        if not self.reuse:
            x_recon = self.g(z_hat.detach())
        recon = (x - x_recon).pow(2).flatten(1).sum(1) / (2 * self.s2)
        dream = self.q(x_dream)
        self.update(
            "theta",
            self.g,
            recon.mean()
            - self.f(x_dream).mean()
            + 0.1 * self.neg_log_q(dream.mean, dream.log_std, z).mean(),
        )


# --- measurements -----------------------------------------------------------------------------
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device, n: int = 2048, reps: int = 10) -> float:
    """Best dense fp32 matmul rate in GFLOP/s."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    best = 0.0
    for _ in range(3):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


def flops_of(step, x) -> int:
    with FlopCounterMode(display=False) as counter:
        step(x)
    return counter.get_total_flops()


def rss_mib(field: str = "VmRSS") -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def memory_of(width, batch, loop, train) -> float | None:
    """Peak memory (MiB) a loop's training steps add over the process with its networks built,
    measured in a fresh process (a CPU allocator keeps freed memory, so peaks of loops run in
    one process would mix)."""
    cmd = [
        sys.executable,
        __file__,
        "--memory-of",
        json.dumps({"width": width, "batch": batch, "loop": loop, "train": train}),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])["mib"]
    except (IndexError, ValueError, KeyError):
        return None


def _memory_child(spec: dict) -> None:
    plugins.register_plugin(FashionShaped(), dist="benchmarks")
    t = Trainer(recipe(spec["width"], spec["batch"], **spec["train"]))
    fn = {"genzoo": t.step, "plain": PlainLoop(t).step, "naive": PlainLoop(t, reuse=False).step}[
        spec["loop"]
    ]
    x = torch.rand(spec["batch"], 1, 28, 28, device=t.device) * 2 - 1
    if t.device.type == "cuda":
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        base = rss_mib()
    for _ in range(3):
        fn(x)
    mib = (
        (torch.cuda.max_memory_allocated() - base) / 2**20
        if t.device.type == "cuda"
        else rss_mib("VmHWM") - base
    )
    print(json.dumps({"mib": round(mib, 1)}))


def timed(step, x, steps, device) -> float:
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x)
    sync(device)
    return time.perf_counter() - t0


def compare(width, batch, steps, rounds, device, naive=False, **train):
    """genzoo vs the plain loop, alternating rounds; samples/s are the best round of each."""
    t = Trainer(recipe(width, batch, **train))
    loops = {"genzoo": t.step, "plain": PlainLoop(t).step}
    if naive:
        loops["naive"] = PlainLoop(t, reuse=False).step
    x = torch.rand(batch, 1, 28, 28, device=t.device) * 2 - 1
    if t.team.memory_format is torch.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        for fn in list(loops.values())[1:]:
            for net in (fn.__self__.g, fn.__self__.q, fn.__self__.f):
                net.to(memory_format=torch.channels_last)
    for _ in range(2):  # warm-up (and compilation)
        for fn in loops.values():
            fn(x)
    flops = {k: flops_of(fn, x) for k, fn in loops.items()}
    best = {k: math.inf for k in loops}
    for _ in range(rounds):
        for name, fn in loops.items():
            best[name] = min(best[name], timed(fn, x, steps, t.device))
    mem = {k: memory_of(width, batch, k, train) for k in loops}
    sps = {k: batch * steps / v for k, v in best.items()}
    row = {
        "width": width,
        "batch": batch,
        "options": train,
        "genzoo_samples_s": round(sps["genzoo"], 2),
        "plain_samples_s": round(sps["plain"], 2),
        "ratio": round(sps["genzoo"] / sps["plain"], 4),
        "gflop_per_step": round(flops["genzoo"] / 1e9, 3),
        "gflop_per_step_plain": round(flops["plain"] / 1e9, 3),
        "genzoo_gflop_s": round(flops["genzoo"] / (best["genzoo"] / steps) / 1e9, 2),
        "train_mib": mem["genzoo"] and round(mem["genzoo"], 1),
        "train_mib_plain": mem["plain"] and round(mem["plain"], 1),
    }
    if naive:
        row.update(
            naive_samples_s=round(sps["naive"], 2),
            gflop_per_step_naive=round(flops["naive"] / 1e9, 3),
            train_mib_naive=mem["naive"] and round(mem["naive"], 1),
        )
    return row


OPTION_SETS = {
    "none": {},
    "channels_last": {"channels_last": True},
    "threads1": {"threads": 1},
    "bf16": {"autocast": "bf16"},
    "compile": {"compile": True},
    "channels_last+bf16": {"channels_last": True, "autocast": "bf16"},
    "threads1+bf16": {"threads": 1, "autocast": "bf16"},  # a study worker's setting, in bf16
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="1.0,0.5,0.25")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5, help="steps per timed round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per comparison")
    ap.add_argument(
        "--options",
        default="channels_last,threads1,bf16,compile,channels_last+bf16",
        help="speed option sets tried at the first width ('none' for none)",
    )
    ap.add_argument("--out", default=str(HERE / "results" / "throughput.json"))
    ap.add_argument("--memory-of", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.memory_of:
        return _memory_child(json.loads(a.memory_of))
    plugins.register_plugin(FashionShaped(), dist="benchmarks")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = torch.get_num_threads()
    peak = matmul_peak(device)
    rows = []
    widths = [float(w) for w in a.widths.split(",")]
    for w in widths:
        rows.append(compare(w, a.batch, a.steps, a.rounds, device, naive=True))
        print(json.dumps(rows[-1]), flush=True)
    for name in [o for o in a.options.split(",") if o and o != "none"]:
        rows.append(
            {
                **compare(widths[0], a.batch, a.steps, a.rounds, device, **OPTION_SETS[name]),
                "option_set": name,
            }
        )
        torch.set_num_threads(threads)
        print(json.dumps(rows[-1]), flush=True)
    for r in rows:
        r["share_of_peak"] = round(r["genzoo_gflop_s"] / peak, 4)
    report = {
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": threads,
        "matmul_peak_gflop_s": round(peak, 1),
        "rows": rows,
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"\ndevice {device}, {threads} threads, measured fp32 matmul peak {peak:.1f} GFLOP/s\n")
    print(
        f"{'width':>5} {'options':<20} {'genzoo s/s':>10} {'plain s/s':>10} {'ratio':>6} "
        f"{'naive s/s':>9} {'GFLOP/step':>10} {'GFLOP/s':>8} {'% peak':>7} {'train MiB':>9}"
    )
    for r in rows:
        opts = r.get("option_set", "default")
        print(
            f"{r['width']:>5} {opts:<20} {r['genzoo_samples_s']:>10.1f} "
            f"{r['plain_samples_s']:>10.1f} {r['ratio']:>6.3f} "
            f"{r.get('naive_samples_s', float('nan')):>9.1f} {r['gflop_per_step']:>10.2f} "
            f"{r['genzoo_gflop_s']:>8.1f} {100 * r['share_of_peak']:>6.1f}% "
            f"{r['train_mib'] or float('nan'):>9.0f}"
        )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
