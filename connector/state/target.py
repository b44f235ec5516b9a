"""Where the state lives: a SQLite file or a PostgreSQL database, parsed once from the config.

``state: {path: FILE}`` (as before), ``state: {url: sqlite:///FILE}`` or
``state: {url: postgresql://USER@HOST:PORT/DB}``. The PostgreSQL password is taken out of the
URL into ``password`` (or comes from ``state.password``, a ``${ENV}``/``password_file``
secret), so the text every message and log line shows (``display``) never holds it, and
``repr`` leaves it out.

``sqlite:`` URLs follow SQLAlchemy's spelling: ``sqlite:///state.db`` is relative (to the config
file's folder), ``sqlite:////var/lib/itsm/state.db`` absolute.
"""

from __future__ import annotations

__all__ = ["StateTarget"]

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

_PG_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class StateTarget:
    """One state store: its engine, where it is, and (PostgreSQL) the password to reach it.

    :param engine: ``sqlite`` or ``postgresql``.
    :param location: the file (or ``:memory:``), or the PostgreSQL URL without its password.
    :param password: the PostgreSQL password, kept apart from ``location``.
    """

    engine: Literal["sqlite", "postgresql"]
    location: str
    password: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def parse(cls, text: str | Path, password: str | None = None) -> StateTarget:
        """A target from a plain path, a ``sqlite:`` URL or a ``postgresql:`` URL. Raises
        ``ValueError`` with a message fit for a config error."""
        if isinstance(text, Path):
            return cls("sqlite", str(text))
        scheme = text.split(":", 1)[0].lower() if "://" in text else ""
        if not scheme:
            if password is not None:
                raise ValueError("a password is for a postgresql:// state, not a SQLite file")
            return cls("sqlite", text)
        if scheme == "sqlite":
            if password is not None:
                raise ValueError("a password is for a postgresql:// state, not a SQLite file")
            path = text[len("sqlite://") :]
            if not path.startswith("/") or path == "/":
                raise ValueError(
                    f"a sqlite URL names a file: sqlite:///relative.db or sqlite:////absolute.db, not {text!r}"
                )
            return cls("sqlite", path[1:])
        if scheme in _PG_SCHEMES:
            return cls._postgresql(text, password)
        raise ValueError(f"state url scheme {scheme!r} is not known: use sqlite:///FILE or postgresql://USER@HOST/DB")

    @classmethod
    def _postgresql(cls, text: str, password: str | None) -> StateTarget:
        parts = urlsplit(text)
        if not parts.hostname:
            raise ValueError("a postgresql state url names its server: postgresql://USER@HOST:PORT/DB")
        if not parts.path.strip("/"):
            raise ValueError("a postgresql state url names its database: postgresql://USER@HOST:PORT/DB")
        try:
            parts.port  # noqa: B018 - a bad port raises here, not at the first connect
        except ValueError as exc:
            raise ValueError(f"the postgresql state url has a bad port: {exc}") from None
        in_url = unquote(parts.password) if parts.password is not None else None
        if in_url is not None and password is not None:
            raise ValueError("the postgresql password is given twice: in the url and as state.password")
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        location = urlunsplit(("postgresql", netloc, parts.path, parts.query, ""))
        return cls("postgresql", location, in_url if in_url is not None else password)

    @property
    def is_memory(self) -> bool:
        """A SQLite database in memory (no file, nothing else can open it)."""
        return self.engine == "sqlite" and self.location == ":memory:"

    @property
    def display(self) -> str:
        """What messages name: the file, or the server as ``postgresql://user@host:port/db``."""
        if self.engine == "sqlite":
            return self.location
        parts = urlsplit(self.location)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))

    def with_password(self, password: str | None) -> StateTarget:
        """The same target with ``password`` (a config's ``state.password``)."""
        return replace(self, password=password)

    def __str__(self) -> str:
        return self.display
