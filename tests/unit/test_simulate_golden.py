"""``simulate`` prints byte for byte what it printed before the pipeline was made faster.

The speed work (issue 15) changed how the pipeline computes — caches keyed on the rule book,
fewer ticket copies, a bounded ledger — and none of it may change a decision. A fixed synthetic
stream (``connector.util.synthetic``, seed 15: flaps, exact repeats, recoveries, storms of
repeats) runs through the shipped rules, once plainly and once with ``--until`` so the sweep's
steps, notices and the confirmation wait's closes are printed too; the output must equal the
golden files, which were written by the code before the change (``python -m
tests.unit.test_simulate_golden`` rewrites them — only do that for a change that is *meant* to
change decisions, and say so in the commit).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from connector.cli.main import main
from connector.util.synthetic import alert_stream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
#: (golden file, alerts in the stream, extra arguments)
CASES = {
    "plain": ("simulate_golden_plain.jsonl.gz", 6000, ()),
    # bounded memory (issue 15): forgetting finished tickets past every window changes no line
    "plain_forget": ("simulate_golden_plain.jsonl.gz", 6000, ("--forget-finished",)),
    "until": ("simulate_golden_until.jsonl.gz", 1000, ("--until", "2026-10-03T00:00:00+00:00")),
}


def _stream(path: Path, count: int) -> Path:
    path.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in alert_stream(count, seed=15)), encoding="utf-8"
    )
    return path


def _output(capsys: pytest.CaptureFixture[str], path: Path, extra: tuple[str, ...]) -> str:
    assert main(["simulate", "--input", str(path), *extra]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("case", sorted(CASES))
def test_simulate_output_is_unchanged(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, count, extra = CASES[case]
    got = _output(capsys, _stream(tmp_path / "in.jsonl", count), extra)
    want = gzip.decompress((FIXTURES / name).read_bytes()).decode("utf-8")
    got_lines, want_lines = got.splitlines(), want.splitlines()
    for number, (g, w) in enumerate(zip(got_lines, want_lines, strict=False), start=1):
        assert g == w, f"output line {number} differs"
    assert len(got_lines) == len(want_lines)
    assert got == want
    # the stream is not trivial: it has every kind of decision the speed work could disturb
    actions = {json.loads(line).get("action") for line in want_lines}
    assert {"create", "duplicate", "append", "ignored", "resolve", "flapping"} <= actions


def _regenerate() -> None:  # pragma: no cover - run by hand
    import contextlib
    import io
    import tempfile

    for name, count, extra in CASES.values():
        with tempfile.TemporaryDirectory() as tmp:
            path = _stream(Path(tmp) / "in.jsonl", count)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                assert main(["simulate", "--input", str(path), *extra]) == 0
        (FIXTURES / name).write_bytes(gzip.compress(out.getvalue().encode("utf-8"), mtime=0))
        print(f"{name}: {len(out.getvalue().splitlines())} lines", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    _regenerate()
