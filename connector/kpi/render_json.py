"""The report as JSON: the shape scripts and the lead's mailer read (``docs/reports.md``).

Ratios are fractions 0–1 and means are minutes, both unrounded; a ratio of an empty total or
a mean over an empty set is ``null``. Table titles and column labels are in the report's
language; keys never change with it.
"""

from __future__ import annotations

__all__ = ["kpis_json", "report_json", "table_json"]

from dataclasses import asdict
from typing import Any

from connector.kpi.kpis import KpiSet, Share
from connector.kpi.report import PeriodFigures, Report
from connector.kpi.tables import Table


def _share(share: Share) -> dict[str, Any]:
    return {"count": share.count, "ratio": share.ratio}


def kpis_json(kpis: KpiSet) -> dict[str, Any]:
    """The ``kpis`` object: every headline KPI, then ``staff`` (KPIs 13, 14, 16, 17) by name."""
    out: dict[str, Any] = {}
    for name, value in vars(kpis).items():
        if isinstance(value, Share):
            out[name] = _share(value)
        elif name == "staff":
            out[name] = {staff: asdict(figures) for staff, figures in value.items()}
        else:
            out[name] = value
    return out


def table_json(table: Table, lang: str) -> dict[str, Any]:
    """One report table: number, title, columns, rows (objects keyed by column), total row."""
    keys = [c.key for c in table.columns]
    return {
        "number": table.number,
        "title": table.title(lang),
        "columns": [{"key": c.key, "label": c.label(lang), "kind": c.kind} for c in table.columns],
        "rows": [dict(zip(keys, row, strict=True)) for row in table.rows],
        "total": dict(zip(keys, table.total, strict=True)) if table.total is not None else None,
    }


def _figures(figures: PeriodFigures) -> dict[str, Any]:
    return {
        "period": figures.period.label,
        "occurred": figures.occurred,
        "duplicates": figures.duplicates,
        "kpis": kpis_json(figures.kpis),
        "daily": list(figures.daily),
        "by_priority": list(figures.by_priority),
    }


def report_json(report: Report, lang: str = "zh") -> dict[str, Any]:
    """The whole report as a JSON-ready dict."""
    current = _figures(report.current)
    stats = report.input
    return {
        "period": report.period.label,
        "tz": report.tz,
        "as_of": report.as_of.isoformat(),
        "lang": lang,
        "input": None
        if stats is None
        else {
            "name": stats.name,
            "lines": stats.lines,
            "records": stats.records,
            "skipped": stats.skipped,
            "problems": [{"line": p.line, "reason": p.reason} for p in stats.problems],
        },
        "occurred": current["occurred"],
        "duplicates": current["duplicates"],
        "kpis": current["kpis"],
        "daily": current["daily"],
        "by_priority": current["by_priority"],
        "previous": _figures(report.previous),
        "reports": {table.key: table_json(table, lang) for table in report.tables},
    }
