"""Build a fresh plugin manager: specs, entry points, blocked names, contract check.

There is no module-level manager: every caller (the CLI, each test) gets its own.
"""

from __future__ import annotations

__all__ = ["ENTRY_POINT_GROUP", "build_plugin_manager", "is_traced", "plugin_summary"]

import weakref
from collections.abc import Iterable
from importlib.metadata import entry_points

import pluggy

from connector.contracts import hookspecs
from connector.domain.errors import PluginError

ENTRY_POINT_GROUP = "itsm_connector"
#: managers whose hook calls are traced (``--trace-hooks``): callers must go through pluggy
_TRACED: weakref.WeakSet[pluggy.PluginManager] = weakref.WeakSet()


def is_traced(pm: pluggy.PluginManager) -> bool:
    """Whether ``pm`` logs every hook call, so no call may bypass it."""
    return pm in _TRACED


def build_plugin_manager(disable: Iterable[str] = (), *, trace: bool = False) -> pluggy.PluginManager:
    """Return a manager with the specs added, every ``itsm_connector`` entry point loaded except
    the ``disable``d names, and the contract checked.

    Raises ``PluginError`` naming the entry point when a plugin cannot be imported or
    implements a hook the contract does not have (a misspelled hook fails here, at startup).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in disable:
        pm.set_blocked(name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name) or pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(f"cannot be loaded from {ep.value}: {exc}", plugin=ep.name) from exc
        try:
            pm.register(plugin, name=ep.name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc), plugin=ep.name) from exc
    check_contract(pm)
    if trace:
        import logging

        log = logging.getLogger("connector.hooks")
        pm.trace.root.setwriter(lambda text: log.debug("%s", text.rstrip()))
        pm.enable_tracing()
        _TRACED.add(pm)
    return pm


def check_contract(pm: pluggy.PluginManager) -> None:
    """Fail when any registered plugin implements a hook that is not in ``hookspecs``."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(f"{exc} (is the hook name misspelled?)", plugin=plugin) from exc


def plugin_summary(pm: pluggy.PluginManager) -> list[tuple[str, str, list[str]]]:
    """(name, distribution, hooks) for every loaded plugin, for ``itsm-connector plugins``."""
    dists = {ep.name: f"{ep.dist.name} {ep.dist.version}" for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.dist}
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        rows.append((name, dists.get(name, "not from an entry point"), hooks))
    return rows
