"""``once`` alone on a state file: a lock beside it, exclusive for ``once``, shared by daemons.

Daemons (``run``) on one state share the work through leases and outbox claims
(``connector.state.leases``, docs/several-daemons.md), so several may hold the lock together
(``shared=True``: ``LOCK_SH``). ``once`` does every job itself without leases — beside a
daemon it would poll, sweep and read the helpdesk back a second time — so it takes the lock
alone (``LOCK_EX``), and is refused while a daemon runs, as a daemon is while ``once`` runs.
Both take ``StateLock``: ``fcntl.flock(… | LOCK_NB)`` on ``<state>.lock``. The kernel
releases a flock when its process ends, however it ends (a crash, ``kill -9``), so a stale
lock cannot outlive its holder and nothing needs cleaning up; the file itself stays (removing
it would let a third process lock a fresh file while the second still holds the old one). A
sole holder writes its pid into the file, so the refusal names it (sharing daemons do not:
they would overwrite each other's).

A flock is per open file description: a second ``StateLock`` on the same file in the same
process is refused too. flock is advisory and local: it does not protect a state file on a
network file system shared by two machines (the state file belongs on a local disk anyway:
SQLite's WAL needs shared memory).
"""

from __future__ import annotations

__all__ = ["StateLock", "StateLocked", "lock_path"]

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from connector.domain.errors import StoreError


class StateLocked(StoreError):
    """Raised when another process holds the state file's lock; ``pid`` is that process's,
    when it could be read."""

    def __init__(self, message: str, *, pid: int | None) -> None:
        self.pid = pid
        super().__init__(message)


def lock_path(state: Path | str) -> Path:
    """The lock file of a state file: ``<state>.lock`` beside it."""
    return Path(f"{state}.lock")


class StateLock:
    """The exclusive lock of one state file (a context manager; ``acquire``/``release`` too).

    :param state: the state file (``:memory:`` needs no lock: nothing else can open it).
    :param command: what holds it, written beside the pid for whoever is refused.
    """

    def __init__(self, state: Path | str, *, command: str = "run", shared: bool = False) -> None:
        self.state = str(state)
        self.path = lock_path(state)
        self.command = command
        #: several daemons (``run``) share the lock; ``once`` and the tools need it alone
        self.shared = shared
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``StateLocked`` naming the pid that holds it; ``StoreError``
        when the lock file cannot be opened."""
        if self.state == ":memory:" or self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, what = _holder(fd)
            os.close(fd)
            who = f"pid {pid}" + (f", {what}" if what else "") if pid is not None else "a process that has not said"
            raise StateLocked(
                f"the state file {self.state} is in use by another itsm-connector ({who}): stop it first "
                "(two connectors on one state file would deliver everything twice), or give this one its "
                "own state file",
                pid=pid,
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        if not self.shared:  # sharers would overwrite each other's pid: only a sole holder says
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {self.command}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (closing the file releases the flock)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if not self.shared:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # nobody holds it: no pid to name
        os.close(fd)

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _holder(fd: int) -> tuple[int | None, str]:
    """The pid and command the holder wrote (it may not have written them yet)."""
    try:
        text = os.pread(fd, 200, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None, ""
    pid, _, what = text.partition(" ")
    return (int(pid), what.strip()) if pid.isascii() and pid.isdigit() else (None, "")
