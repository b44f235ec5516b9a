"""The production path, as an admin takes it: build the wheel, install it into a fresh venv as a
NON-ROOT user, and run the README's main command (``itsm-connector demo``, what
``scripts/demo.sh`` runs) from that venv — no checkout on the path, no root.

Run as root (CI), the test uses the user ``tester`` when it exists, else creates a system user
for the run (``useradd``) and removes it afterwards; where no such user can be had it is skipped
saying why. Run as a normal user, it is that user. Package indexes come from the caller's pip
configuration (``pip config list``, ``PIP_*``), handed to the user as ``PIP_*`` variables, so a
local mirror works offline.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import connector

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRATCH_USER = "itsm-wheel-test"


def _pip_env() -> dict[str, str]:
    """The caller's pip settings as ``PIP_*`` variables (a config file under /root is unreadable to
    the user)."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60
    ).stdout
    for line in listed.splitlines():
        name, _, value = line.partition("=")
        section, _, key = name.partition(".")
        if section in ("global", "install") and key and value:
            env.setdefault("PIP_" + key.upper().replace("-", "_"), value.strip().strip("'\""))
    return env


@pytest.fixture
def user() -> Iterator[str | None]:
    """The non-root user to install as (``None``: the caller, who is not root)."""
    if os.geteuid() != 0:
        yield None
        return
    for name in ("tester", SCRATCH_USER):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        yield name
        return
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SCRATCH_USER],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"running as root and no non-root user can be made (useradd: {made.stderr.strip()})")
    try:
        yield SCRATCH_USER
    finally:
        subprocess.run(["userdel", SCRATCH_USER], capture_output=True)


def _as(user: str | None, command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    if user is not None:
        command = ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items()), *command]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=900)


def _python_for(user: str | None, env: dict[str, str], cwd: Path) -> str:
    """A Python ≥ 3.11 with venv that ``user`` may run (root's pyenv under /root is not one)."""
    for candidate in (sys.executable if user is None else "", "/usr/bin/python3", "python3"):
        if not candidate:
            continue
        probe = _as(user, [candidate, "-c", "import sys, venv; assert sys.version_info >= (3, 11)"], env, cwd)
        if probe.returncode == 0:
            return candidate
    pytest.skip(f"no Python ≥ 3.11 with venv that {user or 'this user'} can run")


def test_the_wheel_installs_as_a_normal_user_and_runs_the_demo(user: str | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="itsm-wheel-"))
    try:
        source = work / "src"
        source.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(ROOT / name, source / name)
        shutil.copytree(ROOT / "connector", source / "connector", ignore=shutil.ignore_patterns("__pycache__"))
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(work / "dist"), str(source)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert built.returncode == 0, built.stdout + built.stderr
        wheels = list((work / "dist").glob("itsm_connector-*.whl"))
        assert [w.name for w in wheels] == [f"itsm_connector-{connector.__version__}-py3-none-any.whl"]

        home = work / "home"
        home.mkdir()
        if user is not None:
            uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
            for path in (work, home):
                os.chown(path, uid, gid)
            os.chmod(work, 0o755)
        env = {**_pip_env(), "HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        python = _python_for(user, env, home)
        venv = home / "venv"
        steps = [
            [python, "-m", "venv", str(venv)],
            [str(venv / "bin" / "pip"), "install", "--no-cache-dir", str(wheels[0])],
        ]
        for step in steps:
            done = _as(user, step, env, home)
            assert done.returncode == 0, f"{step}: {done.stdout}\n{done.stderr}"
        whoami = _as(user, ["id", "-u"], env, home)
        assert whoami.stdout.strip() != "0", "the install must run as a non-root user"

        version = _as(user, [str(venv / "bin" / "itsm-connector"), "--version"], env, home)
        assert version.stdout.strip() == f"itsm-connector {connector.__version__}", version.stderr
        demo = _as(user, [str(venv / "bin" / "itsm-connector"), "demo", "--lang", "en"], env, home)
        assert demo.returncode == 0, demo.stderr
        # the table, from the installed package (not the checkout: nothing of it is on the path)
        assert "dead letter" in demo.stdout.lower() and demo.stdout.count("\n") > 10, demo.stdout
        assert not demo.stderr.strip(), demo.stderr  # no log lines above or below the table
    finally:
        shutil.rmtree(work, ignore_errors=True)
