"""Classification: first match wins, ``continue`` adds, the default catches the rest, values from
the alert, levels; a rule that fails on one alert dead-letters that alert with the rule's name."""

from __future__ import annotations

import re
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.clock import FakeClock
from connector.domain.models import Alert, Impact, Priority, Ticket, TicketSource, Urgency
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.book import RuleBook
from connector.rules.loading import default_rulebook, load_rulebook
from connector.rules.quick_search import quick_search
from connector.runtime.engine import Engine
from tests.state_backend import make_store


def book(tmp_path: Path, rules: str) -> RuleBook:
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    (directory / "classification.yaml").write_text(textwrap.dedent(rules).lstrip("\n"), encoding="utf-8")
    return load_rulebook(directory)


def make(now: datetime, **fields: Any) -> Alert:
    values: dict[str, Any] = {"source": "zabbix", "external_id": "1", "title": "Disk full", "occurred_at": now}
    values.update(fields)
    return Alert.model_validate(values)


def classify(pm: pluggy.PluginManager, rules: RuleBook, alert: Alert, now: datetime) -> Ticket:
    decision = Pipeline.from_manager(pm, rules).decide(alert, make_store(":memory:"), now)
    assert decision.ticket is not None
    return decision.ticket


RULES = """
rules:
  - id: login
    match: {text: 'log ?in|登录'}
    set: {nature: 访问/登录失败}
    continue: true
  - id: afc
    match: {host_groups: 'Metro/AFC*', severity: {min: 4, max: 5}}
    set: {category: 应用系统, area: 票务管理系统, assignment_group: afc-team, nature: 失败/系统故障}
  - id: afc-any
    match: {host_groups: 'Metro/AFC*'}
    set: {category: 应用系统, area: 票务管理系统, assignment_group: afc-low}
  - id: tagged
    match: {tags: {service: null}, source: [zabbix, zabbix-dr]}
    set: {service: {from: 'tag:service'}, location: {from: 'tag:room', default: 机房}, impact: {from: 'tag:impact'}}
  - id: vip
    match: {origin: user_report, sender: '^boss@'}
    set: {level: vip}
  - id: default
    set: {category: 其他, assignment_group: desk}
"""


def test_first_match_wins_and_continue_adds_without_overriding(
    tmp_path: Path, pm: pluggy.PluginManager, clock: FakeClock
) -> None:
    rules = book(tmp_path, RULES)
    high = classify(
        pm, rules, make(clock.now(), host_groups=("Metro/AFC",), severity=4, title="login fails"), clock.now()
    )
    assert (high.category, high.area, high.assignment_group) == ("应用系统", "票务管理系统", "afc-team")
    assert high.nature == "访问/登录失败"  # set first by the continuing rule; afc's own nature is not taken
    assert high.rule == "login+afc"
    low = classify(pm, rules, make(clock.now(), host_groups=("Metro/AFC-gates",), severity=2), clock.now())
    assert (low.assignment_group, low.rule) == ("afc-low", "afc-any")
    other = classify(pm, rules, make(clock.now(), host_groups=("Linux servers",)), clock.now())
    assert (other.category, other.assignment_group, other.rule) == ("其他", "desk", "default")


def test_values_from_the_alert_with_defaults(tmp_path: Path, pm: pluggy.PluginManager, clock: FakeClock) -> None:
    rules = book(tmp_path, RULES)
    ticket = classify(pm, rules, make(clock.now(), tags={"service": "票务管理系统", "impact": "1"}), clock.now())
    assert (ticket.service, ticket.location, ticket.impact) == ("票务管理系统", "机房", Impact.VERY_IMPORTANT)
    assert ticket.priority_reason is not None and "rule tagged" in ticket.priority_reason


def test_a_level_sets_impact_and_urgency(tmp_path: Path, pm: pluggy.PluginManager, clock: FakeClock) -> None:
    rules = book(tmp_path, RULES)
    alert = make(clock.now(), source="mail", origin=TicketSource.USER_REPORT, reporter="boss@metro.example")
    ticket = classify(pm, rules, alert, clock.now())
    assert (ticket.impact, ticket.urgency, ticket.priority) == (
        Impact.VERY_IMPORTANT,
        Urgency.VERY_URGENT,
        Priority.HIGHEST,
    )


