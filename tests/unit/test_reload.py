"""``App.reload`` (SIGHUP) with people.yaml: a broken people file is refused with its
``file:line`` and everything stays as it was; a good one is in force at once — the engine's
notifications, its sweep tables and the sync-back's roster all come from the new files."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.errors import ConfigError
from connector.runtime.app import build_app, load

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


def test_people_file_reload_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMTP_PASSWORD", "SMS_GATEWAY_SECRET", "WECOM_ROBOT_KEY", "DINGTALK_TOKEN", "DINGTALK_SIGN_SECRET"):
        monkeypatch.setenv(name, f"{name.lower()}-value")
    people = tmp_path / "people.example.yaml"
    original = (EXAMPLES / "people.example.yaml").read_text(encoding="utf-8")
    people.write_text(original, encoding="utf-8")
    config_dir = tmp_path / "examples"
    config_dir.mkdir()
    (config_dir / "notifiers.yaml").write_text(
        (EXAMPLES / "examples" / "notifiers.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    config, pm = load(config_dir / "notifiers.yaml", build_plugin_manager())
    app = build_app(config, pm)
    try:
        before = app.engine.notifications
        assert before is not None
        rules, syncback = app.engine.sweep_rules, app.syncback

        people.write_text(original + "\npeople: [not, a, mapping\n", encoding="utf-8")
        with pytest.raises(ConfigError) as refused:
            app.reload()
        assert "people.example.yaml" in str(refused.value)
        assert app.engine.notifications is before and app.engine.sweep_rules is rules and app.syncback is syncback

        people.write_text(original.replace("陈刚", "陈刚（新）"), encoding="utf-8")
        said = app.reload()
        assert "people from" in said
        after = app.engine.notifications
        assert after is not None and after is not before
        assert app.engine.sweep_rules is not rules and app.syncback is not syncback
        names = [p.name for p in after.directory.people.people.values()]
        assert "陈刚（新）" in names
    finally:
        app.close()


def test_a_reload_keeps_the_verifiers_the_digest_and_the_confirmation_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: after SIGHUP the sync-back still knows who verifies (``may_verify``), still sends
    the daily digest, and the sweep rules still carry the confirmation wait in the site's zone."""
    for name in ("SMTP_PASSWORD", "SMS_GATEWAY_SECRET", "WECOM_ROBOT_KEY", "DINGTALK_TOKEN", "DINGTALK_SIGN_SECRET"):
        monkeypatch.setenv(name, f"{name.lower()}-value")
    (tmp_path / "people.example.yaml").write_text(
        (EXAMPLES / "people.example.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    config_dir = tmp_path / "examples"
    config_dir.mkdir()
    (config_dir / "notifiers.yaml").write_text(
        (EXAMPLES / "examples" / "notifiers.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    config, pm = load(config_dir / "notifiers.yaml", build_plugin_manager())
    app = build_app(config, pm)
    try:
        for _ in range(2):  # as built, then as reloaded
            roster = app.syncback.roster
            assert roster is not None and roster.may_verify("zhou.min") is True  # type: ignore[attr-defined]
            assert roster.may_verify("zhangw") is False  # type: ignore[attr-defined]
            assert app.syncback.digest is not None
            rules = app.engine.sweep_rules
            assert rules is not None and rules.closing_wait is not None
            assert rules.closing_wait.calendar.zone.key == config.core.reports.timezone
            app.reload()
    finally:
        app.close()
