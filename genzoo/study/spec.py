"""A study file: a base recipe, named variants, seeds, a budget, an evaluation, claims and a
search space, parsed into typed, validated, frozen settings (the recipe's schema rules).

::

    recipe = "../../recipes/dt_fashion.toml"
    seeds = [0, 1, 2]
    set = ["model.width=0.25"]          # recipe overrides for every run

    [budget]                            # matched iterations, FLOPs or seconds
    compute = "flops"
    iterations = 3000                   # the reference variant's iterations set the budget
    reference = "triangle"

    [evaluate]
    metrics = ["fd", "recon_mse"]
    n = 2000
    every = 1000                        # curve points

    [variants.triangle]
    objective = "triangle"
    [variants.dcgan]
    recipe = "../../recipes/gan_fashion.toml"

    claims = ["triangle < dcgan on fd"]

    [tune]                              # genzoo tune: the same trials and budget per variant
    trials = 16
    metric = "fd"
    [tune.budget]
    iterations = 1500
    [tune.space]
    "train.theta.lr" = {low = 1e-5, high = 1e-3, log = true}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from genzoo import schema, toml_text
from genzoo.errors import GenzooError, did_you_mean
from genzoo.schema import schema as table

Count = Annotated[int, Field(ge=1, le=10**9)]
#: the metrics a study measures, and whether lower values are better (None: no direction)
METRICS: dict[str, bool | None] = {
    "fd": True,
    "kid": True,
    "is": False,
    "precision": False,
    "recall": False,
    "density": False,
    "coverage": False,
    "recon_mse": True,
    "recovery": True,
    # one stationary texture (genzoo.analysis.texture): samples' share over the data's, and
    # the distances of orientation histograms and of Gram statistics to the data
    "high_frequency_ratio": None,
    "nyquist_ratio": None,
    "orientation_distance": True,
    "gram_distance": True,
    # what one sample costs at inference (genzoo eval's "sampling"): GFLOPs, machine independent
    "sample_gflops": True,
    "f_data": None,
    "f_samples": None,
    "f_noise": None,
}
CLAIM = re.compile(r"^\s*(\S+)\s*(<|>)\s*(\S+)\s+on\s+(\S+)\s*$")


@table
@dataclass(frozen=True)
class Budget:
    """How long each run trains: ``iterations``, or matched compute, the iteration count each
    variant gets from a FLOP or wall-clock budget (given, or that of ``iterations`` of the
    ``reference`` variant)."""

    compute: Literal["iterations", "flops", "seconds"] = "iterations"
    iterations: Count | None = None
    flops: Annotated[float, Field(gt=0)] | None = None
    seconds: Annotated[float, Field(gt=0)] | None = None
    reference: str | None = None
    threads: Annotated[int, Field(ge=1, le=1024)] = 1  # what "seconds" are measured at


@table
@dataclass(frozen=True)
class Evaluation:
    metrics: list[str] = field(default_factory=lambda: ["recon_mse"])
    n: Annotated[int, Field(ge=2, le=10**7)] = 2000  # held-out images (and as many samples)
    # of the final table (tuning: validation); "train" for crops of one texture image
    split: Literal["test", "validation", "train"] = "test"
    every: Annotated[int, Field(ge=0, le=10**9)] = 0  # curve points; 0: at the end only
    validation: Annotated[float, Field(ge=0, lt=1)] = 0.1  # data.validation of every run
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0  # the evaluation's draws, fixed for all
    features: Path | None = None  # a feature network; default: one trained for the study


@table
@dataclass(frozen=True)
class Variant:
    objective: Any = None  # replaces the recipe's objective
    recipe: Path | None = None  # a whole other recipe
    set: list[str] = field(default_factory=list)  # recipe overrides
    space: dict[str, dict] = field(default_factory=dict)  # search keys of this variant only
    # where this variant's settings were tuned, by a search of the same effort (another
    # study's): it is not searched here, its recipe is taken as its best
    tuned_in: str = ""


# Variant keys added after studies were run, with their defaults: a study file that leaves
# one at its default has the fingerprint it had before the key existed.
VARIANT_ADDED_LATER = {"tuned_in": ""}


@table
@dataclass(frozen=True)
class Tune:
    metric: str
    trials: Annotated[int, Field(ge=1, le=100_000)] = 16
    budget: Budget = Budget()
    report_every: Annotated[int, Field(ge=0, le=10**9)] = 0  # pruning points; 0: a quarter
    pruner: Literal["median", "halving", "none"] = "median"
    startup_trials: Annotated[int, Field(ge=0, le=100_000)] = 4  # TPE's and the pruner's
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    space: dict[str, dict] = field(default_factory=dict)


@table
@dataclass(frozen=True)
class Param:
    """One search dimension: a float or int range (``log`` spacing, ``step``) or ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    step: Annotated[float, Field(gt=0)] | None = None
    choices: list | None = None


