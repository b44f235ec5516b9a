"""A third-party plugin written against ``connector.api`` alone (tests/third_party_plugin/):
it imports nothing else of the connector, the config validation finds its source type, its
alerts go through the engine into the local backend, its rule stage changes the decision, and
its own pyproject's entry point is what the connector loads (installed with pip when it can
build offline)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
import types
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.contracts.plugin_manager import ENTRY_POINT_GROUP, build_plugin_manager, plugin_summary
from connector.domain.clock import FakeClock
from connector.domain.decision import Action
from connector.domain.errors import ConfigError, SourceError
from connector.domain.ledger import MemoryLedger
from connector.domain.models import Alert
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.app import build_app, load
from tests.unit.test_api import outside_the_api

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "third_party_plugin"
PACKAGE = "itsm_uptime_probe"
PYPROJECT = tomllib.loads((PLUGIN_DIR / "pyproject.toml").read_text(encoding="utf-8"))
#: the one entry point the plugin's own pyproject.toml declares: the only name used below
((ENTRY_NAME, ENTRY_MODULE),) = PYPROJECT["project"]["entry-points"][ENTRY_POINT_GROUP].items()


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The plugin module its entry point names, imported from the plugin's folder."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    return importlib.import_module(ENTRY_MODULE)


@pytest.fixture
def site_pm(plugin: types.ModuleType) -> Iterator[pluggy.PluginManager]:
    """The installed plugins plus the third-party one, registered as its entry point would."""
    pm = build_plugin_manager()
    pm.register(plugin, name=ENTRY_NAME)
    yield pm
    pm.unregister(name=ENTRY_NAME)


def write_config(folder: Path, source: str = "{type: uptime_probe, name: probe, path: status.json}") -> Path:
    path = folder / "connector.yaml"
    path.write_text(f"state: {{path: state.db}}\nbackend: {{type: local, path: tickets.db}}\nsources:\n  - {source}\n")
    return path


def write_status(folder: Path, *checks: dict[str, Any]) -> None:
    (folder / "status.json").write_text(json.dumps({"generated_at": "g", "checks": list(checks)}))


def check(check_id: str, *, up: bool, since: str, **more: Any) -> dict[str, Any]:
    return {"id": check_id, "host": f"{check_id}-host", "up": up, "since": since, **more}


# --- it uses the public API only -----------------------------------------------------------------


def test_the_plugin_imports_nothing_of_the_connector_but_the_api() -> None:
    files = sorted((PLUGIN_DIR / PACKAGE).rglob("*.py"))
    assert len(files) >= 3
    used_api = False
    for path in files:
        module = ".".join(path.relative_to(PLUGIN_DIR).with_suffix("").parts)
        text = path.read_text(encoding="utf-8")
        assert outside_the_api(text, module) == set(), f"{path.name} reaches inside the connector"
        used_api = used_api or "from connector.api import" in text
    assert used_api


def test_its_pyproject_makes_a_package_of_its_own() -> None:
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"
    assert ENTRY_MODULE.startswith(PACKAGE + ".")
    assert any(dep.startswith("itsm-connector") for dep in PYPROJECT["project"]["dependencies"])


# --- registered, it is part of the connector -----------------------------------------------------


def test_config_validation_knows_its_source_type_and_checks_its_settings(
    site_pm: pluggy.PluginManager, tmp_path: Path
) -> None:
    config, _ = load(write_config(tmp_path), site_pm)
    assert [(a.type_name, a.name) for a in config.sources] == [("uptime_probe", "probe")]
    assert type(config.sources[0].settings).__module__ == f"{PACKAGE}.source"

    with pytest.raises(ConfigError) as bad:
        load(write_config(tmp_path, "{type: uptime_probe, pth: status.json}"), site_pm)
    assert any(p.line == 4 and "pth" in p.reason for p in bad.value.problems), bad.value.problems


def test_without_the_plugin_the_type_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="uptime_probe"):
        load(write_config(tmp_path), build_plugin_manager())


def test_its_alerts_go_through_the_engine_into_the_local_backend(
    site_pm: pluggy.PluginManager, tmp_path: Path, clock: FakeClock
) -> None:
    down_at = clock.now() - timedelta(minutes=5)
    write_status(
        tmp_path,
        check("web-front", up=False, since=down_at.isoformat(), message="HTTP 502", severity=4),
        check("db-backup", up=False, since=down_at.isoformat(), maintenance=True),  # planned: no ticket
        check("dns", up=True, since=down_at.isoformat()),
        {"host": "no id"},  # a dead letter
    )
    config, pm = load(write_config(tmp_path), site_pm)
    app = build_app(config, pm, clock=clock)
    try:
        app.engine.run_once()
        backend = app.engine.backend
        assert isinstance(backend, LocalBackend)
        (ticket,) = backend.tickets()
        assert (ticket["title"], ticket["ci"], ticket["status"]) == (
            "web-front-host: web-front is down (HTTP 502)",
            "web-front-host",
            "open",
        )
        assert [row["reason"] for row in app.engine.store.dead_letters()] == ["a check without an id"]

        clock.advance(timedelta(minutes=3))
        write_status(tmp_path, check("web-front", up=True, since=clock.now().isoformat()))
        app.engine.run_once()
        (ticket,) = backend.tickets()
        assert ticket["status"] == "resolved"
    finally:
        app.close()


def test_its_rule_stage_changes_the_decision(
    plugin: types.ModuleType, site_pm: pluggy.PluginManager, clock: FakeClock
) -> None:
    planned = Alert(
        source="probe",
        external_id="db-backup@1",
        title="db-backup is down",
        tags={"maintenance": "yes"},
        occurred_at=clock.now(),
    )
    unplanned = planned.model_copy(update={"external_id": "web@1", "tags": {}})

    def decide(pm: pluggy.PluginManager, alert: Alert) -> tuple[Action, str]:
        decision = Pipeline.from_manager(pm, default_rulebook()).decide(alert, MemoryLedger(), clock.now())
        return decision.action, decision.rule

    without = build_plugin_manager()
    assert decide(without, planned)[0] is Action.CREATE
    assert decide(site_pm, planned) == (Action.IGNORED, plugin.MAINTENANCE_RULE)
    assert decide(site_pm, unplanned)[0] is Action.CREATE  # the plugin passes; the default decides


@pytest.mark.parametrize(
    ("content", "outcome"),
    [
        ("not json", "cannot read"),
        ('{"checks": {"id": "x"}}', "'checks' is not a list"),
        ('{"checks": [{"id": "x", "up": false, "since": "2026-11-26T02:30:00"}]}', "'since' has no time zone"),
        ('{"checks": [{"id": "x", "up": false, "since": "2026-11-26T02:30:00Z", "severity": 9}]}', "not an alert"),
        ('{"checks": [{"id": "a@b", "up": false, "since": "2026-11-26T02:30:00Z"}]}', "may not hold '@'"),
    ],
)
def test_its_source_turns_a_bad_status_file_into_errors_not_crashes(
    plugin: types.ModuleType, tmp_path: Path, clock: FakeClock, content: str, outcome: str
) -> None:
    """The status file is another program's output: a bad file is a ``SourceError`` (the next
    poll tries again), a bad check a ``Rejected`` (a dead letter); the rest is read."""
    source_module = importlib.import_module(f"{PACKAGE}.source")
    (tmp_path / "status.json").write_text(content)
    settings = source_module.ProbeSettings(path=tmp_path / "status.json")
    probe = source_module.UptimeProbeSource(settings, tmp_path / "status.json", name="probe", clock=clock)
    try:
        items = probe.poll(None, []).items
    except SourceError as exc:
        assert outcome in str(exc)
    else:
        (rejected,) = items
        assert outcome in rejected.reason, rejected


# --- found the way an installed package is found -------------------------------------------------


def _dist_info(site: Path) -> None:
    """What ``pip install`` writes for the plugin, made from its pyproject.toml (metadata and the
    entry points), beside a copy of the package."""
    project = PYPROJECT["project"]
    shutil.copytree(PLUGIN_DIR / PACKAGE, site / PACKAGE)
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    points = "".join(f"{name} = {value}\n" for name, value in project["entry-points"][ENTRY_POINT_GROUP].items())
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{points}")


def test_found_through_its_declared_entry_point_and_run_by_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    from connector.cli.main import main

    site = tmp_path / "site"
    site.mkdir()
    _dist_info(site)
    monkeypatch.syspath_prepend(str(site))
    pm = build_plugin_manager()
    try:
        assert pm.get_plugin(ENTRY_NAME) is not None
        rows = {name: (dist, hooks) for name, dist, hooks in plugin_summary(pm)}
        assert rows[ENTRY_NAME] == (
            f"{PYPROJECT['project']['name']} {PYPROJECT['project']['version']}",
            ["register_source_types", "rule_correlate"],
        )
    finally:
        pm.unregister(name=ENTRY_NAME)

    write_status(tmp_path, check("web-front", up=False, since="2026-11-26T02:30:00+00:00", message="HTTP 502"))
    assert main(["once", "--config", str(write_config(tmp_path))]) == 0
    backend = LocalBackend(tmp_path / "tickets.db", clock)
    try:
        assert [t["title"] for t in backend.tickets()] == ["web-front-host: web-front is down (HTTP 502)"]
    finally:
        backend.close()


def _can_build_offline() -> str | None:
    """Why pip cannot build the plugin here without the network, or ``None`` when it can."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return "setuptools is not installed in this environment"
    major, minor = (int(part) for part in version.split(".")[:2])
    if (major, minor) < (70, 1) and importlib.util.find_spec("wheel") is None:
        return (
            f"setuptools {version} needs the 'wheel' package to build a wheel and "
            "--no-build-isolation may not fetch it; `pip install wheel` in the test venv runs this test"
        )
    return None


def test_installs_with_pip_and_the_connector_lists_it(tmp_path: Path) -> None:
    """``pip install --no-deps --no-build-isolation`` of a copy of the plugin (the build never
    writes into tests/), then ``itsm-connector plugins`` in a fresh interpreter lists it."""
    reason = _can_build_offline()
    if reason is not None:
        pytest.skip(reason)
    source = tmp_path / "src"
    shutil.copytree(PLUGIN_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path / "site"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", site, source],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "connector.cli.main", "plugins"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "PYTHONPATH": str(site)},
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    line = next(row for row in listed.stdout.splitlines() if row.split()[0] == ENTRY_NAME)
    assert f"{PYPROJECT['project']['name']} {PYPROJECT['project']['version']}" in line
    assert "rule_correlate" in line and "register_source_types" in line
