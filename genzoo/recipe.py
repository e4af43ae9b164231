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
import inspect
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from genzoo.errors import GenzooError, did_you_mean
from genzoo.occlusion import Occlusion


@dataclass(frozen=True)
class PlayerOptim:
    """Adam settings of one player (paper: weight decay 5e-4; authors' code: beta1 = 0.5)."""

    lr: float = 3e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 5e-4
    grad_clip: float = 100.0  # max gradient norm; 0 turns clipping off


@dataclass(frozen=True)
class Train:
    steps: int = 1000
    batch_size: int = 64
    theta_steps: int = 1  # theta-steps per iteration (Algorithm 1, line 9)
    # the theta-step's z^: "reuse" the phi-step's draw (Algorithm 1) or "fresh": re-encode x
    # with the updated encoder and a new eps (the authors' train_cifar10.py)
    theta_z_hat: Literal["reuse", "fresh"] = "reuse"
    lr_decay: float = 1.0  # learning rates multiplied by this once per epoch
    # True: the decay is applied already in epoch 0 (lr * decay^(epoch+1), the authors' code,
    # whose scheduler steps at the start of every epoch); False: lr * decay^epoch
    lr_decay_epoch0: bool = False
    num_workers: int = 0
    sync_batchnorm: bool = False  # batch-norm statistics over all processes (GPUs, DDP only)
    # speed (benchmarks/README.md says what each gave)
    channels_last: bool = False  # NHWC memory layout for images
    compile: bool = False  # torch.compile each network
    autocast: Literal["none", "bf16"] = "none"  # bfloat16 autocast of the forward passes
    threads: int = 0  # torch CPU threads (0: torch's default)
    energy_bound: float = 1e6  # |mean f| beyond this counts as divergence; 0 turns it off
    on_divergence: Literal["stop", "rollback"] = "stop"
    rollback_lr_factor: float = 0.5  # learning rates multiplied by this at each rollback
    max_rollbacks: int = 5
    # weight decay on the generator only, as the authors' code (the paper says 5e-4, for all)
    alpha: PlayerOptim = PlayerOptim(lr=1e-4, weight_decay=0.0)
    phi: PlayerOptim = PlayerOptim(lr=3e-4, weight_decay=0.0)
    theta: PlayerOptim = PlayerOptim(lr=3e-4)


@dataclass(frozen=True)
class Model:
    arch: str
    s: float = math.sqrt(0.5)  # std of p_theta(x|z) = N(g(z), s^2 I)
    init_std: float = 0.02  # weights initialised N(0, init_std)
    # conv/linear biases: "zero", or PyTorch's "default" init kept (the authors' code)
    bias_init: Literal["zero", "default"] = "zero"
    # the encoder's second head: "log_std", or "log_var" (the authors' code)
    posterior: Literal["log_std", "log_var"] = "log_std"
    posterior_clamp: bool = True  # clamp log_std to [-10, 5] (the authors' code: no clamp)
    # the generator's batch norm when drawing samples for grids and evaluation: "running"
    # statistics (eval mode) or each sampling batch's own "batch" statistics (the authors' code)
    sample_norm: Literal["running", "batch"] = "running"
    options: dict = field(default_factory=dict)  # the architecture's own keys


@dataclass(frozen=True)
class Data:
    name: str
    occlusion: Occlusion | None = None  # train on incomplete images (section 4.4)
    options: dict = field(default_factory=dict)  # the data set's own keys


@dataclass(frozen=True)
class Log:
    every: int = 10  # metrics.jsonl line and progress-bar update every N steps
    sample_every: int = 500  # sample grid every N steps (and always at the end)
    checkpoint_every: int = 500  # checkpoint every N steps (and always at the end)
    keep_checkpoints: int = 3
    n_samples: int = 64
    interpolation: bool = False  # also write samples/interpolation.png at the end (Fig. 10)
    progress: bool = True
    tensorboard: bool = False  # also write TensorBoard event files to RUN/tensorboard/


@dataclass(frozen=True)
class Recipe:
    model: Model
    data: Data
    objective: Any = "triangle"  # a name, or a list of names / {name, weight} tables
    name: str = "run"
    seed: int = 0
    device: str = "auto"
    objectives: dict = field(default_factory=dict)  # objective name -> its options
    train: Train = Train()
    log: Log = Log()
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
        return _plain(d)

    def identity_hash(self) -> str:
        """Hash of what defines the trained models: everything except run length, logging,
        device, loader workers and the divergence guard. A checkpoint resumes only under the
        same hash."""
        return hashlib.sha256(json.dumps(identity(self.to_dict()), sort_keys=True,
                                         default=str).encode()).hexdigest()[:16]


