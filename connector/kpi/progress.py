"""A one-line progress bar on stderr while a large history is read.

Only on a terminal (a cron job's log or a pipe gets no carriage-return noise) and only for a
file big enough to take a noticeable time; it counts bytes, which the reader knows without a
second pass over the file.
"""

from __future__ import annotations

__all__ = ["ProgressBar", "progress"]

from collections.abc import Callable
from typing import TextIO

#: below this size (about two thousand tickets) the bar would only flicker
MIN_BYTES = 1_000_000
_WIDTH = 24


class ProgressBar:
    """Draws ``label [#####·····]  42%`` and redraws only when the percentage changes."""

    def __init__(self, stream: TextIO, total_bytes: int, label: str, *, min_bytes: int = MIN_BYTES) -> None:
        self._stream = stream
        self._total = max(total_bytes, 1)
        self._label = label
        self._done = 0
        self._shown = -1
        self.enabled = total_bytes >= min_bytes and stream.isatty()

    def advance(self, nbytes: int) -> None:
        """Count ``nbytes`` more read."""
        if not self.enabled:
            return
        self._done += nbytes
        percent = min(100, self._done * 100 // self._total)
        if percent != self._shown:
            self._shown = percent
            filled = _WIDTH * percent // 100
            bar = "#" * filled + "·" * (_WIDTH - filled)
            self._stream.write(f"\r{self._label} [{bar}] {percent:3d}%")
            self._stream.flush()

    def finish(self) -> None:
        """End the bar's line (the next message starts on a fresh one)."""
        if self.enabled and self._shown >= 0:
            self._stream.write("\n")
            self._stream.flush()


def progress(stderr: TextIO, label: str) -> Callable[[int, int], None]:
    """An ``on_ticket(done, total)`` that draws a bar on ``stderr`` (on a terminal only)."""
    bars: list[ProgressBar] = []

    def tell(done: int, total: int) -> None:
        if not bars:
            bars.append(ProgressBar(stderr, total, label, min_bytes=1))
        bars[0].advance(1)
        if done == total:
            bars[0].finish()

    return tell
