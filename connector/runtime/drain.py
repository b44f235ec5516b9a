"""Delivering the outbox: each owed operation read into its kind and payload, run by its
handler, and what a failure means for it and for the operations behind it.

Operations of one ticket stay in order (a resolve waits for its create). With several daemons
on one state, each operation is claimed before it runs (``OutboxTable.op_claim``): one claimed
by another daemon holds back the later ones of its ticket, and a claim that expired (its
daemon died) is taken over; the ``sent`` mark then makes the new runner ask the helpdesk
first, so a create that landed before the crash is found, not made twice. A transient failure
(``BackendUnavailable``, ``NotifierUnavailable``, ``SourceError``) sets the next try with the
``RetryPolicy``'s backoff — at least the server's ``Retry-After`` — and blocks that target for
the rest of the pass; a permanent one (``BackendRejected``, ``NotifierRejected``, a row that
cannot be read, ``CannotLand``) dead-letters the operation, and so does any exception outside
the connector's error tree (a plugin bug cannot hold the queue). Only ``StoreError`` stops the
drain: nothing more could be recorded.
"""

from __future__ import annotations

__all__ = ["drain_pass", "read_op"]

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from connector.domain.errors import (
    BackendRejected,
    BackendUnavailable,
    NotifierRejected,
    NotifierUnavailable,
    SourceError,
    StoreError,
)
from connector.runtime.handlers import HANDLERS, CannotLand, OpHandler, WaitForTicket
from connector.runtime.outbox_ops import BACKEND, NOTIFY_PREFIX, SOURCE_PREFIX, OpKind
from connector.state.store import OutboxOp

if TYPE_CHECKING:
    from connector.runtime.engine import Engine

log = logging.getLogger("connector")


def _target_fits(kind: OpKind, target: str) -> bool:
    if kind.target_kind == BACKEND:
        return target == BACKEND
    if kind.target_kind == "source":
        return target.startswith(SOURCE_PREFIX)
    return target.startswith(NOTIFY_PREFIX)


