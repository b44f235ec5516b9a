"""Publishing a report to a Redmine wiki page, against recorded Redmine 5 answers (``responses``).

Shapes follow reference/redmine-rest.md §8–9: 201 ``{"upload": {"token"}}`` per upload; the wiki
PUT answers 201 with the page when it is new and 204 with no body when it updates one; a
missing page is 404 with an empty body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.domain.clock import FakeClock
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.integrations.redmine import RedmineSettings
from connector.integrations.redmine.wiki import publish_report, wiki_text, wiki_title
from connector.kpi.history import open_history
from connector.kpi.periods import parse_period
from connector.kpi.report import Report, build_report

URL = "http://redmine.test"
KEY = "0123456789abcdef0123456789abcdef01234567"
PAGE = f"{URL}/projects/ops/wiki/ITSM_report_2026-10.json"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kpi_2026-10.jsonl"


@pytest.fixture(scope="module")
def report() -> Report:
    with open_history(FIXTURE) as reader:
        built = build_report(reader, parse_period("2026-10"), as_of=datetime.fromisoformat("2026-11-01T09:00:00+08:00"))
    return built.with_input(reader.stats())


@pytest.fixture
def settings() -> RedmineSettings:
    return RedmineSettings(url=URL, api_key=SecretStr(KEY), project="ops")


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def uploads(rsps: responses.RequestsMock) -> None:
    counter = iter(range(1, 100))

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        assert request.headers["Content-Type"] == "application/octet-stream"
        assert request.headers["X-Redmine-API-Key"] == KEY
        number = next(counter)
        return 201, {}, json.dumps({"upload": {"id": number, "token": f"{number}.tok"}})

    rsps.add_callback(responses.POST, f"{URL}/uploads.json", callback=answer)


def publish(report: Report, settings: RedmineSettings) -> Any:
    return publish_report(
        report, settings, clock=FakeClock(datetime(2026, 11, 1, tzinfo=UTC)), session=requests.Session()
    )


def test_a_new_page_gets_the_text_and_every_file(
    rsps: responses.RequestsMock, report: Report, settings: RedmineSettings
) -> None:
    rsps.get(PAGE, status=404)
    uploads(rsps)
    rsps.put(PAGE, status=201, json={"wiki_page": {"title": "ITSM_report_2026-10", "version": 1}})
    page = publish(report, settings)
    assert page.created and page.replaced == 0
    assert page.url == f"{URL}/projects/ops/wiki/ITSM_report_2026-10"
    assert page.attachments[0] == "report-2026-10.html" and len(page.attachments) == 10

    posted = [c.request for c in rsps.calls if c.request.method == "POST"]
    names = [parse_qs(urlsplit(r.url).query)["filename"][0] for r in posted]
    assert names == list(page.attachments)
    assert parse_qs(urlsplit(posted[0].url).query)["content_type"] == ["text/html"]
    assert posted[0].body.startswith(b"<!DOCTYPE html>")
    assert posted[1].body.startswith(b"\xef\xbb\xbf")  # the CSV keeps its BOM

    (put,) = [c.request for c in rsps.calls if c.request.method == "PUT"]
    body = json.loads(put.body)["wiki_page"]
    assert body["uploads"][0] == {"token": "1.tok", "filename": "report-2026-10.html", "content_type": "text/html"}
    assert [u["token"] for u in body["uploads"]] == [f"{n}.tok" for n in range(1, 11)]
    assert body["text"].startswith("h1. 事件管理月报 2026-10\n")
    assert "| 1 | 事件总数 | 24 | 3 |" in body["text"]
    assert "* attachment:report-2026-10.html" in body["text"]
    assert body["comments"] == "itsm-connector: 2026-10 as of 2026-11-01T09:00+08:00"


def test_publishing_again_updates_the_page_and_drops_the_superseded_files(
    rsps: responses.RequestsMock, report: Report, settings: RedmineSettings
) -> None:
    old = [
        {"id": 31, "filename": "report-2026-10.html"},
        {"id": 32, "filename": "report-2026-10-kpis.csv"},
        {"id": 33, "filename": "notes-by-the-desk.txt"},  # someone else's attachment: kept
    ]
    rsps.get(PAGE, json={"wiki_page": {"title": "ITSM_report_2026-10", "version": 4, "attachments": old}})
    uploads(rsps)
    rsps.put(PAGE, status=204)
    rsps.delete(f"{URL}/attachments/31.json", status=204)
    rsps.delete(f"{URL}/attachments/32.json", status=204)
    page = publish(report, settings)
    assert not page.created and page.replaced == 2
    methods = [c.request.method for c in rsps.calls]
    assert methods.index("PUT") < methods.index("DELETE")  # the new files are attached first


def test_a_project_without_a_wiki_is_named_in_the_error(
    rsps: responses.RequestsMock, report: Report, settings: RedmineSettings
) -> None:
    rsps.get(PAGE, status=404)
    uploads(rsps)
    rsps.put(PAGE, status=404)
    with pytest.raises(BackendRejected, match="project 'ops' does not exist or has no wiki"):
        publish(report, settings)


def test_a_key_that_may_not_edit_the_wiki_waits_with_a_hint(
    rsps: responses.RequestsMock, report: Report, settings: RedmineSettings
) -> None:
    rsps.get(PAGE, status=403)
    with pytest.raises(BackendUnavailable, match="may not edit the wiki of 'ops'") as caught:
        publish(report, settings)
    assert KEY not in str(caught.value)


def test_a_server_error_is_retryable(rsps: responses.RequestsMock, report: Report, settings: RedmineSettings) -> None:
    rsps.get(PAGE, status=404)
    rsps.post(f"{URL}/uploads.json", status=503, headers={"Retry-After": "30"})
    with pytest.raises(BackendUnavailable, match="503") as caught:
        publish(report, settings)
    assert caught.value.retry_after == 30


@pytest.mark.parametrize(
    ("prefix", "label", "title"),
    [
        ("ITSM_report", "2026-10", "ITSM_report_2026-10"),
        ("ITSM_report", "2026-Q4", "ITSM_report_2026-Q4"),
        ("itsm  monthly: ops.", "2026-10", "Itsm_monthly_ops_2026-10"),
    ],
)
def test_titles_are_already_in_redmines_normal_form(prefix: str, label: str, title: str) -> None:
    assert wiki_title(parse_period(label), prefix) == title


def test_markdown_instances_get_a_markdown_table(report: Report) -> None:
    text = wiki_text(report, "en", "common_mark", ["report-2026-10.html"])
    assert text.startswith("# Incident management monthly report 2026-10\n")
    assert "| # | KPI | 2026-10 | 2026-09 |\n|---|---|---|---|\n| 1 | Total incidents | 24 | 3 |" in text
    assert "| 9 | Third-party mean resolution (min) | 120.0 | — |" in text
    assert "3 invalid input line(s) were skipped" in text
