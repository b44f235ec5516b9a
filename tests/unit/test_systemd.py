"""The systemd unit, users and notifications: what an admin installs must be valid, and the daemon
must speak the notify protocol its unit promises (``Type=notify``)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from connector.runtime.systemd_notify import notify

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "packaging" / "systemd"


def test_notify_sends_one_datagram_to_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        assert notify("READY=1", "STATUS=serving\nnow", env={"NOTIFY_SOCKET": str(path)})
        assert server.recv(4096) == b"READY=1\nSTATUS=serving now"


def test_notify_outside_systemd_or_with_a_dead_socket_is_harmless(tmp_path: Path) -> None:
    assert notify("READY=1", env={}) is False
    assert notify("READY=1", env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False


@pytest.fixture
def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed here (no systemd): the unit file is not verified")
    return found


def test_the_unit_passes_systemd_analyze_verify(analyze: str, tmp_path: Path) -> None:
    """``verify`` checks the keys and that ExecStart exists: the unit's /opt path is pointed at this
    venv's command for the check, nothing else changes."""
    command = Path(sys.executable).with_name("itsm-connector")
    assert command.exists(), "the package's console script is not installed in this venv"
    unit = tmp_path / "itsm-connector.service"
    unit.write_text((UNITS / unit.name).read_text().replace("/opt/itsm-connector/bin/itsm-connector", str(command)))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if unit.name in line]
    assert proc.returncode == 0 and problems == [], proc.stdout + proc.stderr


def test_a_broken_unit_is_caught(analyze: str, tmp_path: Path) -> None:
    """The check above can fail: systemd-analyze exits 0 on unknown keys, so the test reads its words."""
    unit = tmp_path / "broken.service"
    unit.write_text("[Service]\nType=notifyy\nExecStart=/bin/true\nBogus=1\n")
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert [line for line in (proc.stdout + proc.stderr).splitlines() if unit.name in line]


def test_the_sysusers_snippet_parses(tmp_path: Path) -> None:
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        pytest.skip("systemd-sysusers is not installed here (no systemd)")
    (tmp_path / "etc").mkdir()
    for name in ("passwd", "group", "shadow", "gshadow"):
        (tmp_path / "etc" / name).write_text("root:x:0:0:root:/root:/bin/bash\n" if name == "passwd" else "")
    proc = subprocess.run(
        [sysusers, f"--root={tmp_path}", str(UNITS / "itsm-connector.sysusers")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "itsm-connector:" in (tmp_path / "etc" / "passwd").read_text()
