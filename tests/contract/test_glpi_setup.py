"""``setup glpi``: categories of the taxonomy found or created parents-first, groups and request
sources checked, the mapping printed — and a second run changes nothing."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.cli.main import main
from connector.domain.clock import FakeClock
from connector.integrations.glpi import GlpiSettings
from connector.integrations.glpi.setup import inspect
from connector.rules.taxonomy import Taxonomy, load_taxonomy
from tests.contract.glpi_fake import URL, USER_TOKEN, GlpiFake

SMALL = Taxonomy.model_validate(
    {
        "categories": [
            {"name": "网络", "areas": [{"name": "核心交换", "subareas": ["端口", "电源"]}, {"name": "无线"}]},
            {"name": "服务器"},
        ]
    }
)
SMALL_PATHS = ["网络", "网络 > 核心交换", "网络 > 核心交换 > 端口", "网络 > 核心交换 > 电源", "网络 > 无线", "服务器"]


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GlpiFake]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield GlpiFake(rsps, clock)


def settings(**overrides: Any) -> GlpiSettings:
    values: dict[str, Any] = {"url": URL, "user_token": SecretStr(USER_TOKEN)}
    values.update(overrides)
    return GlpiSettings(**values)


def run(clock: FakeClock, taxonomy: Taxonomy = SMALL, **overrides: Any) -> Any:
    return inspect(settings(**overrides), taxonomy=taxonomy, clock=clock, session=requests.Session())


def test_missing_categories_are_created_under_their_parents_then_found(fake: GlpiFake, clock: FakeClock) -> None:
    fake.add("ITILCategory", completename="ITSM > 网络")  # one exists already
    report = run(clock, create_missing=True, category_root="ITSM")

    assert report.ok, report.render()
    by_name = {row["completename"]: row for row in fake.dropdowns["ITILCategory"].values()}
    for path in SMALL_PATHS:
        complete = "ITSM &#62; " + path.replace(" > ", " &#62; ")
        row = by_name[complete]
        parent = complete.rsplit(" &#62; ", 1)[0]
        assert row["itilcategories_id"] == by_name[parent]["id"], path
    assert fake.count("POST", "ITILCategory/") == 5  # 6 nodes, 网络 was there
    states = {m.name: m.state for m in report.mapping if m.kind == "category"}
    assert states == {"ITSM": "found", "网络": "found"} | {p: "created" for p in SMALL_PATHS if p != "网络"}

    again = run(clock, create_missing=True, category_root="ITSM")
    assert fake.count("POST", "ITILCategory/") == 5  # idempotent: nothing new
    assert {m.state for m in again.mapping if m.kind == "category"} == {"found"}
    assert [m.ident for m in again.mapping] == [m.ident for m in report.mapping]
    text = again.render()
    assert "category 网络 > 核心交换 > 端口" in text and "Summary: category: 7 found" in text


def test_without_create_missing_the_missing_are_listed_and_nothing_is_written(fake: GlpiFake, clock: FakeClock) -> None:
    report = run(clock)
    assert fake.count("POST") == 0
    assert report.ok  # tickets can still be written, without those categories
    assert report.count("category", "missing") == 6
    text = report.render()
    assert "6 ITIL categories of the taxonomy" in text and "create_missing: true" in text
    assert "request source monitoring" in text and "Monitoring" in text


def test_the_shipped_taxonomy_is_created_in_one_listing_and_a_post_per_node(fake: GlpiFake, clock: FakeClock) -> None:
    taxonomy = load_taxonomy()
    nodes = list(taxonomy.paths())
    report = run(clock, taxonomy, create_missing=True)
    assert report.count("category", "created") == len(nodes) > 50
    assert fake.count("POST", "ITILCategory/") == len(nodes)
    for n in range(30):
        fake.add("ITILCategory", completename=f"Other > {n}")  # now more than one page of categories
    before = fake.count()
    again = run(clock, taxonomy, create_missing=True)
    assert again.count("category", "found") == len(nodes) and fake.count("POST", "ITILCategory/") == len(nodes)
    # a re-run lists a page (100) at a time: 206, then 206 for the rest; plus session, config,
    # request sources and killSession
    assert fake.count() - before == 2 + 4
    assert [s for p, s in fake.statuses[before:] if p == "ITILCategory/"] == [206, 206]


def test_masks_groups_request_sources_and_entity_are_checked(fake: GlpiFake, clock: FakeClock) -> None:
    fake.urgency_mask = 2 | 4 | 8 | 16  # very high (5) disabled
    fake.add("Group", completename="IT > Network")
    fake.add("Group", completename="IT > Watchers", is_assign=0)
    report = run(
        clock,
        create_missing=True,
        groups={"network": "IT > Network", "watch": "IT > Watchers", "ghost": "IT > Ghost"},
        request_sources={"inspection": 3},
        entity=0,
    )
    text = report.render()
    assert "GLPI urgency values [5] are disabled (urgency_mask = 30)" in text
    groups = {m.name: (m.state, m.note) for m in report.mapping if m.kind == "group"}
    assert groups["network"] == ("found", "")
    assert groups["watch"][1].startswith("cannot be assigned")
    assert groups["ghost"][0] == "missing" and "group 'IT > Ghost'" in text
    sources = {m.name: (m.state, m.ident) for m in report.mapping if m.kind == "request source"}
    assert sources["monitoring"][0] == "created" and fake.find("RequestType", "Monitoring") == sources["monitoring"][1]
    assert sources["user_report"] == ("found", fake.find("RequestType", "E-Mail"))
    assert sources["inspection"] == ("pinned", 3)
    assert ("entity", "Root entity") in {(m.kind, m.name) for m in report.mapping}
    assert report.ok


def test_the_root_entity_0_is_found_although_glpi_gives_it_no_parent(fake: GlpiFake, clock: FakeClock) -> None:
    assert fake.entities[0]["entities_id"] is None  # what GLPI 10 answers for GET Entity/0
    report = run(clock, entity=0)
    assert ("entity", "Root entity", 0, "found") in {(m.kind, m.name, m.ident, m.state) for m in report.mapping}
    assert "entity 0" not in report.render()


def test_an_unknown_entity_is_required(fake: GlpiFake, clock: FakeClock) -> None:
    report = run(clock, entity=42)
    assert not report.ok
    assert "entity 42" in report.render() and "NOT OK" in report.render()


def test_a_refused_token_is_the_report_not_a_traceback(fake: GlpiFake, clock: FakeClock) -> None:
    report = run(clock, user_token=SecretStr("nope-nope"))
    assert not report.ok
    text = report.render()
    assert "GLPI refused the user token" in text and "nope-nope" not in text


def test_cli_setup_glpi_prints_the_mapping(
    fake: GlpiFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "taxonomy.yaml").write_text("categories:\n  - name: 网络\n    areas:\n      - name: 核心交换\n")
    config = tmp_path / "connector.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            state:
              path: state.db
            rules_dir: rules
            backend:
              type: glpi
              url: {URL}
              user_token: ${{GLPI_USER_TOKEN}}
              create_missing: true
            """
        )
    )
    monkeypatch.setenv("GLPI_USER_TOKEN", USER_TOKEN)

    assert main(["setup", "glpi", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "category 网络 > 核心交换" in out and "created" in out and "OK: the connector can write tickets" in out
    assert fake.find("ITILCategory", "网络 > 核心交换") is not None
    assert USER_TOKEN not in out

    assert main(["setup", "redmine", "--config", str(config)]) == 2  # the config's backend is GLPI
