"""HTML-only mails → readable plain text for the ticket description.

A tolerant stdlib ``HTMLParser``: scripts, styles and the head are dropped, block elements
and ``<br>`` become line breaks, list items get a dash, links keep their target in
parentheses, entities are decoded. The result is text (data), never markup: whoever renders
it escapes it like any other untrusted text.

At most ``MARKUP_MAX`` characters of markup are read (the fuzz run found a 3 MB HTML part with
400,000 tags taking over a second, holding the poll): the description keeps far less text than
that anyway (``max_description_chars``), and the text then ends saying where it was cut.
"""

from __future__ import annotations

__all__ = ["MARKUP_MAX", "html_to_text"]

import re
from html.parser import HTMLParser

#: most characters of HTML turned into text (under 0.2 s of parsing on one core; the description
#: keeps at most max_description_chars of text, 60,000 by default)
MARKUP_MAX = 500_000

_SKIP = {"script", "style", "head", "title", "noscript", "template"}
_BLOCK = {
    "p", "div", "section", "article", "header", "footer", "table", "tr", "ul", "ol", "blockquote",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr", "form", "address", "dl", "dt", "dd",
}  # fmt: skip


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append("\t")
        elif tag in _BLOCK:
            self.parts.append("\n\n")
        if tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n\n")
        elif tag == "a" and self._href:
            href = self._href.pop()
            if href and href.startswith(("http://", "https://")):
                self.parts.append(f" ({href})")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr"):
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """The readable text of an HTML document or fragment."""
    parser = _Text()
    cut = len(markup) > MARKUP_MAX
    try:
        parser.feed(markup[:MARKUP_MAX] if cut else markup)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - HTMLParser is tolerant; belt and braces
        pass
    text = "".join(parser.parts)
    lines = [line.strip() for line in text.replace("\xa0", " ").splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text + f"\n[… the HTML was cut after {MARKUP_MAX:,} of its {len(markup):,} characters]" if cut else text
