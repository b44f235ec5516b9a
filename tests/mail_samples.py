"""Mails as real clients send them, built byte by byte (no ``email`` generator smoothing them).

Each builder returns the raw RFC 5322 bytes; ``tag`` goes into the Message-ID and subject so a
test can find its own mails in a shared mailbox.
"""

from __future__ import annotations

import base64
import quopri

CRLF = b"\r\n"
DOMAIN = "metro.example"


def _head(tag: str, subject: str, sender: str, extra: list[str] | None = None) -> list[str]:
    return [
        f"From: {sender}",
        f"To: servicedesk@{DOMAIN}",
        f"Subject: {subject}",
        "Date: Thu, 26 Nov 2026 10:40:00 +0800",
        f"Message-ID: <{tag}@{DOMAIN}>",
        "MIME-Version: 1.0",
        *(extra or []),
    ]


def _mail(headers: list[str], body: bytes) -> bytes:
    return CRLF.join(h.encode("ascii") for h in headers) + CRLF + CRLF + body


def _b64(text: str, charset: str) -> str:
    return base64.b64encode(text.encode(charset)).decode("ascii")


def utf8(tag: str) -> bytes:
    """UTF-8 subject (encoded-word, base64) and body (quoted-printable)."""
    subject = f"=?UTF-8?B?{_b64(f'邮件服务器无法登录 {tag}', 'utf-8')}?="
    body = quopri.encodestring("我们部门从早上九点开始无法登录邮箱。\n谢谢！".encode())
    headers = _head(
        tag,
        subject,
        f"=?UTF-8?B?{_b64('王小明', 'utf-8')}?= <wang.xm@{DOMAIN}>",
        ["Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: quoted-printable"],
    )
    return _mail(headers, body)


def gbk_subject(tag: str) -> bytes:
    """GBK encoded-word subject, GBK body in base64 (Foxmail style)."""
    subject = f"=?GBK?B?{_b64(f'打印机卡纸 {tag}', 'gbk')}?="
    body = base64.encodebytes("三楼打印机卡纸，无法打印票务报表。".encode("gbk"))
    headers = _head(
        tag,
        subject,
        f"li.na@{DOMAIN}",
        ["Content-Type: text/plain; charset=GBK", "Content-Transfer-Encoding: base64"],
    )
    return _mail(headers, body)


def gb2312_qp(tag: str) -> bytes:
    """Labelled GB2312 but holding 镕 (GBK only), quoted-printable — what real Chinese clients send."""
    subject = "=?gb2312?Q?" + "".join(f"={b:02X}" for b in f"朱镕基路闸机故障 {tag}".encode("gbk")) + "?="
    body = quopri.encodestring("朱镕基路站闸机无法读卡。".encode("gbk"))
    headers = _head(
        tag,
        subject,
        f"zhao.lei@{DOMAIN}",
        ["Content-Type: text/plain; charset=gb2312", "Content-Transfer-Encoding: quoted-printable"],
    )
    return _mail(headers, body)


def mislabelled(tag: str) -> bytes:
    """Declares ISO-8859-1 (Outlook's default) but the body is UTF-8; the subject is raw 8-bit UTF-8."""
    headers = _head(
        tag,
        "PLACEHOLDER",
        f"chen.jie@{DOMAIN}",
        ["Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: 8bit"],
    )
    raw = _mail(headers, "售票机屏幕黑屏。".encode())
    return raw.replace(b"PLACEHOLDER", f"售票机黑屏 {tag}".encode())


def utf8_labelled_gbk(tag: str) -> bytes:
    """Declares UTF-8 but the body bytes are GBK."""
    headers = _head(
        tag,
        f"wrong charset {tag}",
        f"sun.li@{DOMAIN}",
        ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
    )
    return _mail(headers, "网络中断，请尽快处理。".encode("gbk"))


def big5(tag: str) -> bytes:
    """Traditional Chinese in Big5 (a Hong Kong contractor)."""
    subject = f"=?big5?B?{_b64(f'系統無法連線 {tag}', 'big5')}?="
    headers = _head(
        tag,
        subject,
        f"hk.vendor@{DOMAIN}",
        ["Content-Type: text/plain; charset=big5", "Content-Transfer-Encoding: base64"],
    )
    return _mail(headers, base64.encodebytes("監控系統無法連線。".encode("big5")))


