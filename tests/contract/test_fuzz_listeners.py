"""The seeded fuzz subset that runs in CI (issue 17, Deliver 4): generated webhook bodies through
the real endpoint over loopback, generated mails through the IMAP source's per-mail path
(``tests/faults/fuzzrun.py`` says which path and why). No crash, every answer within 1 s,
every reject a dead letter with its reason, the resident set flat in the second half.

The full 10,000 + 10,000 run is ``python bench/fuzz.py --bodies 10000 --mails 10000``; its
figures are in bench/results/fuzz.md. ``ITSM_FUZZ_SEED`` picks another seed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.faults.fuzzgen import mails, webhook_bodies
from tests.faults.fuzzrun import Summary, run_mails, run_webhook

SEED = int(os.environ.get("ITSM_FUZZ_SEED", "20261206"))
BODY_LIMIT = 256 * 1024
MAIL_LIMIT = 2 * 1024 * 1024
#: growth of the resident set allowed between halfway and the end (allocator noise, caches)
RSS_SLACK_KIB = 32 * 1024


def check(summary: Summary, count: int) -> None:
    assert summary.items == count
    assert summary.problems == []
    assert summary.rejects > 0 and summary.dead_letters == summary.rejects
    assert summary.max_answer_seconds < 1.0
    assert summary.rss_kib["after"] - summary.rss_kib["halfway"] < RSS_SLACK_KIB, summary.rss_kib


@pytest.fixture(autouse=True)
def quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)  # thousands of expected refusals are logged as warnings


def test_webhook_bodies_through_the_real_endpoint(tmp_path: Path) -> None:
    summary = run_webhook(webhook_bodies(SEED, 3000, BODY_LIMIT), tmp_path, limit=BODY_LIMIT)
    check(summary, 3000)
    assert {"200", "400", "422"} <= set(summary.answers)


def test_mails_through_the_imap_source_path(tmp_path: Path) -> None:
    summary = run_mails(mails(SEED, 1500, MAIL_LIMIT), tmp_path, size_limit=MAIL_LIMIT)
    check(summary, 1500)
    assert summary.answers["alert"] > 0
