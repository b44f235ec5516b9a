"""The plugin system: built-ins are entry points, a separately installed package is found and
used, a misspelled hook fails at startup, every hook is documented and tested."""

from __future__ import annotations

import inspect
import re
import textwrap
import tomllib
from pathlib import Path

import pluggy
import pytest

from connector import hookimpl
from connector.contracts import hookspecs
from connector.contracts.plugin_manager import build_plugin_manager, check_contract
from connector.domain.errors import PluginError
from connector.runtime.app import build_app, load

ROOT = Path(__file__).resolve().parents[2]


def test_every_plugin_module_is_declared_in_the_entry_point_group() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["itsm_connector"]
    modules = {p.stem for p in (ROOT / "connector" / "plugins").glob("*.py") if p.stem != "__init__"}
    assert {value.rsplit(".", 1)[1] for value in declared.values()} == modules


def test_misspelled_hook_fails_at_startup(pm: pluggy.PluginManager) -> None:
    class Typo:
        @hookimpl
        def rule_clasify(self, alert: object) -> None:
            return None

    pm.register(Typo(), name="typo")
    with pytest.raises(PluginError, match=r"plugin 'typo'.*rule_clasify.*misspelled"):
        check_contract(pm)


def test_installed_plugin_package_adds_a_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package installed beside the connector (a module + its dist-info with an entry point
    in the ``itsm_connector`` group) adds a source type that a config can use."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "tiny_source.py").write_text(
        textwrap.dedent("""
        from datetime import datetime, timezone
        from pydantic import BaseModel, ConfigDict
        from connector import hookimpl
        from connector.contracts.adapters import PollResult, SourceType
        from connector.domain.models import Alert

        class Settings(BaseModel):
            model_config = ConfigDict(extra="forbid")
            title: str

        class Tiny:
            acknowledge_enabled = False
            def __init__(self, settings, ctx):
                self.name, self.settings = ctx.name, settings
            def poll(self, cursor, open_ids):
                if cursor:
                    return PollResult(items=[], cursor=cursor)
                alert = Alert(source=self.name, external_id="t1", title=self.settings.title,
                              occurred_at=datetime(2026, 11, 26, tzinfo=timezone.utc))
                return PollResult(items=[alert], cursor="done")
            def acknowledge(self, external_id, ref, message):
                pass
            def close(self):
                pass

        @hookimpl
        def register_source_types():
            return [SourceType(name="tiny", settings=Settings, factory=Tiny)]
    """)
    )
    dist = site / "tiny_source-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-source\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[itsm_connector]\ntiny = tiny_source\n")
    monkeypatch.syspath_prepend(str(site))

    pm = build_plugin_manager()
    assert pm.get_plugin("tiny") is not None
    config_path = tmp_path / "c.yaml"
    config_path.write_text(
        "state: {path: s.db}\nbackend: {type: local, path: t.db}\nsources: [{type: tiny, title: From a plugin}]\n"
    )
    config, pm = load(config_path, pm)
    app = build_app(config, pm)
    try:
        app.engine.run_once()
        backend = app.engine.backend
        assert [t["title"] for t in backend.tickets()] == ["From a plugin"]  # type: ignore[attr-defined]
    finally:
        app.close()
        pm.unregister(name="tiny")


def test_disabled_plugin_is_not_loaded() -> None:
    manager = build_plugin_manager(["rules_default"])
    assert manager.get_plugin("rules_default") is None
    assert manager.get_plugin("local") is not None


def _hookspecs() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(obj)
        for name, obj in vars(hookspecs).items()
        if callable(obj) and hasattr(obj, "itsm_connector_spec")
    }


def test_every_hookspec_is_documented_with_its_exact_signature() -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text()
    headings = dict(re.findall(r"^### `(\w+)(\(.*\) -> .*)`$", docs, flags=re.M))
    for name, signature in _hookspecs().items():
        assert name in headings, f"docs/plugins.md has no section for {name}"
        assert headings[name] == str(signature).replace("'", ""), f"signature of {name} drifted in the docs"


def test_every_hookspec_has_a_behavioural_test() -> None:
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    for name in _hookspecs():
        assert f"def test_hook_{name}" in tests, f"no test_hook_{name}"


def test_plugins_command_lists_distribution_and_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    from connector import __version__
    from connector.cli.main import main

    assert main(["plugins"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(rows) >= {"local", "redmine", "replay", "rules_default", "zabbix"}
    assert f"itsm-connector {__version__}" in rows["redmine"]
    assert "register_backend_types" in rows["redmine"]
    assert "rule_correlate" in rows["rules_default"]
