"""Session fixtures for the real servers: each is started once per test session.

``scripts/services/<name>.sh start`` is idempotent (it returns at once when the server is up),
so CI may start the servers beforehand and the fixtures then only read their env files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services"
SVC_BASE = Path(os.environ.get("SVC_BASE", "/tmp/svc"))


def _start(name: str) -> dict[str, str]:
    """Start (or find running) the named service and return its env file as a dict."""
    if os.environ.get("ITSM_SKIP_SERVERS") == "1":
        pytest.skip("ITSM_SKIP_SERVERS=1: real-server tests disabled by the caller")
    proc = subprocess.run(["bash", str(SERVICES / f"{name}.sh"), "start"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"{name}.sh start failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    env_file = SVC_BASE / name / f"{name}.env"
    values: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="session")
def redmine_env() -> Iterator[dict[str, str]]:
    """URL, admin API key, project and custom-field ids of the test Redmine, with every custom
    field the connector uses created (``redmine.sh fields``, idempotent, once per session)."""
    env = _start("redmine")
    proc = subprocess.run(
        ["bash", str(SERVICES / "redmine.sh"), "fields"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ITSM_PYTHON": sys.executable},
    )
    if proc.returncode != 0:
        pytest.fail(f"redmine.sh fields failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    yield env


@pytest.fixture(scope="session")
def zabbix_env() -> Iterator[dict[str, str]]:
    """API URL, token, trapper host/port of the test Zabbix."""
    yield _start("zabbix")


@pytest.fixture(scope="session")
def imap_env() -> Iterator[dict[str, str]]:
    """Host, port, users and the deliver command of the test Dovecot (plain IMAP on loopback)."""
    yield _start("imap")
