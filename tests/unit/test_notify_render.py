"""Notice templates: the seed's standard content in both languages, alert text as inert data in
every format, site templates searched first and checked at startup, the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.domain.errors import ConfigError, NotifierRejected
from connector.domain.notice import Notice, NoticeKind, StatusEvent
from connector.notify.render import Renderer, md_escape, safe_url
from connector.rules.sla import Stage
from tests.notify_helpers import HOSTILE, directory, notice

DESK = "服务台 021-6000 8888"


def renderer(**kwargs: object) -> Renderer:
    return Renderer(service_desk=DESK, directory=directory(), **kwargs)  # type: ignore[arg-type]


def test_chinese_notice_has_the_four_standard_items_in_every_format() -> None:
    message = renderer().render(notice())
    # 2026-11-26 02:40 UTC + 8 h restore = 18:40 Shanghai time
    for body in (message.text, message.html, message.markdown, message.short):
        assert "核心交换机 SW-CORE-01 宕机" in body  # short description
        assert "票务系统" in body  # affected service
        assert "2026-11-26 18:40" in body  # estimated restore time, local
        assert DESK in body  # how to reach the service desk
    assert "事件简述" in message.text and "受影响的服务" in message.text and "预计恢复时间" in message.text
    assert message.subject == "事件升级第1级：通知项目经理/开发项目负责人 · P1 核心交换机 SW-CORE-01 宕机"
    assert "网络组" in message.text  # the group's display name from people.yaml


def test_english_notice() -> None:
    message = renderer(language="en").render(notice(kind=NoticeKind.SLA_BREACH, stage=Stage.RESPONSE))
    assert message.subject.startswith("SLA breach: response is past its target")
    for label in ("Short description:", "Affected service: 票务系统", "Estimated restore time: 2026-11-26 18:40"):
        assert label in message.text
    assert f"contact the service desk: {DESK}" in message.text


def test_a_notice_may_ask_for_its_own_language_and_desk() -> None:
    message = renderer().render(notice(lang="en", service_desk="desk 9999", estimated_restore=None))
    assert "Estimated restore time: to be determined" in message.text
    assert "desk 9999" in message.text and DESK not in message.text


def test_late_notice_says_so() -> None:
    message = renderer().render(notice(late=True))
    assert "【补发】本通知应于 2026-11-26 10:50 发出" in message.text
    assert "【补发】" in message.short and "补发" in message.html and "补发" in message.markdown
    assert "补发" not in renderer().render(notice()).text


def test_resolved_status_asks_the_user_to_confirm_closure() -> None:
    resolved = renderer().render(notice(kind=NoticeKind.STATUS, status=StatusEvent.RESOLVED, roles=("user",)))
    assert resolved.subject.startswith("事件状态：已解决")
    assert "请确认是否可以关闭" in resolved.text and "请确认是否可以关闭" in resolved.html
    closed = renderer().render(notice(kind=NoticeKind.STATUS, status=StatusEvent.CLOSED, roles=("user",)))
    assert "请确认是否可以关闭" not in closed.text


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_kind_has_its_own_headline(language: str) -> None:
    r = renderer(language=language)
    headlines = {
        r.render(notice(kind=kind, stage=Stage.RESOLUTION, status=StatusEvent.OPEN)).subject.split(" · ")[0]
        for kind in NoticeKind
    }
    assert len(headlines) == len(NoticeKind)


def test_alert_text_is_never_a_template_and_is_escaped_per_format() -> None:
    message = renderer().render(notice(title=HOSTILE, service="<b>票务</b>", detail="line1\n# line2"))
    for body in (message.subject, message.text, message.short):  # plain text: verbatim
        assert HOSTILE in body
    assert "49" not in message.text.replace("2026", "")  # {{ 7*7 }} was not evaluated
    # HTML: escaped by autoescape, nothing of it is markup
    assert "<script>" not in message.html and "<b>票务" not in message.html
    assert "{{ 7*7 }} &lt;script&gt;alert(1)&lt;/script&gt; **x** [a](http://evil)" in message.html
    assert "&lt;b&gt;票务&lt;/b&gt;" in message.html
    # markdown: no bold, no link, no tag, no heading from the data
    assert r"{{ 7\*7 }} ＜script＞alert(1)＜/script＞ \*\*x\*\* \[a\](http://evil)" in message.markdown
    assert "**x**" not in message.markdown and "[a](" not in message.markdown and "<" not in message.markdown
    assert "line1 # line2" in message.markdown and "\n# line2" not in message.markdown  # no heading
    # the ticket link itself is still a link
    assert "[42](https://redmine.metro.example/issues/42)" in message.markdown
    assert '<a href="https://redmine.metro.example/issues/42">42</a>' in message.html


def test_unsafe_ticket_urls_are_dropped() -> None:
    from connector.domain.notice import TicketLink

    message = renderer().render(notice(ticket=TicketLink(key="k", ticket_id="7", url="javascript:alert(1)")))
    assert "javascript" not in message.html and "javascript" not in message.markdown and message.url is None
    assert safe_url("https://h/x?a=(1)") == "https://h/x?a=%281%29"
    assert safe_url("local:/tmp/t.db#3") is None


def test_md_escape() -> None:
    assert md_escape("1. first") == r"1\. first"
    assert md_escape("- item") == r"\- item"
    assert md_escape("> quote <@all>") == "＞ quote ＜@all＞"  # full-width: neither a quote nor a tag
    assert md_escape("2026-11-26 18:40") == "2026-11-26 18:40"
    assert md_escape("a_b|c~d`e") == r"a\_b\|c\~d\`e"
    assert md_escape(None) == ""


def test_notice_survives_the_outbox_as_json() -> None:
    original = notice(kind=NoticeKind.STATUS, status=StatusEvent.OPEN, roles=("user", "service_desk"), late=True)
    text = original.model_dump_json()
    assert Notice.model_validate_json(text) == original
    assert json.loads(text)["ticket"] == {
        "key": "zabbix:31337",
        "ticket_id": "42",
        "url": "https://redmine.metro.example/issues/42",
    }
    assert original.identity == "status:zabbix:31337:open"
    assert notice().identity == "escalation:zabbix:31337:L1"


def test_site_templates_are_searched_first(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "escalation.sms.j2").write_text("升级 {{ n.ticket_tag }}：{{ n.title }}", encoding="utf-8")
    (tmp_path / "zh" / "notice.md.j2").write_text("**{{ n.title }}**", encoding="utf-8")
    site = renderer(templates_dir=tmp_path)
    site.check()
    message = site.render(notice(title="**x**"))
    assert message.short == "升级 42：**x**"  # the site's per-kind template
    assert message.markdown == r"**\*\*x\*\***"  # a site template still escapes its values
    assert "事件简述" in message.text  # the shipped template where the site has none
    other = site.render(notice(kind=NoticeKind.OUTAGE))
    assert other.short.startswith("【ITSM】服务中断通知")


def test_a_broken_site_template_stops_startup_with_its_name_and_line(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "notice.txt.j2").write_text("第一行\n{{ n.titel }}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        renderer(templates_dir=tmp_path).check()
    first = caught.value.problems[0]
    assert first.file.endswith("zh/notice.txt.j2") and first.line == 2 and "titel" in first.reason
    with pytest.raises(
        NotifierRejected, match=r"templates render: template failed at .*zh/notice.txt.j2:2: UndefinedError"
    ):
        renderer(templates_dir=tmp_path).render(notice())


def test_site_templates_run_in_the_sandbox(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "notice.txt.j2").write_text("{{ n.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"en/notice.txt.j2:1: access to attribute '__class__' .* is unsafe"
    ) as caught:
        renderer(templates_dir=tmp_path).check(["en"])
    assert len(caught.value.problems) == 1  # reported once, not once per kind of notice
