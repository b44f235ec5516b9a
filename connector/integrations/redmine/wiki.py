"""Publishing a report to a Redmine wiki page, the HTML page and the CSV files attached.

``publish_report(report, settings)`` is what the monthly job calls. It is idempotent: the page
of a period has one title (``ITSM_report_2026-10``), so publishing the same period again
updates the page, and the files attached before under the same names are deleted once the new
ones are attached — the page never lacks a file, and never shows two of one name.

The calls (``docs/reports.md``, *Publishing*)::

    GET    /projects/<p>/wiki/<Title>.json?include=attachments   what is there (404: a new page)
    POST   /uploads.json?filename=…  (octet-stream, per file)     tokens
    PUT    /projects/<p>/wiki/<Title>.json  {wiki_page: {text, comments, uploads: [...]}}
    DELETE /attachments/<id>.json    (per superseded file)

Errors are the client's (``connector.integrations.redmine.client``): ``RedmineUnavailable`` (retry later) or
``RedmineRejected``, with a hint added when the project has no wiki or the key may not edit it.
The wiki text holds only the period, the connector's own labels and numbers — nothing a ticket
wrote — so it needs no markup escaping.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_TITLE_PREFIX",
    "PublishedPage",
    "ReportFile",
    "publish_files",
    "publish_report",
    "report_files",
    "wiki_text",
    "wiki_title",
]

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict, Field

from connector.domain.clock import Clock, SystemClock
from connector.integrations.redmine.client import RedmineClient, RedmineRejected, RedmineUnavailable
from connector.integrations.redmine.schema import UploadEnvelope
from connector.integrations.redmine.settings import RedmineSettings, TextFormatting
from connector.kpi.kpis import KPI_DEFS, KpiSet, Share
from connector.kpi.periods import Period, zone
from connector.kpi.render_csv import csv_files
from connector.kpi.render_html import render_html
from connector.kpi.report import Report
from connector.kpi.text import check_lang, file_stem, fmt_count, fmt_minutes, fmt_ratio, t
from connector.util.tls import requests_verify

DEFAULT_TITLE_PREFIX = "ITSM_report"
_BACKEND = "redmine"


def wiki_title(period: Period, prefix: str = DEFAULT_TITLE_PREFIX) -> str:
    """The page title of ``period``, already in the form Redmine normalises titles to (runs of
    whitespace → ``_``, none of ``, . / ? ; | :``, first letter upper-case), so the URL the
    connector PUTs is the page's own and a second publish finds the first."""
    title = re.sub(r"[,./?;|:]", "", re.sub(r"\s+", "_", f"{prefix.strip()}_{period.label}"))
    if not title.strip("_"):
        raise ValueError(f"no usable wiki title from prefix {prefix!r}")
    return title[:1].upper() + title[1:]


@dataclass(frozen=True)
class ReportFile:
    """A file attached to the page."""

    name: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class PublishedPage:
    """What publishing did: the page, whether it was new, the files attached, how many old
    attachments it replaced."""

    title: str
    url: str
    created: bool
    attachments: tuple[str, ...]
    replaced: int


