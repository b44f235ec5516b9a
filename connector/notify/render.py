"""Notice → ``OutgoingMessage``: jinja2 templates per language and format, alert text as data.

Templates live in ``connector/templates/notices/<lang>/`` (``zh`` default, ``en``); a site's
``templates_dir`` with the same layout is searched first. For each format the renderer picks
``<lang>/<kind>.<fmt>.j2`` if it exists, else ``<lang>/notice.<fmt>.j2``; formats are
``subject`` (one line), ``txt`` (plain text), ``html`` (HTML e-mail), ``md`` (robot
markdown) and ``sms`` (one short paragraph for phone gateways).

Alert titles, services and details are untrusted. They reach templates only as values, never
as template source, so ``{{ 7*7 }}`` in a title stays literal. Each format escapes every
interpolated value by itself, so a site template cannot forget to: HTML by jinja2's
autoescape; markdown by a ``finalize`` hook that backslash-escapes markdown syntax and turns
``<``/``>`` into full-width signs (robots parse ``<font>`` and ``<@user>`` tags themselves and
do not honour a backslash before them); URLs go through ``safe_url`` (http/https only). Every
template — shipped or site — runs in jinja2's ``SandboxedEnvironment`` with ``StrictUndefined``,
so a misspelt variable is an error at ``check()`` (startup), not an empty line at 3 a.m.
"""

from __future__ import annotations

__all__ = ["FORMATS", "NoticeView", "Renderer", "md_escape", "safe_url"]

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from connector.contracts.notifiers import OutgoingMessage
from connector.domain.errors import ConfigError, ConfigProblem, NotifierRejected
from connector.domain.models import Priority
from connector.domain.notice import Notice, NoticeKind, StatusEvent, TicketLink
from connector.notify.people import Directory
from connector.rules.sla import Stage

FORMATS = ("subject", "txt", "html", "md", "sms")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MD_INLINE = re.compile(r"([\\`*_\[\]|~])")
_MD_LINE_START = re.compile(r"^(\s*)([#+=-])|^(\s*\d+)([.)])")
_SUBJECT_MAX = 200

_STATUS_LABELS = {
    StatusEvent.OPEN: ("待处理", "open"),
    StatusEvent.ASSIGNED: ("已分派", "assigned"),
    StatusEvent.IN_PROGRESS: ("受理中", "in progress"),
    StatusEvent.PENDING_CHANGE: ("待定变更", "pending change"),
    StatusEvent.SUSPENDED: ("挂起", "suspended"),
    StatusEvent.RESOLVED: ("已解决", "resolved"),
    StatusEvent.CLOSED: ("关闭", "closed"),
}


