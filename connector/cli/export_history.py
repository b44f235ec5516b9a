"""``itsm-connector export-history``: a period's ticket history, rebuilt from the helpdesk.

::

    itsm-connector export-history --config connector.yaml --period 2026-10 --out tickets.jsonl
    itsm-connector report --period 2026-10 --input tickets.jsonl

Writes one ``HistoryRecord`` line (docs/history-format.md) per ticket of the configured backend
that occurred in the period (in ``--tz``), from its fields and its journal alone. The file is
written next to its final name and renamed at the end, so an export that fails half-way leaves
no half file behind; ``--out -`` writes to stdout. Tickets left out are listed on stderr as
``ticket ID: reason``; a progress bar is drawn on stderr while tickets are read, on a terminal.
"""

from __future__ import annotations

__all__ = ["add_parser", "print_problems", "run_export"]

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from connector.cli.report import period_argument, tz_argument
from connector.kpi.export import ExportStats, export_records
from connector.kpi.periods import DEFAULT_TZ, zone
from connector.kpi.progress import progress
from connector.runtime.helpdesk import Helpdesk

_PROBLEMS_LISTED = 20
log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the ``export-history`` command on the main parser's subcommands."""
    p = sub.add_parser("export-history", help="write a period's ticket history (JSON lines) from the helpdesk")
    p.add_argument("--config", "-c", type=Path, required=True, help="connector config (YAML): its backend")
    p.add_argument("--period", required=True, type=period_argument, help="a month (2026-10) or a quarter (2026-Q4)")
    p.add_argument("--out", required=True, help="the history file to write, or - for stdout")
    p.add_argument(
        "--tz", type=tz_argument, default=DEFAULT_TZ, help=f"time zone of the calendar (default {DEFAULT_TZ})"
    )
    p.add_argument("--people", type=Path, default=None, help="people.yaml (default: the config's notify.people)")


def print_problems(stats: ExportStats, name: str, stderr: TextIO) -> None:
    """The tickets left out (the first 20) and how many, on ``stderr``."""
    for problem in stats.problems[:_PROBLEMS_LISTED]:
        print(f"{name}: {problem}", file=stderr)
    if len(stats.problems) > _PROBLEMS_LISTED:
        print(f"{name}: … and {len(stats.problems) - _PROBLEMS_LISTED} more", file=stderr)


def run_export(
    args: argparse.Namespace, helpdesk: Helpdesk, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``export-history`` against an open helpdesk; the exit code.

    Raises ``BackendUnavailable`` when the helpdesk cannot be read (nothing is written then).
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    tz = zone(args.tz)
    stats = ExportStats()
    records = export_records(
        helpdesk.backend,
        args.period.start(tz),
        args.period.end(tz),
        line_of=helpdesk.line_of,
        stats=stats,
        on_ticket=progress(stderr, f"{helpdesk.name} {args.period}"),
        knowledge_used=helpdesk.knowledge_used,
        pending_pauses=helpdesk.pending_pauses,
    )
    if args.out == "-":
        for record in records:
            stdout.write(record.to_line() + "\n")
        where = "stdout"
    else:
        target = Path(args.out)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed or removed below
            "w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
        )
        try:
            with handle:
                for record in records:
                    handle.write(record.to_line() + "\n")
            os.replace(handle.name, target)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        where = str(target)
    for note in stats.notes:
        log.info("%s: %s", helpdesk.name, note)
    print_problems(stats, helpdesk.name, stderr)
    print(
        f"export-history: {stats.records} ticket(s) of {args.period} written to {where} "
        f"({stats.listed} changed since the period began, {len(stats.problems)} left out)",
        file=stderr,
    )
    return 0
