"""HTTP for the webhook, WeCom and DingTalk notifiers, and the one place their wire failures
become ``NotifierUnavailable`` / ``NotifierRejected``.

* refused connection, timeout, any other transport error, 5xx, 429 → ``NotifierUnavailable``
  (``retry_after`` from the server's ``Retry-After`` when it sent one);
* any other non-2xx (400 malformed, 401/403 invalid key, 404 no such robot, a redirect:
  redirects are not followed, since they would carry signatures and tokens elsewhere)
  → ``NotifierRejected``.

Every request has the explicit ``(connect, read)`` timeout of its notifier, so a gateway that is
down delays only its own notices. Messages name the URL without its query string: robots
carry their key or token there.
"""

from __future__ import annotations

__all__ = ["HttpChannelSettings", "HttpPoster", "public_url"]

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from connector.domain.clock import Clock
from connector.domain.errors import NotifierRejected, NotifierUnavailable
from connector.util.tls import requests_verify
from connector.util.wire import StatusKind, http_failure, unreachable


def public_url(url: str) -> str:
    """``url`` without query and fragment (where robot keys and tokens sit), for messages."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class HttpChannelSettings(Protocol):
    """The two transport fields every HTTP channel's settings carry."""

    @property
    def timeout_seconds(self) -> float: ...

    @property
    def verify_tls(self) -> bool: ...

    @property
    def ca_bundle(self) -> Path | None: ...


class HttpPoster:
    """POSTs JSON bodies for one notifier over one ``requests.Session``.

    :param timeout: seconds to connect and, separately, to wait for the answer.
    """

    def __init__(
        self,
        *,
        notifier: str,
        clock: Clock,
        timeout: float,
        verify_tls: bool | str = True,
        session: requests.Session | None = None,
    ) -> None:
        self.notifier = notifier
        self._clock = clock
        self._timeout = timeout
        self._verify = verify_tls
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()

    @classmethod
    def for_channel(
        cls, settings: HttpChannelSettings, *, name: str, clock: Clock, session: requests.Session | None = None
    ) -> HttpPoster:
        """The poster for channel ``name``, with that channel's timeout and TLS setting."""
        return cls(
            notifier=name,
            clock=clock,
            timeout=settings.timeout_seconds,
            verify_tls=requests_verify(settings.verify_tls, settings.ca_bundle),
            session=session,
        )

    def post(
        self,
        url: str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """POST ``body`` (JSON, UTF-8) to ``url``; returns the 2xx response or raises."""
        where = public_url(url)
        operation = f"POST {where}"
        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        try:
            response = self._session.post(
                url,
                data=body,
                headers=all_headers,
                params=params,
                timeout=(self._timeout, self._timeout),
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise NotifierUnavailable(
                unreachable(exc, "the server", self._timeout), notifier=self.notifier, operation=operation
            ) from exc
        failure = http_failure(response, self._clock.now())
        if failure is None:
            return response
        if failure.kind is StatusKind.TRANSIENT:
            raise NotifierUnavailable(
                failure.head + failure.retry_tail,
                notifier=self.notifier,
                operation=operation,
                retry_after=failure.retry_after,
            )
        # a redirect, a refused key, a bad request: sending the same again cannot help
        sample = response.text[:120].replace("\n", " ")
        raise NotifierRejected(f"{failure.head}: {sample}".rstrip(": "), notifier=self.notifier, operation=operation)

    def json_answer(self, response: requests.Response, operation: str) -> dict[str, Any]:
        """The JSON object of a 2xx answer; anything else is a gateway answering oddly
        (a proxy page): ``NotifierUnavailable``, since the message may not have gone out."""
        try:
            body = response.json()
        except ValueError as exc:
            raise NotifierUnavailable(
                f"HTTP {response.status_code} but the body is not JSON", notifier=self.notifier, operation=operation
            ) from exc
        if not isinstance(body, dict):
            raise NotifierUnavailable(
                f"HTTP {response.status_code} but the body is not a JSON object",
                notifier=self.notifier,
                operation=operation,
            )
        return body

    def close(self) -> None:
        """Close the session if this poster created it."""
        if self._owns_session:
            self._session.close()