class _Attachment(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    filename: str


class _WikiPage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    title: str
    version: int = 0
    attachments: list[_Attachment] = Field(default_factory=list)


class _WikiPageEnvelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    wiki_page: _WikiPage


def report_files(report: Report, lang: str = "zh") -> list[ReportFile]:
    """The HTML page and the CSV tables of ``report``, as attached to the wiki page."""
    files = [ReportFile(f"{file_stem(report.period)}.html", render_html(report, lang).encode(), "text/html")]
    files += [ReportFile(name, content, "text/csv") for name, content in csv_files(report, lang).items()]
    return files


def _kpi_cell(kpis: KpiSet, key: str, kind: str) -> str:
    value = getattr(kpis, key)
    if isinstance(value, Share):
        return f"{fmt_ratio(value.ratio)} ({fmt_count(value.count)})"
    if kind == "minutes":
        return fmt_minutes(value)
    return fmt_count(value)


def wiki_text(report: Report, lang: str, formatting: TextFormatting, files: Sequence[str]) -> str:
    """The page: title, period, the headline KPIs against the previous period, and the files."""
    lang = check_lang(lang)
    tz = zone(report.tz)
    kind = "title_month" if report.period.kind == "month" else "title_quarter"
    title = f"{t(kind, lang)} {report.period.label}"
    last_day = report.period.day(report.period.days - 1)
    meta = (
        f"{t('period', lang)}: {report.period.first_day:%Y-%m-%d} – {last_day:%Y-%m-%d} · "
        f"{t('tz', lang)}: {report.tz} · {t('as_of', lang)}: {report.as_of.astimezone(tz):%Y-%m-%d %H:%M}"
    )
    header = ["#", t("kpi", lang), report.period.label, report.previous.period.label]
    rows = [
        [
            str(kpi.number),
            kpi.label(lang) + (f" ({t('minutes', lang)})" if kpi.kind == "minutes" else ""),
            _kpi_cell(report.current.kpis, kpi.key, kpi.kind),
            _kpi_cell(report.previous.kpis, kpi.key, kpi.kind),
        ]
        for kpi in KPI_DEFS
    ]
    notes = [t("definitions", lang), f"{t('duplicates', lang)}: {fmt_count(report.current.duplicates)}"]
    if report.input is not None and report.input.skipped:
        notes.append(t("skipped", lang, n=report.input.skipped))
    links = [f"* attachment:{name}" for name in files]
    if formatting == "textile":
        table = ["|_. " + " |_. ".join(header) + " |"] + ["| " + " | ".join(row) + " |" for row in rows]
        head = f"h1. {title}"
    else:
        table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        table += ["| " + " | ".join(row) + " |" for row in rows]
        head = f"# {title}"
    parts = [head, meta, "\n".join(table), "\n\n".join(notes), f"{t('attachments', lang)}:\n\n" + "\n".join(links)]
    return "\n\n".join(parts) + "\n"


def _page_path(project: str, title: str) -> str:
    return f"/projects/{quote(project, safe='')}/wiki/{quote(title, safe='')}.json"


def _existing(client: RedmineClient, path: str) -> _WikiPage | None:
    """The page as it is now, or ``None`` when there is none yet."""
    try:
        return client.get(path, _WikiPageEnvelope, params={"include": "attachments"}).wiki_page
    except RedmineRejected as exc:
        if exc.status == 404:
            return None
        raise


def publish_files(
    client: RedmineClient, project: str, title: str, text: str, files: Sequence[ReportFile], *, comment: str
) -> PublishedPage:
    """Create or update the wiki page ``title`` of ``project`` with ``text`` and ``files``."""
    path = _page_path(project, title)
    try:
        before = _existing(client, path)
        uploads = []
        for f in files:
            params = {"filename": f.name, "content_type": f.content_type}
            token = client.upload("/uploads.json", f.content, params, UploadEnvelope).upload.token
            uploads.append({"token": token, "filename": f.name, "content_type": f.content_type})
        client.put(path, {"wiki_page": {"text": text, "comments": comment, "uploads": uploads}})
    except RedmineRejected as exc:
        if exc.status == 404:
            raise RedmineRejected(
                f"HTTP 404: project {project!r} does not exist or has no wiki "
                "(enable the Wiki module: Project › Settings › Modules)",
                backend=exc.backend,
                operation=exc.operation,
                status=404,
            ) from exc
        raise
    except RedmineUnavailable as exc:
        if exc.status == 403:
            raise RedmineUnavailable(
                f"HTTP 403: the API key's user may not edit the wiki of {project!r} (its role needs "
                "'Edit wiki pages' and the project the Wiki module)",
                backend=exc.backend,
                operation=exc.operation,
                status=403,
            ) from exc
        raise
    names = {f.name for f in files}
    superseded = [a.id for a in (before.attachments if before else []) if a.filename in names]
    for attachment_id in superseded:
        client.delete(f"/attachments/{attachment_id}.json")
    url = f"{client.base_url}/projects/{quote(project, safe='')}/wiki/{quote(title, safe='')}"
    return PublishedPage(title, url, before is None, tuple(f.name for f in files), len(superseded))


def publish_report(
    report: Report,
    settings: RedmineSettings,
    *,
    lang: str = "zh",
    title_prefix: str = DEFAULT_TITLE_PREFIX,
    clock: Clock | None = None,
    session: requests.Session | None = None,
) -> PublishedPage:
    """Render ``report`` (HTML + CSV in ``lang``) and publish it to its period's wiki page in the
    project of ``settings``; the monthly job's one call."""
    title = wiki_title(report.period, title_prefix)
    files = report_files(report, lang)
    text = wiki_text(report, lang, settings.text_formatting, [f.name for f in files])
    client = RedmineClient(
        settings.url,
        settings.api_key.get_secret_value(),
        backend=_BACKEND,
        clock=clock or SystemClock(),
        timeout=settings.timeout_seconds,
        verify_tls=requests_verify(settings.verify_tls, settings.ca_bundle),
        session=session,
    )
    try:
        comment = f"itsm-connector: {report.period.label} as of {report.as_of.isoformat(timespec='minutes')}"
        return publish_files(client, settings.project, title, text, files, comment=comment)
    finally:
        client.close()
