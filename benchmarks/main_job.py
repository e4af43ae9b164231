"""The README's main job as a new user runs it: `genzoo run recipes/dt_texture.toml` into a
fresh folder, timed, with its final texture statistics (RUN/texture.jsonl) and the picture the
README shows: training crops beside the final samples (docs/images/main_job.png). Writes
benchmarks/results/main_job.json and its section of docs/results/texture.md. Run it with nothing
else busy on the machine.

    python benchmarks/main_job.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw
from tables import ROOT, write_section

PAGE = ROOT / "docs" / "results" / "texture.md"


def side_by_side(data: Path, final: Path, out: Path, caption: str) -> None:
    a, b = Image.open(data).convert("RGB"), Image.open(final).convert("RGB")
    gap, band = 16, 22
    pic = Image.new("RGB", (a.width + gap + b.width, max(a.height, b.height) + band), "white")
    pic.paste(a, (0, band))
    pic.paste(b, (a.width + gap, band))
    draw = ImageDraw.Draw(pic)
    draw.text((4, 4), "training crops (data.png)", fill="black")
    draw.text((a.width + gap + 4, 4), caption, fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    pic.save(out, optimize=True)


def write_page(result: dict) -> None:
    """The job's section of docs/results/texture.md, from its JSON."""
    t, minutes = result["texture"], result["seconds"] / 60
    write_section(
        PAGE,
        "<!-- main_job -->",
        "The README's main job",
        f"From `benchmarks/results/main_job.json` (`python benchmarks/main_job.py`, nothing else "
        f"running): `genzoo run recipes/dt_texture.toml` in a fresh folder took "
        f"{result['seconds']:.0f} s ({minutes:.1f} min) on {result['cpus']} CPU cores, start to "
        f"exit, {t['step']} steps. Its final grid (16 samples against the 16 crops of "
        f"`data.png`): high-frequency share {t['high_frequency_share']:.4f} against the data's "
        f"{t['high_frequency_share_data']:.4f}, Nyquist share {t['nyquist_share']:.2g} against "
        f"{t['nyquist_share_data']:.2g}, orientation distance {t['orientation_distance']:.3f}, "
        f"Gram distance {t['gram_distance']:.3f} (16 tiles: noisier than the 256 samples "
        f"above).\n\n![training crops beside the final samples](../images/main_job.png)\n",
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "runs" / "main_job"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "main_job.json"))
    ap.add_argument("--picture", default=str(ROOT / "docs" / "images" / "main_job.png"))
    ap.add_argument("--page-only", action="store_true", help="rewrite the page from --json")
    args = ap.parse_args(argv)
    if args.page_only:
        write_page(json.loads(Path(args.json).read_text()))
        return 0
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "genzoo", "run", str(ROOT / "recipes" / "dt_texture.toml")]
    t0 = time.perf_counter()
    subprocess.run([*cmd, "--out", str(out)], check=True)
    seconds = time.perf_counter() - t0
    final = json.loads((out / "texture.jsonl").read_text().splitlines()[-1])
    steps = final.get("step")
    minutes = seconds / 60
    side_by_side(
        out / "samples" / "data.png",
        out / "samples" / "final.png",
        Path(args.picture),
        f"final samples, {steps} steps, {minutes:.1f} min on {os.cpu_count()} CPU cores",
    )
    result = {"seconds": round(seconds, 1), "cpus": os.cpu_count(), "texture": final}
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    write_page(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
