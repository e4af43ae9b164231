"""Checkpoints: safetensors for every tensor, a JSON sidecar for the rest. Never pickle.

A checkpoint is ``step_XXXXXXXX.safetensors`` plus ``step_XXXXXXXX.json``. Both are written
atomically (temporary file, flush, fsync, rename); the sidecar, written last, holds the step,
the recipe's identity hash and the SHA-256 of the weights file, so a truncated or corrupt
checkpoint is detected and the previous good one is used.
"""

from __future__ import annotations

import hashlib
import json
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
        for f in (old, old.with_suffix(".safetensors")):
            f.unlink(missing_ok=True)
    return weights


def remove_partial_writes(directory: Path) -> list[str]:
    """Delete what a write cut short can leave behind: temporary files, and the newest
    weights if their sidecar was never written (a crash between the two writes). Other
    weights without a sidecar are not a crash's doing and are left alone, with a warning.
    Returns what was removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for tmp in directory.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    sidecars = [step_of(p) for p in list_checkpoints(directory)]
    newest = max(sidecars, default=-1)
    for weights in sorted(directory.glob("step_*.safetensors"), key=step_of):
        if weights.with_suffix(".json").exists():
            continue
        if step_of(weights) > newest and weights == max(
            directory.glob("step_*.safetensors"), key=step_of
        ):
            weights.unlink(missing_ok=True)
            removed.append(weights.name)
            warnings.warn(
                f"removed '{weights}': weights a crash left without their sidecar", stacklevel=2
            )
        else:
            warnings.warn(
                f"'{weights}' has no sidecar (step_*.json) and is not the newest "
                f"write: left as it is; resuming from the newest complete "
                f"checkpoint",
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
        if "sidecar_sha256" in meta and meta["sidecar_sha256"] != _fields_hash(meta):
            raise ValueError("its fields were edited or damaged (checksum mismatch)")
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
