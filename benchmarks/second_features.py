"""A study's sample-quality claims again in a second feature network: every finished cell's
last checkpoint measured (FD and KID, the study's split, images and draws) in the features of
FEATURES, each claim on FD tested on FD and on KID in both networks (paired t, Holm over the
claims of each network and metric, as the study tests), and a claim whose verdict is "holds"
in one and "fails" in another reported as depending on the features, not as a result.
Writes benchmarks/results/studies/NAME_second_features.json (after every cell measured, so a
rerun of an interrupted run measures only what is missing) and its section of PAGE.

    python benchmarks/second_features.py benchmarks/studies/tables_fashion.toml \\
        benchmarks/results/studies/tables_fashion.json docs/results/studies.md \\
        --features benchmarks/results/studies/fashion_mnist_features_seed1.safetensors

While the study runs, ``--so-far STORAGE`` (its journal or database) measures the cells
finished so far whose checkpoints this copy of the study folder holds and keeps them in the
JSON, without tests or page: a study that runs over several machines or sessions, each with
its own runs/ folder, is measured where each cell was trained. Each kept measurement names its
cell's last point as the study recorded it, and is taken only while that is unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

from tables import ROOT, write_section

from genzoo.store import checkpoint, rundir
from genzoo.store.files import atomic_write
from genzoo.study import runs, stats
from genzoo.study import spec as spec_mod
from genzoo.study.folder import StudyFolder

METRICS = ("fd", "kid")


def measure_cells(
    s, res: dict, folder: StudyFolder, features: Path, done=None, save=None, so_far=False
):
    """(variant, seed) -> {"fd", "kid"} of each finished cell's last point, in ``features``,
    measured as the study measures (its split, images and draws); a cell ``done`` holds is not
    measured again, and ``save(out)`` keeps each new one as it comes. ``so_far``: a cell whose
    checkpoint is not in ``folder`` is left out (it is measured where it was trained)."""
    out = {}
    for cell in res["cells"]:
        key = (cell["variant"], cell["seed"])
        if key in (done or {}):
            out[key] = done[key]
            continue
        step = max(int(k) for k in cell["evaluations"])
        if (run := measurable(folder, *key, step, so_far)) is None:
            continue
        m = runs.measure(run, s, s.evaluate.split, features, checkpoint=step)
        out[key] = {k: m.get(k) for k in METRICS}  # None where the study measures no KID
        print(*key, out[key], flush=True)
        if save is not None:
            save(out)
    return out


def has_checkpoint(run: Path, step: int) -> bool:
    return any(
        checkpoint.step_of(p) == step for p in checkpoint.list_checkpoints(run / rundir.CHECKPOINTS)
    )


def measurable(folder: StudyFolder, variant: str, seed: int, step: int, so_far: bool):
    """The run folder of a cell, which must hold its checkpoint of ``step``; ``so_far``: None
    where it does not."""
    run = folder.cell(variant, seed)
    if not has_checkpoint(run, step):
        if so_far:
            return None
        raise SystemExit(
            f"{variant} seed {seed}: its checkpoint of step {step} is not in {run}; measure it "
            f"with --so-far where it was trained, or pass that folder with --cells"
        )
    return run


def rows(second: dict) -> list[dict]:
    return [{"variant": v, "seed": k, **m} for (v, k), m in sorted(second.items())]


def first_network(res: dict) -> dict:
    """The same cells' last points as the study measured them, in its own features."""
    return {
        (c["variant"], c["seed"]): c["evaluations"][str(max(int(k) for k in c["evaluations"]))]
        for c in res["cells"]
    }


def tested(claims, values: dict, metric: str, alpha: float) -> list[dict]:
    def per_seed(variant):
        return {s: m[metric] for (v, s), m in values.items() if v == variant}

    tests = [
        stats.compare(
            c.text.replace(f" on {c.metric}", f" on {metric}"), per_seed(c.a), per_seed(c.b)
        )
        for c in claims
    ]
    stats.decide(tests, [c.less for c in claims], alpha)
    return [dataclasses.asdict(t) for t in tests]


