"""TOML text and dictionaries: reading a recipe file, ``--set KEY=VALUE`` overrides, and
writing a dictionary back as TOML (the resolved ``recipe.toml`` of a run or a model folder)."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError


# --- reading ------------------------------------------------------------------------------
def parse_override(text: str) -> tuple[list[str], Any]:
    """``'train.steps=200'`` -> ``(['train', 'steps'], 200)``. Values are TOML values; anything
    that is not valid TOML is taken as a plain string (``--set data.image=grass``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not key or not all(p.strip() for p in parts):
        raise GenzooError(
            f"--set expects KEY=VALUE with a dotted key (e.g. train.steps=200), got '{text}'"
        )
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
                raise GenzooError(f"--set {text}: '{'.'.join(parts[: i + 1])}' is not a table")
            node = nxt
        node[parts[-1]] = value
    return raw


def read_toml(path: Path, kind: str = "recipe") -> dict:
    """The TOML file at ``path``, read as a ``kind`` ("recipe", "study") in its errors."""
    path = Path(path)
    if not path.exists():
        raise GenzooError(f"{kind} file '{path}' does not exist; check the path")
    if path.is_dir():
        raise GenzooError(f"{kind} '{path}' is a folder; pass a .toml {kind} file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GenzooError(
            f"cannot read {kind} '{path}' ({type(exc).__name__}); a {kind} is a "
            f"UTF-8 TOML text file"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GenzooError(f"{kind} '{path}' is not valid TOML: {exc}; fix the syntax") from None
    except RecursionError:
        raise GenzooError(
            f"{kind} '{path}' is nested too deeply to read; a {kind} needs two levels of tables"
        ) from None


# --- writing ------------------------------------------------------------------------------
def toml_value(v) -> str:
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
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
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
            lines.append(f"{_key(k)} = {toml_value(v)}")
        for k, v in tables.items():
            table(v, f"{prefix}.{_key(k)}" if prefix else _key(k))

    table(d, "")
    return "\n".join(lines).lstrip("\n") + "\n"
