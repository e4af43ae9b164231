"""Checkpoints: safetensors for every tensor, a JSON sidecar for the rest. Never pickle.

A checkpoint is ``step_XXXXXXXX.safetensors`` plus ``step_XXXXXXXX.json``. Both are written
atomically (temporary file, flush, fsync, rename); the sidecar, written last, holds the step,
the recipe's identity hash and the SHA-256 of the weights file, so a truncated or corrupt
checkpoint is detected and the previous good one is used.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from genzoo.errors import GenzooError
from genzoo.store.files import atomic_write

FORMAT = 1
#: the generator's moving average (train.generator_ema) in a checkpoint: model.theta_ema.*
EMA = "theta_ema"


def _flatten_optimizer(prefix: str, state: dict, tensors: dict) -> dict:
    """Put an optimiser's tensors into ``tensors``; return the JSON-able remainder."""
    rest = {"param_groups": state["param_groups"], "scalars": {}}
    for idx, per_param in state["state"].items():
        for key, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{idx}.{key}"] = value
            else:
                rest["scalars"][f"{idx}.{key}"] = value
    return rest


def _unflatten_optimizer(prefix: str, rest: dict, tensors: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            idx, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    for name, value in rest["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


@dataclass
class Checkpoint:
    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict
    path: Path

    def module_state(self, player: str) -> dict[str, torch.Tensor]:
        p = f"model.{player}."
        return {k[len(p) :]: v for k, v in self.tensors.items() if k.startswith(p)}

    def optimizer_state(self, player: str) -> dict:
        return _unflatten_optimizer(f"optim.{player}", self.meta["optim"][player], self.tensors)


def save(
    directory: Path,
    step: int,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    extra_tensors: dict[str, torch.Tensor],
    meta: dict,
    keep: int,
) -> Path:
    """Write checkpoint ``step`` into ``directory`` and keep only the newest ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for player, module in modules.items():
        for k, v in module.state_dict().items():
            tensors[f"model.{player}.{k}"] = v
    optim_meta = {
        p: _flatten_optimizer(f"optim.{p}", o.state_dict(), tensors) for p, o in optimizers.items()
    }
    tensors.update(extra_tensors)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    blob = st_save(tensors)
    weights = directory / f"step_{step:08d}.safetensors"
    atomic_write(weights, blob)
    sidecar = {
        "format": FORMAT,
        "step": step,
        "weights": weights.name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "optim": optim_meta,
        **meta,
    }
    sidecar["sidecar_sha256"] = _fields_hash(sidecar)
    atomic_write(weights.with_suffix(".json"), json.dumps(sidecar, indent=1).encode())
    for old in list_checkpoints(directory)[:-keep]:
        for f in (old.with_suffix(".safetensors"), old):  # a cut leaves a sidecar, no orphan
            f.unlink(missing_ok=True)
    return weights


def remove_partial_writes(directory: Path) -> list[str]:
    """Delete what a write cut short can leave behind: temporary files, and the newest
    weights if their sidecar was never written (a crash between the two writes of one
    checkpoint). Several weights newer than the newest sidecar are no crash's doing (sidecars
    deleted or lost): that is refused, and nothing is touched. Older weights without a sidecar
    (a rotation cut short) are left alone, with a warning. Returns what was removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    newest = max((step_of(p) for p in list_checkpoints(directory)), default=-1)
    orphans = sorted(
        (w for w in directory.glob("step_*.safetensors") if not w.with_suffix(".json").exists()),
        key=step_of,
    )
    unfinished = [w for w in orphans if step_of(w) > newest]
    if len(unfinished) > 1:
        names = ", ".join(w.name for w in unfinished)
        raise GenzooError(
            f"'{directory}' holds {len(unfinished)} weights files newer than its newest complete "
            f"checkpoint with no sidecar beside them ({names}); a crash leaves at most one, so "
            f"their sidecars were deleted or lost: put them back, or move the weights away to "
            f"resume from step {max(newest, 0)}, or use --force to start over"
        )
    removed = []
    for tmp in directory.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    for weights in unfinished:
        weights.unlink(missing_ok=True)
        removed.append(weights.name)
        warnings.warn(
            f"removed '{weights}': weights a crash left without their sidecar", stacklevel=2
        )
    for weights in orphans:
        if weights not in unfinished:
            warnings.warn(
                f"'{weights}' has no sidecar (step_*.json) and is older than the newest "
                f"checkpoint: left as it is; resuming from the newest complete checkpoint",
                stacklevel=2,
            )
    return removed


def step_of(path: Path) -> int:
    """The step a checkpoint file holds, from its name (``step_00001234.json``)."""
    try:
        return int(Path(path).stem.split("_", 1)[1])
    except (IndexError, ValueError):
        return -1


def list_checkpoints(directory: Path) -> list[Path]:
    """Sidecar files, oldest first (by the step they hold, not by name)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.glob("step_*.json") if step_of(p) >= 0), key=step_of)


def _is_int(v, low: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def check_fields(meta: dict) -> None:
    """The types of the fields genzoo writes into a sidecar (a sidecar re-signed after an edit
    passes its checksum, so its fields are checked too); ValueError names the first bad one."""
    rules = {
        "recipe_hash": lambda v: isinstance(v, str),
        "sample_shape": lambda v: isinstance(v, list) and len(v) > 0 and all(map(_is_int, v)),
        "lr_scale": lambda v: (
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        ),
        "rollbacks": _is_int,
        "threads": lambda v: _is_int(v, 1),
        "optim": lambda v: isinstance(v, dict),
        "rng": lambda v: (
            isinstance(v, dict)
            and isinstance(v.get("python"), list)
            and len(v["python"]) == 3
            and isinstance(v.get("numpy"), list)
            and len(v["numpy"]) == 5
        ),
    }
    for key, ok in rules.items():
        if key in meta and not ok(meta[key]):
            raise ValueError(f"its field '{key}' holds {meta[key]!r}, not what genzoo writes")


def _fields_hash(meta: dict) -> str:
    """A checksum of a sidecar's own fields (an edited or damaged sidecar is not trusted)."""
    rest = {k: v for k, v in meta.items() if k != "sidecar_sha256"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def read(sidecar: Path) -> Checkpoint:
    """Read and verify one checkpoint; :class:`GenzooError` if it is unreadable or corrupt:
    a sidecar of a newer format, with fields of the wrong type, edited (its own checksum), or
    naming another step than its file, and weights whose hash does not match."""
    sidecar = Path(sidecar)
    try:
        meta = json.loads(sidecar.read_text())
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        fmt, step = meta["format"], meta["step"]
        if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt > FORMAT:
            raise ValueError(f"format {fmt!r}, this genzoo reads up to {FORMAT}")
        if not isinstance(step, int) or isinstance(step, bool) or step != step_of(sidecar):
            raise ValueError(f"step {step!r} does not match the file name")
        if "sidecar_sha256" not in meta:  # its absence must not switch the check off
            raise ValueError("it carries no checksum of its fields (sidecar_sha256)")
        if meta["sidecar_sha256"] != _fields_hash(meta):
            raise ValueError("its fields were edited or damaged (checksum mismatch)")
        check_fields(meta)
        if not isinstance(meta["weights"], str) or meta["weights"] != f"{sidecar.stem}.safetensors":
            raise ValueError(f"weights {meta['weights']!r} do not belong to it")
        weights = sidecar.with_name(meta["weights"])
        blob = weights.read_bytes()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GenzooError(f"checkpoint '{sidecar}' is unreadable ({exc})") from None
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise GenzooError(f"checkpoint '{weights}' is corrupt or truncated (hash mismatch)")
    try:
        tensors = st_load(blob)
    except Exception as exc:  # noqa: BLE001 - any decode failure means a corrupt file
        raise GenzooError(
            f"checkpoint '{weights}' is not a valid safetensors file ({exc})"
        ) from None
    return Checkpoint(meta["step"], tensors, meta, weights)


def latest(directory: Path, before: int | None = None) -> Checkpoint | None:
    """The newest checkpoint (older than step ``before``, if given) that reads and verifies;
    bad ones are skipped with a warning."""
    for sidecar in reversed(list_checkpoints(directory)):
        if before is not None and int(sidecar.stem.split("_")[1]) >= before:
            continue
        try:
            return read(sidecar)
        except GenzooError as exc:
            warnings.warn(f"{exc}; falling back to the previous checkpoint", stacklevel=2)
    return None
