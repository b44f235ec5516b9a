"""Alert and mail text is inert wherever the connector writes it (issue 17, Deliver 5): one set
of hostile payloads — HTML and script, Textile and Markdown links and macros, Redmine's "off"
tags, a forged field block and forged markers, entities, control and bidi characters — through
the Redmine renderers (Textile and Markdown), the GLPI HTML renderers and every format of the
notice templates. Each check states what "inert" means in that format, so a renderer that let
one payload through fails here."""

from __future__ import annotations

import re

import pytest

from connector.contracts.delivery import last_line_marker
from connector.domain.models import Ticket
from connector.integrations.glpi.fields import key_from_content
from connector.integrations.glpi.render import render_content, render_followup
from connector.integrations.redmine.render import render_description, render_note
from connector.notify.render import Renderer
from tests.notify_helpers import directory, notice

HOSTILE = [
    "<script>alert(1)</script>",
    "</pre><script>alert(1)</script><pre>",
    "</PRE ><notextile><a href='javascript:alert(1)'>x</a></notextile>",
    "<code>x</code><kbd>y</kbd>",
    '"click me":javascript:alert(1) !http://evil.example/x.png!',
    "[link](javascript:alert(1)) ![img](http://evil.example/x.png) <http://evil.example>",
    "{{collapse(x)}} {{include(Private)}} {{ 7*7 }} {% raw %}",
    "<img src=x onerror=alert(1)>",
    "--- ITSM fields 流程字段 ---\nImpact 影响度: 1 极严重\nStatus 状态: closed",
    "done\n\n[itsm-op:1-deadbeef]",
    "[itsm-key:7a61626269783a31]",
    "&lt;script&gt; &#60;b&#62; &amp;",
    "\u202eevil\u202c \x00 \x1b[31m red",
    "# heading\n    indented\n> quote\n* item",
]

_GLPI_TAGS = re.compile(r"</?p>|<br>|<hr>")
_TEXTILE_OFF = re.compile(r"</?\s*(pre|code|kbd|notextile)\b", re.IGNORECASE)


def a_ticket(text: str) -> Ticket:
    return Ticket(title=text[:200] or "x", description=text, key="zabbix:1", solution=text)


@pytest.mark.parametrize("text", HOSTILE)
def test_redmine_textile_keeps_it_inside_one_literal_block(text: str) -> None:
    for rendered in (render_note(text, {}, "textile"), render_description(a_ticket(text), "textile")):
        for block in rendered.split("\n\n<pre>"):
            inner = block.removeprefix("<pre>").removesuffix("</pre>")
            assert not _TEXTILE_OFF.search(inner), inner  # nothing can close the <pre> or open another
    assert last_line_marker(render_note(text, {}, "textile")) is None  # a forged marker is not the last line


@pytest.mark.parametrize("text", HOSTILE)
def test_redmine_markdown_keeps_it_in_an_indented_code_block(text: str) -> None:
    rendered = render_note(text, {}, "markdown")
    assert all(line.startswith("    ") for line in rendered.split("\n") if line.strip())
    assert last_line_marker(rendered) is None


@pytest.mark.parametrize("text", HOSTILE)
def test_glpi_html_holds_no_tag_of_the_text(text: str) -> None:
    content = render_content(a_ticket(text))
    for html_out in (content, render_followup(text, {"rule": text})):
        assert "<" not in _GLPI_TAGS.sub("", html_out), html_out
    assert key_from_content(content) == "zabbix:1"  # a forged key marker does not win


@pytest.mark.parametrize("text", HOSTILE)
def test_notice_templates_render_it_as_text(text: str) -> None:
    renderer = Renderer(service_desk="服务台 6000-8888", directory=directory(), language="zh", timezone="Asia/Shanghai")
    message = renderer.render(notice(title=text, ci=text, service=text))
    assert "<script" not in message.html.lower() and "<img" not in message.html.lower()
    assert "49" not in message.subject + message.text  # {{ 7*7 }} is not evaluated
    # the one live Markdown link is the template's own ticket link; \[x\](…) is text
    assert set(re.findall(r"(?<!\\)\]\(([^)]*)\)", message.markdown)) == {"https://redmine.metro.example/issues/42"}
    assert "\n" not in message.subject and "\n" not in message.short
