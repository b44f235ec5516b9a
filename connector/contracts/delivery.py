"""Which outbox operation a backend call carries out, for backends that make their writes
safe to repeat.

A helpdesk can act and still fail the answer (a 500 after the commit, a timeout, a crash of
the connector before it recorded the answer); the outbox then retries an operation that may
have landed. A create is made safe by the connector key in the ticket (``find_by_key``), but a
note has no key of its own. So while the engine executes an operation it names it here:
``current()`` gives its id — stable across retries and unique in the state file, so a backend
can write it into what it posts as a marker — and whether it may have gone out before
(``retry``: the engine marks an operation *sent* before its first try, as it does a create),
so only a retry pays for looking the marker up.

A context variable rather than a parameter: the ``Backend`` protocol (and every plugin's
backend) stays as it is, and a call made outside the outbox simply has no delivery.
"""

from __future__ import annotations

__all__ = ["Delivery", "current", "delivering"]

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    """The outbox operation being carried out: its id, and whether an earlier try went out."""

    op_id: int
    retry: bool


_CURRENT: ContextVar[Delivery | None] = ContextVar("connector_delivery", default=None)


def current() -> Delivery | None:
    """The operation the current backend call carries out; ``None`` outside the outbox."""
    return _CURRENT.get()


@contextmanager
def delivering(op_id: int, *, retry: bool) -> Iterator[Delivery]:
    """Name the operation for the calls made inside the ``with`` block."""
    delivery = Delivery(op_id, retry)
    token = _CURRENT.set(delivery)
    try:
        yield delivery
    finally:
        _CURRENT.reset(token)
