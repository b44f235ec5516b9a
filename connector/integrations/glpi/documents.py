"""GLPI Documents: a file attached to a ticket, or a document of its own (the monthly report,
GLPI having no wiki). One multipart ``POST Document/`` each (glpi-rest.md §7).

A file for a ticket is uploaded once, even when the outbox retries it: GLPI stores the SHA-1 of
every Document's file (``sha1sum``), so a retry (``contracts.delivery``: the operation may have
gone out before) first reads the ticket's Documents and does not upload a file of the same name
and content again. A first attempt costs the one POST; a report Document of its own is made once
per period by the report job's cursor (docs/glpi.md §9, docs/idempotency.md).
"""

from __future__ import annotations

__all__ = ["Documents", "safe_filename"]

import hashlib
import logging
import re
from typing import Any

from connector.contracts.delivery import current
from connector.integrations.glpi.client import GlpiClient, GlpiRejected
from connector.integrations.glpi.lookup import iterate
from connector.integrations.glpi.schema import Created, DocumentLinkRow, DocumentRow
from connector.integrations.glpi.writes import Writes

log = logging.getLogger(__name__)

_ALLOWED_HINT = (
    "GLPI accepts only the file types Setup › Dropdowns › Document types allows for upload; "
    "allow the extension there, or zip the file"
)


def safe_filename(filename: str) -> str:
    """A file name without a path or control characters, at most 255 characters."""
    base = re.split(r"[/\\]", filename)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "attachment"
    return base[-255:]


class Documents:
    """Uploads over one backend's client."""

    def __init__(self, client: GlpiClient, writes: Writes, backend: str, entity: int | None) -> None:
        self._client = client
        self._writes = writes
        self._backend = backend
        self._entity = entity

    def attach(self, tid: int, filename: str, content: bytes, content_type: str) -> None:
        """Upload the file as a Document linked to ticket ``tid`` (GLPI shows it in the
        ticket's timeline)."""
        name = safe_filename(filename)
        delivery = current()
        if delivery is not None and delivery.retry and self._has_file(tid, name, content):
            log.info("%s: the file %s of outbox #%d is on #%d already; not uploaded again", self._backend, name,
                     delivery.op_id, tid)
            return
        manifest = {"input": {"name": name, "_filename": [name], "itemtype": "Ticket", "items_id": tid}}
        self._upload(manifest, name, content, content_type, (tid,))

    def _has_file(self, tid: int, name: str, content: bytes) -> bool:
        """Whether ticket ``tid`` has a Document of this name and content (the newest first: a
        retry follows its first try closely)."""
        digest = hashlib.sha1(content).hexdigest()  # what GLPI stores as sha1sum; not a security use
        newest_first: dict[str, str | int] = {"sort": "id", "order": "DESC"}
        links = iterate(self._client, f"Ticket/{tid}/Document_Item", list[DocumentLinkRow], newest_first)
        for link in links:
            document = self._client.get(f"Document/{link.documents_id}", DocumentRow)
            if document.sha1sum == digest and document.filename == name:
                return True
        return False

    def publish(self, filename: str, content: bytes, content_type: str, title: str) -> str:
        """Upload a file as a Document of its own; returns its id."""
        name = safe_filename(filename)
        entity = {"entities_id": self._entity} if self._entity is not None else {}
        manifest = {"input": {"name": title, "_filename": [name], **entity}}
        return str(self._upload(manifest, name, content, content_type, ()).id)

    def _upload(
        self, manifest: dict[str, Any], name: str, content: bytes, content_type: str, tickets: tuple[int, ...]
    ) -> Created:
        """One multipart ``POST Document/``; a refusal names what the admin can allow, and a
        missing right waits (``Writes.refusal``)."""
        try:
            return self._client.upload("Document/", manifest, name, content, content_type, Created)
        except GlpiRejected as exc:
            refused = self._writes.refusal(exc, "Document", tickets)
            if refused is not exc:
                raise refused from exc
            raise GlpiRejected(
                f"{exc.reason} ({_ALLOWED_HINT})",
                backend=self._backend,
                operation="POST Document/",
                status=exc.status,
                code=exc.code,
                detail=exc.detail,
            ) from exc
