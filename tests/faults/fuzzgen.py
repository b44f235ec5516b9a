"""Seeded generators of hostile input for the fuzz runs (``tests/faults/fuzzrun.py``): Zabbix
webhook bodies and raw e-mails. Every item carries its index near its start, so no two items
are equal and each reject is its own dead letter (the journal keeps one per distinct input).

Webhook bodies: the media type's shape with fields dropped, retyped and filled with odd text;
JSON edge cases (``NaN``, ``1e999999``, 10⁵-digit integers, duplicate keys, lone surrogates,
``\\u0000``, deep nesting, non-objects); encodings (UTF-16 and -32 with and without BOM, Latin-1,
GB18030, truncated and bit-flipped UTF-8); sizes up to ``limit`` bytes.

Mails: single parts and nested ``multipart/mixed|alternative|related`` trees, charsets
(GB2312, GBK, Big5, ISO-2022-JP, an unknown one, a lying one), broken headers (no From, bad
encoded words, folded garbage, a header without a colon, NUL bytes), huge text parts,
attachments (base64 with bad padding, ``message/rfc822``, no filename, hostile filenames).
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["mails", "webhook_bodies"]

_SHAPE: dict[str, str] = {
    "event_source": "0",
    "event_id": "32",
    "event_value": "1",
    "event_update_status": "0",
    "event_name": "Interface Gi0/1 down on Core switch 01",
    "event_nseverity": "4",
    "event_opdata": "down (2)",
    "event_tags": '[{"tag":"service","value":"票务管理系统"}]',
    "event_date": "2026.12.01",
    "event_time": "18:15:03",
    "event_recovery_id": "{EVENT.RECOVERY.ID}",
    "event_update_message": "{EVENT.UPDATE.MESSAGE}",
    "host_id": "10580",
    "host_host": "core-sw-01",
    "host_name": "Core switch 01",
    "trigger_id": "23154",
}
_ODD = [
    "",
    " ",
    "票务管理系统",
    "\u202eevil",
    "\x00",
    "\ud800",
    "²",
    "٨٨١",
    "-1",
    "1e309",
    "<script>alert(1)</script>",
    "{EVENT.ID}",
    "a" * 3000,
    "\r\nX-Injected: 1",
    "null",
    "[]",
    "🙂" * 50,
]


def _text(rng: random.Random) -> Any:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice(_ODD)
    if kind == 1:
        return rng.randrange(-(10**20), 10**20)
    if kind == 2:
        return rng.choice([None, True, False, 1.5, [], {}, ["x"], {"a": 1}])
    if kind == 3:
        return (
            "".join(chr(rng.randrange(0x20, 0x2FFFF)) for _ in range(rng.randrange(1, 40)))
            .encode("utf-8", "surrogatepass")
            .decode("utf-8", "replace")
        )
    return str(rng.randrange(1, 10**6))


def _shaped(rng: random.Random, index: int) -> dict[str, Any]:
    body: dict[str, Any] = {"fuzz_index": index, **_SHAPE}
    body["event_id"] = str(10**6 + index)
    for name in rng.sample(sorted(_SHAPE), rng.randrange(0, 5)):
        if rng.random() < 0.4:
            body.pop(name, None)
        else:
            body[name] = _text(rng)
    return body


def _nested(depth: int, index: int) -> str:
    return f'{{"fuzz_index": {index}, "a": ' + "[" * depth + "1" + "]" * depth + "}"


def _encode(rng: random.Random, text: str) -> bytes:
    how = rng.choice(["utf-8"] * 6 + ["utf-16", "utf-16-le", "utf-32", "latin-1", "gb18030", "utf-8-sig"])
    try:
        return text.encode(how)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _webhook_body(rng: random.Random, index: int, limit: int) -> bytes:
    kind = rng.randrange(14)
    shaped = _shaped(rng, index)
    if kind <= 4:  # the shape, mutated, as UTF-8 JSON (ASCII-escaped or not)
        return json.dumps(shaped, ensure_ascii=rng.random() < 0.5, default=str).encode("utf-8", "surrogatepass")
    if kind == 5:  # other encodings of the same
        return _encode(rng, json.dumps(shaped, ensure_ascii=False, default=str))
    if kind == 6:  # JSON edge cases Python accepts and JSON does not, or that blow up numbers
        extra = rng.choice(
            [
                "NaN",
                "Infinity",
                "-Infinity",
                "1e999999",
                "9" * rng.choice([4301, 20000, 100000]),
                '"\\ud800"',
                '"\\u0000"',
            ]
        )
        text = json.dumps(shaped)[:-1] + f', "event_nseverity": {extra}}}'
        return text.encode()
    if kind == 7:  # duplicate keys: the last one wins in Python
        text = json.dumps(shaped)[:-1] + f', "event_id": "dup", "event_id": "{10**6 + index}"}}'
        return text.encode()
    if kind == 8:  # nesting, below and above the limit
        return _nested(rng.choice([10, 63, 64, 65, 200, 5000]), index).encode()
    if kind == 9:  # JSON but not an object
        return json.dumps(rng.choice([[shaped], f"s{index}", index, [index, None], [index, True]])).encode()
    if kind == 10:  # big: a field padded up to near the limit
        shaped["event_opdata"] = "x" * rng.randrange(limit // 2, max(limit // 2 + 1, limit - 4096))
        return json.dumps(shaped).encode()[:limit]
    data = json.dumps(shaped).encode()
    if kind == 11 and data:  # truncated
        keep = len(f'{{"fuzz_index": {index}')  # so no two truncated bodies are equal
        return data[: rng.randrange(min(keep, len(data) - 1), len(data))]
    if kind == 12 and data:  # one byte flipped
        at = rng.randrange(len(data))
        return data[:at] + bytes([data[at] ^ rng.randrange(1, 256)]) + data[at + 1 :]
    return f"{index}:".encode() + rng.randbytes(rng.randrange(0, 512))  # noise


def webhook_bodies(seed: int, count: int, limit: int) -> Iterator[bytes]:
    """``count`` webhook bodies of at most ``limit`` bytes, the same for the same seed."""
    rng = random.Random(seed)
    for index in range(count):
        yield _webhook_body(rng, index, limit)[:limit]


# --- mails -------------------------------------------------------------------------------------------

_CHARSETS = ["utf-8", "gb2312", "gbk", "big5", "iso-2022-jp", "iso-8859-1", "x-unknown-charset", "utf-7"]
_SUBJECTS = [
    "磁盘满了",
    "Disk full",
    "=?utf-8?B?5pWF6Zqc?=",
    "=?gb2312?Q?=B9=CA=D5=CF?=",
    "=?bad?X?zz?=",
    "=?utf-8?B?***?=",
]


def _header_block(rng: random.Random, index: int) -> list[str]:
    headers = [f"Message-ID: <fuzz-{index}@metro.example>"]
    if rng.random() < 0.9:
        headers.append(
            rng.choice(
                [
                    "From: 张伟 <zhang@metro.example>",
                    "From: =?utf-8?B?5byg5Lyf?= <z@metro.example>",
                    "From: <>",
                    "From: no-address",
                    "From: a@metro.example, b@evil.example",
                ]
            )
        )
    headers.append("Subject: " + rng.choice(_SUBJECTS) + f" {index}")
    headers.append(
        rng.choice(["Date: Tue, 01 Dec 2026 18:15:03 +0800", "Date: yesterday", "Date: Mon, 32 Foo 99999 99:99"])
    )
    if rng.random() < 0.2:
        headers.append(
            rng.choice(
                [
                    "X-Broken header without colon",
                    "Subject: second subject",
                    "X-Nul: a\x00b",
                    "X-Folded: a\r\n\tb\r\n c",
                    "In-Reply-To: <" + "x" * 2000 + ">",
                    "References: " + " ".join(f"<r{n}@x>" for n in range(300)),
                ]
            )
        )
    return headers


def _leaf(rng: random.Random, size_limit: int) -> tuple[str, bytes]:
    """(the part's headers, its body) for one leaf."""
    kind = rng.randrange(7)
    charset = rng.choice(_CHARSETS)
    text = rng.choice(["服务器宕机，请尽快处理。", "Disk full on /var", "<b>html</b><script>x</script>", "€ñ中文"])
    if kind == 0:  # a huge text part
        text = text * rng.randrange(1, max(2, size_limit // 40))
    try:
        raw = text.encode(charset if charset not in ("x-unknown-charset",) else "utf-8")
    except (LookupError, UnicodeEncodeError):
        raw = text.encode("utf-8")
    if kind == 1:  # a lying charset
        raw = "中文".encode("gbk") * 3
        charset = "utf-8"
    if kind == 2:  # an attachment, base64, sometimes with bad padding
        payload = base64.b64encode(rng.randbytes(rng.randrange(0, 4096)))
        if rng.random() < 0.3:
            payload = payload[:-1] + b"!!"
        name = rng.choice(['"report.pdf"', '"../../etc/passwd"', '"=?utf-8?B?5oql5ZGK?=.txt"', '"con.txt"', ""])
        disposition = f"attachment; filename={name}" if name else "attachment"
        return (
            f"Content-Type: application/octet-stream\r\nContent-Disposition: {disposition}\r\n"
            "Content-Transfer-Encoding: base64",
            payload,
        )
    if kind == 3:  # quoted-printable, sometimes broken
        body = b"=E4=B8=AD=E6=96=87 =ZZ =\r\n" * rng.randrange(1, 50)
        return f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: quoted-printable", body
    if kind == 4:  # an attached mail
        return "Content-Type: message/rfc822", b"Subject: inner\r\nFrom: x@y\r\n\r\ninner body"
    subtype = rng.choice(["plain", "html"])
    return f"Content-Type: text/{subtype}; charset={charset}", raw


def _tree(rng: random.Random, depth: int, size_limit: int) -> tuple[str, bytes]:
    if depth <= 0 or rng.random() < 0.4:
        return _leaf(rng, size_limit)
    boundary = f"b{rng.randrange(10**9)}"
    parts = [_tree(rng, depth - 1, size_limit) for _ in range(rng.randrange(0, 4))]
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + h.encode() + b"\r\n\r\n" + b + b"\r\n" for h, b in parts)
    if rng.random() < 0.9:  # sometimes the closing boundary is missing
        body += b"--" + boundary.encode() + b"--\r\n"
    subtype = rng.choice(["mixed", "alternative", "related", "signed"])
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"', body


def _mail(rng: random.Random, index: int, size_limit: int) -> bytes:
    headers = _header_block(rng, index)
    if rng.random() < 0.05:  # raw noise after the headers
        return ("\r\n".join(headers) + "\r\n\r\n").encode() + rng.randbytes(rng.randrange(0, 2048))
    content_headers, body = _tree(rng, rng.randrange(0, 6), size_limit)
    head = "\r\n".join([*headers, "MIME-Version: 1.0", content_headers])
    return (head.encode("utf-8", "replace") + b"\r\n\r\n" + body)[:size_limit]


def mails(seed: int, count: int, size_limit: int) -> Iterator[bytes]:
    """``count`` raw mails of at most ``size_limit`` bytes, the same for the same seed."""
    rng = random.Random(seed)
    for index in range(count):
        yield _mail(rng, index, size_limit)


#: for type checkers of callers that pick a generator by name
Generator = Callable[[int, int, int], Iterator[bytes]]
