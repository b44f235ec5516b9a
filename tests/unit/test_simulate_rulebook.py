"""A site's copy of the rule book, set as ``rules_dir`` in a config, is what ``simulate --until``
applies: the escalation ladder, the reassignment limit and the closing right all come from it,
and ``rules show`` names the site's files."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from connector.cli.main import main
from connector.rules.files import SCHEMAS
from connector.rules.loading import shipped_rules_dir
from tests.notify_helpers import PEOPLE_EXAMPLE


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def site_config(tmp_path: Path, *, rules_dir: str | None) -> Path:
    """A connector config with notices (the example people file, an e-mail and a phone channel)."""
    (tmp_path / "people.yaml").write_text(PEOPLE_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / ("site.yaml" if rules_dir else "shipped.yaml")
    config.write_text(
        textwrap.dedent(
            """
            state: {path: state.db}
            backend: {type: local, path: tickets.db}
            notify:
              people: people.yaml
              service_desk: desk 8888
              channels:
                - {type: smtp, host: relay.metro.example, sender: 'ITSM <itsm@metro.example>'}
                - {type: webhook, url: 'https://gw.metro.example/sms'}
            """
        )
        + (f"rules_dir: {rules_dir}\n" if rules_dir else ""),
        encoding="utf-8",
    )
    return config


def site_rules(tmp_path: Path) -> Path:
    """A copy of the shipped rules with one escalation minute, the reassignment limit and the
    closing roles changed."""
    site = tmp_path / "rules"
    shutil.copytree(shipped_rules_dir(), site)
    edit(site / "escalation.yaml", "  1: [10, 15, 30]", "  1: [12, 15, 30]")
    edit(site / "lifecycle.yaml", "  limit: 2", "  limit: 1")
    edit(site / "lifecycle.yaml", "  roles: [service_desk]  ", "  roles: [maintenance_manager]  ")
    edit(site / "lifecycle.yaml", "  first_line_groups: true", "  first_line_groups: false")
    return site


def lines(tmp_path: Path) -> Path:
    def at(minute: int) -> str:
        return f"2026-11-26T02:{minute:02d}:00Z"

    def control(kind: str, minute: int, **extra: Any) -> dict[str, Any]:
        return {"type": kind, "external_id": "1", "at": at(minute), **extra}

    rows: list[dict[str, Any]] = [
        {
            "source": "zabbix",
            "external_id": "1",
            "title": "Interface Gi1/0/1 down",
            "ci": "core-sw01",
            "host_groups": ["Metro/Network core"],
            "severity": 5,
            "occurred_at": at(0),
        },
        control("assign", 2, group="network", assignee="zhangw"),
        control("reassign", 4, group="finance-apps", assignee="wulei", by="zhangw"),
        control("reassign", 6, group="network", assignee="zhangw", by="wulei"),
        control("resolve", 25, by="zhangw"),
        control("close", 40, by="desk", closure_code="success"),  # the service desk
        control("close", 50, by="sun.li", closure_code="success"),  # a maintenance manager
    ]
    path = tmp_path / "life.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def simulate(capsys: pytest.CaptureFixture[str], config: Path, path: Path) -> list[dict[str, Any]]:
    assert main(["simulate", "--config", str(config), "--input", str(path), "--until", "2026-11-26T04:00:00Z"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def level_one(out: list[dict[str, Any]]) -> set[str]:
    return {e["at"][11:16] for e in out if e.get("type") == "escalation" and e["level"] == 1}


def escalated(out: list[dict[str, Any]]) -> list[str]:
    return sorted({e["detail"] for e in out if e.get("type") == "reassignment_alert" and "escalated" in e["detail"]})


def closes(out: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    return [(o["line"], "close reverted" in o["reason"]) for o in out if o.get("action") == "close"]


def test_a_site_copy_of_the_rules_changes_what_simulate_until_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = lines(tmp_path)
    site_rules(tmp_path)
    shipped = simulate(capsys, site_config(tmp_path, rules_dir=None), path)
    site = simulate(capsys, site_config(tmp_path, rules_dir="rules"), path)

    # escalation.yaml: P1 level 1 after 10 minutes (shipped) or 12 (the site's)
    assert level_one(shipped) == {"02:10"}
    assert level_one(site) == {"02:12"}

    # lifecycle.yaml: the second cross-group reassignment is over the site's limit of 1, not the shipped 2
    assert escalated(shipped) == []
    assert escalated(site) == ["reassigned across groups 2 times (more than 1): escalated"]

    # lifecycle.yaml: the shipped rule lets the service desk close and refuses a maintenance manager;
    # the site's lets the maintenance managers close, and not the desk
    assert closes(shipped) == [(6, False), (7, True)]
    assert closes(site) == [(6, True), (7, False)]


def test_rules_show_names_the_site_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = site_rules(tmp_path)
    (site / "dedup.yaml").unlink()  # a file the site lacks is the shipped one
    config = site_config(tmp_path, rules_dir="rules")

    assert main(["rules", "show", "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert f"escalation.yaml      site     {site / 'escalation.yaml'}" in text
    assert f"dedup.yaml           shipped  {shipped_rules_dir() / 'dedup.yaml'}" in text
    assert f"# --- lifecycle.yaml (site: {site / 'lifecycle.yaml'})\nreassignment: {{limit: 1}}\n" in text
    assert "minutes:\n  1: [12, 15, 30]\n  2: [5, 10, 30]\n" in text  # the effective ladder, as loaded

    assert main(["rules", "show", "--config", str(config), "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert files["escalation.yaml"] == {
        "origin": "site",
        "path": str(site / "escalation.yaml"),
        "content": {
            "levels": [{"role": "project_manager"}, {"role": "maintenance_engineer"}, {"role": "maintenance_manager"}],
            "minutes": {"1": [12, 15, 30], "2": [5, 10, 30], "3": [10, 15, 60], "4": [10, 15, 60]},
        },
    }
    assert files["dedup.yaml"]["origin"] == "shipped"
    assert files["lifecycle.yaml"]["content"]["closing"]["roles"] == ["maintenance_manager"]
    assert list(files) == [
        "taxonomy.yaml",
        "priority.yaml",
        "classification.yaml",
        "dedup.yaml",
        "sla.yaml",
        "escalation.yaml",
        "notifications.yaml",
        "lifecycle.yaml",
        "replies.yaml",
        "flapping.yaml",
        "maintenance.yaml",
        "topology.yaml",
        "knowledge.yaml",
        "itil_links.yaml",
    ]


def test_rules_show_of_a_directory_and_of_the_shipped_book(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "rules"
    site.mkdir()
    (site / "lifecycle.yaml").write_text(
        (shipped_rules_dir() / "lifecycle.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert main(["rules", "show", "--rules-dir", str(site), "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert {name for name, info in files.items() if info["origin"] == "site"} == {"lifecycle.yaml"}

    assert main(["rules", "show"]) == 0
    text = capsys.readouterr().out
    assert "  site  " not in text and text.count(" shipped ") == len(SCHEMAS)

    edit(site / "lifecycle.yaml", "  limit: 2", "  limit: two")
    assert main(["rules", "show", "--rules-dir", str(site)]) == 2  # shows only a book that loads
    assert f"{site / 'lifecycle.yaml'}:" in capsys.readouterr().err
