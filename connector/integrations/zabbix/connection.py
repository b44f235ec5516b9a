"""``ZabbixConnection``: one pyzabbix client on a ``requests.Session``, and the one place where
requests and pyzabbix exceptions become ``SourceError``.

It logs in lazily (building a source never touches the network), detects the API version
(6.2 renamed ``selectGroups`` to ``selectHostGroups``), logs in again once when a user/password
session expires, and names the API call that failed in every error — never the token, the
password or the session id, which are scrubbed from every message it builds and kept out of
pyzabbix's DEBUG logging. ``ZabbixSource`` asks it for results and never sees an exception of
either library.
"""

from __future__ import annotations

__all__ = ["ZabbixConnection"]

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import requests
from pyzabbix.api import ZabbixAPI, ZabbixAPIException
from requests.adapters import HTTPAdapter

from connector.domain.errors import SourceError
from connector.integrations.zabbix.settings import ZabbixSettings
from connector.util.tls import requests_verify

log = logging.getLogger(__name__)

_RELOGIN_MARKERS = ("session terminated", "not authorized", "not authorised")


class _FixedVerifyAdapter(HTTPAdapter):
    """An HTTPS adapter whose certificate check is fixed: off (``verify_tls: false``) or one CA
    bundle (``ca_bundle``).

    ``session.verify`` alone is not enough: pyzabbix passes no ``verify`` per request, and
    requests then lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` from the environment override
    it (psf/requests#3829), so the setting would silently do nothing on hosts that export a CA
    bundle.
    """

    def __init__(self, verify: bool | str) -> None:
        super().__init__()
        self._verify = verify

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["verify"] = self._verify
        return super().send(request, **kwargs)


def _keep_pyzabbix_quiet() -> None:
    """pyzabbix logs whole request payloads — tokens and passwords included — at DEBUG."""
    top = logging.getLogger("pyzabbix")
    if top.level == logging.NOTSET or top.level < logging.INFO:
        top.setLevel(logging.INFO)
    api = logging.getLogger("pyzabbix.api")
    if api.level != logging.NOTSET and api.level < logging.INFO:
        api.setLevel(logging.INFO)


