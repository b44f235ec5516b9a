"""``itsm-connector report``: a period's KPI report from a ticket-history file, or straight
from the helpdesk of a connector config.

::

    itsm-connector report --period 2026-10 --input tickets.jsonl                 # JSON to stdout
    itsm-connector report --period 2026-Q4 --input tickets.jsonl --format json,csv,html --out DIR
    itsm-connector report --period 2026-10 --config connector.yaml               # export, then report

Lines of the history that cannot be read are listed on stderr as ``FILE:LINE: reason`` and
left out; the report itself says how many. With ``--out`` the paths written are printed, one
per line. ``--as-of`` is when the history was taken (default: now), the moment at which
stages still running are judged.

Lateness is judged with the SLA policy of the rules in force: the config's rules directory
with ``--config``, the shipped rules with ``--input`` (``connector.rules.book.default_rulebook``).
With ``--config`` the history of the period and the one before (for the trend) is rebuilt from
the helpdesk in memory (``connector.kpi.export``), exactly as ``export-history`` writes it.
"""

from __future__ import annotations

__all__ = ["add_parser", "parse_as_of", "period_argument", "run_report", "tz_argument", "write_report"]

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from connector.domain.clock import Clock, SystemClock
from connector.kpi.history import InputStats, LineProblem, open_history
from connector.kpi.periods import DEFAULT_TZ, Period, PeriodError, parse_period, zone
from connector.kpi.progress import ProgressBar
from connector.kpi.report import Report, build_report
from connector.rules.sla import SlaPolicy

if TYPE_CHECKING:
    from connector.runtime.helpdesk import Helpdesk

FORMATS = ("json", "csv", "html")
_PROBLEMS_LISTED = 20


def period_argument(text: str) -> Period:
    """``--period``: a month or a quarter (argparse says why when it is neither)."""
    try:
        return parse_period(text)
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def tz_argument(text: str) -> str:
    """``--tz``: an IANA zone name."""
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
    p = sub.add_parser("report", help="KPI report of a month or quarter from a ticket history or the helpdesk")
    p.add_argument(
        "--period",
        required=True,
        type=period_argument,
        help="a month (2026-10), a quarter (2026-Q4) or an ISO week (2026-W42)",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--input", type=Path, help="ticket history, JSON lines (docs/history-format.md)")
    where.add_argument("--config", "-c", type=Path, help="connector config: rebuild the history from its helpdesk")
    p.add_argument("--people", type=Path, default=None, help="with --config: people.yaml (default: notify.people)")
    p.add_argument("--format", type=_formats, default=("json",), help="json, csv, html, comma-separated (default json)")
    p.add_argument("--out", type=Path, default=None, help="folder for the files; without it, JSON goes to stdout")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="language of labels (default zh)")
    p.add_argument(
        "--tz", type=tz_argument, default=DEFAULT_TZ, help=f"time zone of the calendar (default {DEFAULT_TZ})"
    )
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
    policy: SlaPolicy | None = None,
    helpdesk: Helpdesk | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the ``report`` command; the exit code (2: the command line cannot be served).

    ``helpdesk`` is the config's open helpdesk (``--config``): the history is rebuilt from it
    and its policy judges lateness. Otherwise ``--input`` is read and ``policy`` (default: the
    shipped rules') judges.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if args.out is None and set(args.format) - {"json"}:
        print("report: csv and html are written as files; give --out DIR", file=stderr)
        return 2
    as_of = args.as_of or (clock or SystemClock()).now()
    if helpdesk is not None:
        report, stats = _from_helpdesk(args, helpdesk, as_of, stderr)
    else:
        if args.input is None:
            print("report: give --input FILE or --config FILE", file=stderr)
            return 2
        if policy is None:
            from connector.rules.loading import default_rulebook

            policy = default_rulebook().sla
        read = _from_file(args, policy, as_of, stderr)
        if read is None:
            return 2
        report, stats = read
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


def _from_file(
    args: argparse.Namespace, policy: SlaPolicy, as_of: datetime, stderr: TextIO
) -> tuple[Report, InputStats] | None:
    try:
        size = args.input.stat().st_size
    except OSError as exc:
        print(f"report: cannot read {args.input}: {exc.strerror}", file=stderr)
        return None
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
    return report, reader.stats()


def _from_helpdesk(
    args: argparse.Namespace, helpdesk: Helpdesk, as_of: datetime, stderr: TextIO
) -> tuple[Report, InputStats]:
    """The period and the one before, rebuilt from the helpdesk (no file in between)."""
    from connector.kpi.export import ExportStats, export_records
    from connector.kpi.progress import progress

    tz = zone(args.tz)
    stats = ExportStats()
    records = list(
        export_records(
            helpdesk.backend,
            args.period.previous().start(tz),
            args.period.end(tz),
            line_of=helpdesk.line_of,
            stats=stats,
            on_ticket=progress(stderr, f"{helpdesk.name} {args.period}"),
            knowledge_used=helpdesk.knowledge_used,
            pending_pauses=helpdesk.pending_pauses,
        )
    )
    report = build_report(records, args.period, as_of=as_of, tz=args.tz, policy=helpdesk.policy)
    problems = tuple(LineProblem(number, str(problem)) for number, problem in enumerate(stats.problems, 1))
    return report, InputStats(
        name=f"{helpdesk.name} ({args.config})", lines=stats.listed, records=stats.records, problems=problems
    )
