"""KPI reports of the incident process (seed §3.4, PROCESS §14), one job per module.

* ``history``     — ``HistoryRecord`` (one ticket per JSON line) and the streaming reader;
* ``periods``     — months and quarters in a time zone;
* ``facts``       — one ticket reduced to its SLA lateness and durations;
* ``kpis``        — the 17 KPIs as pure functions, each defined once;
* ``tables``      — the eight report tables;
* ``report``      — ``build_report``: a period and the one before, from any iterable of records;
* ``render_json``, ``render_csv``, ``render_html`` (+ ``svg``, ``text``) — the outputs;
* ``publish``     — ``publish_report``: the rendered report as a Redmine wiki page;
* ``command``     — the ``itsm-connector report`` command; ``progress`` its progress bar.
"""

from connector.kpi.history import HistoryReader, HistoryRecord, InputStats, LineProblem, open_history
from connector.kpi.periods import DEFAULT_TZ, Period, parse_period
from connector.kpi.report import Report, build_report

__all__ = [
    "DEFAULT_TZ",
    "HistoryReader",
    "HistoryRecord",
    "InputStats",
    "LineProblem",
    "Period",
    "Report",
    "build_report",
    "open_history",
    "parse_period",
]
