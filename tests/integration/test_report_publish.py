"""Publishing the KPI report to the wiki of the real Redmine 5 (scripts/services/redmine.sh).

Each test reads the page back with plain requests, so a write Redmine dropped silently (an
upload token it skipped) fails the test. Titles carry a uuid: the Redmine database outlives
test runs and is shared; every page made here is deleted at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from connector.domain.errors import BackendRejected
from connector.integrations.redmine import RedmineSettings
from connector.integrations.redmine.wiki import publish_report, report_files, wiki_title
from connector.kpi.history import open_history
from connector.kpi.periods import parse_period
from connector.kpi.report import Report, build_report

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kpi_2026-10.jsonl"


def api(env: dict[str, str], method: str, path: str, **kwargs: Any) -> requests.Response:
    """A call straight to Redmine with the admin key, bypassing the code under test."""
    headers = {"X-Redmine-API-Key": env["REDMINE_API_KEY"], **kwargs.pop("headers", {})}
    return requests.request(method, env["REDMINE_URL"] + path, headers=headers, timeout=30, **kwargs)


def enable_wiki(env: dict[str, str], project: str) -> None:
    """Turn the project's Wiki module on through the REST API (idempotent; Redmine then creates
    the wiki itself)."""
    answer = api(env, "GET", f"/projects/{project}.json", params={"include": "enabled_modules"})
    answer.raise_for_status()
    modules = [m["name"] for m in answer.json()["project"].get("enabled_modules", [])]
    if "wiki" not in modules:
        put = api(
            env, "PUT", f"/projects/{project}.json", json={"project": {"enabled_module_names": [*modules, "wiki"]}}
        )
        assert put.status_code == 204, put.text


@pytest.fixture(scope="module")
def wiki_project(redmine_env: dict[str, str]) -> str:
    """The test project, with its Wiki module enabled."""
    project = redmine_env["REDMINE_PROJECT"]
    enable_wiki(redmine_env, project)
    return project


@pytest.fixture(scope="module")
def report() -> Report:
    with open_history(FIXTURE) as reader:
        built = build_report(reader, parse_period("2026-10"), as_of=datetime.fromisoformat("2026-11-01T09:00:00+08:00"))
    return built.with_input(reader.stats())


@pytest.fixture
def prefix(redmine_env: dict[str, str], wiki_project: str) -> Iterator[str]:
    """A title prefix of this test alone; its page is deleted afterwards."""
    value = f"ITSM_test_{uuid.uuid4().hex[:12]}"
    yield value
    title = wiki_title(parse_period("2026-10"), value)
    api(redmine_env, "DELETE", f"/projects/{wiki_project}/wiki/{title}.json")


def settings_for(env: dict[str, str], project: str) -> RedmineSettings:
    return RedmineSettings(
        url=env["REDMINE_URL"], api_key=SecretStr(env["REDMINE_API_KEY"]), project=project, timeout_seconds=30
    )


def read_page(env: dict[str, str], project: str, title: str) -> dict[str, Any]:
    answer = api(env, "GET", f"/projects/{project}/wiki/{title}.json", params={"include": "attachments"})
    answer.raise_for_status()
    page: dict[str, Any] = answer.json()["wiki_page"]
    return page


def test_publishing_twice_updates_one_page_with_one_copy_of_each_file(
    redmine_env: dict[str, str], wiki_project: str, report: Report, prefix: str
) -> None:
    settings = settings_for(redmine_env, wiki_project)
    first = publish_report(report, settings, title_prefix=prefix)
    assert first.created and first.title == f"{prefix}_2026-10"
    page = read_page(redmine_env, wiki_project, first.title)
    assert page["version"] == 1
    assert page["text"].startswith("h1. 事件管理月报 2026-10")
    assert "| 1 | 事件总数 | 24 | 3 |" in page["text"]
    assert sorted(a["filename"] for a in page["attachments"]) == sorted(first.attachments)

    second = publish_report(report, settings, title_prefix=prefix, lang="en")
    assert not second.created and second.replaced == len(first.attachments)
    page = read_page(redmine_env, wiki_project, second.title)
    assert page["version"] == 2
    assert page["text"].startswith("h1. Incident management monthly report 2026-10")
    names = [a["filename"] for a in page["attachments"]]
    assert sorted(names) == sorted(second.attachments) and len(names) == len(set(names)) == 10

    # the attached files are the rendered ones, byte for byte
    expected = {f.name: f.content for f in report_files(report, "en")}
    for attachment in page["attachments"]:
        if attachment["filename"].endswith(("kpis.csv", ".html")):
            download = requests.get(
                attachment["content_url"], headers={"X-Redmine-API-Key": redmine_env["REDMINE_API_KEY"]}, timeout=30
            )
            assert download.content == expected[attachment["filename"]], attachment["filename"]


def test_a_project_without_the_wiki_module_is_named_and_works_once_it_is_enabled(
    redmine_env: dict[str, str], report: Report
) -> None:
    project = f"kpi-{uuid.uuid4().hex[:10]}"
    created = api(
        redmine_env,
        "POST",
        "/projects.json",
        json={"project": {"name": project, "identifier": project, "enabled_module_names": ["issue_tracking"]}},
    )
    assert created.status_code == 201, created.text
    try:
        settings = settings_for(redmine_env, project)
        with pytest.raises(BackendRejected, match=f"project '{project}' does not exist or has no wiki"):
            publish_report(report, settings)
        enable_wiki(redmine_env, project)
        page = publish_report(report, settings)
        assert page.created and page.title == "ITSM_report_2026-10"
        assert read_page(redmine_env, project, page.title)["title"] == "ITSM_report_2026-10"
    finally:
        api(redmine_env, "DELETE", f"/projects/{project}.json")
