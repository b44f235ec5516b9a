"""Telling systemd how the daemon is doing (``Type=notify``): ``READY=1`` once it serves,
``RELOADING=1``/``READY=1`` around a SIGHUP reload, ``STOPPING=1`` when SIGTERM came, ``STATUS=…``.

Written here rather than taken from a library: the protocol is one datagram to the socket named
in ``NOTIFY_SOCKET`` (sd_notify(3)); the ``sdnotify`` package has not been maintained since 2017
and ``systemd-python`` needs libsystemd headers and a compiler on every install. Outside systemd
(no ``NOTIFY_SOCKET``) every call is a no-op; a socket that cannot be reached is logged once and
never stops the daemon.
"""

from __future__ import annotations

__all__ = ["notify"]

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("connector.systemd")


def notify(*states: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``states`` (``"READY=1"``, ``"STATUS=draining the outbox"``…) in one datagram to systemd;
    ``True`` when it was sent, ``False`` outside systemd or when the socket could not be reached."""
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
    if not address or not states:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    payload = "\n".join(s.replace("\n", " ") for s in states).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(payload)
    except OSError as exc:
        log.warning("could not tell systemd %s: %s", states[0], exc)
        return False
    return True