def html_only(tag: str) -> bytes:
    """Only text/html, with a script that must not survive and an entity that must."""
    html = (
        "<html><head><style>p{color:red}</style><script>alert('x')</script></head>"
        "<body><p>Ticket &amp; gate 3 <b>broken</b></p><ul><li>station A</li><li>station B</li></ul>"
        f"<p>See <a href='https://wiki.{DOMAIN}/gates'>the wiki</a> {tag}</p></body></html>"
    )
    headers = _head(
        tag,
        f"HTML only {tag}",
        f"ops@{DOMAIN}",
        ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64"],
    )
    return _mail(headers, base64.encodebytes(html.encode()))


ATTACHMENT = b"%PDF-1.4\n% itsm test attachment\n" + bytes(range(256)) * 4


def with_attachment(tag: str, content: bytes = ATTACHMENT, filename: str = "故障截图.pdf") -> bytes:
    """multipart/mixed: a text part and a PDF whose name is RFC 2231 encoded Chinese."""
    boundary = f"=_b_{tag}"
    encoded_name = "".join(f"%{b:02X}" for b in filename.encode("utf-8"))
    parts = [
        f"--{boundary}".encode(),
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: 8bit",
        b"",
        "附件是故障截图。".encode(),
        f"--{boundary}".encode(),
        b"Content-Type: application/pdf",
        f"Content-Disposition: attachment; filename*=UTF-8''{encoded_name}".encode(),
        b"Content-Transfer-Encoding: base64",
        b"",
        base64.encodebytes(content).replace(b"\n", CRLF).rstrip(),
        f"--{boundary}--".encode(),
        b"",
    ]
    content_type = f'Content-Type: multipart/mixed; boundary="{boundary}"'
    headers = _head(tag, f"Screenshot attached {tag}", f"zhou.min@{DOMAIN}", [content_type])
    return _mail(headers, CRLF.join(parts))


def reply(tag: str, ticket_id: str) -> bytes:
    """A reply to the connector's notice about ticket ``ticket_id`` (reply button: In-Reply-To kept)."""
    headers = _head(
        tag,
        f"Re: [ITSM #{ticket_id}] mail login {tag}",
        f"wang.xm@{DOMAIN}",
        [
            f"In-Reply-To: <itsm.{ticket_id}.a1b2c3@connector.{DOMAIN}>",
            f"References: <itsm.{ticket_id}.a1b2c3@connector.{DOMAIN}>",
            "Content-Type: text/plain; charset=utf-8",
        ],
    )
    return _mail(headers, "现在可以登录了，谢谢。\n\n> 原邮件".encode())


def auto_reply(tag: str) -> bytes:
    """An out-of-office answer (RFC 3834)."""
    headers = _head(
        tag,
        f"Automatic reply: Out of office {tag}",
        f"liu.yang@{DOMAIN}",
        ["Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All", "Content-Type: text/plain; charset=utf-8"],
    )
    return _mail(headers, "我正在休假，12月3日回来。".encode())


def big_attachment(tag: str, size: int = 20 * 1024 * 1024) -> bytes:
    """A 20 MB attachment (a log dump) beside a short text."""
    return with_attachment(tag, content=b"L" * size, filename="syslog-dump.log")


def broken_mime(tag: str) -> bytes:
    """Says multipart/mixed with a boundary that never appears: the structure is lost."""
    headers = _head(
        tag,
        f"Broken MIME {tag}",
        f"wu.fei@{DOMAIN}",
        ['Content-Type: multipart/mixed; boundary="never-used"'],
    )
    return _mail(headers, b"This is a multipart message but the boundary is missing.\r\n--other--\r\n")


def from_outside(tag: str) -> bytes:
    """A sender outside the allow-list."""
    headers = _head(tag, f"Buy now {tag}", "promo@spam.example", ["Content-Type: text/plain; charset=utf-8"])
    return _mail(headers, b"cheap tickets")
