"""The e-mail notifier (smtplib), and the one place SMTP failures become notifier errors.

One message per notice, to all its recipients: a ``multipart/alternative`` with the text and
HTML parts, the subject tagged ``[ITSM #<ticket>]`` and RFC 2047-encoded (Chinese subjects
survive every relay), ``Auto-Submitted: auto-generated`` so vacation responders stay quiet,
and a ``Message-ID`` of the form ``<itsm.<ticket_id>.<random>@<domain>>``: a reply's
``In-Reply-To`` names the ticket even when the subject was edited. All notices of one ticket
also carry ``References: <itsm.<ticket_id>@<domain>>`` so mail clients thread them.

Security: ``ssl`` (implicit TLS, port 465), ``starttls`` (port 587, the default) or ``none``
(port 25, a relay on a trusted network); certificates and host names are verified unless
``verify_tls: false`` says otherwise. Login is optional, with a ``Secret`` password.

Errors: refused, timeout, a dropped connection and 4xx replies → ``NotifierUnavailable``;
5xx replies (bad sender, every recipient refused, authentication failed) →
``NotifierRejected``. When only some recipients are refused the message went to the others, so
nothing is raised (a retry would send it twice); the refused ones are logged.
"""

from __future__ import annotations

__all__ = ["SmtpNotifier", "SmtpSettings", "build_email"]

import logging
import re
import secrets
import smtplib
import ssl
from collections.abc import Sequence
from datetime import datetime
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import Clock
from connector.domain.errors import NotifierRejected, NotifierUnavailable
from connector.util.secrets import Secret

log = logging.getLogger(__name__)

_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class SmtpSettings(BaseModel):
    """A ``notify.channels`` entry of type ``smtp``."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535, description="default: 465 ssl, 587 starttls, 25 none")
    security: Literal["ssl", "starttls", "none"] = "starttls"
    verify_tls: bool = Field(True, description="verify the server's certificate and host name")
    ca_file: Path | None = Field(None, description="CA bundle for a relay with a private CA")
    username: str | None = None
    password: Secret | None = None
    sender: str = Field(min_length=3, description='From: "ITSM 服务台 <itsm@metro.example>"')
    reply_to: str | None = Field(None, description="the desk mailbox the e-mail source reads, for replies")
    domain: str | None = Field(None, description="Message-ID domain; default: the sender's")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="to connect, and for each reply")

    @model_validator(mode="after")
    def _login_pair(self) -> Self:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        if "@" not in parseaddr(self.sender)[1]:
            raise ValueError("sender must contain an e-mail address")
        return self

    @property
    def message_domain(self) -> str:
        """The domain of Message-IDs."""
        return self.domain or parseaddr(self.sender)[1].rsplit("@", 1)[1]


def build_email(
    message: OutgoingMessage,
    recipients: Sequence[Recipient],
    *,
    sender: str,
    domain: str,
    now: datetime,
    reply_to: str | None = None,
    token: str | None = None,
) -> MIMEMultipart:
    """The e-mail for ``message`` (pure; ``token`` is the Message-ID's random part).

    Built with the ``email.mime`` classes and ``Header`` rather than ``EmailMessage``: on
    Python 3.11 the modern folder leaves a space at each fold of a subject that mixes ASCII
    and Chinese words, so readers see doubled spaces; ``Header`` encodes the whole subject
    as RFC 2047 words of at most 75 characters, which decode back exactly.
    """
    tag = _ID_UNSAFE.sub("-", message.ticket_tag)
    mail = MIMEMultipart("alternative")
    mail["Subject"] = _encoded(f"[ITSM #{message.ticket_tag}] {message.subject}")
    mail["From"] = _address(sender)
    mail["To"] = ", ".join(formataddr((r.name, r.address), "utf-8") for r in recipients)
    if reply_to:
        mail["Reply-To"] = _address(reply_to)
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = f"<itsm.{tag}.{token or secrets.token_hex(8)}@{domain}>"
    mail["References"] = f"<itsm.{tag}@{domain}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    mail["X-ITSM-Ticket"] = _encoded(message.ticket_key)
    mail.attach(MIMEText(message.text, "plain", "utf-8"))
    mail.attach(MIMEText(message.html, "html", "utf-8"))
    return mail


def _encoded(text: str) -> Any:
    """``text`` as a ``Header`` (RFC 2047 when not ASCII). compat32 messages take ``Header``
    values, though typeshed types header values as ``str``; hence ``Any``."""
    return Header(text, "utf-8")


def _address(text: str) -> str:
    """``Name <addr>`` with a non-ASCII name encoded."""
    name, addr = parseaddr(text)
    return formataddr((name, addr), "utf-8")


class SmtpNotifier:
    """Sends each notice as one e-mail to its recipients, one SMTP session per notice.

    A session per notice keeps failure handling simple (no half-dead pooled connection) and
    costs little at notice volumes.
    """

    needs_recipients = True

    def __init__(self, settings: SmtpSettings, *, name: str, clock: Clock) -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._port = settings.port or _PORTS[settings.security]
        self._operation = f"SMTP {settings.host}:{self._port}"

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self._settings.ca_file) if self._settings.ca_file else None)
        if not self._settings.verify_tls:
            log.warning("%s: TLS certificates are not verified (verify_tls: false)", self.name)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        s, timeout = self._settings, self._settings.timeout_seconds
        if s.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, self._port, timeout=timeout, context=self._tls())
        else:
            client = smtplib.SMTP(s.host, self._port, timeout=timeout)
        try:
            if s.security == "starttls":
                client.starttls(context=self._tls())
            if s.username is not None and s.password is not None:
                client.login(s.username, s.password.get_secret_value())
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        """Send the e-mail; raises ``NotifierUnavailable`` / ``NotifierRejected``."""
        if not recipients:
            raise NotifierRejected("no recipients", notifier=self.name, operation=self._operation)
        mail = build_email(
            message,
            recipients,
            sender=self._settings.sender,
            domain=self._settings.message_domain,
            now=self._clock.now(),
            reply_to=self._settings.reply_to,
        )
        try:
            with self._connect() as client:
                refused = client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{addr}: {code} {_text(reply)}" for addr, (code, reply) in exc.recipients.items())
            if all(code >= 500 for code in codes):
                raise NotifierRejected(
                    f"every recipient refused: {detail}", notifier=self.name, operation=self._operation
                ) from exc
            raise NotifierUnavailable(
                f"recipients refused for now: {detail}", notifier=self.name, operation=self._operation
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifierRejected(
                f"login refused ({exc.smtp_code}): check username/password",
                notifier=self.name,
                operation=self._operation,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            reply = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500:
                raise NotifierUnavailable(
                    f"server said {reply}", notifier=self.name, operation=self._operation
                ) from exc
            raise NotifierRejected(f"server said {reply}", notifier=self.name, operation=self._operation) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, timeout, TLS, dropped connection
            raise NotifierUnavailable(
                f"{type(exc).__name__}: {exc}", notifier=self.name, operation=self._operation
            ) from exc
        if refused:
            log.warning("%s: %s sent, but refused for %s", self.name, mail["Message-ID"], ", ".join(sorted(refused)))

    def close(self) -> None:
        """Nothing is held between notices."""


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