def _clean(text: str) -> str:
    """Control characters (terminal escapes, NUL) out of untrusted text; newlines stay."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def md_escape(value: Any) -> Any:
    """Make a value inert in robot markdown: syntax characters backslash-escaped, ``<``/``>``
    as full-width signs, newlines as spaces (a value never starts a heading or a list).
    ``Markup`` (what ``safe_url`` returns) passes through untouched."""
    if isinstance(value, Markup) or value is None:
        return "" if value is None else value
    text = " ".join(_clean(str(value)).split("\n"))
    text = text.replace("<", "＜").replace(">", "＞")
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match[str]) -> str:
    lead = match.group(1) if match.group(2) is not None else match.group(3)
    mark = match.group(2) if match.group(2) is not None else match.group(4)
    return f"{lead}\\{mark}"


def _text_finalize(value: Any) -> Any:
    return "" if value is None else value


def safe_url(value: Any) -> Markup | None:
    """An http(s) URL fit for any format (characters markdown or HTML could read as syntax
    percent-encoded, which does not change the URL), or ``None`` for anything else
    (``javascript:``, relative paths, the local backend's ``local:`` links)."""
    if not value:
        return None
    text = str(value).strip()
    if urlsplit(text).scheme.lower() not in ("http", "https"):
        return None
    return Markup(quote(text, safe="/:?=&%#+,;@$-.~!"))


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class NoticeView:
    """What templates see as ``n``: the notice with labels resolved and times as local text."""

    kind: str
    lang: str
    ticket_tag: str
    ticket_id: str | None
    key: str
    url: Markup | None
    priority: int
    priority_label: str
    title: str
    service: str | None
    ci: str | None
    estimated_restore: str | None
    service_desk: str
    roles: tuple[str, ...]
    role_labels: str
    level: int | None
    stage: str | None
    stage_label: str | None
    status: str | None
    status_label: str | None
    minutes: int | None
    due_at: str
    late: bool
    registered_at: str | None
    outage_start: str | None
    outage_end: str | None
    assignee: str | None
    group: str | None
    detail: str


class Renderer:
    """Renders notices with the shipped templates, a site's ``templates_dir`` searched first.

    :param directory: labels for roles and groups (``None``: role ids are shown as they are).
    :param language: ``zh`` or ``en``; a notice's own ``lang`` wins.
    :param timezone: the zone times are shown in (IANA name).
    :param service_desk: how to reach the desk, for notices that do not say it themselves.
    """

    def __init__(
        self,
        *,
        service_desk: str,
        directory: Directory | None = None,
        language: str = "zh",
        timezone: str = "Asia/Shanghai",
        templates_dir: Path | None = None,
    ) -> None:
        if language not in ("zh", "en"):
            raise ValueError(f"language must be zh or en, not {language!r}")
        self.language = language
        self.directory = directory
        self.service_desk = service_desk
        self._zone = ZoneInfo(timezone)
        shipped = Path(str(resources.files("connector") / "templates" / "notices"))
        loaders = [FileSystemLoader(str(templates_dir))] if templates_dir is not None else []
        loader = ChoiceLoader([*loaders, FileSystemLoader(str(shipped))])
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": False,
        }
        self._envs = {
            "text": SandboxedEnvironment(autoescape=False, finalize=_text_finalize, **common),
            "html": SandboxedEnvironment(autoescape=True, **common),
            "md": SandboxedEnvironment(autoescape=False, finalize=md_escape, **common),
        }
        for env in self._envs.values():
            env.filters["safe_url"] = safe_url
            env.filters["oneline"] = lambda v: _one_line(str(v))

    # --- the view ------------------------------------------------------------------------------

    def _when(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return value.astimezone(self._zone).strftime("%Y-%m-%d %H:%M")

    def view(self, notice: Notice) -> NoticeView:
        """The notice as templates see it."""
        lang = notice.lang or self.language
        directory = self.directory
        labels = [directory.role_label(r, lang) if directory else r for r in notice.roles]
        zh_en = 0 if lang == "zh" else 1
        stage = notice.stage
        ticket = notice.ticket
        return NoticeView(
            kind=notice.kind.value,
            lang=lang,
            ticket_tag=ticket.ticket_id or ticket.key,
            ticket_id=ticket.ticket_id,
            key=ticket.key,
            url=safe_url(ticket.url),
            priority=int(notice.priority),
            priority_label=notice.priority.label(lang),
            title=_clean(notice.title),
            service=_clean(notice.service) if notice.service else None,
            ci=_clean(notice.ci) if notice.ci else None,
            estimated_restore=self._when(notice.estimated_restore),
            service_desk=_clean(notice.service_desk or self.service_desk),
            roles=notice.roles,
            role_labels=("、" if lang == "zh" else ", ").join(labels),
            level=notice.level,
            stage=stage.value if stage else None,
            stage_label=(stage.zh if lang == "zh" else stage.value) if stage else None,
            status=notice.status.value if notice.status else None,
            status_label=_STATUS_LABELS[notice.status][zh_en] if notice.status else None,
            minutes=notice.minutes,
            due_at=self._when(notice.due_at) or "",
            late=notice.late,
            registered_at=self._when(notice.registered_at),
            outage_start=self._when(notice.outage_start),
            outage_end=self._when(notice.outage_end),
            assignee=_clean(notice.assignee) if notice.assignee else None,
            group=directory.group_label(notice.assignment_group) if directory else notice.assignment_group,
            detail=_clean(notice.detail),
        )

    # --- rendering -----------------------------------------------------------------------------

    def _render(self, env: str, fmt: str, view: NoticeView) -> str:
        names = [f"{view.lang}/{view.kind}.{fmt}.j2", f"{view.lang}/notice.{fmt}.j2"]
        template = self._envs[env].select_template(names)
        return template.render(n=view).strip()

    def render(self, notice: Notice) -> OutgoingMessage:
        """Every format of ``notice``; raises ``NotifierRejected`` when a template fails (a site
        template error: retrying the same notice cannot help)."""
        view = self.view(notice)
        try:
            subject = _one_line(self._render("text", "subject", view))[:_SUBJECT_MAX]
            text = self._render("text", "txt", view)
            html = self._render("html", "html", view)
            markdown = self._render("md", "md", view)
            short = _one_line(self._render("text", "sms", view))
        except TemplateError as exc:
            file, line = _where(exc)
            at = f" at {file}:{line}" if file else ""
            raise NotifierRejected(
                f"template failed{at}: {type(exc).__name__}: {exc}", notifier="templates", operation="render"
            ) from exc
        return OutgoingMessage(
            subject=subject,
            text=text + "\n",
            html=html + "\n",
            markdown=markdown,
            short=short,
            ticket_key=notice.ticket.key,
            ticket_id=notice.ticket.ticket_id,
            url=str(view.url) if view.url else None,
            data=notice.model_dump(mode="json"),
        )

    def check(self, languages: Sequence[str] | None = None) -> None:
        """Render a sample notice of every kind in every language and format, so a broken site
        template stops startup (``ConfigError`` naming the template and line) instead of a
        notice at run time."""
        problems: list[ConfigProblem] = []
        for lang in languages or ("zh", "en"):
            for kind in NoticeKind:
                try:
                    self.render(_sample(kind, lang))
                except NotifierRejected as exc:
                    assert isinstance(exc.__cause__, TemplateError)
                    file, line = _where(exc.__cause__)
                    problem = ConfigProblem(file or f"{lang}/{kind} notice", line, str(exc.__cause__))
                    if problem not in problems:
                        problems.append(problem)
        if problems:
            raise ConfigError(problems)


def _where(exc: TemplateError) -> tuple[str | None, int | None]:
    """The template file and line an error happened in: a syntax error knows them; for a
    render error jinja2 puts the template's frames, with their template lines, in the
    traceback, and the innermost one is where it failed."""
    filename = getattr(exc, "filename", None)
    if filename:
        return str(filename), getattr(exc, "lineno", None)
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _sample(kind: NoticeKind, lang: str) -> Notice:
    """A notice with every field set, for ``check``."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Notice(
        kind=kind,
        ticket=TicketLink(key="sample:1", ticket_id="1", url="https://helpdesk.example/issues/1"),
        priority=Priority.HIGHEST,
        title="sample",
        service="sample",
        ci="sample",
        estimated_restore=at + timedelta(hours=8),
        roles=("user",),
        level=1,
        stage=Stage.RESPONSE,
        status=StatusEvent.RESOLVED,
        minutes=5,
        due_at=at,
        late=True,
        registered_at=at,
        outage_start=at,
        outage_end=at,
        assignee="sample",
        assignment_group="sample",
        detail="sample",
        lang=lang,
    )
