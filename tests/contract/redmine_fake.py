"""A small stateful Redmine 5 on ``responses`` for counting what the connector asks and writes.

It keeps issues and journals, answers create (201 with the issue as saved), update (204, one
journal per PUT), show (``include=journals`` / ``allowed_statuses``), the project listing
(``updated_on>=``, id order, pages) and relations, with ``updated_on`` and the HTTP ``Date``
header on the injected ``FakeClock`` (whole seconds, as Redmine). A person's change is a
journal by another user (``person_changes``). Lookups are the recorded ones of
``test_redmine_contract``; people those of ``test_redmine_history``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from connector.domain.clock import FakeClock
from tests.contract.test_redmine_contract import STATUSES, TRACKERS, URL, mock_lookups
from tests.contract.test_redmine_history import mock_people

CONNECTOR_ID = 5
_ISSUE = re.compile(re.escape(URL) + r"/issues/(\d+)\.json")
_RELATIONS = re.compile(re.escape(URL) + r"/issues/(\d+)/relations\.json")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class RedmineFake:
    """Issues and journals in memory; every request is in ``rsps.calls``."""

    def __init__(self, rsps: responses.RequestsMock, clock: FakeClock, *, dates: bool = True) -> None:
        """``dates=False``: no HTTP ``Date`` header, as Redmine's own ``thin`` server answers."""
        self.rsps = rsps
        self.clock = clock
        self.dates = dates
        self.issues: dict[int, dict[str, Any]] = {}
        self.journals: dict[int, list[dict[str, Any]]] = {}
        mock_lookups(rsps)
        mock_people(rsps)
        rsps.add_callback("POST", f"{URL}/issues.json", self._create)
        rsps.add_callback("GET", f"{URL}/issues.json", self._list)
        rsps.add_callback("PUT", _ISSUE, self._update)
        rsps.add_callback("GET", _ISSUE, self._show)
        rsps.add_callback("POST", _RELATIONS, self._relate)

    # --- what tests look at -------------------------------------------------------------------

    def count(self, method: str, path: str, include: str | None = None) -> int:
        """Requests made so far with this method and path (and ``include`` query, if given)."""
        found = 0
        for call in self.rsps.calls:
            parts = urlsplit(call.request.url)
            if call.request.method != method or parts.path != path:
                continue
            if include is not None and parse_qs(parts.query).get("include") != [include]:
                continue
            found += 1
        return found

    def writes(self) -> int:
        """POST and PUT requests so far (what a storm costs the helpdesk in writes)."""
        return sum(1 for call in self.rsps.calls if call.request.method in ("POST", "PUT"))

    def person_changes(self, issue_id: int, *, status_id: int | None = None, user: int = 21) -> None:
        """Someone else (``test_redmine_history.DESK`` by default) changes the issue now."""
        issue = self.issues[issue_id]
        details = []
        if status_id is not None:
            details.append(
                {
                    "property": "attr",
                    "name": "status_id",
                    "old_value": str(issue["status"]["id"]),
                    "new_value": str(status_id),
                }
            )
            issue["status"] = next(s for s in STATUSES if s["id"] == status_id)
        self._journal(issue, user, "", details)

    # --- the API ------------------------------------------------------------------------------

    def _answer(self, status: int, body: Any = None) -> tuple[int, dict[str, str], str]:
        headers = {"Date": format_datetime(self.clock.now().astimezone(UTC), usegmt=True)} if self.dates else {}
        return status, headers, "" if body is None else json.dumps(body)

    def _journal(self, issue: dict[str, Any], user: int, notes: str, details: list[dict[str, Any]]) -> None:
        entries = self.journals.setdefault(issue["id"], [])
        name = "Connector" if user == CONNECTOR_ID else "值班 服务台"
        entries.append(
            {
                "id": 1000 + sum(len(j) for j in self.journals.values()),
                "user": {"id": user, "name": name},
                "notes": notes,
                "created_on": _iso(self.clock.now()),
                "private_notes": False,
                "details": details,
            }
        )
        issue["updated_on"] = _iso(self.clock.now())

    def _create(self, request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)["issue"]
        number = len(self.issues) + 1
        now = _iso(self.clock.now())
        issue = {
            "id": number,
            "project": {"id": 7, "name": "Operations"},
            "tracker": next(t for t in TRACKERS if t["id"] == sent.get("tracker_id", 3)),
            "status": STATUSES[0],
            "priority": {"id": sent.get("priority_id", 2), "name": "?"},
            "author": {"id": CONNECTOR_ID, "name": "Connector"},
            "subject": sent.get("subject", ""),
            "description": sent.get("description", ""),
            "custom_fields": [
                {"id": cf["id"], "name": str(cf["id"]), "value": cf["value"]} for cf in sent["custom_fields"]
            ],
            "created_on": now,
            "updated_on": now,
            "closed_on": None,
        }
        self.issues[number] = issue
        return self._answer(201, {"issue": issue})

    def _update(self, request: Any) -> tuple[int, dict[str, str], str]:
        issue = self.issues[int(_ISSUE.match(request.url.split("?")[0]).group(1))]  # type: ignore[union-attr]
        sent = json.loads(request.body)["issue"]
        details = []
        if "status_id" in sent:
            old = issue["status"]["id"]
            issue["status"] = next(s for s in STATUSES if s["id"] == sent["status_id"])
            details.append(
                {"property": "attr", "name": "status_id", "old_value": str(old), "new_value": str(sent["status_id"])}
            )
        for cf in sent.get("custom_fields", []):
            for mine in issue["custom_fields"]:
                if mine["id"] == cf["id"]:
                    details.append(
                        {"property": "cf", "name": str(cf["id"]), "old_value": mine["value"], "new_value": cf["value"]}
                    )
                    mine["value"] = cf["value"]
        self._journal(issue, CONNECTOR_ID, sent.get("notes", ""), details)
        return self._answer(204)

    def _show(self, request: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        issue = dict(self.issues[int(_ISSUE.match(URL + parts.path).group(1))])  # type: ignore[union-attr]
        include = parse_qs(parts.query).get("include", [""])[0].split(",")
        if "journals" in include:
            issue["journals"] = self.journals.get(issue["id"], [])
        if "allowed_statuses" in include:
            issue["allowed_statuses"] = STATUSES
        return self._answer(200, {"issue": issue})

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        floor = params.get("updated_on", ">=1970-01-01T00:00:00Z")[2:]
        found = [i for _, i in sorted(self.issues.items()) if i["updated_on"] >= floor]
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 25))
        return self._answer(
            200, {"issues": found[offset : offset + limit], "total_count": len(found), "offset": offset, "limit": limit}
        )

    def _relate(self, request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)["relation"]
        number = int(_RELATIONS.match(request.url).group(1))  # type: ignore[union-attr]
        relation = {"id": 1, "issue_id": number, **sent}
        return self._answer(201, {"relation": relation})
