"""The scheduled report job (PROCESS §14): on the 1st, the previous month's report — and on the
1st of a quarter, the previous quarter's — is rebuilt from the helpdesk, published to the
Redmine wiki with its HTML and CSV files (GLPI: as Documents), and mailed to the process owner.

It runs every hour in the daemon and catches up: a report not published yet (the daemon was
down on the 1st) goes out at the next run, and one already published (its cursor in the state
file) is not published again. The history comes from the helpdesk alone (``export_records``),
so the numbers are those ``itsm-connector report --config`` prints.
"""

from __future__ import annotations

__all__ = ["ReportSettings", "ReportsJob", "due_periods"]

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from connector.contracts.adapters import Backend
from connector.contracts.capabilities import BackendCapabilities
from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import Clock, isoformat
from connector.domain.models import ResolverRole
from connector.integrations.redmine.backend import RedmineBackend
from connector.integrations.redmine.settings import RedmineSettings
from connector.integrations.redmine.wiki import publish_report, report_files, wiki_title
from connector.kpi.export import export_records
from connector.kpi.periods import Period, zone
from connector.kpi.render_html import render_html
from connector.kpi.report import Report, build_report
from connector.notify.settings import Notifications
from connector.rules.knowledge import KnowledgeUsedModel
from connector.rules.sla import SlaPolicy
from connector.runtime.config import ReportSettings
from connector.state.store import Store

log = logging.getLogger("connector.reports")


def due_periods(now: datetime, settings: ReportSettings) -> list[Period]:
    """The reports due at ``now``: the last month that ended and whose publishing time (its next
    month's 1st, ``hour`` o'clock local) has come — and its quarter, when it ends one."""
    local = now.astimezone(zone(settings.timezone))
    month = Period(local.year, "month", local.month).previous()
    if local.day == 1 and local.hour < settings.hour:
        month = month.previous()
    out = [month]
    if settings.quarterly and month.number % 3 == 0:
        out.append(Period(month.year, "quarter", month.number // 3))
    return out


@dataclass
class ReportsJob:
    """Publishes each due report once (wiki and mail); a failure is retried at the next run."""

    backend: Backend
    store: Store
    clock: Clock
    settings: ReportSettings
    policy: SlaPolicy
    notifications: Notifications | None = None
    line_of: Callable[[str | None], ResolverRole | None] | None = None
    #: what the backend can do (``build_app`` passes the record it made at start-up)
    capabilities: BackendCapabilities | None = None
    #: the rule book's "KB used" note lines (``knowledge.yaml``), for KPI 15
    knowledge_used: KnowledgeUsedModel | None = None
    #: pending-change time counts as suspended (``itil_links.yaml``'s ``changes.pauses_sla``)
    pending_pauses: bool = False
    #: where the report goes, decided once: a Redmine wiki, documents, or the mail alone
    _wiki: RedmineSettings | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.capabilities is None:
            self.capabilities = BackendCapabilities.of(self.backend)
        # the wiki is Redmine's own: its pages sit beside the issues, on the backend's settings
        self._wiki = self.backend.settings if isinstance(self.backend, RedmineBackend) else None

    def run(self) -> list[Period]:
        """Publish what is due and not published yet; returns the periods published now."""
        if not self.settings.publish:
            return []
        now = self.clock.now()
        done = []
        for period in due_periods(now, self.settings):
            cursor = f"report:{period.label}"
            if self.store.get_cursor(cursor) is not None:
                continue
            report = self._report(period, now)
            where = self._publish(report)
            self._mail(report, where)
            with self.store.transaction():
                self.store.set_cursor(cursor, isoformat(now), now)
            log.info("report %s published%s", period.label, f" at {where}" if where else "")
            done.append(period)
        return done

    def _report(self, period: Period, now: datetime) -> Report:
        tz = zone(self.settings.timezone)
        # the period before too: the report shows the trend against it
        start, end = period.previous().start(tz), period.end(tz)
        records = list(
            export_records(
                self.backend,
                start,
                end,
                line_of=self.line_of,
                knowledge_used=self.knowledge_used,
                pending_pauses=self.pending_pauses,
            )
        )
        return build_report(records, period, as_of=now, tz=self.settings.timezone, policy=self.policy)

    def _publish(self, report: Report) -> str | None:
        settings = self._wiki
        documents = self.capabilities.documents if self.capabilities is not None else None
        if settings is None and documents is not None:  # GLPI: Documents
            title = wiki_title(report.period, self.settings.title_prefix)
            ids = [
                documents.publish_document(f.name, f.content, f.content_type, f"{title} {f.name}")
                for f in report_files(report, self.settings.language)
            ]
            return f"{self.backend.name} documents {', '.join('#' + i for i in ids)}"
        if settings is None:
            log.info("report %s: the backend keeps no documents; it is only mailed", report.period.label)
            return None
        page = publish_report(
            report, settings, lang=self.settings.language, title_prefix=self.settings.title_prefix, clock=self.clock
        )
        return page.url

    def _mail(self, report: Report, where: str | None) -> None:
        kit = self.notifications
        if kit is None:
            return
        channel = next((c for c in kit.channels.values() if c.address == "email"), None)
        holders = kit.directory.holders(self.settings.mail_role)
        people = [kit.directory.people.people[pid] for pid in holders]
        recipients = [Recipient(pid, p.name, p.email) for pid, p in zip(holders, people, strict=True) if p.email]
        if channel is None or not recipients:
            log.warning(
                "report %s: nobody to mail it to (no e-mail channel, or nobody holds %s)",
                report.period.label,
                self.settings.mail_role,
            )
            return
        zh = self.settings.language == "zh"
        label = report.period.label
        subject = f"事件管理报表 {label}" if zh else f"Incident management report {label}"
        link = f"\n{'报表页面' if zh else 'Report page'}: {where}" if where else ""
        files = ", ".join(f.name for f in report_files(report, self.settings.language))
        text = f"{subject}{link}\n{'文件' if zh else 'Files'}: {files}\n"
        message = OutgoingMessage(
            subject=subject,
            text=text,
            html=render_html(report, self.settings.language),
            markdown=text,
            short=subject,
            ticket_key=wiki_title(report.period, self.settings.title_prefix),
            url=where,
            data={"kind": "report", "period": label},
        )
        channel.notifier.send(message, recipients)
