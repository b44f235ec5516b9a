"""Freeing the work of this host's dead daemons: their leases and outbox claims.

A daemon killed with ``kill -9`` never releases its leases or its claimed outbox operations;
left alone they expire (``daemon.lease_seconds``, ``daemon.claim_seconds``) and another daemon
takes them over. A daemon or ``once`` starting on the same host need not wait that long: a
holder is ``host:pid:random`` (``connector.state.leases.holder_id``), and when that host is this
one and that pid no longer exists, its work is freed at once. A holder on another host cannot
be checked from here: its leases and claims expire.
"""

from __future__ import annotations

__all__ = ["free_dead_holders"]

import logging
import os
import socket

from connector.state.store import Store

log = logging.getLogger("connector")


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (signal 0 checks without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def free_dead_holders(store: Store, me: str) -> list[str]:
    """Free the leases and claims of every holder on this host whose process is gone (never
    ``me``'s); returns the holders freed."""
    host = socket.gethostname()
    freed: list[str] = []
    for holder in sorted(store.holders()):
        parts = holder.rsplit(":", 2)  # host:pid:random
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit() or holder == me:
            continue
        if _process_alive(int(parts[1])):
            continue
        store.drop_holder(holder)
        freed.append(holder)
        log.info("freed the leases and claims of %s: its process is gone", holder)
    return freed