def identity(d: dict) -> dict:
    d = json.loads(json.dumps(d, default=str))
    d.pop("log", None)
    d.pop("device", None)
    d.pop("name", None)
    for key in ("steps", "num_workers", "energy_bound", "on_divergence", "rollback_lr_factor",
                "max_rollbacks", "channels_last", "compile", "threads"):
        d.get("train", {}).pop(key, None)
    d.get("model", {}).pop("sample_norm", None)  # how samples are drawn, not what was trained
    # keys added after runs were first written count only when they leave their default, so
    # older runs keep their hash
    for section, defaults in _LATER_KEYS.items():
        for key, default in defaults.items():
            if d.get(section, {}).get(key, default) == default:
                d.get(section, {}).pop(key, None)
    return d


_LATER_KEYS = {"model": {"bias_init": "zero", "posterior": "log_std", "posterior_clamp": True},
               "train": {"theta_z_hat": "reuse", "lr_decay_epoch0": False}}


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v


# --- typed conversion -----------------------------------------------------------------------
_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
               Path: "a path string", dict: "a table"}


def _describe(tp) -> str:
    if tp in _TYPE_NAMES:
        return _TYPE_NAMES[tp]
    origin = get_origin(tp)
    if origin is tuple:
        return f"a list of {len(get_args(tp))} values"
    if origin is list:
        return "a list"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a table"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp) if a is not type(None))
    return getattr(tp, "__name__", str(tp))


def _shown(value) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text if len(text) < 40 else text[:37] + '...'}"


class AllowNonFinite:
    """Marks a float option that may be NaN or infinite: ``Annotated[float, AllowNonFinite]``
    (every other number of a recipe or plugin option must be finite)."""


def coerce(key: str, value, tp, base_dir: Path | None = None):
    """Check ``value`` against the annotation ``tp``; return it converted (ints to floats,
    lists to tuples, path strings to Paths resolved against ``base_dir``)."""
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    if get_origin(tp) is Annotated:
        base, *marks = get_args(tp)
        if base is float and AllowNonFinite in marks and isinstance(value, float):
            return value
        return coerce(key, value, base, base_dir)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        arms = [a for a in get_args(tp) if a is not type(None)]
        if len(arms) == 1:  # an optional value: its own error says what is wrong inside it
            return coerce(key, value, arms[0], base_dir)
        for arm in arms:
            try:
                return coerce(key, value, arm, base_dir)
            except GenzooError:
                continue
        raise GenzooError(f"recipe key '{key}' must be {_describe(tp)}, got {_shown(value)}")
    bad = GenzooError(f"recipe key '{key}' must be {_describe(tp)}, got {_shown(value)}")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):  # NaN slips past every `x < 0` check
            raise GenzooError(f"recipe key '{key}' must be a finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise bad
        p = Path(value).expanduser()
        return p if p.is_absolute() or base_dir is None else (base_dir / p)
    if origin is Literal:
        if value not in get_args(tp):
            raise bad
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise bad
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(f"{key}[{i}]", v, args[0], base_dir) for i, v in enumerate(value))
        if len(value) != len(args):
            raise bad
        return tuple(coerce(f"{key}[{i}]", v, a, base_dir) for i, (v, a) in
                     enumerate(zip(value, args)))
    if origin is list or tp is list:
        if not isinstance(value, (list, tuple)):
            raise bad
        (arg,) = get_args(tp) or (Any,)
        return [coerce(f"{key}[{i}]", v, arg, base_dir) for i, v in enumerate(value)]
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad
        return _build(tp, value, key, base_dir)
    return value


def _build(cls, raw: dict, prefix: str, base_dir: Path | None):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "path"}
    open_options = "options" in fields
    kwargs, extra = {}, {}
    for key, value in raw.items():
        where = f"{prefix}.{key}" if prefix else key
        if key in fields and key != "options":
            kwargs[key] = coerce(where, value, hints[key], base_dir)
        elif open_options:
            extra[key] = value
        else:
            valid = [k for k in fields if k != "options"]
            raise GenzooError(f"unknown recipe key '{where}'{did_you_mean(key, valid)}")
    for name, f in fields.items():
        if name in kwargs or name == "options":
            continue
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            where = f"{prefix}.{name}" if prefix else name
            raise GenzooError(f"recipe is missing the required key '{where}'")
    if open_options:
        kwargs["options"] = extra
    return cls(**kwargs)


