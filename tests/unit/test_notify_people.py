"""people.yaml: who holds a role for a ticket, where to reach them, and file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.domain.errors import ConfigError
from connector.domain.models import ResolverRole
from connector.domain.notice import Contact
from connector.notify.people import Directory, load_people
from tests.notify_helpers import directory, notice


def test_site_wide_role_holders_and_a_groups_own_holder_wins() -> None:
    d = directory()
    assert d.holders("project_manager") == ["chen.gang", "wang.fang"]
    assert d.holders("project_manager", group="finance-apps") == ["wang.fang"]
    assert d.holders("project_manager", group="network") == ["chen.gang", "wang.fang"]  # no own holder
    assert d.holders("incident_manager", group="finance-apps") == ["liao.qing"]


def test_assignee_by_helpdesk_login_else_the_groups_handlers() -> None:
    d = directory()
    assert d.holders("assignee", assignee="lina", group="network") == ["li.na"]
    assert d.holders("assignee", assignee="li.na") == ["li.na"]  # the person id works as well
    assert d.holders("assignee", assignee="someone-else", group="network") == ["zhang.wei", "li.na"]
    assert d.holders("assignee", group="network") == ["zhang.wei", "li.na"]
    assert d.holders("group", group="finance-apps") == ["wang.fang", "wu.lei"]
    assert d.holders("group", group="no-such-group") == []


def test_recipients_per_channel_kind_with_what_is_missing() -> None:
    d = directory()
    n = notice(roles=("incident_manager", "duty_group_leader", "product_manager"))
    found, missing = d.recipients(n.roles, "phone", n)
    assert [(r.person, r.address) for r in found] == [
        ("liao.qing", "+86 138 0000 0001"),
        ("he.jun", "+86 138 0000 0013"),
    ]
    assert missing == ["zhou.min: no phone"]
    found, missing = d.recipients(n.roles, "wecom", n)
    assert [r.address for r in found] == ["13800000001"]
    assert "he.jun: no wecom" in missing


def test_the_user_is_the_tickets_contact_and_nobody_is_reported() -> None:
    d = directory()
    n = notice(roles=("user", "service_desk"), contact=Contact(name="王先生", email="wang@example.com"))
    found, missing = d.recipients(n.roles, "email", n)
    assert [(r.person, r.name, r.address) for r in found] == [
        ("user", "王先生", "wang@example.com"),
        ("desk", "服务台", "servicedesk@metro.example"),
    ]
    assert missing == []
    found, missing = d.recipients(("user", "maintenance_engineer"), "email", notice(contact=None))
    assert [r.person for r in found] == ["wu.lei"] and missing == ["user: no email"]


def test_one_address_gets_one_copy() -> None:
    d = directory()
    n = notice(roles=("process_owner", "incident_manager"))
    found, _ = d.recipients(n.roles, "email", n)
    assert [r.address for r in found] == ["liao.qing@metro.example"]


def test_labels() -> None:
    d = directory()
    assert d.role_label("maintenance_manager", "zh") == "维护经理"
    assert d.role_label("maintenance_manager", "en") == "maintenance manager"
    assert d.role_label("user", "zh") == "用户"
    assert d.group_label("network") == "网络组"
    assert {"user", "assignee", "group", "deputy_director"} <= d.role_ids


def test_bare_numbers_are_handles(tmp_path: Path) -> None:
    path = tmp_path / "people.yaml"
    path.write_text("roles: {a: {zh: 甲, en: a}}\npeople:\n  x: {name: X, phone: 13800000000, dingtalk: 13800000000}\n")
    person = load_people(path).people["x"]
    assert (person.phone, person.dingtalk) == ("13800000000", "13800000000")


def test_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "people.yaml"
    path.write_text(
        "roles:\n"  # 1
        "  incident_manager: {zh: 事件经理, en: incident manager}\n"  # 2
        "  user: {zh: 用户, en: user}\n"  # 3
        "people:\n"  # 4
        "  a:\n"  # 5
        "    name: A\n"  # 6
        "    roles: [incident_manger]\n"  # 7
        "    emial: a@example.com\n"  # 8
        "    phone: call me\n"  # 9
        "    logins: [shared]\n"  # 10
        "  b: {name: B, logins: [shared]}\n"  # 11
        "groups:\n"  # 12
        "  net:\n"  # 13
        "    handlers: [a, c]\n",  # 14
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_people(path)
    problems = [str(p) for p in caught.value.problems]
    f = str(path)
    assert f"{f}:3: roles.user.[key]: 'user' is a built-in role filled from the ticket; choose another name" in problems
    assert any(
        p.startswith(f"{f}:7: people.a.roles.0: not a known role (did you mean 'incident_manager'?)") for p in problems
    ), problems
    assert any(p.startswith(f"{f}:8: unknown key 'people.a.emial'") for p in problems), problems
    assert any(p.startswith(f"{f}:9: people.a.phone: a phone number") for p in problems), problems
    assert any(p.startswith(f"{f}:14: groups.net.handlers.1: not a known person") for p in problems), problems


def test_a_login_names_one_person(tmp_path: Path) -> None:
    path = tmp_path / "people.yaml"
    path.write_text(
        "roles: {a: {zh: 甲, en: a}}\npeople:\n  x: {name: X, logins: [dup]}\n  y: {name: Y, logins: [dup]}\n"
    )
    with pytest.raises(ConfigError, match="login 'dup' is both 'x''s and 'y''s"):
        load_people(path)


def test_the_line_of_a_group_defaults_to_the_second(tmp_path: Path) -> None:
    d = directory()
    assert d.line_of_group("service-desk") is ResolverRole.FIRST_LINE
    assert d.line_of_group("network") is ResolverRole.SECOND_LINE  # no `line:` written
    assert d.line_of_group("metro-telecom") is ResolverRole.THIRD_PARTY
    assert d.line_of_group("no-such-group") is None
    assert d.line_of_group(None) is None
    path = tmp_path / "people.yaml"
    path.write_text("roles: {a: {zh: 甲, en: a}}\ngroups:\n  g:\n    line: fourth_line\n")
    with pytest.raises(ConfigError) as info:
        load_people(path)
    assert f"{path}:4:" in str(info.value) and "first_line" in str(info.value)


def test_the_first_line_is_the_service_desk_role_and_first_line_handlers() -> None:
    d = directory()
    assert d.is_first_line("desk")  # holds service_desk (and handles the desk's group)
    assert d.is_first_line("zhou.min")  # a handler of the first_line group, by person id
    assert not d.is_first_line("zhangw")  # a 2nd-line handler, by login
    assert not d.is_first_line("zhaok")  # the supplier
    assert not d.is_first_line("liaoq")  # the incident manager may close, but is not the 1st line
    assert not d.is_first_line("nobody") and not d.is_first_line(None)


def test_a_groups_own_role_holders_are_not_its_members(tmp_path: Path) -> None:
    path = tmp_path / "people.yaml"
    path.write_text(
        "roles: {pm: {zh: 经理, en: pm}}\n"
        "people: {a: {name: A, logins: [la]}, b: {name: B, logins: [lb]}}\n"
        "groups:\n  desk: {line: first_line, handlers: [a], roles: {pm: [b]}}\n"
    )
    d = Directory(load_people(path))
    assert d.is_first_line("la") and not d.is_first_line("lb")


def test_a_person_by_login_or_id() -> None:
    d = directory()
    found = d.person_for_login("wangf")
    assert found is not None and found.name == "王芳"
    assert d.person_for_login("wang.fang") == found
    assert d.person_for_login("nobody") is None
