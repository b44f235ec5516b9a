"""Config loading: valid files load; every problem is reported as file:line: reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

from connector.cli.main import main
from connector.contracts.adapters import BackendType, SourceType
from connector.domain.errors import ConfigError
from connector.plugins.local import LocalSettings
from connector.plugins.replay import ReplaySettings
from connector.runtime.config import load_config
from connector.util.secrets import Secret


class KeyedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    api_key: Secret
    timeout_seconds: float = 10


BACKENDS = {
    "local": BackendType("local", LocalSettings, lambda s, c: None),  # type: ignore[arg-type,return-value]
    "keyed": BackendType("keyed", KeyedSettings, lambda s, c: None),  # type: ignore[arg-type,return-value]
}
SOURCES = {"replay": SourceType("replay", ReplaySettings, lambda s, c: None)}  # type: ignore[arg-type,return-value]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connector.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, BACKENDS, SOURCES, env=env or {})
    return [str(p) for p in info.value.problems]


def test_valid_config_loads_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        state:
          path: state.db
        backend:
          type: local
          path: tickets.db
        sources:
          - type: replay
            name: night
            path: alerts.jsonl
        """,
    )
    config = load_config(path, BACKENDS, SOURCES, env={})
    assert config.backend.name == "local"
    assert config.backend.settings.path == Path("tickets.db")
    assert [s.name for s in config.sources] == ["night"]
    assert config.state_path == tmp_path / "state.db"
    assert config.core.outbox.backoff_initial_seconds == 5.0
    assert config.core.daemon.poll_seconds == 60.0


def test_typo_in_core_section_names_file_line_and_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        state:
          path: state.db
        backend:
          type: local
          path: tickets.db
        outbox:
          backoff_inital_seconds: 3
        """,
    )
    assert problems(path) == [
        f"{path}:7: unknown key 'outbox.backoff_inital_seconds' (did you mean 'backoff_initial_seconds'?)"
    ]


def test_typo_in_plugin_section_is_found_in_second_pass(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        state: {path: state.db}
        backend:
          type: keyed
          url: http://127.0.0.1
          api_key: ${KEY}
          timeout_secnds: 3
        """,
    )
    assert problems(path, {"KEY": "abcd1234"}) == [
        f"{path}:6: unknown key 'backend.timeout_secnds' (did you mean 'timeout_seconds'?)"
    ]


def test_wrong_type_and_missing_key_are_both_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        state:
          path: state.db
        backend:
          type: local
        daemon:
          poll_seconds: often
        """,
    )
    found = problems(path)
    assert len(found) == 1  # the core pass stops before plugin sections
    assert found[0].startswith(f"{path}:6: daemon.poll_seconds: Input should be a valid number")
    path = write(
        tmp_path,
        """
        state:
          path: state.db
        backend:
          type: local
        """,
    )
    assert problems(path) == [f"{path}:3: missing required key 'backend.path'"]


def test_missing_environment_variable_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        state: {path: state.db}
        backend:
          type: keyed
          url: http://127.0.0.1
          api_key: ${REDMINE_KEY}
        """,
    )
    assert problems(path) == [f"{path}:5: environment variable REDMINE_KEY is not set"]


def test_secret_written_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        state: {path: state.db}
        backend:
          type: keyed
          url: http://127.0.0.1
          api_key: 0123456789abcdef
        """,
    )
    (found,) = problems(path)
    assert found.startswith(f"{path}:5: backend.api_key: a secret must be given as ${{ENV_VAR}}")
    assert "0123456789abcdef" not in found


def test_secret_from_env_and_from_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        state: {path: state.db}
        backend:
          type: keyed
          url: http://127.0.0.1
          api_key: ${KEY}
        """,
    )
    config = load_config(path, BACKENDS, SOURCES, env={"KEY": "from-env-1234"})
    assert isinstance(config.backend.settings.api_key, SecretStr)
    assert config.backend.settings.api_key.get_secret_value() == "from-env-1234"
    assert "from-env-1234" in config.secrets

    (tmp_path / "key.txt").write_text("from-file-5678\n")
    path = write(
        tmp_path,
        """
        state: {path: state.db}
        backend:
          type: keyed
          url: http://127.0.0.1
          api_key_file: key.txt
        """,
    )
    config = load_config(path, BACKENDS, SOURCES, env={})
    assert config.backend.settings.api_key.get_secret_value() == "from-file-5678"
    assert "from-file-5678" in config.secrets


def test_unreadable_secret_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        state: {path: state.db}
        backend:
          type: keyed
          url: http://127.0.0.1
          api_key_file: /nonexistent/key
        """,
    )
    (found,) = problems(path)
    assert found.startswith(f"{path}:5: api_key_file: cannot read /nonexistent/key")


def test_unknown_adapter_type_suggests(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        state: {path: state.db}
        backend:
          type: lokal
          path: x.db
        """,
    )
    assert problems(path) == [f"{path}:3: unknown backend type 'lokal' (did you mean 'local'?) (known: keyed, local)"]


def test_yaml_syntax_error_and_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, "state:\n  path: [unclosed\nbackend: {}\n")
    (found,) = problems(path)
    assert found.startswith(f"{path}:3: YAML syntax")
    path = write(tmp_path, "state:\n  path: a.db\n  path: b.db\n")
    (found,) = problems(path)
    assert found == f"{path}:3: YAML syntax: duplicate key 'path' (first at line 2)"


def test_duplicate_source_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        state: {path: state.db}
        backend: {type: local, path: t.db}
        sources:
          - {type: replay, path: a.jsonl}
          - {type: replay, path: b.jsonl}
        """,
    )
    assert problems(path) == [f"{path}:5: two sources named 'replay'"]


def test_cli_validate_prints_problems_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        """
        state: {path: state.db}
        backend: {type: local, path: t.db}
        sourcs: []
        """,
    )
    assert main(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3: unknown key 'sourcs' (did you mean 'sources'?)" in err


def test_cli_validate_good_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        """
        state: {path: state.db}
        backend: {type: local, path: t.db}
        sources: [{type: replay, path: a.jsonl}]
        """,
    )
    assert main(["validate", "--config", str(path)]) == 0
    assert "OK" in capsys.readouterr().out
