"""What makes two reports "the same" (``rules/dedup.yaml``: ``fingerprint`` and ``symptom``).

A fingerprint is computed from the *classified* ticket (so a rule that names the service of an
e-mail makes two reports about that system comparable), the alert's tags and its kind of source.
Reports of different kinds never share a fingerprint. A report that lacks one of its fields
(no CI, no service) gets none: it can be neither a duplicate nor a recurrence.
"""

from __future__ import annotations

__all__ = ["FINGERPRINT_FIELDS", "Fingerprinter", "SymptomNormaliser"]

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from connector.domain.models import Alert, Ticket, TicketSource

#: the ticket fields a fingerprint may name (besides ``symptom``, ``source`` and ``tag:NAME``)
FINGERPRINT_FIELDS = (
    "ci",
    "service",
    "title",
    "category",
    "area",
    "subarea",
    "nature",
    "assignment_group",
    "location",
    "reporter",
)
#: how many titles ``SymptomNormaliser`` (and fingerprint texts ``Fingerprinter``) remember
_SEEN_TITLES = 4096


@dataclass(frozen=True)
class SymptomNormaliser:
    """Title → symptom: lower-cased, each pattern replaced in order, blanks collapsed."""

    replacements: Sequence[tuple[re.Pattern[str], str]] = ()
    #: titles normalised lately: the pipeline asks twice per alert (fingerprint, storm key) and a
    #: repeat or recovery has its problem's title again
    _seen: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __call__(self, title: str) -> str:
        found = self._seen.get(title)
        if found is None:
            if len(self._seen) >= _SEEN_TITLES:  # bounded whatever the sources send
                self._seen.clear()
            found = self._seen[title] = self._normalise(title)
        return found

    def _normalise(self, title: str) -> str:
        text = title.casefold()
        for pattern, replacement in self.replacements:
            text = pattern.sub(replacement, text)
        # ``\s+`` → " " and strip: str.split() splits on exactly the characters ``\s`` matches
        return " ".join(text.split())


@dataclass(frozen=True)
class Fingerprinter:
    """The fingerprint fields per kind of source, overridden per source name."""

    by_kind: Mapping[TicketSource, Sequence[str]]
    by_source: Mapping[str, Sequence[str]]
    symptom: SymptomNormaliser
    #: digests of recent fingerprint texts
    _digests: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def fields_for(self, source: str, kind: TicketSource) -> Sequence[str]:
        """The fields that identify a report of this source."""
        fields = self.by_source.get(source)
        return fields if fields is not None else self.by_kind.get(kind, ())

    def parts(self, alert: Alert, ticket: Ticket) -> list[tuple[str, str]] | None:
        """(field, value) pairs of the fingerprint; ``None`` when a field has no value."""
        fields = self.fields_for(alert.source, ticket.source)
        if not fields:
            return None
        out = []
        for name in fields:
            if name == "symptom":
                # the source's own symptom (a Zabbix trigger) is exact; a title is normalised
                value: str | None = alert.symptom if alert.symptom is not None else self.symptom(alert.title)
            elif name == "source":
                value = alert.source
            elif name.startswith("tag:"):
                value = alert.tags.get(name[4:])
            else:
                raw = getattr(ticket, name)
                value = None if raw is None else str(raw)
            if value is None or not value.strip():
                return None
            out.append((name, value.strip()))
        return out

    def __call__(self, alert: Alert, ticket: Ticket) -> str | None:
        """A short stable digest of the kind and the field values, or ``None``."""
        parts = self.parts(alert, ticket)
        if parts is None:
            return None
        text = "\x1f".join([ticket.source.value, *[f"{k}={v}" for k, v in parts]])
        found = self._digests.get(text)
        if found is None:  # a problem's repeats and recovery have its fingerprint again
            if len(self._digests) >= _SEEN_TITLES:
                self._digests.clear()
            found = self._digests[text] = hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()
        return found
