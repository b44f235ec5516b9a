"""``itsm-connector state prune [--dry-run]``: the retention pass, run once by an operator.

The same pass the daemon runs every ``retention.every_minutes`` (``RetentionJob``), with the
config's ``retention:`` ages. Like ``status`` it opens the state file directly and takes no state
lock: each batch is a short transaction of its own, so it may run beside the daemon. ``--dry-run``
counts what the pass would delete now and deletes nothing.
"""

from __future__ import annotations

__all__ = ["add_parser", "run_state"]

import argparse
import json
import sys
from datetime import timedelta
from typing import Any, TextIO

from connector.domain.clock import Clock, SystemClock
from connector.runtime.config import LoadedConfig
from connector.runtime.retention_job import PruneResult, RetentionJob
from connector.state.retention import RULES
from connector.state.store import open_store


def add_parser(sub: Any, with_config: Any) -> Any:
    """Add ``state`` (with its action ``prune``) to the command line; returns the actions'
    sub-parsers, so other ``state`` actions can be added beside ``prune``."""
    p = sub.add_parser(
        "state",
        help="maintain the state store: prune old finished rows, migrate the schema, check it",
    )
    actions = p.add_subparsers(dest="state_action", required=True, metavar="ACTION")
    prune = actions.add_parser(
        "prune",
        help="delete finished rows older than the retention: ages (docs/operations.md, 'Retention')",
        description="Delete the state file's finished rows older than the config's retention: ages, "
        "in small transactions; safe beside a running daemon.",
    )
    with_config(prune)
    prune.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
    prune.add_argument("--json", action="store_true", help="one JSON object instead of the lines")
    return actions


def run_state(
    args: argparse.Namespace, config: LoadedConfig, out: TextIO | None = None, clock: Clock | None = None
) -> int:
    """The ``state`` command (``prune``); returns the exit code."""
    out = out or sys.stdout
    if args.state_action != "prune":
        raise AssertionError(f"unhandled state action {args.state_action}")
    store = open_store(config.state_target)
    try:
        window = _recurrence_window(config)
        job = RetentionJob(store, clock or SystemClock(), config.core.retention, recurrence_window=lambda: window)
        result = job.run(dry_run=args.dry_run)
    finally:
        store.close()
    if args.json:
        json.dump(_as_dict(result), out, ensure_ascii=False, indent=2)
        out.write("\n")
        return 0
    verb = "would delete" if result.dry_run else "deleted"
    for rule in RULES:
        cutoff = result.cutoffs.of(rule)
        before = f"before {cutoff.isoformat(timespec='seconds')}" if cutoff is not None else "kept forever"
        print(f"{rule:<14} {verb} {result.deleted.get(rule, 0):>8}  ({before})", file=out)
    for table in ("aliases", "ticket_upstreams"):
        if result.deleted.get(table):
            print(f"{table:<14} {verb} {result.deleted[table]:>8}  (with their tickets)", file=out)
    if not result.dry_run:
        print(f"{result.total} row(s) in {result.batches} transaction(s)", file=out)
    return 0


def _recurrence_window(config: LoadedConfig) -> timedelta:
    """The recurrence window of the config's rule book (tickets are kept at least that long)."""
    return config.rulebook().dedup.recurrence_window


def _as_dict(result: PruneResult) -> dict[str, Any]:
    cutoffs = {rule: (None if (c := result.cutoffs.of(rule)) is None else c.isoformat()) for rule in RULES}
    return {"dry_run": result.dry_run, "deleted": result.deleted, "batches": result.batches, "cutoffs": cutoffs}
