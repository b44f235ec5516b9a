"""A small fault-injecting proxy for the fault tests: it sits between the connector and a real
server (Redmine, the Zabbix API, Dovecot, the GLPI contract double) on loopback and, on cue,
fails the way networks and helpdesks fail.

Two modes:

* **HTTP** (``FaultProxy(upstream)``): one request per connection. The request is read whole
  (headers and ``Content-Length`` body: the connector's clients never send chunked bodies),
  and the first planned fault whose ``match`` is in the request line applies to it:

  ========================  ===========================================================
  ``Fault.STATUS_503``      answered 503 at once, nothing forwarded
  ``Fault.STATUS_429``      answered 429 with ``Retry-After``, nothing forwarded
  ``Fault.HANG``            nothing forwarded, no answer until ``hold_seconds`` pass
  ``Fault.RESET``           nothing forwarded, the connection is reset (RST)
  ``Fault.FORWARD_RESET``   forwarded, the server answers, the client gets a reset
  ``Fault.FORWARD_HANG``    forwarded, the server answers, the client gets nothing
  ``Fault.FORWARD_500``     forwarded, the server answers, the client gets a 500
  ========================  ===========================================================

  Anything else is forwarded with ``Connection: close`` both ways, so every request is its
  own connection and a fault never leaks into the next request.
* **TCP** (``FaultProxy(upstream, http=False)``): bytes piped both ways (IMAP), for
  ``down()`` / ``up()``, ``reset_all()`` and ``cut_next(n)`` (the next connection is reset
  after the server sent ``n`` bytes: a connection lost mid-stream).

``down()`` is the server going away: the listening socket closes (new connections are
refused) and every open connection is reset; ``up()`` listens again on the same port. Every
thread is a daemon thread, every wait is bounded (``hold_seconds``, the upstream timeout), and
``close()`` ends them, so a failing test cannot hang the suite. Loopback only.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import struct
import threading
from dataclasses import dataclass, field

__all__ = ["Fault", "FaultProxy"]

_LOOPBACK = "127.0.0.1"


class Fault(enum.Enum):
    """What happens to one request (see the module docstring)."""

    STATUS_503 = "503"
    STATUS_429 = "429"
    HANG = "hang"
    RESET = "reset"
    FORWARD_RESET = "forward-reset"
    FORWARD_HANG = "forward-hang"
    FORWARD_500 = "forward-500"

    @property
    def forwards(self) -> bool:
        """Whether the server sees (and may commit) the request."""
        return self.value.startswith("forward")


@dataclass
class _Plan:
    fault: Fault
    match: str
    times: int
    retry_after: int


@dataclass
class Seen:
    """One request the proxy took: its request line and what was done with it."""

    line: str
    fault: Fault | None
    forwarded: bool


@dataclass
class _State:
    plans: list[_Plan] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    live: set[socket.socket] = field(default_factory=set)
    cuts: list[int] = field(default_factory=list)


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (``SO_LINGER`` 0).

    ``shutdown(SHUT_RD)`` first wakes a thread of ours blocked in ``recv`` on the socket: on
    Linux a ``close`` alone leaves the connection open (and sends nothing) until that call
    returns, so a reset from another thread would never reach the client.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    sock.close()


def _answer(status: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Length: 0", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _with_close(head: bytes) -> bytes:
    """A request's or response's head with ``Connection: close`` instead of keep-alive."""
    lines = head.split(b"\r\n")
    kept = [line for line in lines[1:] if not line.lower().startswith((b"connection:", b"keep-alive:"))]
    return b"\r\n".join([lines[0], *kept, b"Connection: close"])


class FaultProxy:
    """A loopback proxy in front of ``upstream`` that fails requests as planned."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        http: bool = True,
        hold_seconds: float = 5.0,
        upstream_timeout: float = 30.0,
    ) -> None:
        self.upstream = upstream
        self.http = http
        self.hold_seconds = hold_seconds
        self.upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._state = _State()
        self._closing = threading.Event()
        self._listener: socket.socket | None = None
        self.port = 0
        self.up()

    # --- control ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: what the client under test is pointed at."""
        return f"http://{_LOOPBACK}:{self.port}"

    def inject(self, fault: Fault, *, match: str = "", times: int = 1, retry_after: int = 5) -> None:
        """Apply ``fault`` to the next ``times`` requests whose request line contains ``match``."""
        with self._lock:
            self._state.plans.append(_Plan(fault, match, times, retry_after))

    def cut_next(self, after_bytes: int) -> None:
        """TCP mode: reset the next connection once the server has sent ``after_bytes``."""
        with self._lock:
            self._state.cuts.append(after_bytes)

    def pending(self) -> int:
        """How many planned faults have not happened yet."""
        with self._lock:
            return sum(plan.times for plan in self._state.plans) + len(self._state.cuts)

    def seen(self, match: str = "") -> list[Seen]:
        """The requests taken so far whose request line contains ``match``."""
        with self._lock:
            return [s for s in self._state.seen if match in s.line]

    def up(self) -> None:
        """Listen (again, on the same port once it had one)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((_LOOPBACK, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="fault-proxy").start()

    def down(self) -> None:
        """The server goes away: refuse new connections and reset the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self.reset_all()

    def reset_all(self) -> None:
        """Reset every open connection (both sides)."""
        with self._lock:
            live, self._state.live = self._state.live, set()
        for sock in live:
            _reset(sock)

    def close(self) -> None:
        """Stop for good: no thread of the proxy outlives this."""
        self._closing.set()
        self.down()

    # --- the connections -------------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by down()
                return
            self._track(client)
            target = self._serve_http if self.http else self._serve_tcp
            threading.Thread(target=target, args=(client,), daemon=True, name="fault-proxy-conn").start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._state.live.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._state.live.discard(sock)

    def _hold(self) -> None:
        """Wait, answering nothing, until ``hold_seconds`` pass or the proxy closes."""
        self._closing.wait(self.hold_seconds)

    def _take(self, line: str) -> _Plan | None:
        with self._lock:
            for plan in self._state.plans:
                if plan.times > 0 and plan.match in line:
                    plan.times -= 1
                    if plan.times == 0:
                        self._state.plans.remove(plan)
                    return plan
        return None

    def _record(self, line: str, plan: _Plan | None, forwarded: bool) -> None:
        with self._lock:
            self._state.seen.append(Seen(line, plan.fault if plan else None, forwarded))

    def _serve_http(self, client: socket.socket) -> None:
        try:
            client.settimeout(self.hold_seconds + self.upstream_timeout)
            request = _read_request(client)
            if request is None:
                client.close()
                return
            head, body = request
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            plan = self._take(line)
            fault = plan.fault if plan else None
            self._record(line, plan, fault is None or fault.forwards)
            if fault is Fault.STATUS_503:
                client.sendall(_answer("503 Service Unavailable"))
            elif fault is Fault.STATUS_429:
                assert plan is not None
                client.sendall(_answer("429 Too Many Requests", {"Retry-After": str(plan.retry_after)}))
            elif fault is Fault.HANG:
                self._hold()
            elif fault is Fault.RESET:
                _reset(client)
                return
            else:
                response = self._forward(_with_close(head) + b"\r\n\r\n" + body)
                if fault is Fault.FORWARD_RESET:
                    _reset(client)
                    return
                if fault is Fault.FORWARD_HANG:
                    self._hold()
                elif fault is Fault.FORWARD_500:
                    client.sendall(_answer("500 Internal Server Error"))
                else:
                    client.sendall(response)
            client.close()
        except OSError:
            client.close()
        finally:
            self._untrack(client)

    def _forward(self, request: bytes) -> bytes:
        """Send ``request`` to the server and read its whole answer (it closes: Connection: close)."""
        with socket.create_connection(self.upstream, timeout=self.upstream_timeout) as upstream:
            upstream.sendall(request)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        data = b"".join(chunks)
        head, sep, rest = data.partition(b"\r\n\r\n")
        return _with_close(head) + sep + rest if sep else data

    def _serve_tcp(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=self.upstream_timeout)
        except OSError:
            _reset(client)
            self._untrack(client)
            return
        upstream.settimeout(None)
        client.settimeout(None)
        self._track(upstream)
        with self._lock:
            cut = self._state.cuts.pop(0) if self._state.cuts else None
        threading.Thread(target=self._pipe, args=(upstream, client, cut), daemon=True).start()
        self._pipe(client, upstream)

    def _pipe(self, source: socket.socket, sink: socket.socket, cut: int | None = None) -> None:
        sent = 0
        try:
            while chunk := source.recv(65536):
                if cut is not None and sent + len(chunk) >= cut:
                    sink.sendall(chunk[: max(0, cut - sent)])
                    _reset(sink)
                    _reset(source)
                    return
                sink.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        for sock in (source, sink):
            self._untrack(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _read_request(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """One HTTP request: its head (without the blank line) and its ``Content-Length`` body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head, body
