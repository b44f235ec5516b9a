"""Content-addressed files that came with an input (e-mail attachments), kept until delivered.

A source writes the bytes here *before* it journals the alert that names them (by SHA-256),
so a journaled alert never points at a file that is not on disk; the outbox reads them when
it uploads. Writes are atomic (temporary file, fsync, rename): a crash leaves either the
whole file or none. The same content is stored once.
"""

from __future__ import annotations

__all__ = ["Spool"]

import hashlib
import os
import re
import tempfile
from pathlib import Path

from connector.domain.errors import StoreError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Spool:
    """A directory of files named by the SHA-256 of their content."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        """Where the file with this digest lives (whether or not it exists)."""
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.directory / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        """Store ``content`` (once) and return its SHA-256; raises ``StoreError`` on I/O failure."""
        digest = hashlib.sha256(content).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write to the spool {self.directory}: {exc.strerror or exc}") from exc
        return digest

    def get(self, sha256: str) -> bytes:
        """The stored content; raises ``StoreError`` if it is gone."""
        try:
            return self.path(sha256).read_bytes()
        except OSError as exc:
            raise StoreError(f"spool file {sha256} is missing: {exc.strerror or exc}") from exc

    def discard(self, sha256: str) -> None:
        """Forget a file once nothing owes it any more."""
        self.path(sha256).unlink(missing_ok=True)
