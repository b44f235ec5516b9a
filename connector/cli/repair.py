"""``itsm-connector status`` and ``itsm-connector dead-letters list|show|retry|purge``.

Both read (and ``retry``/``purge`` write) the state file directly, so they work while the
daemon runs (SQLite WAL; each change is one short transaction) and while it is stopped. They
never take the state lock and never talk to a helpdesk: a retried item is only put back in the
queue — the running daemon takes it at its next poll or drain, or ``once`` does.

``status`` prints a readable table (``--json``: one object, for scripts and monitoring; keys are
only ever added), with the rows of each table and the file's bytes (``sizes``: retention).
``dead-letters`` filters by ``--kind`` (intake, rule, outbox), ``--source``, ``--reason``
(a case-insensitive substring) and age (``--older-than``/``--newer-than`` 30m, 2h, 7d).
``retry`` puts each letter's item back exactly once (``connector.state.repair``); ``purge``
deletes letters — the items stay marked dead — and, without ids or a filter, asks for ``--all``.
"""

from __future__ import annotations

__all__ = ["add_parsers", "file_sizes", "parse_age", "run_dead_letters", "run_status"]

import argparse
import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from connector.domain.clock import Clock, SystemClock
from connector.state.repair import DeadLetter, RetryRefused
from connector.state.store import StateTarget, Store, open_store

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
ACTIONS = ("list", "show", "retry", "purge")


def parse_age(text: str) -> timedelta:
    """``30m``, ``2h``, ``7d``, ``1w``, ``45s`` as a duration (argparse type)."""
    found = _AGE.match(text)
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 30m, 2h or 7d")
    return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])


def add_parsers(sub: Any, with_config: Any) -> None:
    """Add ``status`` and ``dead-letters`` to the command line."""
    p = sub.add_parser("status", help="what the state file holds: journal, owed operations, dead letters")
    with_config(p)
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    p = sub.add_parser(
        "dead-letters",
        help="list, show, retry or purge what could not be processed",
        description="Dead letters: inputs and operations the connector gave up on, with the reason. "
        "'retry' puts each item back once (the daemon, or 'once', processes it); 'purge' deletes letters.",
    )
    p.add_argument("action", nargs="?", choices=ACTIONS, default="list", help="what to do (default: list)")
    p.add_argument("ids", nargs="*", type=int, help="dead-letter numbers (#N of the list); none: every match")
    with_config(p)
    p.add_argument("--kind", choices=["intake", "rule", "outbox"], help="only letters of this kind")
    p.add_argument("--source", help="only letters of this source (or outbox target, e.g. backend)")
    p.add_argument("--reason", help="only letters whose reason contains this text (any case)")
    p.add_argument("--older-than", type=parse_age, metavar="AGE", help="only letters older than AGE (30m, 2h, 7d)")
    p.add_argument("--newer-than", type=parse_age, metavar="AGE", help="only letters newer than AGE")
    p.add_argument("--all", action="store_true", help="purge: every letter (when no id or filter is given)")
    p.add_argument("--json", action="store_true", help="list/show: JSON instead of text")


def _selected(store: Store, args: argparse.Namespace, now: datetime) -> list[DeadLetter]:
    letters = store.dead_letter_rows()
    if args.ids:
        wanted = set(args.ids)
        letters = [x for x in letters if x.id in wanted]
    if args.kind:
        letters = [x for x in letters if x.kind == args.kind]
    if args.source:
        letters = [x for x in letters if x.source == args.source]
    if args.reason:
        needle = args.reason.casefold()
        letters = [x for x in letters if needle in x.reason.casefold()]
    if args.older_than is not None:
        letters = [x for x in letters if now - x.created_at > args.older_than]
    if args.newer_than is not None:
        letters = [x for x in letters if now - x.created_at <= args.newer_than]
    return letters


def _filtered(args: argparse.Namespace) -> bool:
    return bool(args.ids or args.kind or args.source or args.reason or args.older_than is not None or args.newer_than)


def _line(letter: DeadLetter) -> str:
    reason = " ".join(letter.reason.split())  # one line per letter, whatever the reason holds
    return (
        f"#{letter.id} {letter.created_at.isoformat(timespec='seconds')} {letter.kind} "
        f"{letter.source or '-'} {letter.ref or '-'}: {reason!s}"
    )


def run_dead_letters(
    args: argparse.Namespace, state: Path | StateTarget, out: TextIO | None = None, clock: Clock | None = None
) -> int:
    """The ``dead-letters`` command; returns the exit code (1: an id not found or a retry refused)."""
    out = out or sys.stdout  # read at the call: a test may have replaced it
    now = (clock or SystemClock()).now()
    store = open_store(state)
    try:
        letters = _selected(store, args, now)
        missing = [i for i in args.ids if store.dead_letter_by_id(i) is None]
        for letter_id in missing:
            print(f"dead-letters: no dead letter #{letter_id}", file=sys.stderr)
        if args.action == "list":
            if args.json:
                json.dump([_summary(x) for x in letters], out, ensure_ascii=False, indent=2)
                out.write("\n")
            else:
                for letter in letters:
                    print(_line(letter), file=out)
                print(f"{len(letters)} dead letter(s)", file=sys.stderr)
            return 1 if missing else 0
        if args.action == "show":
            if args.json:
                json.dump([x.as_dict() for x in letters], out, ensure_ascii=False, indent=2)
                out.write("\n")
            else:
                for letter in letters:
                    print(_line(letter), file=out)
                    print(_payload(letter.payload), file=out)
            return 1 if missing else 0
        if args.action == "retry":
            return _retry(store, letters, now, out) or (1 if missing else 0)
        if not _filtered(args) and not args.all:
            print("dead-letters purge: give ids or a filter, or --all to delete every letter", file=sys.stderr)
            return 2
        with store.transaction():
            count = store.purge_dead_letters([x.id for x in letters])
        print(f"purged {count} dead letter(s)", file=out)
        return 1 if missing else 0
    finally:
        store.close()