@table
@dataclass(frozen=True)
class StudyFile:
    recipe: Path
    variants: dict[str, Variant]
    budget: Budget
    name: str | None = None
    seeds: list[Annotated[int, Field(ge=0, lt=2**32)]] = field(default_factory=lambda: [0])
    set: list[str] = field(default_factory=list)
    evaluate: Evaluation = Evaluation()
    claims: list[str] = field(default_factory=list)
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    tune: Tune | None = None
    path: Path | None = None

    @property
    def title(self) -> str:
        return self.name or (self.path.stem if self.path else "study")

    def defining(self) -> dict:
        """What defines the study's runs and tests, as plain data (not its file's place)."""
        base = self.path.parent if self.path else Path.cwd()

        def where(p):  # files named relative to the study file: the same study anywhere
            return os.path.relpath(p, base) if isinstance(p, Path) else str(p)

        d = json.loads(json.dumps(dataclasses.asdict(self), default=where))
        d.pop("path")
        for v in d["variants"].values():  # settings added later, left out at their defaults,
            for key, default in VARIANT_ADDED_LATER.items():  # so older studies keep theirs
                if v.get(key) == default:
                    v.pop(key)
        return d

    def fingerprint(self) -> str:
        """A hash of what defines the study's runs and tests."""
        return digest(self.defining())

    def parts(self) -> dict:
        """The fingerprint of what every variant shares (all but the variants and claims),
        one per variant, and the claims: a study file that only adds variants, and claims
        naming them, leaves the others as they were (a study grown by variants)."""
        d = self.defining()
        variants = d.pop("variants")
        d.pop("claims")
        return {
            "shared": digest(d),
            "variants": {name: digest(v) for name, v in variants.items()},
            "claims": [c.text for c in claims_of(self)],
        }


