"""``itsm-connector state migrate|check`` and the ``state:`` config section (``url``,
``password``), on the session's engine (SQLite, or PostgreSQL with ITSM_TEST_STATE_URL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.cli.main import main
from connector.state.schema import MIGRATIONS
from connector.state.target import StateTarget
from tests import state_backend
from tests.state_backend import state_target

needs_pg = pytest.mark.skipif(not state_backend.on_postgresql(), reason="needs ITSM_TEST_STATE_URL (PostgreSQL)")


def _config(tmp_path: Path, state: str) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(f"state: {state}\nbackend: {{type: local, path: tickets.db}}\nsources: []\n", encoding="utf-8")
    return config


def _session_state(tmp_path: Path) -> str:
    """The ``state:`` section of this session's engine, for a fresh store."""
    target = state_target(tmp_path / "state.db")
    if isinstance(target, StateTarget):
        url = target.location.replace("@", f":{target.password}@", 1)  # the password in the url
        return f'{{url: "{url}"}}'
    return "{url: 'sqlite:///state.db'}"


def test_check_migrate_and_check_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, _session_state(tmp_path))
    latest = len(MIGRATIONS)

    assert main(["state", "check", "--config", str(config)]) == 1  # nothing migrated yet: behind
    out = capsys.readouterr().out
    assert f"schema  0 of {latest}: {latest} migration(s) pending (itsm-connector state migrate)" in out
    assert ("postgresql" if state_backend.on_postgresql() else "sqlite") in out.splitlines()[0]

    assert main(["state", "migrate", "--dry-run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"would migrate schema 0 -> {latest}" in out
    assert "-- migration 1\nCREATE TABLE journal (" in out
    assert main(["state", "check", "--config", str(config)]) == 1  # the dry run changed nothing
    capsys.readouterr()

    assert main(["state", "migrate", "--config", str(config)]) == 0
    assert f"schema 0 -> {latest}" in capsys.readouterr().out
    assert main(["state", "migrate", "--config", str(config)]) == 0
    assert f"schema {latest}, already the latest" in capsys.readouterr().out

    assert main(["state", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"schema  {latest} (the latest)" in out
    assert "journal 0" in out and f"schema_version {latest}" in out
    assert "rowid" not in out


def test_an_unreachable_server_is_exit_1_naming_it_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, '{url: "postgresql://itsm:Hush-9xq@127.0.0.1:9/itsm"}')
    assert main(["state", "check", "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "cannot open state database postgresql://itsm@127.0.0.1:9/itsm" in captured.err
    assert "Hush-9xq" not in captured.err + captured.out


@needs_pg
def test_a_wrong_password_from_a_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert state_backend.state_url is not None
    (tmp_path / "pg.pw").write_text("Not-The-Password-7\n", encoding="utf-8")
    url = StateTarget.parse(state_backend.state_url).location
    config = _config(tmp_path, f'{{url: "{url}", password_file: pg.pw}}')
    assert main(["state", "check", "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "password authentication failed" in captured.err
    assert "Not-The-Password" not in captured.err + captured.out


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("{path: s.db, url: 'sqlite:///s.db'}", "either path: (a SQLite file) or url:"),
        ("{url: 'mysql://db/itsm'}", "scheme 'mysql' is not known"),
        ("{url: 'postgresql://a:b@db/itsm', password: '${PGPW}'}", "password is given twice"),
        ("{path: s.db, password: '${PGPW}'}", "a password is for a postgresql:// state url"),
    ],
)
def test_a_wrong_state_section_is_a_clear_config_error(
    tmp_path: Path, state: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPW", "pw-from-env")
    config = _config(tmp_path, state)
    assert main(["validate", "--config", str(config)]) == 2  # a config error
    captured = capsys.readouterr()
    assert message in captured.out + captured.err
    assert "pw-from-env" not in captured.out + captured.err


def test_the_postgresql_password_is_a_secret_wherever_it_is_written(tmp_path: Path) -> None:
    from connector.contracts.plugin_manager import build_plugin_manager
    from connector.runtime.app import load

    url = '{url: "postgresql://itsm:Url-Pw-1@db.example:5433/itsm"}'
    in_url, _ = load(_config(tmp_path, url), build_plugin_manager())
    assert "Url-Pw-1" in in_url.secrets
    assert in_url.state_target.password == "Url-Pw-1"
    assert str(in_url.state_target) == "postgresql://itsm@db.example:5433/itsm"
    assert in_url.state_path == tmp_path / "state.postgresql"  # only the spool and the lock, on the local disk

    (tmp_path / "pg.pw").write_text("File-Pw-2\n", encoding="utf-8")
    from_file, _ = load(
        _config(tmp_path, '{url: "postgresql://itsm@db.example/itsm", password_file: pg.pw}'), build_plugin_manager()
    )
    assert "File-Pw-2" in from_file.secrets
    assert from_file.state_target.password == "File-Pw-2"
    assert "File-Pw-2" not in repr(from_file.state_target) + repr(from_file.core.state)


def test_a_sqlite_url_is_relative_to_the_config_file(tmp_path: Path) -> None:
    from connector.contracts.plugin_manager import build_plugin_manager
    from connector.runtime.app import load

    config, _ = load(_config(tmp_path, "{url: 'sqlite:///data/state.db'}"), build_plugin_manager())
    assert config.state_path == tmp_path / "data" / "state.db"
    assert config.state_target == StateTarget("sqlite", str(tmp_path / "data" / "state.db"))