# --- loading ------------------------------------------------------------------------------
def parse_override(text: str) -> tuple[list[str], Any]:
    """``'train.steps=200'`` -> ``(['train', 'steps'], 200)``. Values are TOML values; anything
    that is not valid TOML is taken as a plain string (``--set data.image=grass``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not key or not all(p.strip() for p in parts):
        raise GenzooError(f"--set expects KEY=VALUE with a dotted key (e.g. train.steps=200), "
                          f"got '{text}'")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return [p.strip() for p in parts], value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for text in overrides:
        parts, value = parse_override(text)
        node = raw
        for i, p in enumerate(parts[:-1]):
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise GenzooError(f"--set {text}: '{'.'.join(parts[:i + 1])}' is not a table")
            node = nxt
        node[parts[-1]] = value
    return raw


def read_toml(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise GenzooError(f"recipe file '{path}' does not exist; check the path")
    if path.is_dir():
        raise GenzooError(f"recipe '{path}' is a folder; pass a .toml recipe file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GenzooError(f"cannot read recipe '{path}' ({type(exc).__name__}); a recipe is a "
                          f"UTF-8 TOML text file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GenzooError(f"recipe '{path}' is not valid TOML: {exc}; fix the syntax") from None
    except RecursionError:
        raise GenzooError(f"recipe '{path}' is nested too deeply to read; a recipe needs two "
                          f"levels of tables") from None


def from_dict(raw: dict, path: Path | None = None) -> Recipe:
    base = Path(path).resolve().parent if path else None
    recipe = _build(Recipe, raw, "", base)
    recipe = dataclasses.replace(recipe, path=Path(path).resolve() if path else None)
    _validate(recipe)
    return recipe


def load(path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    raw = apply_overrides(read_toml(Path(path)), list(overrides))
    return from_dict(raw, Path(path))


def _positive(key, v):
    if not v > 0:
        raise GenzooError(f"recipe key '{key}' must be greater than 0, got {v}")


def _validate(r: Recipe) -> None:
    if not 0 <= r.seed < 2**32:
        raise GenzooError(f"recipe key 'seed' must lie in [0, 2^32), got {r.seed}")
    if not r.name or r.name in (".", "..") or "/" in r.name or "\\" in r.name or \
            r.name != r.name.strip() or any(ord(c) < 32 for c in r.name):
        raise GenzooError(f"recipe key 'name' must be a plain folder name (no '/', not empty, "
                          f"not '.' or '..'): it names runs/<name>; got {r.name!r}")
    _positive("train.steps", r.train.steps)
    _positive("train.batch_size", r.train.batch_size)
    _positive("train.theta_steps", r.train.theta_steps)
    _positive("train.lr_decay", r.train.lr_decay)
    if r.train.num_workers < 0 or r.train.threads < 0:
        raise GenzooError("recipe keys 'train.num_workers' and 'train.threads' must be 0 or more")
    if r.train.energy_bound < 0 or r.train.max_rollbacks < 0:
        raise GenzooError("recipe keys 'train.energy_bound' and 'train.max_rollbacks' must be "
                          "0 or more")
    if not 0 < r.train.rollback_lr_factor <= 1:
        raise GenzooError(f"recipe key 'train.rollback_lr_factor' must lie in (0, 1], got "
                          f"{r.train.rollback_lr_factor}")
    _positive("model.s", r.model.s)
    _positive("model.init_std", r.model.init_std)
    for player in ("alpha", "phi", "theta"):
        o: PlayerOptim = getattr(r.train, player)
        if not o.lr >= 0:
            raise GenzooError(f"recipe key 'train.{player}.lr' must be 0 or more, got {o.lr}")
        if not all(0 <= b < 1 for b in o.betas):
            raise GenzooError(f"recipe key 'train.{player}.betas' must lie in [0, 1)")
        if o.weight_decay < 0 or o.grad_clip < 0:
            raise GenzooError(f"recipe keys 'train.{player}.weight_decay' and 'grad_clip' "
                              f"must be 0 or more")
    for key in ("every", "sample_every", "checkpoint_every", "keep_checkpoints", "n_samples"):
        _positive(f"log.{key}", getattr(r.log, key))
    if r.device != "auto" and r.device != "cpu" and not r.device.startswith("cuda"):
        raise GenzooError(f"recipe key 'device' must be auto, cpu, cuda or cuda:N, "
                          f"got '{r.device}'")
    spec = r.objective
    items = spec if isinstance(spec, list) else [spec]
    if not items:
        raise GenzooError("recipe key 'objective' is an empty list; name at least one objective")
    for i, item in enumerate(items):
        if isinstance(item, str):
            continue
        if isinstance(item, dict) and isinstance(item.get("name"), str) and \
                set(item) <= {"name", "weight"} and \
                isinstance(item.get("weight", 1.0), (int, float)) and \
                not isinstance(item.get("weight", 1.0), bool):
            continue
        raise GenzooError(f"recipe key 'objective[{i}]' must be a name or a table "
                          f"{{name = \"...\", weight = 1.0}}, got {_shown(item)}")
    for name, opts in r.objectives.items():
        if not isinstance(opts, dict):
            raise GenzooError(f"recipe key 'objectives.{name}' must be a table of options")


# --- writing ------------------------------------------------------------------------------
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def dumps(d: dict) -> str:
    """Write a dict of scalars, lists and nested tables as TOML."""
    lines: list[str] = []

    def table(node: dict, prefix: str):
        scalars = {k: v for k, v in node.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in node.items() if isinstance(v, dict)}
        if prefix and (scalars or not tables):
            lines.append(f"\n[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{_key(k)} = {_toml_value(v)}")
        for k, v in tables.items():
            table(v, f"{prefix}.{_key(k)}" if prefix else _key(k))

    table(d, "")
    return "\n".join(lines).lstrip("\n") + "\n"
