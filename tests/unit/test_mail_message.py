"""Mails as clients really send them decode correctly; broken ones say why."""

from __future__ import annotations

import pytest

from connector.integrations.mail.charsets import codec_for, decode_bytes
from connector.integrations.mail.html import html_to_text
from connector.integrations.mail.message import MalformedMail, decode_header, parse_mail
from tests import mail_samples as samples


def test_utf8_subject_sender_name_and_quoted_printable_body() -> None:
    mail = parse_mail(samples.utf8("u1"))
    assert mail.subject == "邮件服务器无法登录 u1"
    assert (mail.sender, mail.sender_name) == ("wang.xm@metro.example", "王小明")
    assert mail.text == "我们部门从早上九点开始无法登录邮箱。\n谢谢！"
    assert mail.message_id == "u1@metro.example"
    assert mail.date is not None and mail.date.isoformat() == "2026-11-26T02:40:00+00:00"


def test_gbk_subject_and_base64_body() -> None:
    mail = parse_mail(samples.gbk_subject("g1"))
    assert mail.subject == "打印机卡纸 g1"
    assert mail.text == "三楼打印机卡纸，无法打印票务报表。"


def test_gb2312_label_with_a_gbk_only_character_in_qp() -> None:
    mail = parse_mail(samples.gb2312_qp("q1"))
    assert mail.subject == "朱镕基路闸机故障 q1"
    assert mail.text == "朱镕基路站闸机无法读卡。"


def test_mislabelled_latin1_that_is_utf8_and_a_raw_8bit_subject() -> None:
    mail = parse_mail(samples.mislabelled("m1"))
    assert mail.subject == "售票机黑屏 m1"
    assert mail.text == "售票机屏幕黑屏。"


def test_utf8_label_on_gbk_bytes() -> None:
    assert parse_mail(samples.utf8_labelled_gbk("m2")).text == "网络中断，请尽快处理。"


def test_big5() -> None:
    mail = parse_mail(samples.big5("b1"))
    assert mail.subject == "系統無法連線 b1"
    assert mail.text == "監控系統無法連線。"


def test_html_only_becomes_text_without_script_or_style() -> None:
    mail = parse_mail(samples.html_only("h1"))
    assert mail.html_only
    assert "Ticket & gate 3 broken" in mail.text
    assert "- station A\n- station B" in mail.text
    assert "the wiki (https://wiki.metro.example/gates)" in mail.text
    assert "alert(" not in mail.text and "color:red" not in mail.text


def test_attachment_with_an_rfc2231_chinese_name_keeps_its_bytes() -> None:
    mail = parse_mail(samples.with_attachment("a1"))
    assert mail.text == "附件是故障截图。"
    (part,) = mail.attachments
    assert (part.filename, part.content_type, part.data) == ("故障截图.pdf", "application/pdf", samples.ATTACHMENT)


def test_reply_headers_are_message_ids() -> None:
    mail = parse_mail(samples.reply("r1", "42"))
    assert mail.in_reply_to == ("itsm.42.a1b2c3@connector.metro.example",)
    assert mail.references == ("itsm.42.a1b2c3@connector.metro.example",)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (samples.broken_mime("x1"), "broken MIME structure: StartBoundaryNotFoundDefect"),
        (b"From: a@metro.example\r\nContent-Type: multipart/mixed\r\n\r\nbody", "NoBoundaryInMultipartDefect"),
        (b"Subject: no sender\r\n\r\nbody", "no usable sender"),
        (b"From: Nobody <not-an-address>\r\n\r\nbody", "no usable sender"),
        (b"   \r\n", "empty"),
    ],
)
def test_malformed_mails_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedMail, match=reason):
        parse_mail(raw)


def test_headers_only_skips_the_structure_check() -> None:
    head = samples.with_attachment("big").split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    mail = parse_mail(head, headers_only=True)
    assert mail.subject == "Screenshot attached big" and mail.attachments == () and mail.text == ""


def test_a_forwarded_message_is_one_attachment() -> None:
    inner = samples.utf8("inner")
    raw = (
        b"From: ops@metro.example\r\nSubject: Fwd\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n"
        + inner
        + b"\r\n--B--\r\n"
    )
    mail = parse_mail(raw)
    assert mail.text == "see below"
    (part,) = mail.attachments
    assert part.content_type == "message/rfc822" and b"inner@metro.example" in part.data


def test_decode_header_mixes_encoded_words_charsets_and_plain_text() -> None:
    value = "Re: =?gb2312?B?" + samples._b64("闸机", "gbk") + "?= =?utf-8?Q?=E6=95=85=E9=9A=9C?= gate 3"
    assert decode_header(value) == "Re: 闸机故障 gate 3"
    assert decode_header("=?x-unknown?B?" + samples._b64("故障", "utf-8") + "?=") == "故障"


def test_charset_aliases_and_guesses() -> None:
    assert codec_for("GB2312") == "gb18030" and codec_for("big5") == "big5hkscs" and codec_for("nope") is None
    assert decode_bytes("été".encode("latin-1"), "iso-8859-1") == "été"  # not mistaken for Chinese
    assert decode_bytes("磁盘".encode("gbk"), "us-ascii") == "磁盘"
    assert decode_bytes(b"\xff\xfe\xfd", None).count("\ufffd") >= 1  # never raises


def test_seven_bit_charsets_are_decoded_though_every_byte_is_ascii() -> None:
    assert decode_bytes(b"+ZeVnLA-", "utf-7") == "日本"
    assert decode_bytes(b"~{9JUO~}", "hz-gb-2312") == "故障"
    assert decode_bytes(b"\x1b$B8N>c\x1b(B", "iso-2022-jp") == "故障"
    assert decode_bytes(b"+ZeVnLA-", "us-ascii") == "+ZeVnLA-"  # ASCII stays as written


@pytest.mark.parametrize(
    "data",
    [
        b"+2t4-",  # UTF-7 for a lone low surrogate: strict decoding accepts it
        b"\xe9\x99\x84 +2t4- \x80",  # not UTF-7 at all: the replacing decode keeps the surrogate
    ],
)
def test_decoded_text_never_holds_a_lone_surrogate(data: bytes) -> None:
    text = decode_bytes(data, "utf-7")
    assert "\ufffd" in text
    text.encode("utf-8")  # what json.dumps / the journal would need


def test_html_to_text_keeps_text_drops_markup() -> None:
    assert html_to_text("<p>a<br>b</p><table><tr><td>x</td><td>y</td></tr></table>") == "a\nb\n\nx\ty"
