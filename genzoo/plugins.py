"""The plugin manager: loads the ``genzoo`` entry points and collects what they register."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from genzoo import hookspecs
from genzoo.errors import GenzooError, did_you_mean

KINDS = ("architectures", "objectives", "datasets", "feature_networks")
_SINGULAR = {
    "architectures": "architecture",
    "objectives": "objective",
    "datasets": "dataset",
    "feature_networks": "feature network",
}


@dataclass(frozen=True)
class Entry:
    """One registered piece: its kind, name, the object, and the distribution it came from."""

    kind: str
    name: str
    obj: Any
    dist: str

    @property
    def summary(self) -> str:
        if isinstance(self.obj, (list, tuple)):
            return "sum of " + " + ".join(map(str, self.obj))
        return first_sentence(inspect.getdoc(self.obj) or "")


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, whole (line breaks joined)."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    m = re.search(r"(?<![.]\w)[.!?](?=\s|$)", paragraph)
    return paragraph[: m.end()] if m else paragraph


@dataclass
class Registry:
    """Plain dictionaries of what the plugins registered, one per kind."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    pm: pluggy.PluginManager | None = None  # the plugins themselves, for the training events
    dists: dict[int, str] = field(default_factory=dict)  # id(plugin) -> its distribution

    def add(self, kind: str, name: str, obj: Any, dist: str) -> None:
        if not isinstance(name, str) or not name:
            raise GenzooError(
                f"plugin from '{dist}' registered a {_SINGULAR[kind]} with an "
                f"invalid name {name!r}; names are non-empty strings"
            )
        table = self.entries[kind]
        if name in table and table[name].obj is not obj:
            raise GenzooError(
                f"{_SINGULAR[kind]} '{name}' is registered twice, by '{table[name].dist}' and by "
                f"'{dist}'; uninstall one of them or rename the plugin's {_SINGULAR[kind]}"
            )
        table[name] = Entry(kind, name, obj, dist)

    def get(self, kind: str, name: str) -> Entry:
        table = self.entries[kind]
        if not isinstance(name, str) or name not in table:
            raise GenzooError(
                f"unknown {_SINGULAR[kind]} '{name}'{did_you_mean(str(name), table)}; "
                f"'genzoo plugins' lists the installed ones"
            )
        return table[name]

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def sinks(self) -> list[tuple[str, str, str]]:
        """``(name, distribution, summary)`` of each plugin of the training events (``on_*``)."""
        return self._implementing(lambda hook: hook.startswith("on_"))

    def command_plugins(self) -> list[tuple[str, str, str]]:
        """``(name, distribution, summary)`` of each plugin that adds ``genzoo`` commands."""
        return self._implementing(lambda hook: hook == "register_commands")

    def _implementing(self, wanted) -> list[tuple[str, str, str]]:
        out = []
        if self.pm is None:
            return out
        for name, plugin in self.pm.list_name_plugin():
            hooks = [h.name for h in self.pm.get_hookcallers(plugin) or []]
            if any(wanted(h) for h in hooks):
                doc = inspect.getdoc(plugin) or ""
                out.append((name, self.dists.get(id(plugin), "?"), first_sentence(doc)))
        return sorted(out)


def _make_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _load_entry_points(pm: pluggy.PluginManager, dists: dict[int, str]) -> None:
    """What pluggy's ``load_setuptools_entrypoints("genzoo")`` does, with one difference: a
    plugin that fails to import is named in a warning and skipped, so every other one loads."""
    for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
        dist = ep.dist.name if ep.dist is not None else "?"
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken third-party plugin must not take genzoo down
            msg = (
                f"plugin '{ep.name}' from '{dist}' failed to load and is skipped: "
                f"{type(exc).__name__}: {exc}"
            )
            warnings.warn(msg, stacklevel=2)
            continue
        pm.register(plugin, name=ep.name)
        dists[id(plugin)] = dist


def build_registry(extra_plugins: tuple[tuple[object, str], ...] = ()) -> Registry:
    """Load every entry-point plugin (plus ``extra_plugins``: ``(plugin, dist_label)`` pairs,
    for tests and embedding) and call their register hooks."""
    pm = _make_manager()
    registry = Registry(pm=pm)
    dists = registry.dists
    _load_entry_points(pm, dists)
    for plugin, label in extra_plugins:
        pm.register(plugin)
        dists[id(plugin)] = label
    for kind in KINDS:
        caller = getattr(pm.hook, f"register_{kind}")
        for impl in reversed(caller.get_hookimpls()):
            dist = dists.get(id(impl.plugin), impl.plugin_name)
            register: Callable[[str, Any], None] = lambda name, obj, _k=kind, _d=dist: registry.add(
                _k, name, obj, _d
            )
            impl.function(register=register)
    return registry


_cached: Registry | None = None
_extra: list[tuple[object, str]] = []


def registry() -> Registry:
    """The process-wide registry (built on first use)."""
    global _cached
    if _cached is None:
        _cached = build_registry(tuple(_extra))
    return _cached


def register_plugin(plugin: object, dist: str = "<in-process>") -> None:
    """Add a plugin object (a module or instance with hookimpls) without an entry point."""
    global _cached
    _extra.append((plugin, dist))
    _cached = None


def unregister_plugin(plugin: object) -> None:
    global _cached
    _extra[:] = [(p, d) for p, d in _extra if p is not plugin]
    _cached = None


def reset() -> None:
    """Forget the cached registry (entry points are read again on next use)."""
    global _cached
    _cached = None
