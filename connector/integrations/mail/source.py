"""``ImapSource``: unseen mail in the service desk's folders → alerts, one poll at a time.

A mail is flagged (``\\Seen``, or moved to ``processed_folder``) or quarantined only *after* the
alert it became is journaled. The source never knows when that happens, so it uses the cursor,
which the engine commits in the same transaction as the journal: the cursor of a poll lists,
per folder, the UIDs it handed over (``done``) and those to quarantine, and the *next* poll
applies those marks first, then reads the unseen mails. A crash anywhere leaves either the
old cursor (the mails are still unseen and are read again — the journal drops repeats, keyed
by Message-ID) or the new one (the marks are applied next time; applying them twice is
harmless). A UIDVALIDITY change drops the marks (the UIDs no longer mean those mails).

Per mail, nothing can stop the mails after it: a mail that cannot be parsed, or that the
server refuses to hand out, becomes a ``Rejected`` (dead letter with the reason) and goes to
the quarantine folder; only a lost connection or an unwritable spool ends the poll (retried
next cycle).
"""

from __future__ import annotations

__all__ = ["ImapSource"]

import dataclasses
import imaplib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from connector.contracts.adapters import PollResult, Rejected
from connector.domain.clock import Clock
from connector.domain.errors import SourceError, StoreError
from connector.domain.models import Alert, TicketRef
from connector.integrations.mail.imap import ImapClient, ImapRefused
from connector.integrations.mail.mapping import Ignored, MailMapper
from connector.integrations.mail.message import MalformedMail, parse_mail
from connector.integrations.mail.settings import ImapSettings
from connector.state.spool import Spool

log = logging.getLogger(__name__)

CURSOR_VERSION = 1


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