def read_op(op: OutboxOp) -> tuple[OpHandler[Any], BaseModel]:
    """The handler of ``op``'s kind and its payload as that kind's model; ``CannotLand`` with
    the reason when the row names a kind this connector does not know, a target that kind
    does not go to, or a payload that does not fit."""
    try:
        kind = OpKind(op.op)
    except ValueError:
        known = ", ".join(k.value for k in OpKind)
        raise CannotLand(f"unknown outbox operation {op.op!r} (this connector knows {known})") from None
    if not _target_fits(kind, op.target):
        raise CannotLand(f"unknown outbox target {op.target!r} for a {kind.value} operation")
    handler = HANDLERS[kind]
    try:
        payload = handler.payload.model_validate(op.payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise CannotLand(f"its payload does not fit a {kind.value} operation: {where}: {first['msg']}") from exc
    return handler, payload


@contextmanager
def _measured(engine: Engine, op: OutboxOp) -> Iterator[None]:
    """Count one delivery for ``/metrics`` and ``/readyz``: a helpdesk operation (requests,
    errors, latency; reached or not), or a notice (sent, retry, failed). An operation that
    made no request (it waits for its ticket, or can never land) is not counted."""
    metrics = engine.metrics
    if op.target.startswith(NOTIFY_PREFIX):
        channel = op.target[len(NOTIFY_PREFIX) :]
        try:
            yield
        except (WaitForTicket, CannotLand):
            raise
        except NotifierUnavailable:
            metrics.notices.labels(channel, "retry").inc()
            raise
        except Exception:
            metrics.notices.labels(channel, "failed").inc()
            raise
        metrics.notices.labels(channel, "sent").inc()
        return
    if op.target != BACKEND:
        yield
        return
    name = engine.backend.name
    started = time.monotonic()  # a duration: the monotonic clock, not the injected wall clock

    def count(reached: bool, error: str | None) -> None:
        metrics.backend_requests.labels(name, op.op).inc()
        metrics.backend_latency.labels(name, op.op).observe(time.monotonic() - started)
        if error is not None:
            metrics.backend_errors.labels(name, op.op).inc()
        engine.health.record(f"backend:{name}", reached, error or "")

    try:
        yield
    except (WaitForTicket, CannotLand):
        raise
    except BackendUnavailable as exc:
        count(False, str(exc))
        raise
    except Exception as exc:  # refused: the helpdesk answered, so it is reached
        count(True, str(exc))
        raise
    count(True, None)


def drain_pass(engine: Engine, ignore_backoff: bool) -> int:
    """One pass over up to ``engine.batch`` pending operations; returns how many landed.

    ``now`` (the pass's start) decides which operations are due; what happened to one — done,
    dead-lettered, the next try after a failure — is stamped with the clock read when it
    happened: behind a slow helpdesk a pass lasts many seconds."""
    store, retry = engine.store, engine.retry
    now = engine.clock.now()
    landed = 0
    blocked_keys: set[str] = set()
    blocked_targets: dict[str, str] = {}
    waiting = 0
    for op in store.pending_ops(engine.batch):
        if engine.halted():
            break
        if op.target in blocked_targets or (op.ticket_key and op.ticket_key in blocked_keys):
            waiting += 1
            continue
        if not ignore_backoff and op.next_try_at > now:
            if op.ticket_key:
                blocked_keys.add(op.ticket_key)
            continue
        # several daemons drain one outbox: the claim makes this one the only runner of the
        # operation; one claimed elsewhere (or done since the list was read) holds back the
        # later operations of its ticket, which keep their order
        if not store.op_claim(op.id, engine.holder, engine.clock.now(), engine.claim_seconds):
            if op.ticket_key:
                blocked_keys.add(op.ticket_key)
            waiting += 1
            continue
        engine.running_op(op.id, True)  # its claim is renewed while it runs
        try:
            handler, payload = read_op(op)
            with _measured(engine, op):
                handler(engine, op, payload, now)
        except WaitForTicket:
            store.op_unclaim(op.id, engine.holder)
            if op.ticket_key:
                blocked_keys.add(op.ticket_key)
            continue
        except CannotLand as exc:
            with store.transaction():
                store.op_dead(op, str(exc), engine.clock.now())
            engine.metrics.dead_lettered.labels("outbox").inc()
            log.error("outbox #%d %s %s → dead letter: %s", op.id, op.op, op.ticket_key, exc)
            continue
        except (BackendUnavailable, NotifierUnavailable, SourceError) as exc:
            retry_after = exc.retry_after if isinstance(exc, BackendUnavailable | NotifierUnavailable) else None
            attempts = op.attempts + 1
            if retry.max_attempts is not None and attempts >= retry.max_attempts:
                with store.transaction():
                    store.op_dead(op, f"gave up after {attempts} attempts: {exc}", engine.clock.now())
                engine.metrics.dead_lettered.labels("outbox").inc()
                log.error(
                    "outbox #%d %s %s → dead letter after %d attempts: %s",
                    op.id,
                    op.op,
                    op.ticket_key,
                    attempts,
                    exc,
                )
                continue
            delay = retry.delay(attempts, retry_after)
            with store.transaction():
                store.op_retry(op.id, engine.clock.now() + timedelta(seconds=delay), str(exc))
            blocked_targets[op.target] = str(exc)
            if op.ticket_key:
                blocked_keys.add(op.ticket_key)
            log.warning(
                "outbox #%d %s %s waits %.0fs (attempt %d): %s",
                op.id,
                op.op,
                op.ticket_key or "",
                delay,
                attempts,
                exc,
            )
            continue
        except (BackendRejected, NotifierRejected) as exc:
            with store.transaction():
                store.op_dead(op, str(exc), engine.clock.now())
            engine.metrics.dead_lettered.labels("outbox").inc()
            log.error("outbox #%d %s %s → dead letter: %s", op.id, op.op, op.ticket_key, exc)
            continue
        except StoreError:
            raise  # the state file itself failed: stop, nothing more can be recorded
        except Exception as exc:  # a plugin bug, or a payload it cannot take
            # retrying cannot help, and left pending it would fail first in every drain
            reason = f"unexpected {type(exc).__name__}: {exc}"
            with store.transaction():
                store.op_dead(op, reason, engine.clock.now())
            engine.metrics.dead_lettered.labels("outbox").inc()
            log.exception("outbox #%d %s %s → dead letter: %s", op.id, op.op, op.ticket_key, reason)
            continue
        finally:
            engine.running_op(op.id, False)
        landed += 1
    for target, reason in blocked_targets.items():
        log.warning("outbox: %s unavailable, its other operations wait for the next drain: %s", target, reason)
    if waiting:
        log.info("outbox: %d operation(s) wait behind an earlier one for the same ticket or target", waiting)
    return landed
