"""``ParsedMail`` → the ``Alert`` of a user report, or why the mail is ignored or refused.

One ``MailMapper`` per source holds the policy (allow-list, rate limiter, limits) and the spool.
The order is fixed: our own notices and machine mail are ignored first (they must never count
against a sender or open a ticket), then senders outside the allow-list, then the rate limit
(refused: dead-lettered with the reason, so a person can see a flood), then the reply
detection and the attachments. Attachment bytes go to the spool *here*, before the alert is
handed back to be journaled; larger ones are left out and the description says so.
"""

from __future__ import annotations

__all__ = ["Ignored", "MailMapper"]

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector.contracts.adapters import Rejected
from connector.domain.models import Alert, Attachment, TicketSource
from connector.integrations.mail.message import ParsedMail
from connector.integrations.mail.policy import RateLimiter, SenderAllowList, automatic_reason
from connector.integrations.mail.replies import CONNECTOR_MESSAGE_ID, reply_ticket
from connector.integrations.mail.settings import ImapSettings
from connector.state.spool import Spool

#: a Message-ID longer than this is replaced by a digest in the external id
_MAX_ID = 200
_TITLE_MAX = 255


@dataclass(frozen=True)
class Ignored:
    """A mail that is deliberately not journaled; ``reason`` is logged."""

    reason: str


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


class MailMapper:
    """Turns parsed mails of one source into alerts, applying its sender policy."""

    def __init__(self, settings: ImapSettings, *, source: str, spool: Spool) -> None:
        self.source = source
        self.settings = settings
        self.spool = spool
        self.allowed = SenderAllowList(settings.allowed_senders)
        self.limiter = RateLimiter(settings.rate_limit_count, timedelta(minutes=settings.rate_limit_window_minutes))

    def external_id(self, mail: ParsedMail) -> str:
        """The journal key of a mail: its Message-ID, or the digest of its bytes."""
        if mail.message_id and len(mail.message_id) <= _MAX_ID:
            return mail.message_id
        return f"sha256:{mail.digest}"

    def map(self, mail: ParsedMail, *, now: datetime, where: Mapping[str, Any]) -> Alert | Rejected | Ignored:
        """What ``mail`` (read from ``where``: folder and uid) becomes at ``now``."""
        if mail.sender in self.settings.own_addresses or (
            mail.message_id and CONNECTOR_MESSAGE_ID.match(mail.message_id)
        ):
            return Ignored(f"mail from {mail.sender} is one of the connector's own notices")
        machine = automatic_reason(mail)
        if machine:
            return Ignored(f"mail from {mail.sender} was sent automatically ({machine})")
        if not self.allowed.allows(mail.sender):
            return Ignored(f"sender {mail.sender} is not in allowed_senders")
        external_id = self.external_id(mail)
        raw = self._raw(mail, where)
        if not self.limiter.allow(mail.sender, now):
            window = f"{self.settings.rate_limit_window_minutes:g} minutes"
            reason = f"sender {mail.sender} sent more than {self.settings.rate_limit_count} mails in {window}"
            return Rejected(self.source, external_id, reason, raw)
        attachments, notes = self._attachments(mail)
        return Alert(
            source=self.source,
            external_id=external_id,
            title=self._title(mail),
            description=self._description(mail, notes),
            reporter=mail.sender,
            origin=TicketSource.USER_REPORT,
            occurred_at=self._occurred(mail, now),
            reply_to=reply_ticket(mail.subject, mail.in_reply_to, mail.references),
            attachments=tuple(attachments),
            raw=raw,
        )

    # --- parts ---------------------------------------------------------------------------------

    def _title(self, mail: ParsedMail) -> str:
        subject = " ".join(mail.subject.split())
        return (subject or f"(no subject) from {mail.sender}")[:_TITLE_MAX]

    def _occurred(self, mail: ParsedMail, now: datetime) -> datetime:
        """The mail's Date, unless it is implausible (future, or older than a year): then now."""
        date = mail.date
        if date is None or date > now + timedelta(hours=1) or date < now - timedelta(days=365):
            return now
        return date

    def _attachments(self, mail: ParsedMail) -> tuple[list[Attachment], list[str]]:
        limit = self.settings.max_attachment_bytes
        kept: list[Attachment] = []
        notes: list[str] = []
        for part in mail.attachments:
            if not part.data:
                continue
            if len(part.data) > limit:
                notes.append(
                    f"Attachment {part.filename} ({_size(len(part.data))}) was not uploaded: "
                    f"it is larger than the {_size(limit)} limit; ask the sender for it."
                )
                continue
            digest = self.spool.put(part.data)  # on disk before the alert naming it is journaled
            kept.append(
                Attachment(filename=part.filename, content_type=part.content_type, size=len(part.data), sha256=digest)
            )
        return kept, notes

    def _description(self, mail: ParsedMail, notes: list[str]) -> str:
        sender = f"{mail.sender_name} <{mail.sender}>" if mail.sender_name else mail.sender
        lines = [f"From: {sender}"]
        if mail.date is not None:
            lines.append(f"Date: {mail.date:%Y-%m-%d %H:%M:%S} UTC")
        if mail.html_only:
            lines.append("(converted from an HTML-only mail)")
        body = mail.text or "(the mail has no text)"
        limit = self.settings.max_description_chars
        if len(body) > limit:
            body = body[:limit] + f"\n[… cut: {len(body) - limit} more characters]"
        text = "\n".join(lines) + "\n\n" + body
        extra = [*mail.notes, *notes]
        return text + ("\n\n" + "\n".join(extra) if extra else "")

    def _raw(self, mail: ParsedMail, where: Mapping[str, Any]) -> dict[str, Any]:
        wanted = ("message-id", "from", "to", "cc", "subject", "date", "in-reply-to", "references")
        headers = {name: mail.headers[name][:1000] for name in wanted if name in mail.headers}
        return {"mail": {**headers, "size": mail.size, **dict(where)}}