class ZabbixConnection:
    """The API of one Zabbix server, for one source.

    :param settings: the validated ``sources[]`` section (url, credentials, TLS, timeout).
    :param name: the source instance name, for errors and logs.
    :param session: the HTTP session to use; its ``verify`` is set from ``settings.verify_tls``.
    :param register_secret: hides a value from every log line; called with the session id
        of a user/password login.
    """

    def __init__(
        self,
        settings: ZabbixSettings,
        *,
        name: str,
        session: requests.Session,
        register_secret: Callable[[str], None],
    ) -> None:
        self.name = name
        self.settings = settings
        self._register_secret = register_secret
        self._session = session
        self._session.verify = verify = requests_verify(settings.verify_tls, settings.ca_bundle)
        if verify is not True:
            self._session.mount("https://", _FixedVerifyAdapter(verify))
        _keep_pyzabbix_quiet()
        self._api: Any = ZabbixAPI(settings.url, session=self._session, timeout=settings.timeout_seconds)
        self._logged_in = False
        #: how ``host.get`` is asked for host groups, and the key they come back under (by version)
        self.groups_param = "selectGroups"
        self.groups_key = "groups"

    def list(self, method: str, params: Mapping[str, Any], what: str) -> list[Any]:
        """``call`` for a method that answers a list; anything else is a ``SourceError``."""
        result = self.call(method, params)
        if not isinstance(result, list):
            raise SourceError(f"{method} ({what}) returned {type(result).__name__}, expected a list", source=self.name)
        return result

    def call(self, method: str, params: Mapping[str, Any]) -> Any:
        """One API call, logging in first if needed; re-logs in once when a session expired."""
        if not self._logged_in:
            self._login()
        try:
            return self._request(method, params)
        except ZabbixAPIException as exc:
            if self.settings.api_token is not None or not _session_expired(exc):
                raise self._error(method, exc) from exc
            log.info("%s: Zabbix session expired during %s; logging in again", self.name, method)
        except requests.RequestException as exc:
            raise self._error(method, exc) from exc
        self._logged_in = False
        self._login()
        try:
            return self._request(method, params)
        except (ZabbixAPIException, requests.RequestException) as exc:
            raise self._error(method, exc) from exc

    def close(self) -> None:
        """Log out a user/password session (tokens have none) and close the HTTP session."""
        try:
            if self._logged_in and self.settings.api_token is None:
                self._api.do_request("user.logout", [])
        except (ZabbixAPIException, requests.RequestException) as exc:
            log.debug("%s: user.logout failed at close (%s)", self.name, type(exc).__name__)
        finally:
            self._logged_in = False
            self._session.close()

    def _request(self, method: str, params: Mapping[str, Any]) -> Any:
        """The ``result`` of one JSON-RPC call; a reply without one is an API error too."""
        response = self._api.do_request(method, dict(params))
        if not isinstance(response, Mapping) or "result" not in response:
            what = f"Zabbix API answer without a result: {_short(response, 200)}"
            raise SourceError(self._redact(f"{method} failed: {what}"), source=self.name)
        return response["result"]

    def _login(self) -> None:
        """Detect the API version, then store the token or open a user/password session."""
        settings = self.settings
        self._api.version = None  # so a failure below names the right call
        try:
            if settings.api_token is not None:
                self._api.login(api_token=settings.api_token.get_secret_value())
            else:
                assert settings.user is not None and settings.password is not None  # the validator
                self._api.login(user=settings.user, password=settings.password.get_secret_value())
                if isinstance(self._api.auth, str) and self._api.auth:
                    self._register_secret(self._api.auth)
            version = str(self._api.version or self._api.api_version())
        except (ZabbixAPIException, requests.RequestException) as exc:
            call = "apiinfo.version" if self._api.version is None else "user.login"
            raise self._error(f"login ({call})", exc) from exc
        if _version_at_least(version, 6, 2):
            self.groups_param, self.groups_key = "selectHostGroups", "hostgroups"
        else:
            self.groups_param, self.groups_key = "selectGroups", "groups"
        self._logged_in = True
        log.debug("%s: connected to Zabbix API %s", self.name, version)

    def _error(self, call: str, exc: Exception) -> SourceError:
        """Translate a requests / pyzabbix failure of ``call`` into a ``SourceError``."""
        url = self._api.url
        if isinstance(exc, requests.Timeout):
            what = f"no answer from {url} within {self.settings.timeout_seconds:g}s"
        elif isinstance(exc, requests.ConnectionError):
            what = f"cannot connect to {url}: {_short(exc)}"
        elif isinstance(exc, requests.HTTPError):
            status = exc.response.status_code if exc.response is not None else "?"
            what = f"HTTP {status} from {url}"
        elif isinstance(exc, requests.RequestException):
            what = f"request to {url} failed: {_short(exc)}"
        elif isinstance(exc, ZabbixAPIException):
            what = _describe_api_error(exc)
            if self.settings.api_token is not None and _session_expired(exc):
                what += " (the API token was refused: wrong, expired or disabled?)"
        else:  # pragma: no cover - callers pass only the types above
            what = _short(exc)
        return SourceError(self._redact(f"{call} failed: {what}"), source=self.name)

    def _redact(self, text: str) -> str:
        """``text`` without the token, the password or the session id, whatever happens."""
        secrets = [s.get_secret_value() for s in (self.settings.api_token, self.settings.password) if s is not None]
        auth = getattr(self._api, "auth", "")
        if isinstance(auth, str):
            secrets.append(auth)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def _session_expired(exc: Exception) -> bool:
    """The session id (or token) is no longer accepted: ``-32602 Session terminated/Not authorized``."""
    text = str(getattr(exc, "error", None) or exc).lower()
    return any(marker in text for marker in _RELOGIN_MARKERS)


def _describe_api_error(exc: Exception) -> str:
    """``Zabbix API error -32500: Application error. No permissions…`` (code when there is one)."""
    error = getattr(exc, "error", None)
    if isinstance(error, Mapping):
        message = str(error.get("message", "")).strip()
        data = str(error.get("data", "")).strip()
        detail = " ".join(part for part in (message, data if data != "No data" else "") if part)
        return f"Zabbix API error {error.get('code', '?')}: {_short(detail, 500)}"  # data may echo input
    return f"Zabbix API error: {_short(exc)}"  # empty or non-JSON body: no code


def _short(what: object, limit: int = 300) -> str:
    """``what`` as one line of at most ``limit`` characters (library messages can be huge)."""
    text = " ".join(str(what).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _version_at_least(version: str, major: int, minor: int) -> bool:
    match = re.match(r"\s*(\d+)\.(\d+)", version)
    if match is None:
        return False
    return (int(match.group(1)), int(match.group(2))) >= (major, minor)
