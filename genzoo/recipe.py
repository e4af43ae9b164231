"""TOML recipes parsed into typed, validated, frozen configuration.

A recipe names plugins by their registered names and gives their options in tables::

    name = "dt_texture"
    objective = "triangle"            # or ["vae", "acd"], or [{name = "acd", weight = 0.5}]
    seed = 0
    device = "auto"                   # auto | cpu | cuda | cuda:N

    [objectives.acd]                  # options of one objective
    entropy_weight = 0.1

    [model]                           # arch, s and init_std; the rest goes to the architecture
    arch = "texture"
    width = 0.25

    [data]                            # name; the rest goes to the data set
    name = "texture_image"
    image = "brick"

    [train]
    steps = 600
    [train.alpha]                     # per-player Adam settings: lr, betas, weight_decay, grad_clip

    [log]
    every = 10

Unknown keys and wrong types are errors naming the key, the expected type and, for a misspelt
name, the nearest valid one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from genzoo import schema, toml_text
from genzoo.devices import DEVICE
from genzoo.errors import GenzooError
from genzoo.occlusion import Occlusion
from genzoo.schema import AllowNonFinite
from genzoo.schema import schema as table

__all__ = [
    "AllowNonFinite",
    "DataTable",
    "LogTable",
    "ModelTable",
    "PlayerOptim",
    "Recipe",
    "TrainTable",
    "from_dict",
    "load",
]

# ranges of the recipe's numbers; sizes have upper limits that keep a typo from asking for
# more memory or time than any machine has
Count = Annotated[int, Field(ge=1, le=10**12)]  # steps and intervals
Rate = Annotated[float, Field(ge=0)]
Beta = Annotated[float, Field(ge=0, lt=1)]


@table
@dataclass(frozen=True)
class PlayerOptim:
    """Adam settings of one player (paper: weight decay 5e-4; authors' code: beta1 = 0.5)."""

    lr: Rate = 3e-4
    betas: tuple[Beta, Beta] = (0.5, 0.999)
    weight_decay: Rate = 5e-4
    grad_clip: Rate = 100.0  # max gradient norm; 0 turns clipping off


@table
@dataclass(frozen=True)
class TrainTable:
    steps: Count = 1000
    batch_size: Annotated[int, Field(ge=1, le=65536)] = 64
    # theta-steps per iteration (Algorithm 1, line 9)
    theta_steps: Annotated[int, Field(ge=1, le=1000)] = 1
    # the theta-step's z^: "reuse" the phi-step's draw (Algorithm 1) or "fresh": re-encode x
    # with the updated encoder and a new eps (the authors' train_cifar10.py)
    theta_z_hat: Literal["reuse", "fresh"] = "reuse"
    # samples (grids, stage measurements, evaluation) from a moving average of the generator's
    # weights with this decay, as progressive GANs draw theirs; 0: from the generator itself
    generator_ema: Annotated[float, Field(ge=0, lt=1)] = 0.0
    # learning rates multiplied by this once per epoch
    lr_decay: Annotated[float, Field(gt=0, le=1)] = 1.0
    # True: the decay is applied already in epoch 0 (lr * decay^(epoch+1), the authors' code,
    # whose scheduler steps at the start of every epoch); False: lr * decay^epoch
    lr_decay_epoch0: bool = False
    num_workers: Annotated[int, Field(ge=0, le=256)] = 0
    sync_batchnorm: bool = False  # batch-norm statistics over all processes (GPUs, DDP only)
    # speed (benchmarks/README.md says what each gave)
    channels_last: bool = False  # NHWC memory layout for images
    compile: bool = False  # torch.compile each network
    autocast: Literal["none", "bf16"] = "none"  # bfloat16 autocast of the forward passes
    threads: Annotated[int, Field(ge=0, le=1024)] = 0  # torch CPU threads (0: torch's default)
    energy_bound: Rate = 1e6  # |mean f| beyond this counts as divergence; 0 turns it off
    on_divergence: Literal["stop", "rollback"] = "stop"
    # learning rates multiplied by this at each rollback
    rollback_lr_factor: Annotated[float, Field(gt=0, le=1)] = 0.5
    max_rollbacks: Annotated[int, Field(ge=0, le=1000)] = 5
    # weight decay on the generator only, as the authors' code (the paper says 5e-4, for all)
    alpha: PlayerOptim = PlayerOptim(lr=1e-4, weight_decay=0.0)
    phi: PlayerOptim = PlayerOptim(lr=3e-4, weight_decay=0.0)
    theta: PlayerOptim = PlayerOptim(lr=3e-4)


@table
@dataclass(frozen=True)
class ModelTable:
    arch: str
    s: Annotated[float, Field(gt=0)] = math.sqrt(0.5)  # std of p_theta(x|z) = N(g(z), s^2 I)
    # growing networks: s holds at this resolution and scales with the side elsewhere
    # (s * r / s_resolution at r x r), so that ||x - g(z^)||^2 / (2 s^2), a sum over pixels,
    # weighs the same per image at every stage; 0: s at every resolution (the paper)
    s_resolution: Annotated[int, Field(ge=0, le=65536)] = 0
    init_std: Annotated[float, Field(gt=0)] = 0.02  # weights initialised N(0, init_std)
    # conv/linear biases: "zero", or PyTorch's "default" init kept (the authors' code)
    bias_init: Literal["zero", "default"] = "zero"
    # the encoder's second head: "log_std", or "log_var" (the authors' code)
    posterior: Literal["log_std", "log_var"] = "log_std"
    posterior_clamp: bool = True  # clamp log_std to [-10, 5] (the authors' code: no clamp)
    # the generator's batch norm when drawing samples for grids and evaluation: "running"
    # statistics (eval mode) or each sampling batch's own "batch" statistics (the authors' code)
    sample_norm: Literal["running", "batch"] = "running"
    # the generator's batch-norm running statistics (what "running" samples use) gathered from
    # every generator pass, PyTorch's way ("all"), or from the prior draws g(z) alone ("prior"):
    # the posterior pass g(z^) has other statistics wherever q(z|x) strays from the prior
    running_stats: Literal["all", "prior"] = "all"
    options: dict = field(default_factory=dict)  # the architecture's own keys


@table
@dataclass(frozen=True)
class DataTable:
    name: str
    occlusion: Occlusion | None = None  # train on incomplete images (section 4.4)
    # the share of the training images held out as the validation split (model selection
    # measures there; the same images whatever the seed); 0: the plugin's own split, if any
    validation: Annotated[float, Field(ge=0, lt=1)] = 0.0
    options: dict = field(default_factory=dict)  # the data set's own keys


@table
@dataclass(frozen=True)
class LogTable:
    every: Count = 10  # metrics.jsonl line and progress-bar update every N steps
    sample_every: Count = 500  # sample grid every N steps (and always at the end)
    checkpoint_every: Count = 500  # checkpoint every N steps (and always at the end)
    keep_checkpoints: Annotated[int, Field(ge=1, le=100_000)] = 3
    n_samples: Annotated[int, Field(ge=1, le=4096)] = 64
    interpolation: bool = False  # also write samples/interpolation.png at the end (Fig. 10)
    progress: bool = True
    tensorboard: bool = False  # also write TensorBoard event files to RUN/tensorboard/


@table
@dataclass(frozen=True)
class Recipe:
    model: ModelTable
    data: DataTable
    objective: Any = "triangle"  # a name, or a list of names / {name, weight} tables
    name: str = "run"
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0  # the random generators' range
    device: str = "auto"
    # objective name -> its options
    objectives: dict[str, dict[str, Any]] = field(default_factory=dict)
    train: TrainTable = TrainTable()
    log: LogTable = LogTable()
    path: Path | None = None  # the recipe file (relative data paths resolve against it)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("path")
        d["model"] = {k: v for k, v in d["model"].items() if k != "options"}
        d["model"].update(self.model.options)
        d["data"] = {"name": self.data.name, **self.data.options}
        if self.data.occlusion is not None:
            d["data"]["occlusion"] = dataclasses.asdict(self.data.occlusion)
        if self.data.validation:
            d["data"]["validation"] = self.data.validation
        return _plain(d)

    def identity_hash(self) -> str:
        """Hash of what defines the trained models: everything except run length, logging,
        device, loader workers and the divergence guard. A checkpoint resumes only under the
        same hash."""
        return hash_of(identity(self.to_dict()))


def hash_of(identity_dict: dict) -> str:
    """The 16-hex-digit hash of a recipe's :func:`identity`."""
    return hashlib.sha256(
        json.dumps(identity_dict, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]


def identity(d: dict) -> dict:
    d = json.loads(json.dumps(d, default=str))
    d.pop("log", None)
    d.pop("device", None)
    d.pop("name", None)
    for key in (
        "steps",
        "num_workers",
        "energy_bound",
        "on_divergence",
        "rollback_lr_factor",
        "max_rollbacks",
        "channels_last",
        "compile",
        "threads",
    ):
        d.get("train", {}).pop(key, None)
    d.get("model", {}).pop("sample_norm", None)  # how samples are drawn, not what was trained
    # keys added after runs were first written count only when they leave their default, so
    # older runs keep their hash
    for section, defaults in _LATER_KEYS.items():
        for key, default in defaults.items():
            if d.get(section, {}).get(key, default) == default:
                d.get(section, {}).pop(key, None)
    return d


_LATER_KEYS = {
    "model": {
        "bias_init": "zero",
        "posterior": "log_std",
        "posterior_clamp": True,
        "s_resolution": 0,
        "running_stats": "all",
    },
    "train": {"theta_z_hat": "reuse", "lr_decay_epoch0": False, "generator_ema": 0.0},
    "data": {"validation": 0.0},
}


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v


# --- loading ------------------------------------------------------------------------------
def _split_options(raw: dict) -> dict:
    """``[model]`` and ``[data]`` keys that are not the recipe's own go to their plugin (its
    ``options``, checked against the plugin's signature when it is built)."""
    out = dict(raw)
    if "path" in out:
        raise GenzooError("unknown recipe key 'path'; the recipe's own location is not a key")
    for section, cls in (("model", ModelTable), ("data", DataTable)):
        if isinstance(out.get(section), dict):
            own = {f.name for f in dataclasses.fields(cls)} - {"options"}
            t = out[section]
            out[section] = {
                **{k: v for k, v in t.items() if k in own},
                "options": {k: v for k, v in t.items() if k not in own},
            }
    return out


def from_dict(raw: dict, path: Path | None = None) -> Recipe:
    base = Path(path).resolve().parent if path else None
    recipe = schema.validate(Recipe, _split_options(raw), "", base)
    recipe = dataclasses.replace(recipe, path=Path(path).resolve() if path else None)
    _validate(recipe)
    return recipe


def load(path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    raw = toml_text.apply_overrides(toml_text.read_toml(Path(path)), list(overrides))
    return from_dict(raw, Path(path))


def _validate(r: Recipe) -> None:
    """What the schema's types and ranges cannot say."""
    if (
        not r.name
        or r.name in (".", "..")
        or "/" in r.name
        or "\\" in r.name
        or r.name != r.name.strip()
        or any(ord(c) < 32 for c in r.name)
    ):
        raise GenzooError(
            f"recipe key 'name' must be a plain folder name (no '/', not empty, "
            f"not '.' or '..'): it names runs/<name>; got {r.name!r}"
        )
    if not DEVICE.fullmatch(r.device):
        raise GenzooError(
            f"recipe key 'device' must be auto, cpu, cuda or cuda:N, got '{r.device}'"
        )
    spec = r.objective
    items = spec if isinstance(spec, list) else [spec]
    if not items:
        raise GenzooError("recipe key 'objective' is an empty list; name at least one objective")
    for i, item in enumerate(items):
        if isinstance(item, str):
            continue
        if (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and set(item) <= {"name", "weight"}
            and isinstance(item.get("weight", 1.0), (int, float))
            and not isinstance(item.get("weight", 1.0), bool)
            and math.isfinite(item.get("weight", 1.0))
        ):
            continue
        raise GenzooError(
            f"recipe key 'objective[{i}]' must be a name or a table "
            f'{{name = "...", weight = 1.0}} with a finite weight, got '
            f"{schema.shown(item)}"
        )
