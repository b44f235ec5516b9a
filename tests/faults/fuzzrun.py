"""Run generated input (``fuzzgen``) through the real listeners and say what happened.

* **Webhook**: each body is POSTed over loopback to the real endpoint (``ZabbixWebhookSource``
  serving on ``http.server``, journaling into a state file through ``ThreadedJournal``), one
  connection per request as Zabbix makes them; the answer's status and the time to it are kept.
* **Mail**: each raw mail goes through ``ImapSource.convert`` — the exact path ``poll`` takes
  for every mail it fetched (parse, map, spool the attachments, or a ``Rejected``) — and then
  into the state file as the engine journals a poll's items (``Engine.ingest``). The IMAP
  protocol around it is not fuzzed here: Dovecot hands over whatever bytes the mail has.

Both return a ``Summary``: answers by kind, rejects by reason, dead letters, the slowest
answer, the resident set size (RSS) before, halfway and after, and ``problems`` (what broke a
promise: a crash, a hang, a reject without its dead letter).
"""

from __future__ import annotations

import http.client
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.contracts.adapters import Rejected
from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import SystemClock
from connector.integrations.mail.mapping import Ignored
from connector.integrations.mail.settings import ImapSettings
from connector.integrations.mail.source import ImapSource
from connector.integrations.zabbix.push import ZabbixWebhookSource
from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.intake import ThreadedJournal
from connector.state.spool import Spool
from connector.state.store import Store
from connector.util.secrets import SecretSource

__all__ = ["Summary", "rss_kib", "run_mails", "run_webhook"]

SECRET = "fuzz-secret-0123456789abcdefghij"
ANSWER_LIMIT = 1.0


def rss_kib() -> int:
    """This process's resident set now, in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _reason_kind(reason: str) -> str:
    """A reject's reason without its particulars (numbers, quoted parts), for counting."""
    head = ":".join(reason.split(": ")[:2]) if ": " in reason else reason
    head = re.sub(r"0x[0-9a-f]+", "0x…", head)
    return re.sub(r"\d+", "N", re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)", "…", head))[:90]


@dataclass
class Summary:
    """What a fuzz run saw."""

    items: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    rejects: int = 0
    dead_letters: int = 0
    max_answer_seconds: float = 0.0
    rss_kib: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "answers": dict(self.answers.most_common()),
            "rejects": self.rejects,
            "dead_letters": self.dead_letters,
            "rejected_by_reason": dict(self.rejected_by_reason.most_common()),
            "max_answer_seconds": round(self.max_answer_seconds, 4),
            "rss_kib": self.rss_kib,
            "problems": self.problems[:50],
        }


def _post(port: int, body: bytes) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        connection.request("POST", "/zabbix", body, headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def run_webhook(bodies: Iterable[bytes], folder: Path, *, limit: int) -> Summary:
    """POST every body to a real endpoint journaling into ``folder/webhook.db``."""
    state = folder / "webhook.db"
    Store(state).close()
    clock = SystemClock()
    settings = ZabbixWebhookSettings.model_validate(
        {
            "secret": SecretSource(SECRET),
            "port": 0,
            "source_name": "zabbix",
            "max_body_bytes": limit,
            "rate_limit_per_minute": 100_000,
            "rate_limit_burst": 100_000,
        }
    )
    source = ZabbixWebhookSource(settings, name="zabbix-push", clock=clock)
    journal = ThreadedJournal(state, clock)
    source.serve(journal)
    summary = Summary(rss_kib={"before": rss_kib()})
    try:
        for index, body in enumerate(bodies):
            summary.items += 1
            started = time.monotonic()
            try:
                status, text = _post(source.port, body)
            except (OSError, http.client.HTTPException) as exc:
                summary.problems.append(f"body {index}: no answer: {type(exc).__name__}: {exc}")
                continue
            took = time.monotonic() - started
            summary.max_answer_seconds = max(summary.max_answer_seconds, took)
            if took > ANSWER_LIMIT:
                summary.problems.append(f"body {index}: answered after {took:.2f}s")
            summary.answers[str(status)] += 1
            if status in (400, 422):
                summary.rejects += 1
                summary.rejected_by_reason[_reason_kind(_error_of(text))] += 1
            elif status not in (200, 503):
                summary.problems.append(f"body {index}: HTTP {status} {text[:120]}")
            if index == summary.items // 2 and "halfway" not in summary.rss_kib and index > 0:
                summary.rss_kib["halfway"] = rss_kib()
    finally:
        source.shutdown()
        journal.close()
    summary.rss_kib["after"] = rss_kib()
    _count_dead(summary, state)
    return summary


def _error_of(text: str) -> str:
    match = re.search(r'"error":\s*"((?:[^"\\]|\\.)*)"', text)
    return match.group(1) if match else text[:80]


def _count_dead(summary: Summary, state: Path) -> None:
    store = Store(state)
    try:
        dead = store.dead_letters()
    finally:
        store.close()
    summary.dead_letters = len(dead)
    if any(not row["reason"] for row in dead):
        summary.problems.append("a dead letter without its reason")
    if summary.dead_letters != summary.rejects:
        summary.problems.append(f"{summary.rejects} rejects but {summary.dead_letters} dead letters")


def run_mails(raw_mails: Iterable[bytes], folder: Path, *, size_limit: int) -> Summary:
    """Convert every mail as the IMAP source does and journal it into ``folder/mail.db``."""
    clock = SystemClock()
    settings = ImapSettings.model_validate(
        {
            "host": "imap.metro.example",
            "user": "servicedesk",
            "password": SecretSource("pw-from-env"),
            "allowed_senders": ["metro.example"],
            "max_message_bytes": size_limit,
            "rate_limit_count": 1_000_000,
        }
    )
    source = ImapSource(settings, name="mail", clock=clock, spool=Spool(folder / "spool"))
    engine = Engine(
        store=Store(folder / "mail.db"),
        backend=LocalBackend(folder / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(build_plugin_manager(), default_rulebook()),
        clock=clock,
    )
    summary = Summary(rss_kib={"before": rss_kib()})
    for uid, data in enumerate(raw_mails, start=1):
        summary.items += 1
        started = time.monotonic()
        try:
            item, _ = source.convert(data, folder="INBOX", uid=uid, size=len(data))
        except Exception as exc:  # the promise under test: convert never raises
            summary.problems.append(f"mail {uid}: {type(exc).__name__}: {exc}")
            continue
        took = time.monotonic() - started
        summary.max_answer_seconds = max(summary.max_answer_seconds, took)
        if took > ANSWER_LIMIT:
            summary.problems.append(f"mail {uid}: converted after {took:.2f}s")
        if isinstance(item, Ignored):
            summary.answers["ignored"] += 1
            continue
        if isinstance(item, Rejected):
            summary.answers["rejected"] += 1
            summary.rejects += 1
            summary.rejected_by_reason[_reason_kind(item.reason)] += 1
        else:
            summary.answers["alert"] += 1
        engine.ingest("mail", [item])
        if uid == 1 + summary.items // 2 and "halfway" not in summary.rss_kib and uid > 1:
            summary.rss_kib["halfway"] = rss_kib()
    engine.store.close()
    summary.rss_kib["after"] = rss_kib()
    _count_dead(summary, folder / "mail.db")
    return summary
