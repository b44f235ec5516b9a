"""Bytes of a mail → text, whatever the mail claims its charset is.

Real mail is often mislabelled: Chinese clients declare ``gb2312`` and send GBK characters
(镕), Outlook declares ``iso-8859-1`` for UTF-8, some mails declare nothing. So:

* GB2312 and GBK are read as GB18030 (a superset of both), Big5 as Big5-HKSCS;
* a declared single-byte charset (Latin-1, Windows-125x) loses to UTF-8 when the bytes are
  valid UTF-8 (a Latin-1 text with accents is practically never valid UTF-8), and is used
  otherwise — it cannot fail, and guessing a double-byte charset there would turn ``été``
  into Chinese;
* a declared multi-byte charset that does not decode, an unknown or missing one, or ASCII
  with 8-bit bytes, is followed by UTF-8, GB18030, Big5-HKSCS, each strict; only then the
  declared one (or UTF-8) with replacement characters. Decoding never fails;
* the 7-bit charsets (UTF-7, HZ, ISO-2022-*) are read as declared even when every byte is
  ASCII — that is what they are made of;
* what comes out is always valid Unicode: UTF-7 can encode a lone surrogate (``+2t4-``), which
  no JSON or UTF-8 writer downstream accepts, so each one becomes U+FFFD.
"""

from __future__ import annotations

__all__ = ["codec_for", "decode_bytes"]

import codecs

from connector.util.unicode_text import valid_text

#: charsets mail declares → the codec that really reads them
_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "hz-gb-2312": "hz",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "unicode-1-1-utf-7": "utf-7",
}
_SINGLE_BYTE = {"iso8859-1", "iso8859-2", "iso8859-15", "cp1250", "cp1251", "cp1252", "koi8-r"}
_GUESSES = ("utf-8", "gb18030", "big5hkscs")
#: codecs whose text is written in ASCII bytes: ASCII input is still theirs to decode
_SEVEN_BIT = {"utf-7", "hz", "iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3"}
_SEVEN_BIT |= {"iso2022_jp_ext", "iso2022_kr"}


def codec_for(charset: str | None) -> str | None:
    """The Python codec for a declared ``charset``, or ``None`` when it is unknown or absent."""
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """``data`` as text, using the declared ``charset`` when it is right (see the module doc)."""
    if not data:
        return ""
    codec = codec_for(charset)
    if data.isascii() and codec not in _SEVEN_BIT:
        return data.decode("ascii")
    return valid_text(_decode(data, codec))


def _decode(data: bytes, codec: str | None) -> str:
    if codec in _SINGLE_BYTE:
        return _strict(data, "utf-8") or data.decode(codec, errors="replace")
    if codec is not None and codec != "ascii":
        text = _strict(data, codec)
        if text is not None:
            return text
    for guess in _GUESSES:
        if guess == codec:
            continue
        text = _strict(data, guess)
        if text is not None:
            return text
    if codec is not None:
        return data.decode(codec, errors="replace")
    return data.decode("utf-8", errors="replace")
