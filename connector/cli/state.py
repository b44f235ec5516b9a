"""``itsm-connector state migrate|check``: the state store's schema, by hand.

The daemon migrates the store when it opens it, so neither is needed for a normal upgrade; they
are for an operator who wants to know first or do it at a chosen moment (a PostgreSQL store
shared by several daemons: migrate once, then restart them). ``migrate`` brings the store to
the latest version and prints from → to (``--dry-run`` lists the statements it would run, in the
engine's own dialect, and changes nothing). ``check`` connects without changing anything and
reports the engine, the version, the pending migrations and the rows per table; it exits 1 when
the store cannot be reached or is behind (or ahead of) this connector, so a deployment script
can stop there. Messages name the file or the server, never a password.
"""

from __future__ import annotations

__all__ = ["add_actions", "run_state"]

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from connector.domain.errors import StoreError
from connector.state.schema import MIGRATIONS
from connector.state.store import StateTarget, Store, open_store


def add_actions(actions: Any, with_config: Any) -> None:
    """Add ``migrate`` and ``check`` to the ``state`` command's actions (``cli.prune`` makes the
    command and its ``prune``)."""
    migrate = actions.add_parser(
        "migrate",
        help="bring the state store to the latest schema now (prints from -> to)",
        description="Bring the state store to the latest schema (prints from -> to; --dry-run lists the "
        "statements in the store's dialect and changes nothing).",
    )
    with_config(migrate)
    migrate.add_argument("--dry-run", action="store_true", help="list the statements, change nothing")
    check = actions.add_parser(
        "check",
        help="connect and report engine, schema version, pending migrations and rows per table",
        description="Connect and report engine, version, pending migrations and table sizes; exit 1 when "
        "unreachable or behind.",
    )
    with_config(check)


def run_state(args: argparse.Namespace, state: Path | StateTarget, out: TextIO | None = None) -> int:
    """The ``state`` command; returns the exit code."""
    out = out or sys.stdout
    try:
        store = open_store(state, migrate=False)
    except StoreError as exc:
        print(f"state {args.state_action}: {exc}", file=sys.stderr)
        return 1
    try:
        if args.state_action == "migrate":
            return _migrate(store, bool(getattr(args, "dry_run", False)), out)
        return _check(store, out)
    except StoreError as exc:
        print(f"state {args.state_action}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _migrate(store: Store, dry_run: bool, out: TextIO) -> int:
    current, latest = store.schema_version, len(MIGRATIONS)
    if current > latest:
        print(
            f"state migrate: {store.path} is at schema {current}, newer than this connector ({latest})", file=sys.stderr
        )
        return 1
    if current == latest:
        print(f"{store.path}: schema {current}, already the latest", file=out)
        return 0
    if dry_run:
        print(f"{store.path} ({store.engine}): would migrate schema {current} -> {latest}", file=out)
        for version in range(current + 1, latest + 1):
            print(f"-- migration {version}", file=out)
            for statement in store.pending_statements(version):
                print(f"{statement};", file=out)
        return 0
    before, after = store.migrate()
    print(f"{store.path} ({store.engine}): schema {before} -> {after}", file=out)
    return 0


def _check(store: Store, out: TextIO) -> int:
    current, latest = store.schema_version, len(MIGRATIONS)
    if current < latest:
        schema = f"{current} of {latest}: {latest - current} migration(s) pending (itsm-connector state migrate)"
    elif current > latest:
        schema = f"{current}, newer than this connector ({latest}): upgrade the connector"
    else:
        schema = f"{current} (the latest)"
    sizes = store.table_sizes()
    rows = [
        ("engine", store.engine),
        ("state", store.path),
        ("schema", schema),
        ("tables", ", ".join(f"{name} {count}" for name, count in sizes.items()) or "none yet"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}", file=out)
    return 0 if current == latest else 1
