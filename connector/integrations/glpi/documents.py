"""GLPI Documents: a file attached to a ticket, or a document of its own (the monthly report,
GLPI having no wiki). One multipart ``POST Document/`` each (glpi-rest.md §7).

An upload is not made idempotent: a POST GLPI committed but whose answer failed is uploaded
again on the retry, and the ticket shows the file twice (docs/glpi.md, the table of writes).
"""

from __future__ import annotations

__all__ = ["Documents", "safe_filename"]

import re
from typing import Any

from connector.integrations.glpi.client import GlpiClient, GlpiRejected
from connector.integrations.glpi.schema import Created
from connector.integrations.glpi.writes import Writes

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
        manifest = {"input": {"name": name, "_filename": [name], "itemtype": "Ticket", "items_id": tid}}
        self._upload(manifest, name, content, content_type, (tid,))

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
