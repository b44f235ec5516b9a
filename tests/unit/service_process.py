"""Running ``itsm-connector run`` as a real process for the service tests: a free port, the
HTTP answers, the log it writes, and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connector.domain.errors import SourceError


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick, released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    port: int, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """One request to 127.0.0.1:``port``; (status, body) whatever the status."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def http_json(port: int, path: str, **kw: Any) -> tuple[int, Any]:
    """``http`` with the body parsed as JSON."""
    status, data = http(port, path, **kw)
    return status, json.loads(data)


def wait_for(check: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Poll ``check`` (a real process: wall-clock waiting is the only way) until it holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def bound_port(source: Any, seconds: float = 30.0) -> int:
    """The port a push source (``ZabbixWebhookSource`` on port 0) listens on, once the daemon
    started its server on another thread: until then ``source.port`` raises ``SourceError``."""
    found: list[int] = []

    def bound() -> bool:
        try:
            found.append(source.port)
        except SourceError:
            return False
        return True

    wait_for(bound, "the webhook endpoint to listen", seconds)
    return found[0]


class Running:
    """``itsm-connector run --config CONFIG`` in a child process, its log in ``log``."""

    def __init__(self, config: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.log = config.parent / "run.log"
        env = {**{k: v for k, v in os.environ.items() if k != "ITSM_CONNECTOR_FAILPOINT"}, **(env or {})}
        self._handle = self.log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "connector.cli.main", *extra, "run", "--config", str(config)],
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_http(self, port: int) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"run exited with {self.proc.returncode}:\n{self.text()}")
            try:
                return http(port, "/healthz")[0] == 200
            except OSError:
                return False

        wait_for(up, f"/healthz on port {port}")

    def readiness(self, port: int) -> tuple[int, Any]:
        """``/readyz`` once the daemon's first cycle is done (before it, ``startup`` fails)."""
        self.wait_http(port)
        answer: list[tuple[int, Any]] = []

        def started() -> bool:
            answer[:] = [http_json(port, "/readyz")]
            return "startup" not in answer[0][1]["failing"]

        wait_for(started, "the first cycle")
        return answer[0]

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._handle.close()
        return int(self.proc.returncode)
