"""The report as one self-contained HTML page (``connector/templates/report.html.j2``).

The page has no script, no external file and no web font: CSS and the SVG charts are inline,
so it can be mailed, attached to a wiki page or opened offline, and it reads on a 390 px
phone (key figures as cards, tables that wrap instead of scrolling, long groups folded into
``<details>``).

The template is rendered with autoescape on and ``StrictUndefined``. Every string that came
from a ticket (user, device, category, staff name) reaches it as a plain value and is escaped;
nothing from a ticket is ever compiled as a template. The view model is built here, so the
template only places ready-made text.
"""

from __future__ import annotations

__all__ = ["render_html"]

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from connector.domain.models import Priority
from connector.kpi.kpis import KPI_DEFS, KpiDef, KpiSet, Share
from connector.kpi.periods import zone
from connector.kpi.report import Report
from connector.kpi.svg import Series, bar_chart, line_chart
from connector.kpi.tables import Cell, Column, Table
from connector.kpi.text import check_lang, fmt_count, fmt_delta, fmt_minutes, fmt_ratio, not_given, t

_CURRENT, _PREVIOUS, _SECOND = "#1d4ed8", "#9ca3af", "#f59e0b"
_MAX_PROBLEMS_SHOWN = 10


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("connector", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class _Cell:
    text: str
    kind: str  # text | count | ratio | minutes | missing


@dataclass(frozen=True)
class _Group:
    name: str
    count: str
    rows: list[list[_Cell]]


def _cell(value: Cell, column: Column, lang: str) -> _Cell:
    if column.kind == "text":
        return _Cell(not_given(lang), "missing") if value is None else _Cell(str(value), "text")
    if value is None:
        return _Cell("—", column.kind)
    if value == 0 and column.kind == "count":
        return _Cell("0", "zero")
    if column.kind == "ratio":
        return _Cell(fmt_ratio(float(value)), "ratio")
    if column.kind == "minutes":
        return _Cell(fmt_minutes(float(value)), "minutes")
    return _Cell(fmt_count(int(value)), "count")


def _header(column: Column, lang: str) -> tuple[list[str], str]:
    """A header's lines (each kept whole; a phone wraps between them) and its CSS class."""
    return column.lines(lang), "text" if column.kind == "text" else "num"


def _table_view(table: Table, lang: str) -> dict[str, Any]:
    columns = table.columns
    rows = [[_cell(v, c, lang) for v, c in zip(row, columns, strict=True)] for row in table.rows]
    total = None
    if table.total is not None:
        total = [_cell(v, c, lang) for v, c in zip(table.total, columns, strict=True)]
        total[0] = _Cell(t("total_row", lang), "text")
    groups: list[_Group] = []
    if table.grouped:
        for row in rows:
            if not groups or groups[-1].name != row[0].text:
                groups.append(_Group(row[0].text, "", []))
            groups[-1].rows.append(row[1:])
        groups = [
            _Group(g.name, fmt_count(sum(int(r[-1].text.replace(",", "")) for r in g.rows)), g.rows) for g in groups
        ]
    return {
        "number": table.number,
        "key": table.key,
        "title": table.title(lang),
        "headers": [_header(c, lang) for c in columns],
        "item_headers": [_header(c, lang) for c in columns[1:]],
        "rows": rows,
        "total": total,
        "groups": groups,
        "empty": not rows,
    }


def _value(kpis: KpiSet, kpi: KpiDef, lang: str) -> tuple[str, str, float | None]:
    """Main text, secondary text and the number the trend compares, for one KPI."""
    value = getattr(kpis, kpi.key)
    if isinstance(value, Share):
        return fmt_ratio(value.ratio), f"{fmt_count(value.count)} / {fmt_count(kpis.total)}", value.ratio
    if kpi.kind == "minutes":
        unit = t("minutes", lang)
        if value is not None and value >= 120:
            unit += f" ≈ {value / 60:,.1f} {t('hours', lang)}"
        return fmt_minutes(value), unit, value
    return fmt_count(value), "", float(value)


def _cards(report: Report, lang: str) -> list[dict[str, str]]:
    """One card per headline KPI: this period's value, the previous one, and the change."""
    cards = []
    for kpi in KPI_DEFS:
        main, sub, now = _value(report.current.kpis, kpi, lang)
        before_text, _, before = _value(report.previous.kpis, kpi, lang)
        delta, sign = fmt_delta(now, before, kpi.kind)
        quality = "" if sign == 0 or kpi.better == 0 else ("good" if sign == kpi.better else "bad")
        cards.append(
            {
                "number": str(kpi.number) if kpi.number else "—",
                "label": kpi.label(lang),
                "value": main,
                "sub": sub,
                "previous": before_text,
                "delta": delta,
                "quality": quality,
            }
        )
    return cards


def _charts(report: Report, lang: str) -> list[Markup]:
    current, previous = report.current, report.previous
    days = max(current.period.days, previous.period.days)
    daily = line_chart(
        t("chart_daily", lang),
        [
            Series(current.period.label, list(current.daily), _CURRENT),
            Series(previous.period.label, list(previous.daily), _PREVIOUS, dashed=True),
        ],
        [str(i + 1) for i in range(days)],
    )
    priorities = [f"P{int(p)}" for p in Priority]
    by_priority = bar_chart(
        t("chart_priority", lang),
        priorities,
        [
            Series(current.period.label, list(current.by_priority), _CURRENT),
            Series(previous.period.label, list(previous.by_priority), _PREVIOUS),
        ],
    )
    means = next(tb for tb in report.tables if tb.number == 6)
    response = [row[2] for row in means.rows]
    resolution = [row[3] for row in means.rows]
    mean_times = bar_chart(
        t("chart_means", lang),
        priorities,
        [
            Series(t("mean_response", lang), [_float(v) for v in response], _CURRENT),
            Series(t("mean_resolution", lang), [_float(v) for v in resolution], _SECOND),
        ],
        whole=False,
    )
    return [daily, by_priority, mean_times]


def _float(value: Cell) -> float | None:
    return None if value is None or isinstance(value, str) else float(value)


def _problems(report: Report, lang: str) -> dict[str, Any] | None:
    stats = report.input
    if stats is None or not stats.skipped:
        return None
    shown: Sequence[Any] = stats.problems[:_MAX_PROBLEMS_SHOWN]
    return {
        "headline": t("skipped", lang, n=stats.skipped),
        "lines": [f"{t('line', lang, n=p.line)}: {p.reason}" for p in shown],
        "more": t("skipped_more", lang, n=stats.skipped - len(shown)) if stats.skipped > len(shown) else "",
    }


def render_html(report: Report, lang: str = "zh") -> str:
    """The report page in ``lang`` (``zh`` by default, ``en`` on request)."""
    lang = check_lang(lang)
    tz = zone(report.tz)
    title_key = f"title_{report.period.kind}"
    context = {
        "lang": lang,
        "html_lang": "zh-CN" if lang == "zh" else "en",
        "title": f"{t(title_key, lang)} {report.period.label}",
        "period_label": t("period", lang),
        "period": report.period.label,
        "range": f"{report.period.first_day:%Y-%m-%d} – {report.period.day(report.period.days - 1):%Y-%m-%d}",
        "previous_label": t("previous", lang),
        "as_of_label": t("as_of", lang),
        "as_of": f"{report.as_of.astimezone(tz):%Y-%m-%d %H:%M}",
        "tz_label": t("tz", lang),
        "tz": report.tz,
        "kpis_label": t("kpis", lang),
        "definitions": t("definitions", lang),
        "duplicates": f"{t('duplicates', lang)}: {fmt_count(report.current.duplicates)}",
        "problems": _problems(report, lang),
        "cards": _cards(report, lang),
        "charts": _charts(report, lang),
        "tables": [_table_view(tb, lang) for tb in report.tables],
        "no_data": t("no_data", lang),
        "total_label": t("total_row", lang),
        "generated_by": t("generated_by", lang),
    }
    return _environment().get_template("report.html.j2").render(context)
