"""``Type=notify``: the daemon tells systemd READY=1 once it serves, RELOADING=1 then READY=1
around a SIGHUP, STOPPING=1 on SIGTERM — over a real datagram socket named in NOTIFY_SOCKET,
as systemd hands it to the service."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

from tests.unit.service_process import Running


def _next(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode("utf-8")
    return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)


def test_ready_reloading_stopping_reach_systemd(tmp_path: Path) -> None:
    address = tmp_path / "notify.sock"
    config = tmp_path / "c.yaml"
    config.write_text(
        "state: {path: state.db}\nbackend: {type: local, path: tickets.db}\n"
        "sources: [{type: replay, name: feed, path: alerts.jsonl}]\n",
        encoding="utf-8",
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.settimeout(60)
        run = Running(config, env={"NOTIFY_SOCKET": str(address)})
        said: list[dict[str, str]] = []
        try:
            said.append(_next(sock))
            assert said[0].get("READY") == "1" and "backend local" in said[0]["STATUS"], run.text()
            run.signal(signal.SIGHUP)
            while said[-1].get("READY") != "1" or len(said) < 3:
                said.append(_next(sock))
            run.signal(signal.SIGTERM)
            while "STOPPING" not in said[-1]:
                said.append(_next(sock))
            run.proc.wait(timeout=120)  # let the one SIGTERM finish (stop() would signal again)
        except TimeoutError as exc:
            raise AssertionError(f"systemd was told only {said}:\n{run.text()}") from exc
        finally:
            code = run.stop()
    states = [next(k for k in ("READY", "RELOADING", "STOPPING") if k in d) for d in said if set(d) - {"STATUS"}]
    assert states == ["READY", "RELOADING", "READY", "STOPPING"], said
    assert code == 0, run.text()
