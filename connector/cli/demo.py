"""``itsm-connector demo``: the whole pipeline on a bundled sample, with no server and no network.

The sample (``connector/data/demo_alerts.jsonl``) is a night of a metro operator's alerts:
repeats, a storm on the core switch (a master, its duplicates, then counted notes), a problem
that recurs after its fix was closed by the desk (a ``close`` control line, applied as the
sync-back applies a close it reads; recurrence is of a closed incident, PROCESS §10),
recoveries, an e-mail report and one broken line. Each
line is processed at its own time on a fake clock, so the output is the same on every run.
"""

from __future__ import annotations

__all__ = ["replay_into", "run_demo"]

import tempfile
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import pluggy

from connector.contracts.adapters import Rejected
from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import FakeClock
from connector.domain.models import Alert, ClosureCode, Priority, TicketStatus, ticket_key_for
from connector.integrations.replay import Control, read_lines
from connector.plugins.local import LocalBackend
from connector.process.lifecycle import Event, EventKind
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from connector.state.store import open_store
from connector.util.setup_report import display_width


def sample_path() -> Path:
    """The bundled sample file."""
    return Path(str(resources.files("connector") / "data" / "demo_alerts.jsonl"))


def replay_into(engine: Engine, clock: FakeClock, items: Iterable[Alert | Control | Rejected]) -> None:
    """Feed items one at a time, each at its own time: intake, decide, deliver."""
    for item in items:
        if isinstance(item, Alert):
            clock.set(item.recovered_at or item.occurred_at)
            engine.ingest(item.source, [item])
        elif isinstance(item, Rejected):
            engine.ingest(item.source, [item])
        else:
            clock.set(item.at)
            _act(engine, item)
        engine.process_pending()
        engine.drain_outbox()


def _act(engine: Engine, control: Control) -> None:
    """A ``close`` control line: the desk closes the ticket in the helpdesk, and the sync-back
    applies the close it reads there (the ledger, the closure code); other control lines only
    move the clock."""
    if control.type != "close":
        return
    key = ticket_key_for(str(control.data.get("source") or "demo"), control.external_id)
    state = engine.store.get(key)
    if state is None or state.ticket_id is None:
        return
    code = ClosureCode(str(control.data.get("closure_code") or ClosureCode.SUCCESS.value))
    engine.backend.update_ticket(state.ticket_id, {"status": TicketStatus.CLOSED})
    SyncBack(engine).handle(key, Event(EventKind.CLOSE, control.at, actor=control.data.get("by"), closure_code=code))


def run_demo(out: TextIO, workdir: Path | None = None, pm: pluggy.PluginManager | None = None, lang: str = "zh") -> int:
    """Replay the sample into a local backend and print the resulting tickets; returns 0.

    ``lang`` ("zh" or "en") is the language of every label the table prints (priority, status,
    links); titles, CIs, categories and groups are the data as the rules and alerts wrote them."""
    pm = pm or build_plugin_manager()
    with tempfile.TemporaryDirectory(prefix="itsm-demo-") as tmp:
        base = workdir or Path(tmp)
        items = [item for _, item in read_lines(sample_path(), "demo")]
        first = min(i.occurred_at for i in items if isinstance(i, Alert))
        clock = FakeClock(first)
        store = open_store(base / "state.db")
        backend = LocalBackend(base / "tickets.db", clock)
        pipeline = Pipeline.from_manager(pm, default_rulebook())
        engine = Engine(store=store, backend=backend, sources={}, pipeline=pipeline, clock=clock)
        replay_into(engine, clock, items)
        tickets = backend.tickets()
        _print_table(out, tickets, lang)
        dead = store.dead_letters()
        resolved = sum(1 for t in tickets if t["status"] in (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value))
        alerts = [item for item in items if not isinstance(item, Control)]
        outcomes = Counter((o or "").split(":", 1)[0] for *_, status, o in store.journal_outcomes() if status == "done")
        repeats = len(alerts) - len(store.journal_outcomes())
        out.write(
            f"\n{len(alerts)} inputs → {len(tickets)} tickets ({resolved} resolved): "
            f"{outcomes['create']} new, {outcomes['duplicate']} duplicates linked to their master, "
            f"{outcomes['recurrence']} recurrence; {outcomes['append']} repeats counted on a master (storm guard), "
            f"{outcomes['resolve']} recoveries, {repeats + outcomes['ignored']} exact repeat(s) ignored, "
            f"{len(dead)} dead-lettered\n"
        )
        for row in dead:
            out.write(f"  dead letter ({row['kind']}): {row['reason']}\n")
        store.close()
        backend.close()
    return 0


_RELATION = {"zh": {"duplicates": "重复", "relates": "复发"}, "en": {"duplicates": "duplicate of", "relates": "recurs"}}


def _cell(text: str, width: int) -> str:
    out = ""
    for ch in text:
        if display_width(out + ch) > width - 1 and display_width(text) > width:
            out += "…"
            break
        out += ch
    return out + " " * max(0, width - display_width(out))


def _print_table(out: TextIO, tickets: list[dict[str, Any]], lang: str = "zh") -> None:
    columns = [
        ("#", 4),
        ("priority", 10),
        ("status", 8),
        ("CI", 17),
        ("category", 22),
        ("group", 12),
        ("title", 44),
        ("links/notes", 22),
    ]
    out.write(" ".join(_cell(name, width) for name, width in columns).rstrip() + "\n")
    out.write(" ".join("-" * (width - 1) + " " for _, width in columns).rstrip() + "\n")
    for t in tickets:
        priority = Priority(t["priority"])
        status = TicketStatus(t["status"])
        links = ", ".join(f"{_RELATION[lang].get(rel, rel)} #{other}" for rel, other in t["relations"])
        extra = links or (f"{len(t['notes'])} note(s)" if t["notes"] else "")
        category = "/".join(part for part in (t.get("category"), t.get("area")) if part) or "-"
        row = [
            str(t["id"]),
            f"P{int(priority)} {priority.label(lang)}",
            status.label(lang),
            t.get("ci") or "-",
            category,
            t.get("assignment_group") or "-",
            t["title"],
            extra,
        ]
        out.write(" ".join(_cell(value, width) for value, (_, width) in zip(row, columns, strict=True)).rstrip() + "\n")
