"""``simulate``'s memory stays bounded on a long stream, and forgetting changes no line (issue 15).

The golden files (tests/unit/test_simulate_golden.py) are a few hours of alerts, shorter than
the shipped horizon (a week), so they cannot prove that forgetting is harmless: here the rule
book's windows are shortened (``dataclasses.replace``) so that a stream of a day crosses the
horizon many times, and the same stream runs with and without forgetting.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from connector.contracts.plugin_manager import build_plugin_manager
from connector.process.pipeline import Pipeline
from connector.rules.book import RuleBook
from connector.rules.loading import default_rulebook
from connector.runtime.simulate import Simulator, run_lines
from connector.runtime.simulate_memory import OldEvents, SeenEvents, forget_horizon
from connector.util.synthetic import alert_stream


def _short_book() -> RuleBook:
    book = default_rulebook()
    return replace(book, dedup=replace(book.dedup, recurrence_window=timedelta(hours=1)))


def _run(count: int, *, forget: bool, seed: int = 7) -> tuple[list[dict[str, Any]], list[tuple[int, int]], Simulator]:
    book = _short_book()
    pipeline = Pipeline.from_manager(build_plugin_manager(), book)
    simulator = Simulator(pipeline, forget=forget)
    stream = alert_stream(count, seed=seed, hosts=20, triggers=10)
    lines = [json.dumps(line, ensure_ascii=False) for line in stream]
    out: list[dict[str, Any]] = []
    sizes: list[tuple[int, int]] = []
    for number, line in enumerate(lines, start=1):
        out.extend(run_lines([line], simulator))
        if number % 1000 == 0:
            sizes.append((len(simulator.ledger), simulator._seen.recent))
    return out, sizes, simulator


def test_horizon_is_the_longest_window_that_reads_finished_tickets() -> None:
    book = default_rulebook()
    dedup = book.dedup
    assert dedup.flapping is not None
    flapping = dedup.flapping.window + dedup.flapping.quiet
    assert forget_horizon(book) == max(dedup.window, flapping)
    longer = replace(book, dedup=replace(dedup, window=timedelta(days=3)))
    assert forget_horizon(longer) == timedelta(days=3)
    # recurrence reads only each fingerprint's last finished master, which is always kept
    recurrence = replace(book, dedup=replace(dedup, recurrence_window=timedelta(days=40)))
    assert forget_horizon(recurrence) == forget_horizon(book)


def test_forgetting_changes_no_line_and_the_ledger_plateaus() -> None:
    kept, grown, unbounded = _run(16000, forget=False)
    forgot, bounded, simulator = _run(16000, forget=True)
    assert forgot == kept  # not one decision, reason or field changed
    assert simulator.horizon == timedelta(hours=1)
    # without forgetting, the ledger grows with the stream ...
    assert grown[-1][0] > 1.5 * grown[len(grown) // 2 - 1][0]
    # ... with it, it plateaus: the second half holds no more than the first half's peak (+ slack
    # for the horizon's phase), and far less than the unbounded run at the end
    first_peak = max(size for size, _ in bounded[: len(bounded) // 2])
    assert max(size for size, _ in bounded[len(bounded) // 2 :]) <= 1.25 * first_peak
    assert bounded[-1][0] < grown[-1][0] / 2
    # event keys: at most a batch in full, every one of them still answering
    assert max(keys for _, keys in bounded) < 4096
    assert len(simulator._seen) == len(unbounded._seen) > 4096


def test_old_event_keys_still_name_their_first_line() -> None:
    seen = SeenEvents(batch=50)  # compacted ten times, so runs are merged too
    for number in range(1, 501):
        seen.add("zabbix", f"event-{number}", number)
    assert seen.recent < 50
    assert len(seen) == 500
    for number in (1, 2, 77, 250, 499, 500):
        assert seen.first_line("zabbix", f"event-{number}") == number
    assert seen.first_line("zabbix", "event-501") is None
    assert seen.first_line("glpi", "event-1") is None


def test_old_events_merge_runs_and_keep_the_first_line() -> None:
    old = OldEvents()
    old.add([(5, 10), (1, 3)])
    old.add([(2, 4)])
    old.add([(5, 2)])
    assert len(old) == 4
    assert old.line(5) == 2
    assert old.line(1) == 3
    assert old.line(3) is None


def test_old_events_hold_line_numbers_past_32_bits() -> None:
    old = OldEvents()
    old.add([(7, 1), (3, 2)])  # 32-bit line numbers ...
    big = 5_000_000_000
    old.add([(9, big), (4, big + 1)])  # ... merged with a run that needs 64 bits
    old.add([(1, 3)])
    assert len(old) == 5
    assert old.line(9) == big
    assert old.line(4) == big + 1
    assert old.line(7) == 1
    assert old.line(1) == 3
