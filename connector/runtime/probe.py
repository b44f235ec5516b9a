"""The daemon's backend probe: does the helpdesk answer while no operation is owed?

``/readyz`` wants each backend reached within its last N attempts, but a quiet night makes no
attempt at all, and a helpdesk that went away would look healthy until the first alert. So
the daemon (with an ``http:`` section) asks the backend something harmless every
``probe_seconds``: ``find_by_key`` of a key no ticket has (the connector's key grammar never
makes it). A refusal is an answer — it is reached; only "could not reach it" counts against.
"""

from __future__ import annotations

__all__ = ["PROBE_KEY", "probe_backend"]

import logging
from typing import TYPE_CHECKING

from connector.domain.errors import BackendUnavailable, ConnectorError

if TYPE_CHECKING:
    from connector.runtime.engine import Engine

log = logging.getLogger("connector.runtime.probe")

#: the connector key the probe looks up
PROBE_KEY = "itsm-connector-health-probe"


def probe_backend(engine: Engine) -> bool:
    """Ask ``engine``'s backend whether it answers, for ``/readyz`` and ``/metrics``; ``True``
    when it was reached."""
    name = engine.backend.name
    target = f"backend:{name}"
    try:
        with engine.metrics.backend_call(name, "probe"):
            engine.backend.find_by_key(PROBE_KEY)
    except BackendUnavailable as exc:
        engine.health.record(target, False, str(exc))
        log.warning("backend %s does not answer: %s", name, exc)
        return False
    except ConnectorError as exc:  # a refusal is an answer: it is reached
        engine.health.record(target, True, str(exc))
        return True
    except Exception as exc:  # a plugin bug: it cannot be trusted to reach anything
        engine.health.record(target, False, f"{type(exc).__name__}: {exc}")
        log.exception("backend %s: the health probe failed", name)
        return False
    engine.health.record(target, True)
    return True
