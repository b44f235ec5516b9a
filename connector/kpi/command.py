"""``itsm-connector report``: a period's KPI report from a ticket-history file.

::

    itsm-connector report --period 2026-10 --input tickets.jsonl                 # JSON to stdout
    itsm-connector report --period 2026-Q4 --input tickets.jsonl --format json,csv,html --out DIR

Lines of the history that cannot be read are listed on stderr as ``FILE:LINE: reason`` and
left out; the report itself says how many. With ``--out`` the paths written are printed, one
per line. ``--as-of`` is when the history was taken (default: now), the moment at which
stages still running are judged.
"""

from __future__ import annotations

__all__ = ["add_parser", "parse_as_of", "run_report", "write_report"]

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from connector.clock import Clock, SystemClock
from connector.kpi.history import InputStats, open_history
from connector.kpi.periods import DEFAULT_TZ, Period, PeriodError, parse_period, zone
from connector.kpi.progress import ProgressBar
from connector.kpi.report import Report, build_report
from connector.sla import DEFAULT_POLICY, SlaPolicy

FORMATS = ("json", "csv", "html")
_PROBLEMS_LISTED = 20


def _period(text: str) -> Period:
    try:
        return parse_period(text)
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _tz(text: str) -> str:
    try:
        zone(text)
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def parse_as_of(text: str) -> datetime:
    """An ISO 8601 moment *with* its offset (a bare local time would be ambiguous)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the offset too, e.g. {text}+08:00")
    return value


def _formats(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"formats are {', '.join(FORMATS)} (comma-separated), not {text!r}")
    return chosen


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the ``report`` command on the main parser's subcommands."""
    p = sub.add_parser("report", help="KPI report of a month or quarter from a ticket-history file")
    p.add_argument("--period", required=True, type=_period, help="a month (2026-10) or a quarter (2026-Q4)")
    p.add_argument("--input", required=True, type=Path, help="ticket history, JSON lines (docs/history-format.md)")
    p.add_argument("--format", type=_formats, default=("json",), help="json, csv, html, comma-separated (default json)")
    p.add_argument("--out", type=Path, default=None, help="folder for the files; without it, JSON goes to stdout")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="language of labels (default zh)")
    p.add_argument("--tz", type=_tz, default=DEFAULT_TZ, help=f"time zone of the calendar (default {DEFAULT_TZ})")
    p.add_argument("--as-of", type=parse_as_of, default=None, help="when the history was taken (default now)")


def _print_problems(stats: InputStats, stderr: TextIO) -> None:
    for problem in stats.problems[:_PROBLEMS_LISTED]:
        print(f"{stats.name}:{problem.line}: {problem.reason}", file=stderr)
    if stats.skipped > _PROBLEMS_LISTED:
        print(f"{stats.name}: … and {stats.skipped - _PROBLEMS_LISTED} more", file=stderr)
    if stats.skipped:
        print(f"{stats.name}: skipped {stats.skipped} of {stats.lines} lines", file=stderr)


def write_report(report: Report, formats: Sequence[str], out: Path, lang: str) -> list[Path]:
    """Render ``report`` in each format into ``out`` (created if missing); the paths written."""
    from connector.kpi.render_csv import csv_files
    from connector.kpi.render_html import render_html
    from connector.kpi.render_json import report_json
    from connector.kpi.text import file_stem

    out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(report.period)
    files: dict[str, bytes] = {}
    if "json" in formats:
        files[f"{stem}.json"] = (json.dumps(report_json(report, lang), ensure_ascii=False, indent=2) + "\n").encode()
    if "html" in formats:
        files[f"{stem}.html"] = render_html(report, lang).encode()
    if "csv" in formats:
        files.update(csv_files(report, lang))
    written = []
    for name, content in files.items():
        path = out / name
        path.write_bytes(content)
        written.append(path)
    return written


def run_report(
    args: argparse.Namespace,
    *,
    clock: Clock | None = None,
    policy: SlaPolicy = DEFAULT_POLICY,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the ``report`` command; the exit code (2: the command line cannot be served)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if args.out is None and set(args.format) - {"json"}:
        print("report: csv and html are written as files; give --out DIR", file=stderr)
        return 2
    as_of = args.as_of or (clock or SystemClock()).now()
    try:
        size = args.input.stat().st_size
    except OSError as exc:
        print(f"report: cannot read {args.input}: {exc.strerror}", file=stderr)
        return 2
    bar = ProgressBar(stderr, size, f"{args.input.name}")
    # The read allocates hundreds of thousands of objects and frees none of them in cycles: the
    # cyclic collector would only rescan them over and over (a third of the time on 100,000).
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open_history(args.input, on_bytes=bar.advance if bar.enabled else None) as reader:
            report = build_report(reader, args.period, as_of=as_of, tz=args.tz, policy=policy)
    finally:
        if collecting:
            gc.enable()
    bar.finish()
    stats = reader.stats()
    report = report.with_input(stats)
    _print_problems(stats, stderr)
    if args.out is None:
        from connector.kpi.render_json import report_json

        json.dump(report_json(report, args.lang), stdout, ensure_ascii=False, indent=2)
        stdout.write("\n")
        return 0
    for path in write_report(report, args.format, args.out, args.lang):
        print(path, file=stdout)
    return 0
