"""Fuzz the listeners at scale: ``python bench/fuzz.py --bodies 10000 --mails 10000``.

Generated webhook bodies go through the real Zabbix webhook endpoint over loopback and
generated mails through the IMAP source's per-mail path (``tests/faults/fuzzgen.py`` says what
is generated, ``tests/faults/fuzzrun.py`` how it is run). The promises checked: no crash, every
answer within 1 s, every reject in the dead letters with its reason, memory flat (the resident
set halfway and at the end). Results go to ``bench/results/fuzz.json`` and ``fuzz.md``:
answers by kind, rejects by reason, the slowest answer, RSS before/halfway/after, problems.
Exit status 1 when a promise broke. CI runs a seeded subset (tests/contract/test_fuzz_listeners.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.fuzzgen import mails, webhook_bodies  # noqa: E402
from tests.faults.fuzzrun import Summary, run_mails, run_webhook  # noqa: E402


def _markdown(args: argparse.Namespace, results: dict[str, Any]) -> str:
    lines = [
        "# Fuzz run",
        "",
        f"`python bench/fuzz.py --bodies {args.bodies} --mails {args.mails} --seed {args.seed}` "
        f"on {results['machine']} ({results['when']}), {results['seconds']} s in all.",
        "",
    ]
    for name, title in (("webhook", "Webhook bodies (real endpoint, loopback)"), ("mail", "Mails (IMAP source path)")):
        part = results[name]
        rss = part["rss_kib"]
        lines += [
            f"## {title}",
            "",
            f"- items: {part['items']}; answers: " + ", ".join(f"{k} × {v}" for k, v in part["answers"].items()),
            f"- rejects: {part['rejects']}; dead letters: {part['dead_letters']}",
            f"- slowest answer: {part['max_answer_seconds']} s",
            f"- RSS (KiB): before {rss.get('before')}, halfway {rss.get('halfway')}, after {rss.get('after')}",
            f"- problems: {len(part['problems'])}" + "".join(f"\n  - {p}" for p in part["problems"]),
            "",
            "| rejected by reason | count |",
            "|---|---|",
            *(f"| {reason.replace('|', '/')} | {count} |" for reason, count in part["rejected_by_reason"].items()),
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=10_000)
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--body-limit", type=int, default=256 * 1024, help="the endpoint's max_body_bytes")
    parser.add_argument("--mail-limit", type=int, default=4 * 1024 * 1024, help="the source's max_message_bytes")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # every refusal is logged; thousands are expected here
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        webhook: Summary = run_webhook(
            webhook_bodies(args.seed, args.bodies, args.body_limit), Path(folder), limit=args.body_limit
        )
        mail: Summary = run_mails(
            mails(args.seed, args.mails, args.mail_limit), Path(folder), size_limit=args.mail_limit
        )
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "seconds": round(time.monotonic() - started, 1),
        "args": {k: str(v) for k, v in vars(args).items()},
        "webhook": webhook.as_json(),
        "mail": mail.as_json(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fuzz.json").write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (args.out / "fuzz.md").write_text(_markdown(args, results), encoding="utf-8")
    broken = webhook.problems + mail.problems
    print(f"{args.bodies} bodies, {args.mails} mails: {len(broken)} problems; see {args.out / 'fuzz.md'}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
