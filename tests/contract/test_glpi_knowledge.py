"""The GLPI backend's knowledge (issue 13) against the documented GLPI 10 REST API
(``glpi_knowledge_fake``): the CI as an asset linked with ``Item_Ticket`` (by name or an
inventory field, looked up once), and a KB candidate as an unpublished ``KnowbaseItem`` linked
with ``KnowbaseItem_Item`` — every create made once, also when GLPI commits and then answers 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.contracts.capabilities import BackendCapabilities
from connector.domain.clock import FakeClock
from connector.domain.errors import BackendUnavailable
from connector.domain.knowledge import KbArticle
from connector.domain.models import Ticket
from connector.integrations.glpi import GlpiBackend, GlpiSettings
from connector.integrations.glpi.settings import GlpiKnowledgeSettings
from tests.contract.glpi_fake import URL, USER_TOKEN, html_to_text, unsanitize
from tests.contract.glpi_knowledge_fake import KnowledgeGlpiFake

SQL_ERROR = ["ERROR", "Internal error: the answer was lost after the commit"]


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[KnowledgeGlpiFake]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield KnowledgeGlpiFake(rsps, clock)


def make_backend(clock: FakeClock, **knowledge: Any) -> GlpiBackend:
    settings = GlpiSettings(url=URL, user_token=SecretStr(USER_TOKEN), knowledge=GlpiKnowledgeSettings(**knowledge))
    return GlpiBackend(settings, clock=clock, session=requests.Session())


@pytest.fixture
def backend(fake: KnowledgeGlpiFake, clock: FakeClock) -> Iterator[GlpiBackend]:
    instance = make_backend(
        clock,
        kb_candidates=True,
        kb_category=7,
        ci_itemtypes=["Computer", "NetworkEquipment"],
        ci_match_fields=["name", "serial"],
    )
    yield instance
    instance.close()


def ticket_id(backend: GlpiBackend, key: str = "zabbix:1") -> str:
    ticket = Ticket(key=key, title="Disk full on web01", description="free < 5%", ci="web01")
    return backend.create_ticket(ticket).ticket_id


def article(tid: str) -> KbArticle:
    return KbArticle(
        key="zabbix:1",
        ticket_id=tid,
        title="Disk full on web01 <script>alert(1)</script>",
        ci="web01",
        category="服务器",
        symptom="free < 5% on /var",
        root_cause="log rotation was off",
        solution="Rotated the logs.\n<img src=x onerror=alert(1)>",
    )


def test_the_knowledge_capabilities_are_off_until_configured(fake: KnowledgeGlpiFake, clock: FakeClock) -> None:
    plain = make_backend(clock)
    found = BackendCapabilities.of(plain)
    assert found.knowledge_base is None and found.ci_links is None
    plain.close()


def test_the_ci_is_linked_as_its_asset_once(fake: KnowledgeGlpiFake, backend: GlpiBackend) -> None:
    other = fake.add("Computer", name="web011")
    web01 = fake.add("Computer", name="web01", serial="SN-1")
    assert other != web01
    tid = ticket_id(backend)
    assert backend.link_ci(tid, "web01") == f"Computer {web01}"
    assert backend.link_ci(tid, "web01") == f"Computer {web01}"  # a repeat: looked up, not added
    assert [(r["tickets_id"], r["itemtype"], r["items_id"]) for r in fake.item_tickets] == [
        (int(tid), "Computer", web01)
    ]
    assert fake.count("POST", "Item_Ticket/") == 1
    assert fake.count("GET", "Computer/") == 1  # the asset is cached


def test_an_inventory_field_finds_the_asset_in_the_next_type(fake: KnowledgeGlpiFake, backend: GlpiBackend) -> None:
    switch = fake.add("NetworkEquipment", name="core switch 1", serial="core-sw-01")
    tid = ticket_id(backend)
    assert backend.link_ci(tid, "core-sw-01") == f"NetworkEquipment {switch}"
    assert fake.item_tickets[0]["itemtype"] == "NetworkEquipment"


def test_a_ci_glpi_lacks_is_not_linked_and_not_asked_again_at_once(
    fake: KnowledgeGlpiFake, backend: GlpiBackend, clock: FakeClock
) -> None:
    tid = ticket_id(backend)
    assert backend.link_ci(tid, "ghost-01") is None
    asked = fake.count("GET", "Computer/")
    assert backend.link_ci(tid, "ghost-01") is None and fake.count("GET", "Computer/") == asked
    assert fake.count("POST", "Item_Ticket/") == 0


def test_an_item_ticket_committed_before_a_500_is_not_added_twice(
    fake: KnowledgeGlpiFake, backend: GlpiBackend
) -> None:
    web01 = fake.add("Computer", name="web01")
    tid = ticket_id(backend)
    fake.fail("POST", "Item_Ticket/", 500, SQL_ERROR, after=True)
    with pytest.raises(BackendUnavailable):
        backend.link_ci(tid, "web01")
    assert len(fake.item_tickets) == 1  # GLPI committed it
    assert backend.link_ci(tid, "web01") == f"Computer {web01}"  # the outbox's retry
    assert len(fake.item_tickets) == 1


def test_a_link_added_between_the_look_and_the_add_counts_as_done(
    fake: KnowledgeGlpiFake, backend: GlpiBackend
) -> None:
    web01 = fake.add("Computer", name="web01")
    tid = ticket_id(backend)
    fake.item_tickets.append({"id": 999, "tickets_id": int(tid), "itemtype": "Computer", "items_id": web01})
    fake.fail("GET", f"Ticket/{tid}/Item_Ticket", 200, [])  # the first look misses it
    assert backend.link_ci(tid, "web01") == f"Computer {web01}"  # GLPI's refusal is checked, not raised
    assert len(fake.item_tickets) == 1


def test_a_kb_candidate_is_an_unpublished_article_linked_to_its_ticket_once(
    fake: KnowledgeGlpiFake, backend: GlpiBackend
) -> None:
    tid = ticket_id(backend)
    where = backend.write_kb_candidate(article(tid))
    [(ident, row)] = fake.articles.items()
    assert where == f"KnowbaseItem {ident}"
    assert unsanitize(row["name"]).startswith(f"KB candidate #{tid}: Disk full on web01")
    assert row["is_faq"] == 0 and row["categories"] == [7]  # no target is added: unpublished
    text = html_to_text(row["answer"])
    assert "log rotation was off" in text and "<img src=x onerror=alert(1)>" in text  # shown, not markup
    assert "<img" not in unsanitize(row["answer"]) and "<script>" not in unsanitize(row["answer"])
    assert [(r["knowbaseitems_id"], r["itemtype"], r["items_id"]) for r in fake.article_items] == [
        (ident, "Ticket", int(tid))
    ]
    backend.write_kb_candidate(article(tid))  # once per ticket: found again by its name
    assert len(fake.articles) == 1 and len(fake.article_items) == 1


@pytest.mark.parametrize("path", ["KnowbaseItem/", "KnowbaseItem_Item/"])
def test_each_kb_create_committed_before_a_500_is_not_made_twice(
    fake: KnowledgeGlpiFake, backend: GlpiBackend, path: str
) -> None:
    tid = ticket_id(backend)
    fake.fail("POST", path, 500, SQL_ERROR, after=True)
    with pytest.raises(BackendUnavailable):
        backend.write_kb_candidate(article(tid))
    backend.write_kb_candidate(article(tid))  # the outbox's retry
    assert len(fake.articles) == 1 and len(fake.article_items) == 1
    assert fake.count("POST", "KnowbaseItem/") == 1 and fake.count("POST", "KnowbaseItem_Item/") == 1
