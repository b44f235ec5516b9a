"""The endpoint contract of the daemon's one HTTP server (the ``http:`` section).

The daemon runs one WSGI server (``connector.runtime.http_server``, on waitress) and serves its
own ``/healthz``, ``/readyz`` and ``/metrics`` there. A push source that wants requests — the
Zabbix webhook, Alertmanager, the generic JSON webhook — does not open a port of its
own: it offers ``MountableSource.mount``, and the daemon mounts the ``HttpEndpoint`` it returns.

Why a contract of our own instead of handing plugins the WSGI ``environ``: an endpoint stays a
pure function of an ``HttpRequest`` (tests call it without a socket), it never sees another
endpoint's traffic, and the server can be swapped without touching a source.

What the server guarantees an endpoint:

- it is called only for the paths it ``routes`` (an exact path, or a prefix ending in ``/``);
- ``HttpRequest.headers`` are keyed in lower case; ``body`` holds at most
  ``HttpEndpoint.max_body_bytes`` (a larger declared ``Content-Length`` is answered ``413``
  before the endpoint is called), and a request without ``Content-Length`` carries ``None``;
- ``handle`` runs on one of the server's worker threads, several at once: an endpoint
  journals through the thread-safe ``IntakeJournal`` it was mounted with, nothing else;
- an exception escaping ``handle`` is logged and answered ``500``; it never stops the server.
"""

from __future__ import annotations

__all__ = ["HttpEndpoint", "HttpReply", "HttpRequest", "MountableSource"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from connector.contracts.adapters import IntakeJournal


@dataclass(frozen=True)
class HttpReply:
    """What to answer: the status, a JSON body (dict) or an HTML page (str), extra headers."""

    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpRequest:
    """One request as an endpoint sees it (no socket, no server object)."""

    method: str
    path: str
    query: str = ""
    #: header names in lower case
    headers: Mapping[str, str] = field(default_factory=dict)
    #: the declared ``Content-Length`` (``None``: absent or not a number)
    content_length: int | None = None
    body: bytes = b""
    remote: str = ""

    def header(self, name: str) -> str | None:
        """A header's value, by any spelling of its name."""
        return self.headers.get(name.lower())


class HttpEndpoint(Protocol):
    """What the daemon's server asks of a mounted endpoint."""

    #: logs and ``/readyz`` name it so
    name: str
    #: the most body bytes it reads; a larger ``Content-Length`` gets 413 without calling it
    max_body_bytes: int

    def routes(self) -> Sequence[str]:
        """The paths it answers: exact paths, or prefixes ending in ``/``."""
        ...

    def handle(self, request: HttpRequest) -> HttpReply:
        """Answer one request (called on a worker thread)."""
        ...


@runtime_checkable
class MountableSource(Protocol):
    """A push source that can be served by the daemon's shared HTTP server.

    ``mount`` replaces ``PushSource.serve`` when the config has an ``http:`` section: it opens no
    port, it only starts journaling through ``journal`` and returns the endpoint to mount.
    ``base_url`` is where the shared server is reached (``http://listen:port``), for links a
    source hands out; ``unmount`` is called after the server stopped taking requests.
    """

    def mount(self, journal: IntakeJournal, base_url: str) -> HttpEndpoint: ...

    def unmount(self) -> None: ...