def _retry(store: Store, letters: list[DeadLetter], now: datetime, out: TextIO) -> int:
    refused = 0
    for letter in letters:
        try:
            with store.transaction():  # the item back and the letter gone: both or neither
                what = store.retry_dead_letter(letter, now)
        except RetryRefused as exc:
            refused += 1
            print(f"dead-letters retry: {exc}", file=sys.stderr)
            continue
        print(f"retried #{letter.id}: {what} is pending again", file=out)
    if letters and refused < len(letters):
        print("the running daemon takes them at its next poll or drain (or run: itsm-connector once)", file=out)
    return 1 if refused else 0


def _summary(letter: DeadLetter) -> dict[str, Any]:
    data = letter.as_dict()
    data.pop("payload")
    return data


def _payload(payload: str | None) -> str:
    if payload is None:
        return "  (no payload)"
    try:
        text = json.dumps(json.loads(payload), ensure_ascii=False, indent=2)
    except ValueError:
        text = payload
    return "\n".join("  " + line for line in text.splitlines())


def status_data(store: Store, state: Path | StateTarget, now: datetime) -> dict[str, Any]:
    """What ``status`` shows, as one JSON-able object."""
    depth, oldest = store.outbox_backlog()
    pending = [
        {
            "id": row["id"],
            "op": row["op"],
            "target": row["target"],
            "ticket_key": row["ticket_key"],
            "attempts": row["attempts"],
            "next_try_at": row["next_try_at"],
            "last_error": row["last_error"],
        }
        for row in store.outbox_rows("pending")
    ]
    letters = store.dead_letter_rows()
    by_kind: dict[str, int] = {}
    for letter in letters:
        by_kind[letter.kind] = by_kind.get(letter.kind, 0) + 1
    return {
        "state": str(state),
        "schema": store.schema_version,
        "journal": store.journal_counts(),
        "outbox": {
            "counts": store.outbox_counts(),
            "pending": depth,
            "oldest_pending_age_seconds": round((now - oldest).total_seconds()) if oldest is not None else None,
            "owed": pending,
        },
        "dead_letters": {"total": len(letters), "by_kind": by_kind},
        # alerts held in maintenance (maintenance.yaml): still held, recovered while held, opened after
        "maintenance": store.hold_counts(),
        # how big the state file is (retention: docs/operations.md): rows per table, bytes on disk
        "sizes": {"rows": store.table_rows(), **file_sizes(state)},
    }


def file_sizes(state: Path | StateTarget) -> dict[str, int | None]:
    """The state file's bytes and its write-ahead log's (``None``: no such file — a PostgreSQL
    store has none; its rows are the measure)."""
    sizes: dict[str, int | None] = {"file_bytes": None, "wal_bytes": None}
    if isinstance(state, StateTarget):
        if state.engine != "sqlite" or state.location == ":memory:":
            return sizes
        state = Path(state.location)
    for key, path in (("file_bytes", state), ("wal_bytes", Path(f"{state}-wal"))):
        try:
            sizes[key] = path.stat().st_size
        except OSError:
            sizes[key] = None
    return sizes


def run_status(
    args: argparse.Namespace, state: Path | StateTarget, out: TextIO | None = None, clock: Clock | None = None
) -> int:
    """The ``status`` command: a table, or ``--json``."""
    out = out or sys.stdout
    now = (clock or SystemClock()).now()
    store = open_store(state)
    try:
        data = status_data(store, state, now)
    finally:
        store.close()
    if args.json:
        json.dump(data, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return 0
    journal, outbox, dead = data["journal"], data["outbox"], data["dead_letters"]
    rows = [
        ("state file", f"{data['state']} (schema {data['schema']})"),
        ("journal", _counts(journal)),
        ("outbox", _counts(outbox["counts"])),
        ("owed now", str(outbox["pending"])),
        ("oldest owed", _age(outbox["oldest_pending_age_seconds"])),
        ("dead letters", f"{dead['total']}" + (f" ({_counts(dead['by_kind'])})" if dead["total"] else "")),
        ("maintenance", _counts(data["maintenance"])),  # alerts held, then recovered or opened
        ("table rows", _counts(data["sizes"]["rows"])),
        ("file size", _bytes(data["sizes"]["file_bytes"]) + _wal(data["sizes"]["wal_bytes"])),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}", file=out)
    if outbox["owed"]:
        print("", file=out)
        header = ("#", "operation", "target", "ticket", "attempts", "next try", "last error")
        table = [
            (
                str(o["id"]),
                o["op"],
                o["target"],
                o["ticket_key"] or "-",
                str(o["attempts"]),
                o["next_try_at"][:19],
                " ".join((o["last_error"] or "-").split())[:80],
            )
            for o in outbox["owed"]
        ]
        widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
        for row in (header, *table):
            print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip(), file=out)
    if dead["total"]:
        print("\nsee them: itsm-connector dead-letters list --config …", file=out)
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "empty"


def _bytes(size: int | None) -> str:
    if size is None:
        return "-"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _wal(size: int | None) -> str:
    return f" (+ {_bytes(size)} write-ahead log)" if size else ""


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"
