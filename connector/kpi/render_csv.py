"""The report as CSV files: one per table plus one of the headline KPIs.

Files are UTF-8 *with a byte-order mark* and CRLF line ends, because Excel — what the desk
opens them with — reads a BOM-less UTF-8 file as the local code page and shows Chinese as
mojibake. Ratios are fractions 0–1 (4 decimals), means are minutes (2 decimals).

A text cell that came from a ticket and starts with ``=``, ``+``, ``-``, ``@``, a tab or a CR
is prefixed with ``'`` so a spreadsheet shows it instead of running it as a formula
(CSV injection).
"""

from __future__ import annotations

__all__ = ["csv_files", "kpi_rows"]

import csv
import io
from collections.abc import Iterable, Sequence

from connector.kpi.kpis import KPI_DEFS, KpiSet, Share
from connector.kpi.report import Report
from connector.kpi.tables import Cell, Column, Table
from connector.kpi.text import file_stem, not_given, t

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _cell(value: Cell, column: Column, lang: str) -> str:
    if column.kind == "text":
        return not_given(lang) if value is None else _text(str(value))
    if value is None:
        return ""
    if column.kind == "ratio":
        return f"{float(value):.4f}"
    if column.kind == "minutes":
        return f"{float(value):.2f}"
    return str(value)


def _encode(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _table_rows(table: Table, lang: str) -> list[list[str]]:
    rows = [[c.label(lang) for c in table.columns]]
    rows += [[_cell(v, c, lang) for v, c in zip(row, table.columns, strict=True)] for row in table.rows]
    if table.total is not None:
        footer = [_cell(v, c, lang) for v, c in zip(table.total, table.columns, strict=True)]
        footer[0] = t("total_row", lang)
        rows.append(footer)
    return rows


def _kpi_values(kpis: KpiSet, key: str) -> tuple[str, str]:
    value = getattr(kpis, key)
    if isinstance(value, Share):
        return str(value.count), "" if value.ratio is None else f"{value.ratio:.4f}"
    if isinstance(value, float):
        return f"{value:.2f}", ""
    return ("" if value is None else str(value)), ""


def kpi_rows(report: Report, lang: str) -> list[list[str]]:
    """The headline KPIs with this period's and the previous period's values."""
    header = [
        "#",
        t("kpi", lang),
        report.period.label,
        report.period.label + (" 比率" if lang == "zh" else " ratio"),
        report.previous.period.label,
        report.previous.period.label + (" 比率" if lang == "zh" else " ratio"),
    ]
    rows = [header]
    for kpi in KPI_DEFS:
        rows.append(
            [
                str(kpi.number) if kpi.number else "—",
                kpi.label(lang),
                *_kpi_values(report.current.kpis, kpi.key),
                *_kpi_values(report.previous.kpis, kpi.key),
            ]
        )
    return rows


def csv_files(report: Report, lang: str = "zh") -> dict[str, bytes]:
    """File name → content, e.g. ``report-2026-10-kpis.csv``, ``report-2026-10-1-by-user-priority.csv``."""
    stem = file_stem(report.period)
    files = {f"{stem}-kpis.csv": _encode(kpi_rows(report, lang))}
    for table in report.tables:
        files[f"{stem}-{table.number}-{table.key.replace('_', '-')}.csv"] = _encode(_table_rows(table, lang))
    return files
