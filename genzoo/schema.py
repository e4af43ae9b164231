"""One declarative schema for every recipe value and plugin option, checked by pydantic.

The recipe's tables are dataclasses whose annotations carry each key's type and range
(``Annotated[int, Field(ge=1)]``); a plugin's options are the parameters of its function or
class, read into such a dataclass from their annotations. Both are validated here in pydantic's
strict mode (no string-to-number or float-to-int conversion), with NaN and infinity refused
unless a key is marked ``Annotated[float, AllowNonFinite]``, and every failure turned into one
line that names the key, what it must be and what it got, with the nearest valid name for a
misspelt key.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AllowInfNan, ConfigDict, TypeAdapter, ValidationError
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

from genzoo.errors import GenzooError, did_you_mean

CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
# a float option that may be NaN or infinite: ``Annotated[float, AllowNonFinite]``
AllowNonFinite = AllowInfNan(True)


def schema(cls):
    """Class decorator: a recipe table (a dataclass) validated with genzoo's rules."""
    cls.__pydantic_config__ = CONFIG
    return cls


# --- describing types and values ----------------------------------------------------------
_TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    Path: "a path string",
    dict: "a table",
}


def describe(tp) -> str:
    """``'an integer'``, ``'one of 'a', 'b''``, ``'a list of 2 values'``: what ``tp`` asks for."""
    if get_origin(tp) is Annotated:
        return describe(get_args(tp)[0])
    if tp in _TYPE_NAMES:
        return _TYPE_NAMES[tp]
    origin = get_origin(tp)
    if origin is tuple:
        args = get_args(tp)
        return (
            "a list" if len(args) == 2 and args[1] is Ellipsis else f"a list of {len(args)} values"
        )
    if origin is list or tp is list:
        args = get_args(tp)
        return f"a list, each {describe(args[0])}" if args and args[0] is not Any else "a list"
    if origin is dict:
        return "a table"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a table"
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in get_args(tp) if a is not type(None))
    return getattr(tp, "__name__", str(tp))


def shown(value) -> str:
    """``'string 'many''``: a value as an error message quotes it."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        tuple: "list",
        dict: "table",
    }.get(type(value), type(value).__name__)
    text = repr(value) if not isinstance(value, tuple) else repr(list(value))
    return f"{kind} {text if len(text) < 40 else text[:37] + '...'}"


def _strip(tp):
    """``tp`` without ``Annotated`` and without ``None`` in an optional."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        arms = [a for a in get_args(tp) if a is not type(None)]
        if len(arms) == 1:
            return _strip(arms[0])
    return tp


def _bounds(tp) -> dict:
    """The ``gt/ge/lt/le`` declared on an annotation (``Annotated[int, Field(ge=0)]``)."""
    out = {}
    while get_origin(tp) is Annotated:
        base, *marks = get_args(tp)
        for m in marks:
            for mark in [m, *getattr(m, "metadata", ())]:
                for name in ("gt", "ge", "lt", "le"):
                    if getattr(mark, name, None) is not None:
                        out[name] = getattr(mark, name)
        tp = base
    return out


def _num(x) -> str:
    """``4294967296`` as ``2^32``, ``10**12`` as ``10^12``; other numbers as they read."""
    if isinstance(x, int) and x >= 10**6:
        for base in (2, 10):
            k = round(math.log(x, base))
            if base**k == x:
                return f"{base}^{k}"
    return f"{x:g}" if isinstance(x, float) else str(x)


def range_text(tp) -> str:
    """``'[0, 1)'``, ``'greater than 0'``, ``'0 or more'``: the range a key must lie in."""
    b = _bounds(tp)
    lo = ("(", b["gt"]) if "gt" in b else ("[", b["ge"]) if "ge" in b else None
    hi = (")", b["lt"]) if "lt" in b else ("]", b["le"]) if "le" in b else None
    if lo and hi:
        return f"lie in {lo[0]}{_num(lo[1])}, {_num(hi[1])}{hi[0]}"
    if lo:
        return f"be greater than {_num(lo[1])}" if lo[0] == "(" else f"be {_num(lo[1])} or more"
    if hi:
        return f"be less than {_num(hi[1])}" if hi[0] == ")" else f"be {_num(hi[1])} or less"
    return "lie in its range"