class ImapSource:
    """A ``Source`` reading one mailbox.

    :param settings: the validated ``sources[]`` section.
    :param name: the source instance name (``Alert.source``).
    :param clock: "now" for the rate limit and for mails with an implausible Date.
    :param spool: where attachments are stored before their alert is journaled.
    :param connect: builds the ``imaplib`` connection (tests inject one); default by ``security``.
    """

    #: the engine must not queue acknowledgements: replying to the sender is the notifier's job
    acknowledge_enabled = False
    on_recovery = "note"

    def __init__(
        self,
        settings: ImapSettings,
        *,
        name: str,
        clock: Clock,
        spool: Spool,
        connect: Callable[[ImapSettings], imaplib.IMAP4] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        #: what the create path does with a sender who is no helpdesk user (IM 1.1)
        self.unknown_senders = settings.unknown_senders
        self._clock = clock
        self._connect = connect
        self.mapper = MailMapper(settings, source=name, spool=spool)

    # --- Source --------------------------------------------------------------------------------

    def poll(self, cursor: str | None, open_ids: Sequence[str]) -> PollResult:
        """Apply the marks of the last poll, then read up to ``batch_limit`` unseen mails."""
        marks = self._parse_cursor(cursor)
        client = ImapClient(self.settings, source=self.name, connect=self._connect)
        client.open()
        items: list[Alert | Rejected] = []
        new_marks: dict[str, dict[str, Any]] = {}
        budget = self.settings.batch_limit
        try:
            for folder in self.settings.folders:
                previous = marks.get(folder)
                try:
                    validity = client.select(folder)
                except ImapRefused as exc:  # one missing folder must not stop the others
                    log.error("%s: folder %s cannot be read, skipped: %s", self.name, folder, exc)
                    if previous:
                        new_marks[folder] = previous
                    continue
                if previous and previous.get("uidvalidity") == validity:
                    try:
                        self._apply(client, folder, previous)
                    except ImapRefused as exc:
                        # the mails stay unseen and are read again (the journal drops the repeats),
                        # which puts their marks into this poll's cursor: the marking is retried
                        log.error("%s: cannot mark mails in %s (read-only?): %s", self.name, folder, exc)
                elif previous:
                    log.warning("%s: UIDVALIDITY of %s changed; its last marks are dropped", self.name, folder)
                done: list[int] = []
                quarantine: list[int] = []
                uids = client.unseen()[:budget] if budget > 0 else []
                budget -= len(uids)
                sizes = client.sizes(uids)
                for uid in uids:
                    if uid not in sizes:
                        continue  # deleted meanwhile
                    item, to_quarantine = self._read(client, folder, uid, sizes[uid])
                    if item is not None:
                        items.append(item)
                    (quarantine if to_quarantine else done).append(uid)
                new_marks[folder] = {"uidvalidity": validity, "done": done, "quarantine": quarantine}
        finally:
            client.close()
        cursor_out = json.dumps({"v": CURSOR_VERSION, "folders": new_marks}, sort_keys=True)
        return PollResult(items=items, cursor=cursor_out)

    def acknowledge(self, external_id: str, ref: TicketRef, message: str) -> None:
        """Nothing to acknowledge in a mailbox (replies to senders are the notifier's job)."""

    def close(self) -> None:
        """Nothing stays open between polls."""

    # --- one mail ------------------------------------------------------------------------------

    def _read(self, client: ImapClient, folder: str, uid: int, size: int) -> tuple[Alert | Rejected | None, bool]:
        """The item one mail becomes, and whether the mail goes to the quarantine."""
        too_big = size > self.settings.max_message_bytes
        try:
            data = client.fetch(uid, headers_only=too_big)
        except ImapRefused as exc:
            reason = f"the server would not hand out mail {uid} in {folder}: {exc}"
            return Rejected(self.name, None, reason, {"folder": folder, "uid": uid}), True
        if data is None:
            return None, False  # gone meanwhile: nothing to mark
        item, to_quarantine = self.convert(data, folder=folder, uid=uid, size=size)
        return (None if isinstance(item, Ignored) else item), to_quarantine

    def convert(self, data: bytes, *, folder: str, uid: int, size: int) -> tuple[Alert | Rejected | Ignored, bool]:
        """What the raw mail ``data`` becomes — an Alert, a Rejected (with whether it goes to the
        quarantine: it cannot be read), or Ignored — and never an exception, except
        ``SourceError`` when the spool cannot be written (then the whole poll must wait)."""
        where = {"folder": folder, "uid": uid}
        too_big = size > self.settings.max_message_bytes
        try:
            mail = parse_mail(data, headers_only=too_big)
            if too_big:
                limit = _size(self.settings.max_message_bytes)
                note = (
                    f"This mail is {_size(size)}, more than max_message_bytes ({limit}): only its headers "
                    f"were read; its text and attachments are in the mailbox ({folder})."
                )
                mail = dataclasses.replace(mail, notes=(*mail.notes, note))
            result = self.mapper.map(mail, now=self._clock.now(), where=where)
        except MalformedMail as exc:
            log.warning("%s: mail %s in %s → quarantine: %s", self.name, uid, folder, exc.reason)
            return Rejected(self.name, None, f"mail cannot be read: {exc.reason}", where), True
        except StoreError as exc:
            what = f"cannot store the attachments of mail {uid} in {folder}: {exc}"
            raise SourceError(what, source=self.name) from exc
        except Exception as exc:  # a parser bug on a hostile mail must not stop the mails after it
            reason = f"mail cannot be read: unexpected {type(exc).__name__}: {exc}"
            log.exception("%s: mail %s in %s → quarantine", self.name, uid, folder)
            return Rejected(self.name, None, reason[:500], where), True
        if isinstance(result, Ignored):
            log.info("%s: mail %s in %s ignored: %s", self.name, uid, folder, result.reason)
            return result, False
        if isinstance(result, Rejected):
            log.warning("%s: mail %s in %s refused: %s", self.name, uid, folder, result.reason)
            return result, False
        log.info(
            "%s: mail %s in %s from %s → %s%s",
            self.name,
            uid,
            folder,
            result.reporter,
            result.external_id,
            f" (reply to #{result.reply_to})" if result.reply_to else "",
        )
        return result, False

    # --- marks ---------------------------------------------------------------------------------

    def _apply(self, client: ImapClient, folder: str, marks: dict[str, Any]) -> None:
        done = [int(u) for u in marks.get("done", []) if str(u).isdigit()]
        quarantine = [int(u) for u in marks.get("quarantine", []) if str(u).isdigit()]
        client.mark_seen([*done, *quarantine])
        if quarantine:
            client.move(quarantine, self.settings.quarantine_folder)
            log.info(
                "%s: moved %d mail(s) from %s to %s",
                self.name,
                len(quarantine),
                folder,
                self.settings.quarantine_folder,
            )
        if done and self.settings.processed_folder:
            client.move(done, self.settings.processed_folder)

    def _parse_cursor(self, cursor: str | None) -> dict[str, dict[str, Any]]:
        if not cursor:
            return {}
        try:
            data = json.loads(cursor)
            folders = data["folders"] if isinstance(data, dict) and data.get("v") == CURSOR_VERSION else None
        except (ValueError, KeyError, TypeError):
            folders = None
        if not isinstance(folders, dict):
            # the mails are still unseen: reading them again is safe (the journal drops repeats)
            log.warning("%s: unreadable cursor %.80r ignored; unseen mails are read again", self.name, cursor)
            return {}
        return {str(k): v for k, v in folders.items() if isinstance(v, dict)}
