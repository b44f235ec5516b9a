"""Named points where a test can make the process die abruptly, to prove crash safety.

``ITSM_CONNECTOR_FAILPOINT=outbox.after_create`` makes the process ``os._exit(70)`` right after
the helpdesk accepted a new ticket and before the local commit — exactly the crash the
idempotent create must survive. Unset in production; checking it costs one dict lookup.
"""

from __future__ import annotations

__all__ = ["EXIT_CODE", "failpoint"]

import os
import sys

EXIT_CODE = 70


def failpoint(name: str) -> None:
    """Die at once, without cleanup, if the environment names this point."""
    if os.environ.get("ITSM_CONNECTOR_FAILPOINT") == name:
        sys.stderr.write(f"failpoint {name}: exiting abruptly\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
