"""The one module that talks ``imaplib``: connect (IMAPS, STARTTLS or plain on loopback), log in,
read and flag mails by UID — and where its failures become connector errors.

* a lost connection, a timeout, a TLS failure, a refused login → ``SourceError`` (the poll is
  given up and tried again next cycle; nothing was flagged yet, so nothing is lost);
* the server refusing one command about one mail (``NO``/``BAD`` to a FETCH) →
  ``ImapRefused``, a ``SourceError`` the source turns into a dead letter for that mail only.

Certificates are verified against the system store (or ``ca_file``) with host-name checking
and at least TLS 1.2; there is no switch to turn that off. Messages name the operation and
the server's answer, never the password.
"""

from __future__ import annotations

__all__ = ["ImapClient", "ImapRefused", "mailbox_name", "tls_context"]

import base64
import contextlib
import imaplib
import logging
import re
import ssl
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from connector.domain.errors import SourceError
from connector.integrations.mail.settings import ImapSettings

log = logging.getLogger(__name__)

_SIZE = re.compile(rb"UID (\d+) RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+) UID (\d+)")


class ImapRefused(SourceError):
    """Raised when the server answers NO/BAD to a command about one mail (not the connection)."""


def tls_context(settings: ImapSettings) -> ssl.SSLContext:
    """The TLS context every connection uses: verified certificate and host name, TLS ≥ 1.2."""
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def mailbox_name(name: str) -> str:
    """A folder name as IMAP wants it: modified UTF-7 (RFC 3501 §5.1.3), quoted."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            encoded = base64.b64encode("".join(run).encode("utf-16-be")).decode("ascii").rstrip("=")
            out.append("&" + encoded.replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    text = "".join(out).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _uid_set(uids: Iterable[int]) -> str:
    return ",".join(str(u) for u in sorted(set(uids)))


class ImapClient:
    """One IMAP session for one poll.

    :param settings: the validated source section.
    :param source: the source name, for error messages.
    :param connect: builds the ``imaplib`` object (tests inject fakes); default by ``security``.
    """

    def __init__(
        self,
        settings: ImapSettings,
        *,
        source: str,
        connect: Callable[[ImapSettings], imaplib.IMAP4] | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self._connect = connect or open_connection
        self._imap: imaplib.IMAP4 | None = None
        self._created: set[str] = set()

    # --- the error boundary --------------------------------------------------------------------

    def _fail(self, operation: str, exc: BaseException) -> SourceError:
        where = f"{self.settings.host}:{self.settings.effective_port}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            what = f"the certificate of {where} is not trusted ({exc.verify_message}); set ca_file for a private CA"
        elif isinstance(exc, ssl.SSLError):
            what = f"TLS with {where} failed: {exc.reason or exc}"
        elif isinstance(exc, TimeoutError):
            what = f"no answer from {where} within {self.settings.timeout_seconds:g}s"
        elif isinstance(exc, ConnectionRefusedError):
            what = f"{where} refused the connection"
        elif isinstance(exc, OSError):
            what = f"connection to {where} failed: {exc.strerror or exc}"
        elif isinstance(exc, UnicodeError):
            what = "a value could not be sent in ASCII (non-ASCII password or folder name?)"
        else:
            what = f"{_short(exc)}"
        return SourceError(f"IMAP {operation}: {what}", source=self.source)

    def _run(self, operation: str, call: Callable[..., tuple[str, list[Any]]], *args: Any) -> list[Any]:
        """One command; raises ``SourceError`` on a transport failure, ``ImapRefused`` on NO/BAD."""
        try:
            status, data = call(*args)
        except imaplib.IMAP4.abort as exc:
            self._drop()
            raise self._fail(operation, exc) from exc
        except imaplib.IMAP4.error as exc:
            raise ImapRefused(f"IMAP {operation}: the server refused: {_short(exc)}", source=self.source) from exc
        except (OSError, UnicodeError) as exc:
            self._drop()
            raise self._fail(operation, exc) from exc
        if status != "OK":
            raise ImapRefused(f"IMAP {operation}: the server answered {status} {_short(data)}", source=self.source)
        return list(data or [])

    def _drop(self) -> None:
        """Forget a session whose connection failed, closing its socket (a connection reset
        mid-command left it open until the garbage collector found it)."""
        imap, self._imap = self._imap, None
        if imap is not None:
            with contextlib.suppress(OSError):
                imap.shutdown()

    @property
    def _session(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise SourceError("IMAP: not connected", source=self.source)
        return self._imap

    # --- session -------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, upgrade to TLS as configured, and log in."""
        try:
            self._imap = self._connect(self.settings)
        except (imaplib.IMAP4.error, OSError, UnicodeError) as exc:
            raise self._fail("connect", exc) from exc
        try:
            self._run("login", self._session.login, self.settings.user, self.settings.password.get_secret_value())
        except ImapRefused as exc:
            self.close()
            raise SourceError(f"IMAP login as {self.settings.user!r} refused: {exc}", source=self.source) from exc

    def close(self) -> None:
        """Log out; a session that is already gone is fine."""
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError) as exc:
            log.debug("%s: IMAP logout failed (%s)", self.source, type(exc).__name__)

    # --- reading -------------------------------------------------------------------------------

    def select(self, folder: str) -> int:
        """Open ``folder`` read-write; returns its UIDVALIDITY."""
        self._run(f"SELECT {folder}", self._session.select, mailbox_name(folder))
        _, data = self._session.response("UIDVALIDITY")
        for item in data or []:
            if isinstance(item, bytes) and item.strip().isdigit():
                return int(item)
        raise SourceError(f"IMAP SELECT {folder}: the server sent no UIDVALIDITY", source=self.source)

    def unseen(self) -> list[int]:
        """UIDs of the mails without ``\\Seen`` in the selected folder, oldest first."""
        data = self._run("UID SEARCH UNSEEN", self._session.uid, "SEARCH", "UNSEEN")
        found: set[int] = set()
        for line in data:
            if isinstance(line, bytes):
                found.update(int(t) for t in line.split() if t.isdigit())
        return sorted(found)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """``RFC822.SIZE`` of each UID still there."""
        if not uids:
            return {}
        data = self._run("UID FETCH RFC822.SIZE", self._session.uid, "FETCH", _uid_set(uids), "(RFC822.SIZE)")
        sizes: dict[int, int] = {}
        for line in data:
            text = line[0] if isinstance(line, tuple) else line
            if isinstance(text, bytes):
                match = _SIZE.search(text)
                if match:
                    uid, size = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
                    sizes[int(uid)] = int(size)
        return sizes

    def fetch(self, uid: int, *, headers_only: bool = False) -> bytes | None:
        """The raw mail (or only its header) without setting ``\\Seen``; None when it is gone."""
        item = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
        data = self._run(f"UID FETCH {uid} {item}", self._session.uid, "FETCH", str(uid), f"({item})")
        for part in data:
            if isinstance(part, tuple) and len(part) == 2 and isinstance(part[1], bytes):
                return part[1]
        return None

    # --- marking -------------------------------------------------------------------------------

    def mark_seen(self, uids: Iterable[int]) -> None:
        """Flag ``uids`` ``\\Seen`` (UIDs that are gone are skipped by the server)."""
        uid_set = _uid_set(uids)
        if uid_set:
            self._run("UID STORE +FLAGS \\Seen", self._session.uid, "STORE", uid_set, "+FLAGS.SILENT", "(\\Seen)")

    def move(self, uids: Iterable[int], folder: str) -> None:
        """Move ``uids`` to ``folder`` (created when missing): MOVE, else COPY + delete."""
        uid_set = _uid_set(uids)
        if not uid_set:
            return
        self.ensure_folder(folder)
        target = mailbox_name(folder)
        capabilities = {c.upper() for c in getattr(self._session, "capabilities", ())}
        if "MOVE" in capabilities:
            self._run(f"UID MOVE {folder}", self._session.uid, "MOVE", uid_set, target)
            return
        self._run(f"UID COPY {folder}", self._session.uid, "COPY", uid_set, target)
        self._run("UID STORE +FLAGS \\Deleted", self._session.uid, "STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
        if "UIDPLUS" in capabilities:
            self._run("UID EXPUNGE", self._session.uid, "EXPUNGE", uid_set)
        else:
            self._run("EXPUNGE", self._session.expunge)

    def ensure_folder(self, folder: str) -> None:
        """Create ``folder`` unless it exists."""
        if folder in self._created:
            return
        try:
            self._run(f"CREATE {folder}", self._session.create, mailbox_name(folder))
        except ImapRefused as exc:
            if "exist" not in str(exc).lower():
                raise
        self._created.add(folder)


def open_connection(settings: ImapSettings) -> imaplib.IMAP4:
    """The ``imaplib`` connection ``security`` asks for (TLS verified; plain only on loopback)."""
    port, timeout = settings.effective_port, settings.timeout_seconds
    if settings.security == "tls":
        return imaplib.IMAP4_SSL(settings.host, port, ssl_context=tls_context(settings), timeout=timeout)
    imap = imaplib.IMAP4(settings.host, port, timeout=timeout)
    if settings.security == "starttls":
        try:
            imap.starttls(ssl_context=tls_context(settings))
        except BaseException:
            with contextlib.suppress(OSError):  # the socket may already be gone; keep the real error
                imap.shutdown()
            raise
    return imap


def _short(what: object, limit: int = 300) -> str:
    text = " ".join(str(what).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
