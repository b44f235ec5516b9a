"""A huge HTML-only mail is converted in bounded time (found by bench/fuzz.py: a 3 MB part of
400,000 tags took over a second and held the poll) and its text says where it was cut."""

from __future__ import annotations

import time

from connector.integrations.mail.html import MARKUP_MAX, html_to_text
from connector.integrations.mail.message import parse_mail


def test_a_huge_html_part_is_cut_and_says_so() -> None:
    markup = "<b>html</b><script>x</script>" * 100_000  # 3 MB, 400,000 tags
    mail = (
        b"Message-ID: <big@metro.example>\r\nFrom: z@metro.example\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n" + markup.encode()
    )
    started = time.process_time()
    parsed = parse_mail(mail)
    assert time.process_time() - started < 1.0
    assert parsed.html_only and parsed.text.startswith("html")
    assert parsed.text.endswith(f"cut after {MARKUP_MAX:,} of its {len(markup):,} characters]")


def test_html_below_the_bound_is_whole() -> None:
    assert html_to_text("<p>a</p><p>b</p>") == "a\n\nb"