def digest(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Claim:
    """``a < b on metric``: variant ``a``'s mean is below ``b``'s."""

    text: str
    a: str
    b: str
    less: bool
    metric: str


def load(path: Path, text: str | None = None) -> StudyFile:
    """The study file at ``path`` (or ``text``, read as if it were that file)."""
    path = Path(path)
    raw = toml_text.read_toml(path, "study") if text is None else tomllib.loads(text)
    base = path.resolve().parent
    spec = schema.validate(StudyFile, raw, "", base)
    variants = {  # a variant's own recipe file, relative to the study file
        k: dataclasses.replace(v, recipe=base / v.recipe) if v.recipe else v
        for k, v in spec.variants.items()
    }
    spec = dataclasses.replace(spec, path=path.resolve(), variants=variants)
    check(spec)
    return spec


def claims_of(spec: StudyFile) -> list[Claim]:
    out = []
    for text in spec.claims:
        m = CLAIM.match(text)
        if not m:
            raise GenzooError(
                f"claim {text!r} is not of the form 'A < B on METRIC' (or '>'); fix 'claims'"
            )
        a, op, b, metric = m.groups()
        for v in (a, b):
            if v not in spec.variants:
                raise GenzooError(
                    f"claim {text!r} names variant '{v}', which the study does not have"
                    f"{did_you_mean(v, spec.variants)}"
                )
        if metric not in spec.evaluate.metrics:
            raise GenzooError(
                f"claim {text!r} names metric '{metric}', which evaluate.metrics does not "
                f"measure; add it there (measured: {', '.join(spec.evaluate.metrics)})"
            )
        if a == b:
            raise GenzooError(f"claim {text!r} compares a variant with itself")
        out.append(Claim(text.strip(), a, b, op == "<", metric))
    return out


def check_budget(b: Budget, where: str, variants) -> None:
    if b.compute == "iterations" and b.iterations is None:
        raise GenzooError(f"[{where}] needs iterations (or compute = 'flops' / 'seconds')")
    given = b.flops if b.compute == "flops" else b.seconds
    if b.compute != "iterations" and given is None:
        if b.reference is None or b.iterations is None:
            raise GenzooError(
                f"[{where}] compute = '{b.compute}' needs {b.compute} = N, or reference = "
                f"VARIANT with iterations = N (the budget of N iterations of that variant)"
            )
    if b.reference is not None and b.reference not in variants:
        raise GenzooError(
            f"[{where}] reference = '{b.reference}' is not a variant"
            f"{did_you_mean(b.reference, variants)}"
        )


def check(spec: StudyFile) -> None:
    """What the schema's types cannot say; each failure one line naming the key and the fix."""
    if not spec.variants:
        raise GenzooError("the study has no variants; add [variants.NAME] tables")
    for name in spec.variants:
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
            raise GenzooError(
                f"variant name {name!r} must be letters, digits and _ . + - (it names a folder)"
            )
    if not spec.seeds or len(set(spec.seeds)) != len(spec.seeds):
        raise GenzooError("'seeds' must be a non-empty list of distinct seeds")
    for m in spec.evaluate.metrics:
        if m not in METRICS:
            raise GenzooError(
                f"evaluate.metrics names '{m}', which genzoo does not measure"
                f"{did_you_mean(m, METRICS)}"
            )
    if not spec.evaluate.metrics:
        raise GenzooError("evaluate.metrics is empty; name at least one metric")
    check_budget(spec.budget, "budget", spec.variants)
    claims_of(spec)
    t = spec.tune
    if t is None and len(searched(spec)) < len(spec.variants):
        raise GenzooError(
            "a variant's 'tuned_in' says it is not searched, but the study has no [tune] table; "
            "remove tuned_in, or add [tune]"
        )
    if t is not None:
        check_budget(t.budget, "tune.budget", spec.variants)
        if t.metric not in spec.evaluate.metrics or METRICS[t.metric] is None:
            raise GenzooError(
                f"tune.metric '{t.metric}' must be one of evaluate.metrics with a direction "
                f"({', '.join(m for m in spec.evaluate.metrics if METRICS.get(m) is not None)})"
            )
        for name in searched(spec):
            if not space_of(spec, name):
                raise GenzooError(
                    f"the search space of variant '{name}' is empty; add keys to [tune.space] "
                    f"or [variants.{name}.space]"
                )


def searched(spec: StudyFile) -> list[str]:
    """The variants ``genzoo tune`` searches: all but those tuned elsewhere (``tuned_in``)."""
    return [name for name, v in spec.variants.items() if not v.tuned_in]


def space_of(spec: StudyFile, variant: str) -> dict[str, Param]:
    """The search keys of ``variant``: ``[tune.space]`` and its own ``space``, checked."""
    raw = {**(spec.tune.space if spec.tune else {}), **spec.variants[variant].space}
    out = {}
    for key, d in raw.items():
        where = f"space key '{key}'"
        if not isinstance(d, dict):
            raise GenzooError(f"{where} must be a table like {{low = 1e-5, high = 1e-3}}")
        p = schema.validate(Param, d, where)
        if p.choices is not None:
            if not p.choices or p.low is not None or p.high is not None:
                raise GenzooError(f"{where}: give either non-empty choices or low and high")
        elif p.low is None or p.high is None or not p.low < p.high:
            raise GenzooError(f"{where} needs low < high (or choices = [...])")
        elif p.log and p.low <= 0:
            raise GenzooError(f"{where}: a log range needs low > 0")
        out[key] = p
    return out


def direction(metric: str) -> str:
    return "minimize" if METRICS[metric] else "maximize"
