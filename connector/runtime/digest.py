"""The daily digest of closed records still unverified (seed §3.1.3.10.2: the duty-group leader
verifies closed records).

Once a day, at ``lifecycle.yaml``'s ``verification.digest_hour`` in the reports' time zone, the
holders of ``verification.roles`` get one e-mail listing every closed ticket of the ledger that no
leader has verified yet (oldest close first), so a record nobody looked at does not stay
unverified unnoticed. Sent once per local day (a state-file cursor): a restart or an hourly run
does not send it twice; a day with nothing unverified sends nothing.
"""

from __future__ import annotations

__all__ = ["VerificationDigest"]

import html
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import Clock, isoformat, parse_time
from connector.kpi.periods import zone
from connector.notify.settings import Notifications
from connector.rules.people_files import VerificationModel
from connector.state.store import Store

log = logging.getLogger("connector.runtime.digest")


@dataclass
class VerificationDigest:
    """Mails the duty-group leaders the closed records still unverified, once a day."""

    store: Store
    clock: Clock
    notifications: Notifications | None
    rules: VerificationModel
    timezone: str

    def unverified(self) -> list[dict[str, object]]:
        """The closed records no leader has verified, oldest close first."""
        rows = [t for t in self.store.all_tickets() if t["status"] == "closed" and not t["verified_at"]]
        return sorted(rows, key=lambda t: str(t["closed_at"] or ""))

    def run(self) -> int:
        """Send today's digest if its hour has come and it was not sent; how many records it listed."""
        now = self.clock.now()
        local = now.astimezone(zone(self.timezone))
        if local.hour < self.rules.digest_hour:
            return 0
        cursor = f"verification-digest:{local.date().isoformat()}"
        if self.store.get_cursor(cursor) is not None:
            return 0
        records = self.unverified()
        if records:
            self._mail(records, local)
        with self.store.transaction():
            self.store.set_cursor(cursor, isoformat(now), now)
        return len(records)

    def _mail(self, records: list[dict[str, object]], local: datetime) -> None:
        kit = self.notifications
        if kit is None:
            return
        channel = next((c for c in kit.channels.values() if c.address == "email"), None)
        people = kit.directory.people.people
        holders = sorted({pid for role in self.rules.roles for pid in kit.directory.holders(role)})
        recipients = [Recipient(pid, people[pid].name, people[pid].email or "") for pid in holders if people[pid].email]
        if channel is None or not recipients:
            log.warning(
                "verification digest: nobody to mail it to (no e-mail channel, no holder of %s)", self.rules.roles
            )
            return
        subject = f"待核查事件记录 {len(records)} closed records awaiting verification ({local.date().isoformat()})"
        lines = [
            f"#{r['ticket_id'] or '-'}  P{r['priority'] or '-'}  closed {_local(r['closed_at'], local)}  {_title(r)}"
            for r in records
        ]
        text = subject + "\n\n" + "\n".join(lines) + "\n"
        message = OutgoingMessage(
            subject=subject,
            text=text,
            html="<pre>" + html.escape(text) + "</pre>",  # titles are untrusted data
            markdown=text,
            short=subject,
            ticket_key="verification-digest",
            data={"kind": "verification_digest", "records": [str(r["key"]) for r in records]},
        )
        channel.notifier.send(message, recipients)


def _local(value: object, like: datetime) -> str:
    return parse_time(str(value)).astimezone(like.tzinfo).strftime("%Y-%m-%d %H:%M") if value else "-"


def _title(row: dict[str, object]) -> str:
    """The record's title on one line (the ledger keeps the content as JSON)."""
    content = json.loads(str(row["content"])) if row.get("content") else {}
    title = str(content.get("title") or row["key"])
    return " ".join(title.split())[:120]