def _fields(tp) -> dict:
    tp = _strip(tp)
    if dataclasses.is_dataclass(tp):
        return typing.get_type_hints(tp, include_extras=True)
    return {}


# --- validation ---------------------------------------------------------------------------
@functools.cache
def _adapter(tp) -> TypeAdapter:
    return TypeAdapter(tp)


def _json(raw, where: str) -> str:
    def refuse(value):
        raise GenzooError(
            f"recipe key '{where}' holds {type(value).__name__} {value!r}; a "
            f"recipe value is a number, string, boolean, list or table"
        )

    try:
        return json.dumps(raw, default=refuse)
    except (ValueError, RecursionError):
        raise GenzooError(f"recipe key '{where}' is nested too deeply to read") from None


def validate(tp, raw: dict, where: str = "", base_dir: Path | None = None):
    """``raw`` (a TOML table) checked against the dataclass ``tp`` and returned as one; path
    strings become Paths resolved against ``base_dir``. Raises one-line ``GenzooError``s."""
    try:
        value = _adapter(tp).validate_json(_json(raw, where or "recipe"), strict=True)
    except ValidationError as exc:
        raise GenzooError(message(exc, tp, raw, where)) from None
    return _resolve_paths(value, tp, raw, where, base_dir)


def _key(where: str, loc) -> str:
    parts = [where] if where else []
    for p in loc:
        if isinstance(p, int):
            parts[-1] = f"{parts[-1]}[{p}]" if parts else f"[{p}]"
        else:
            parts.append(str(p))
    return ".".join(parts)


def message(exc: ValidationError, tp, raw, where: str = "") -> str:
    """The first error of ``exc`` as genzoo's one line."""
    errors = exc.errors(include_url=False)  # a wrong value before a missing key
    err = next((e for e in errors if e["type"] != "missing"), errors[0])
    loc, kind = list(err["loc"]), err["type"]
    # walk the annotations along the error's location: stop at a union (its arms' tags are in
    # the location) or at a list/tuple whose length is wrong
    hint, value, path = tp, raw, []
    for i, part in enumerate(loc):
        bare = _strip(hint)
        origin = get_origin(bare)
        if origin in (Union, types.UnionType):
            kind = "union"
            break
        if isinstance(part, int) and origin in (tuple, list):
            if kind in ("missing", "too_short", "too_long") and i == len(loc) - 1:
                kind = "type"
                break
            args = get_args(bare)
            hint = (
                args[0]
                if origin is list or (len(args) == 2 and args[1] is Ellipsis)
                else args[part]
                if part < len(args)
                else Any
            )
        elif origin is dict and not isinstance(part, int):
            args = get_args(bare)
            hint = args[1] if len(args) == 2 else Any
        elif dataclasses.is_dataclass(bare):
            fields = _fields(bare)
            if part not in fields:
                valid = [f for f in fields if f not in ("options", "path")]
                return (
                    f"unknown recipe key '{_key(where, path + [part])}'"
                    f"{did_you_mean(str(part), valid)}"
                )
            hint = fields[part]
        else:
            hint = Any
        path.append(part)
        value = (
            value[part]
            if isinstance(value, (dict, list, tuple))
            and (
                isinstance(value, dict)
                and part in value
                or isinstance(value, (list, tuple))
                and isinstance(part, int)
                and part < len(value)
            )
            else None
        )
    key = _key(where, path)
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"unknown recipe key '{key}'"
    if kind == "missing":
        return f"recipe is missing the required key '{key}'"
    if kind == "finite_number":
        return f"recipe key '{key}' must be a finite number, got {value}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"recipe key '{key}' must {range_text(hint)}, got {value}"
    return f"recipe key '{key}' must be {describe(hint)}, got {shown(value)}"