def agreement(verdicts: list[str]) -> str:
    """One claim read across networks and metrics: the registered test's verdict (the first:
    FD in the study's own features), unless one measurement says "holds" and another "fails",
    which makes the ordering a property of the features, not of the models."""
    if {"holds", "fails"} <= set(verdicts):
        return "depends on the features"
    return verdicts[0]


def compare_networks(s, res: dict, second: dict, names: tuple[str, str]) -> dict:
    claims = [c for c in spec_mod.claims_of(s) if c.metric in METRICS]
    first = first_network(res)
    families = {
        f"{metric} ({name})": tested(claims, values, metric, s.alpha)
        for name, values in zip(names, (first, second))
        for metric in METRICS
    }
    rows = []
    for i, c in enumerate(claims):
        verdicts = {fam: tests[i]["verdict"] for fam, tests in families.items()}
        rows.append(
            {"claim": c.text, "verdicts": verdicts, "reading": agreement(list(verdicts.values()))}
        )
    return {"families": families, "claims": rows}


def records(res: dict) -> dict[str, dict]:
    """``VARIANT/SEED`` -> the cell's last point as the study recorded it (its step and
    metrics): a measurement kept from an earlier run is of the same cell only while this is
    unchanged (a cell trained again records other times and figures)."""
    out = {}
    for c in res["cells"]:
        step = max(int(k) for k in c["evaluations"])
        out[f"{c['variant']}/{c['seed']}"] = {"step": step, **c["evaluations"][str(step)]}
    return out


def same_cells(old: dict, res: dict) -> set[tuple[str, int]]:
    """The cells of ``res`` that an earlier run's JSON (``old``) measured as they are now."""
    before = old.get("cells", {})
    return {
        (name.rsplit("/", 1)[0], int(name.rsplit("/", 1)[1]))
        for name, rec in records(res).items()
        if before.get(name) == rec
    }


def so_far(s, where: str, folder: StudyFolder) -> dict:
    """The study's finished cells as far as its storage ``where`` holds them, as the study's
    JSON lists them."""
    from genzoo.study.cells import finished_cells
    from genzoo.study.results import cells_json
    from genzoo.study.storage import describe, open_storage

    return {"cells": cells_json(finished_cells(s, open_storage(describe(where, folder.root, 1))))}


def shown(path: Path) -> str:
    path = Path(path).resolve()
    return (path.relative_to(ROOT) if path.is_relative_to(ROOT) else path).as_posix()


def write_page(page: Path, name: str, out: Path, result: dict) -> None:
    fams = list(result["families"])
    head = "| claim | " + " | ".join(f"{f}: p (Holm), verdict" for f in fams) + " | read together |"
    lines = [head, "|" + "---|" * (len(fams) + 2)]
    for i, row in enumerate(result["claims"]):
        cells = []
        for f in fams:
            t = result["families"][f][i]
            p = "—" if t["p_holm"] is None else f"{t['p_holm']:.2g}"
            cells.append(f"{p}, {t['verdict']}")
        lines.append(f"| {row['claim']} | " + " | ".join(cells) + f" | **{row['reading']}** |")
    body = (
        f"From `{shown(out)}` (`python benchmarks/second_features.py`): the "
        f"study's cells measured again at their last point in a second feature network "
        f"(`{result['features'][1]}`) beside the study's own (`{result['features'][0]}`). A claim "
        f"that holds in one and fails in another depends on the features and is no result.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    write_section(
        page, f"<!-- second_features:{name} -->", f"`{name}` in a second feature network", body
    )