def test_a_rule_that_fails_on_one_alert_dead_letters_it_with_the_rules_name(
    tmp_path: Path, pm: pluggy.PluginManager, clock: FakeClock
) -> None:
    engine = Engine(
        store=make_store(tmp_path / "s.db"),
        backend=LocalBackend(tmp_path / "t.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(pm, book(tmp_path, RULES)),
        clock=clock,
    )
    bad = make(clock.now(), external_id="1", tags={"service": "x", "impact": "high"})
    good = make(clock.now(), external_id="2", ci="other", tags={"service": "y", "impact": "2"})
    engine.ingest("zabbix", [bad, good])
    engine.process_pending()
    engine.drain_outbox()
    (dead,) = engine.store.dead_letters()
    assert dead["kind"] == "rule" and dead["ref"] == "zabbix:1"
    assert dead["reason"] == (
        "rule 'classification:tagged' failed on alert 'zabbix:1': "
        "impact 'high' is not 1–4 (classification.yaml line 12)"
    )
    assert [t["key"] for t in engine.backend.tickets()] == ["zabbix:2"]  # type: ignore[attr-defined]


def test_a_category_taken_from_the_alert_that_the_taxonomy_lacks_is_left_unset(
    tmp_path: Path, pm: pluggy.PluginManager, clock: FakeClock
) -> None:
    rules = book(
        tmp_path,
        """
        rules:
          - id: app
            match: {tags: {service: null}}
            set: {category: 应用系统, area: {from: 'tag:service'}}
          - id: default
            set: {category: 其他}
        """,
    )
    known = classify(pm, rules, make(clock.now(), tags={"service": "GIS系统"}), clock.now())
    assert (known.category, known.area) == ("应用系统", "GIS系统")
    unknown = classify(pm, rules, make(clock.now(), tags={"service": "咖啡机"}), clock.now())
    assert (unknown.category, unknown.area) == ("应用系统", None)


# --- the shipped rules on the kinds of alert a metro operator sees ----------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {
                "title": "Interface Gi1/0/1 down",
                "ci": "core-sw01",
                "host_groups": ["Metro/Network core"],
                "severity": 5,
            },
            ("网络", None, "失败/系统故障", "网络组", Priority.HIGHEST),
        ),
        (
            {"title": "MySQL replication lag > 300s", "ci": "afc-db01", "host_groups": ["Metro/AFC"], "severity": 4},
            ("应用系统", "票务管理系统", "性能/性能降低", "票务系统组", Priority.HIGH),
        ),
        (
            {"title": "Disk /var used > 90%", "ci": "oa-web01", "host_groups": ["Metro/OA"], "severity": 2},
            ("应用系统", "办公自动化系统(新)", "数据/超过存储限制", "应用支持组", Priority.LOW),
        ),
        (
            {
                "title": "Nightly backup job 'finance-db' failed",
                "ci": "nas",
                "host_groups": ["Metro/Storage"],
                "severity": 3,
            },
            ("存储和备份系统", None, "失败/作业失败", "存储组", Priority.MEDIUM),
        ),
        (
            {"title": "财务系统无法登录", "source": "email", "reporter": "zw@metro.example"},
            ("应用系统", "财务管理系统", "访问/登录失败", "应用支持组", Priority.MEDIUM),
        ),
        (
            {"title": "打印机卡纸，无法打印", "source": "email", "reporter": "li@metro.example"},
            ("桌面终端", None, "硬件/硬件故障", "桌面支持组", Priority.LOW),
        ),
        (
            {"title": "电脑中了勒索病毒", "source": "email", "reporter": "li@metro.example"},
            ("桌面终端", None, "安全/病毒警报", "桌面支持组", Priority.HIGH),
        ),
        ({"title": "something odd", "ci": "x"}, ("其他", None, None, "服务台", Priority.MEDIUM)),
    ],
)
def test_shipped_rules(
    fields: dict[str, Any], expected: tuple[Any, ...], pm: pluggy.PluginManager, clock: FakeClock
) -> None:
    ticket = classify(pm, default_rulebook(), make(clock.now(), **fields), clock.now())
    assert (ticket.category, ticket.area, ticket.nature, ticket.assignment_group, ticket.priority) == expected
    assert ticket.priority_reason is not None and ticket.priority_reason.endswith(
        default_rulebook().priority.label(expected[4])
    )


# --- the faster search of a rule's pattern finds exactly what the pattern finds ------------------

_SHIPPED_PATTERNS = [
    pattern
    for rule in default_rulebook().classifier.rules
    if rule.match is not None
    for pattern in (rule.match.ci, rule.match.service, rule.match.title, rule.match.description,
                    rule.match.text, rule.match.sender)
    if pattern is not None
]
_ODD_PATTERNS = [
    re.compile(text, re.IGNORECASE)
    for text in (r"\bOA\b|x", r"(?:ab)+c", r"k|s", r"[a-c]x|\d", r"^foo", r"a|", r"(a)\1", r"(?i)abc", r"ſ|K",
                 r"[^a]b", r"(?=a)ab", r"a*b", r"é|Σ|ß", r"lag\b|cpu", r"a(b|c)d", r"a\b", r"ab?c", r"s[^k]",
                 r"(?:k|ſ)(?:s|K)x", r"ab|a", r"[a-z]\d")
]


def test_quick_search_rewrites_the_shipped_case_insensitive_patterns() -> None:
    rewritten = [quick_search(p) for p in _SHIPPED_PATTERNS]
    assert all(q is not p for p, q in zip(_SHIPPED_PATTERNS, rewritten, strict=True))
    # what it cannot tell is left as it is: a negated class, a lookahead, an optional start, global flags
    for text in (r"[^a]b", r"(?=a)ab", r"a*b", r"(?i)abc", r"a|"):
        pattern = re.compile(text, re.IGNORECASE)
        assert quick_search(pattern) is pattern


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCKSſKİıΣσςßé性证登录 \n-./0123456789", max_size=40))
def test_quick_search_finds_the_same_match_as_the_pattern(text: str) -> None:
    for pattern in _SHIPPED_PATTERNS + _ODD_PATTERNS:
        want, got = pattern.search(text), quick_search(pattern).search(text)
        assert (want is None) == (got is None), (pattern.pattern, text)
        assert want is None or got is None or want.span() == got.span()