def _resolve_paths(value, tp, raw, where, base_dir):
    """Path fields (and optional ones) made absolute against ``base_dir``; '' refused."""
    if not dataclasses.is_dataclass(value):
        return value
    changes = {}
    for name, hint in _fields(tp).items():
        bare = _strip(hint)
        sub = getattr(value, name, None)
        given = raw.get(name) if isinstance(raw, dict) else None
        if bare is Path and isinstance(sub, Path):
            if given == "":
                raise GenzooError(
                    f"recipe key '{_key(where, [name])}' must be a path string, got an empty string"
                )
            p = sub.expanduser()
            changes[name] = p if p.is_absolute() or base_dir is None else base_dir / p
        elif dataclasses.is_dataclass(sub) and isinstance(given, dict):
            changes[name] = _resolve_paths(sub, bare, given, _key(where, [name]), base_dir)
    return dataclasses.replace(value, **changes) if changes else value


# --- plugin options -----------------------------------------------------------------------
def _usable(hint) -> bool:
    """Whether pydantic can check values of ``hint`` read from TOML."""
    try:
        _adapter(hint)
        return True
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError, NameError):
        return False


@functools.cache
def options_schema(fn, positional: tuple[str, ...] = ()):
    """A dataclass with one field per keyword parameter of a plugin's function or class,
    typed by its annotation (``Any`` where there is none, or where it names a type no TOML
    value can be), defaults as in the signature: the plugin's options schema."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # noqa: BLE001 - one unresolvable annotation: resolve the others alone
        hints = {}
        for name, p in sig.parameters.items():
            if p.annotation is p.empty:
                continue
            one = types.SimpleNamespace(
                __annotations__={name: p.annotation}, __globals__=getattr(target, "__globals__", {})
            )
            try:
                hints.update(typing.get_type_hints(one, include_extras=True))
            except Exception:  # noqa: BLE001 - names only for this one
                continue
    fields = []
    for name, p in sig.parameters.items():
        if name in positional or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        hint = hints.get(name, Any)
        if not _usable(hint):
            hint = Any
        if p.default is p.empty:
            fields.append((name, hint))
        elif isinstance(p.default, (list, dict, set)):
            fields.append(
                (
                    name,
                    hint,
                    dataclasses.field(
                        default_factory=functools.partial(type(p.default), p.default)
                    ),
                )
            )
        else:
            fields.append((name, hint, dataclasses.field(default=p.default)))
    name = f"{getattr(fn, '__name__', 'plugin')}_options"
    return schema(dataclasses.make_dataclass(name, fields, kw_only=True, frozen=True))


def check_options(
    fn,
    options: dict,
    where: str,
    base_dir: Path | None = None,
    positional: tuple[str, ...] = (),
    unknown: str | None = None,
) -> dict:
    """A plugin's recipe ``options`` checked against its signature: unknown names (with the
    nearest valid one; ``unknown`` words the message), types and ranges from the annotations,
    NaN and inf refused, required options present. Returns the given options converted."""
    sig = inspect.signature(fn)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    cls = options_schema(fn, tuple(positional))
    known = {f.name for f in dataclasses.fields(cls)}
    for key in options:
        if key not in known and not takes_any:
            head = unknown.format(key=key) if unknown else f"unknown recipe key '{where}.{key}'"
            raise GenzooError(f"{head}{did_you_mean(str(key), known)}")
    mine = {k: v for k, v in options.items() if k in known}
    checked = validate(cls, mine, where, base_dir)
    return {k: getattr(checked, k) if k in known else v for k, v in options.items()}


def numeric_keys(tp, prefix: str = "") -> list[tuple[str, type]]:
    """Every number of a schema dataclass, recursively: ``[('train.alpha.lr', float), ...]``."""
    out = []
    for name, hint in _fields(tp).items():
        if name in ("options", "path"):
            continue
        bare = _strip(hint)
        if dataclasses.is_dataclass(bare):
            out += numeric_keys(bare, f"{prefix}{name}.")
        elif bare in (int, float):
            out.append((f"{prefix}{name}", bare))
    return out