def again_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments of a script that measures a finished study's cells again: the study file,
    its committed JSON, the page to write in, the study folder and the JSON written."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("json", type=Path, help="the study's committed study.json")
    ap.add_argument("page", type=Path)
    ap.add_argument("--cells", type=Path, help="the study folder (default: runs/studies/NAME)")
    ap.add_argument("--out", type=Path, help="the JSON written (default: beside the study JSON)")
    ap.add_argument(
        "--so-far",
        metavar="STORAGE",
        help="the study still runs: measure the cells finished in STORAGE (its journal or "
        "database) whose checkpoints the study folder holds, keep them in the JSON and stop "
        "(no tests, no page); JSON then only names the file to come",
    )
    return ap


def read_study(args) -> tuple:
    """``(study file, its results, its folder)`` of :func:`again_parser`'s arguments: the
    results of the study's JSON, or with ``--so-far`` those of its storage so far."""
    s = spec_mod.load(args.study)
    folder = StudyFolder(args.cells or ROOT / "runs" / "studies" / s.name)
    if args.so_far:
        return s, so_far(s, args.so_far, folder), folder
    return s, json.loads(args.json.read_text()), folder


def provenance(args, s, **what) -> dict:
    """The head of a re-measurement's JSON: the study, the hash of its JSON (none while it
    runs) and ``what`` was measured; ``finished`` is False until every cell is measured."""
    study_sha = None if args.so_far else sha256(args.json)
    return {"study": s.name, "study_sha256": study_sha, **what, "finished": False}


def kept_so_far(args, s, what: str, measured: int, finished: int) -> int:
    """The end of a ``--so-far`` run: what it kept, and what comes next."""
    elsewhere = "; the others are measured where they were trained" if measured < finished else ""
    print(
        f"{measured} of the {finished} cells finished so far are measured, in "
        f"{json_path(args, s, what)}{elsewhere}. Run again without --so-far on the study's "
        f"JSON once it has finished"
    )
    return 0


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def kept(path: Path, same: dict) -> dict:
    """What an earlier run that was interrupted left in ``path``, if it measured the same
    (``same``: the keys that say what it measured, e.g. the feature network's hash), else {};
    which of its cells are still the study's is :func:`same_cells`."""
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    return old if all(old.get(k) == v for k, v in same.items()) else {}


def json_path(args, s, what: str) -> Path:
    """``--out``, by default ``NAME_WHAT.json`` beside the study's JSON."""
    return args.out or args.json.with_name(f"{s.name}_{what}.json")


def write_json(args, s, result: dict, what: str) -> Path:
    """``result`` written (whole or not at all) to :func:`json_path`."""
    out = json_path(args, s, what)
    atomic_write(out, (json.dumps(result, indent=1) + "\n").encode())
    return out


def main(argv=None) -> int:
    ap = again_parser(__doc__)
    ap.add_argument("--features", type=Path, required=True, help="the second feature network")
    args = ap.parse_args(argv)
    s, res, folder = read_study(args)
    files = (
        Path(s.evaluate.features).name if s.evaluate.features else "the study's",
        args.features.name,
    )
    result = provenance(args, s, features=list(files), features_sha256=sha256(args.features))
    cells = records(res)

    def save(second):
        mine = {f"{v}/{seed}": cells[f"{v}/{seed}"] for v, seed in second}
        write_json(args, s, {**result, "cells": mine, "second": rows(second)}, "second_features")

    old = kept(json_path(args, s, "second_features"), {"features_sha256": sha256(args.features)})
    still = same_cells(old, res)
    done = {
        (r["variant"], r["seed"]): {k: r[k] for k in METRICS}
        for r in old.get("second", [])
        if (r["variant"], r["seed"]) in still
    }
    second = measure_cells(s, res, folder, args.features, done, save, bool(args.so_far))
    if second or not args.so_far:
        save(second)
    if args.so_far:
        return kept_so_far(args, s, "second_features", len(second), len(res["cells"]))
    result |= {"finished": True, "cells": cells, "second": rows(second)}
    result |= compare_networks(s, res, second, ("study's network", "second network"))
    out = write_json(args, s, result, "second_features")
    write_page(args.page, s.name, out, result)
    for row in result["claims"]:
        print(f"{row['claim']}: {row['reading']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
