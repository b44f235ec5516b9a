"""Raw RFC 5322 bytes → ``ParsedMail``: decoded headers, the text body, the attachments.

Pure: no I/O, no clock. The stdlib parser (``compat32`` policy: it never raises on a bad
header, it records a defect) reads the structure; every header and text part is decoded here
with ``connector.integrations.mail.charsets`` (encoded-words in any charset, raw 8-bit headers, a wrong or
missing ``charset=``), quoted-printable and base64 by the parser. HTML-only mails are turned
into text. A mail is *malformed* — ``MalformedMail`` with the reason, for the quarantine — when
it has no usable sender or its MIME structure is broken (a multipart without its boundary).
"""

from __future__ import annotations

__all__ = ["MailPart", "MalformedMail", "ParsedMail", "decode_header", "parse_mail"]

import email.header
import email.utils
import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import errors as email_errors
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

from connector.domain.clock import ensure_utc
from connector.domain.errors import ConnectorError
from connector.integrations.mail.charsets import decode_bytes
from connector.integrations.mail.html import html_to_text

#: defects that mean the MIME tree cannot be trusted (text may be missing or be MIME syntax)
_STRUCTURAL = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
)
_FILENAME_BAD = re.compile(r"[\x00-\x1f\x7f/\\]+")
_MSGID = re.compile(r"<([^<>\s]+)>")


class MalformedMail(ConnectorError):
    """Raised when a mail cannot become an alert; ``reason`` goes to the dead-letter table."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class MailPart:
    """One attachment (or inline image) with its decoded bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    """A mail as the mapping needs it; every text is decoded (``str``), never raw bytes."""

    message_id: str | None
    sender: str  # the From address, lower-case
    sender_name: str
    subject: str
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: dict[str, str]  # lower-case name → decoded value (first occurrence)
    text: str
    html_only: bool
    attachments: tuple[MailPart, ...]
    content_type: str
    return_path: str | None
    size: int
    digest: str  # SHA-256 of the raw bytes: the event key of a mail without a Message-ID
    notes: tuple[str, ...] = field(default=())  # what the description should say about the mail itself


def decode_header(value: Any) -> str:
    """A header value (str, or ``Header`` for raw 8-bit bytes) as text: encoded-words in any
    charset, raw UTF-8/GBK bytes, folding whitespace collapsed."""
    if value is None:
        return ""
    try:
        chunks = email.header.decode_header(value if isinstance(value, email.header.Header) else str(value))
    except (email_errors.HeaderParseError, ValueError, LookupError):
        chunks = [(str(value), None)]
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, None if charset in (None, "unknown-8bit") else charset))
        else:
            out.append(
                decode_bytes(chunk.encode("ascii", "surrogateescape"), None) if _has_surrogates(chunk) else chunk
            )
    return " ".join("".join(out).split())


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _message_ids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MSGID.findall(value)))


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return ensure_utc(parsed) if parsed is not None else None


def _filename(part: Message, index: int, content_type: str) -> str:
    raw = part.get_filename()
    name = decode_header(raw) if raw else ""
    name = _FILENAME_BAD.sub("_", name).strip(" ._")[:200]
    if name:
        return name
    extension = mimetypes.guess_extension(content_type) or ".bin"
    return f"attachment-{index}{extension}"


def _leaves(part: Message) -> Iterator[Message]:
    """The leaf parts in order; a forwarded message (message/rfc822) is one leaf, kept whole."""
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        yield part
        return
    payload = part.get_payload()
    for sub in payload if isinstance(payload, list) else []:
        if isinstance(sub, Message):
            yield from _leaves(sub)


def _structural_defect(msg: Message) -> str | None:
    stack = [msg]
    while stack:
        part = stack.pop()
        for defect in part.defects:
            if isinstance(defect, _STRUCTURAL):
                return f"broken MIME structure: {type(defect).__name__} in {part.get_content_type()}"
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
    if msg.get_content_maintype() == "multipart" and not msg.is_multipart():
        return f"broken MIME structure: {msg.get_content_type()} without parts"
    return None


def _part_bytes(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        return part.as_bytes(policy=compat32) if not part.is_multipart() else _rfc822_bytes(part)
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _rfc822_bytes(part: Message) -> bytes:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    return inner.as_bytes(policy=compat32) if isinstance(inner, Message) else b""


def parse_mail(data: bytes, *, headers_only: bool = False) -> ParsedMail:
    """Parse one mail; raises ``MalformedMail`` with the reason when it cannot be a report.

    ``headers_only``: ``data`` is only the header of a mail too large to read whole; its MIME
    structure is then not checked (the parts are not there)."""
    if not data.strip():
        raise MalformedMail("the message is empty")
    msg = BytesParser(policy=compat32).parsebytes(data)
    headers: dict[str, str] = {}
    for name, value in msg.items():
        headers.setdefault(name.lower(), decode_header(value))
    from_header = headers.get("from", "")
    # parse the address before decoding: a decoded name may hold "," or "<" (=?utf-8?b?…?= → "Zhang, San")
    raw_from = msg.get("From")
    name, address = email.utils.parseaddr(raw_from if isinstance(raw_from, str) else from_header)
    name = decode_header(name)
    address = address.strip().lower()
    if "@" not in address or " " in address:
        raise MalformedMail(f"no usable sender address in From: {from_header[:120]!r}")
    broken = None if headers_only else _structural_defect(msg)
    if broken:
        raise MalformedMail(broken)

    plain: list[str] = []
    html: list[str] = []
    attachments: list[MailPart] = []
    for index, part in enumerate(() if headers_only else _leaves(msg), start=1):
        content_type = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        is_text = content_type in ("text/plain", "text/html") and disposition != "attachment"
        if is_text and not (disposition == "inline" and part.get_filename()):
            payload = part.get_payload(decode=True)
            text = decode_bytes(payload if isinstance(payload, bytes) else b"", part.get_content_charset())
            (plain if content_type == "text/plain" else html).append(text)
            continue
        if part.is_multipart() and content_type != "message/rfc822":
            continue
        attachments.append(MailPart(_filename(part, index, content_type), content_type, _part_bytes(part)))

    html_only = not any(t.strip() for t in plain) and any(t.strip() for t in html)
    body = "\n\n".join(html_to_text(t) for t in html) if html_only else "\n\n".join(plain)
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    return_path = headers.get("return-path")
    message_ids = _message_ids(headers.get("message-id", ""))
    return ParsedMail(
        message_id=message_ids[0] if message_ids else None,
        sender=address,
        sender_name=name.strip(),
        subject=headers.get("subject", ""),
        date=_date(headers.get("date", "")),
        in_reply_to=_message_ids(headers.get("in-reply-to", "")),
        references=_message_ids(headers.get("references", "")),
        headers=headers,
        text=body,
        html_only=html_only,
        attachments=tuple(attachments),
        content_type=msg.get_content_type(),
        return_path=return_path,
        size=len(data),
        digest=hashlib.sha256(data).hexdigest(),
    )
