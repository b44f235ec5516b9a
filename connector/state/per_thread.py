"""One state connection per thread, behind the one ``Store`` the engine and its jobs hold.

The daemon runs every job on a thread of its own (``connector.runtime.jobs``), but a SQLite
connection refuses to be used by any thread but the one that opened it (and a PostgreSQL
connection is not shared between threads either). ``PerThreadStore`` is handed out where a
``Store`` is expected: on the thread that made it, it is the store it wraps; on any other
thread, the first use opens that thread's own connection to the same state, and the job
runner closes it when the thread ends (``close_thread``). Every call goes through to the
current thread's store, so a transaction never spans two connections.
"""

from __future__ import annotations

__all__ = ["PerThreadStore", "per_thread"]

import threading
from collections.abc import Callable
from typing import Any, cast

from connector.domain.errors import StoreError
from connector.state.store import Store


class PerThreadStore:
    """``main`` on the thread that made it; a store from ``opener`` on each other thread."""

    def __init__(self, main: Store, opener: Callable[[], Store]) -> None:
        self._main = main
        self._main_thread = threading.get_ident()
        self._opener = opener
        self._local = threading.local()

    @property
    def path(self) -> str:
        """The state the connections open (the wrapped store's)."""
        return self._main.path

    def current(self) -> Store:
        """This thread's store, opened on first use."""
        if threading.get_ident() == self._main_thread:
            return self._main
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self._opener()
            self._local.store = store
        return store

    def close_thread(self) -> None:
        """Close this thread's own connection, if it opened one (never the wrapped store)."""
        store: Store | None = getattr(self._local, "store", None)
        if store is not None:
            self._local.store = None
            store.close()

    def close(self) -> None:
        """Close the current thread's connection (on the making thread: the wrapped store)."""
        if threading.get_ident() == self._main_thread:
            self._main.close()
        else:
            self.close_thread()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current(), name)


def per_thread(store: Store) -> Store:
    """``store`` usable from any thread (itself, when it already is)."""
    if isinstance(store, PerThreadStore):
        return store
    target = store.target

    def opener() -> Store:
        if target.is_memory:
            raise StoreError("a state in memory cannot be shared between threads: give the daemon a state file")
        return Store(target, migrate=False)  # the making thread migrated it already

    return cast(Store, PerThreadStore(store, opener))
