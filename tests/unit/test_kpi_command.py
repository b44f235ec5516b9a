"""``itsm-connector report``: files, stdout, bad arguments, bad lines, and the progress bar."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.cli.main import main
from connector.cli.report import add_parser, run_report
from connector.domain.clock import FakeClock
from connector.kpi.progress import ProgressBar

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kpi_2026-10.jsonl"
AS_OF = "2026-11-01T09:00:00+08:00"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(["report", *argv])
        except SystemExit as exc:  # argparse refusing the command line
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_out_writes_every_format_and_lists_the_files(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "2026-10"
    code, stdout, _ = run(
        "--period", "2026-10", "--input", str(FIXTURE), "--as-of", AS_OF, "--format", "json,csv,html", "--out", str(out)
    )
    assert code == 0
    written = [Path(line) for line in stdout.splitlines()]
    assert {p.name for p in written} == {p.name for p in out.iterdir()}
    assert len(written) == 11  # json, html, 9 csv
    data = json.loads((out / "report-2026-10.json").read_text(encoding="utf-8"))
    assert data["kpis"]["total"] == 24 and data["lang"] == "zh"
    assert (out / "report-2026-10.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (out / "report-2026-10-kpis.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_english_labels_and_another_time_zone(tmp_path: Path) -> None:
    code, stdout, _ = run(
        "--period", "2026-10", "--input", str(FIXTURE), "--as-of", AS_OF, "--lang", "en", "--tz", "UTC"
    )
    assert code == 0
    data = json.loads(stdout)
    assert data["lang"] == "en" and data["tz"] == "UTC"
    assert data["reports"]["by_user_priority"]["title"] == "Incidents by user and priority"
    # in UTC, T17 (2026-09-30T16:30Z) is a September ticket and T19 (2026-10-31T16:00Z) an October one
    assert data["kpis"]["total"] == 24
    assert data["previous"]["kpis"]["total"] == 4


def test_without_as_of_the_clock_says_when() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "--period", "2026-10", "--input", str(FIXTURE)])
    out = io.StringIO()
    code = run_report(args, clock=FakeClock(datetime(2026, 11, 1, 1, 0, tzinfo=UTC)), stdout=out, stderr=io.StringIO())
    assert code == 0
    assert json.loads(out.getvalue())["as_of"] == "2026-11-01T01:00:00+00:00"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--period", "2026-13"], "not a period: '2026-13'"),
        (["--period", "2026-10", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["--period", "2026-10", "--as-of", "2026-11-01T09:00"], "give the offset too"),
        (["--period", "2026-10", "--format", "pdf"], "formats are json, csv, html"),
        (["--period", "2026-10", "--format", "html"], "give --out DIR"),
    ],
)
def test_a_wrong_command_line_exits_2_and_says_why(argv: list[str], message: str) -> None:
    code, _, stderr = run(*argv, "--input", str(FIXTURE))
    assert code == 2
    assert message in stderr


def test_a_missing_input_exits_2(tmp_path: Path) -> None:
    code, _, stderr = run("--period", "2026-10", "--input", str(tmp_path / "none.jsonl"))
    assert code == 2 and "cannot read" in stderr


def test_many_bad_lines_are_listed_up_to_twenty_and_counted(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text("\n".join(["{}"] * 25 + FIXTURE.read_text(encoding="utf-8").splitlines()) + "\n")
    code, stdout, stderr = run("--period", "2026-10", "--input", str(history), "--as-of", AS_OF)
    assert code == 0
    lines = stderr.splitlines()
    assert lines[0].startswith(f"{history}:1: missing fields id, title, source, reporter, registrar, ci, …")
    assert f"{history}: … and 8 more" in lines
    assert lines[-1] == f"{history}: skipped 28 of 61 lines"
    assert json.loads(stdout)["input"]["skipped"] == 28


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_only_on_a_terminal_and_only_for_big_files() -> None:
    tty = _Tty()
    bar = ProgressBar(tty, 4_000_000, "h.jsonl")
    for _ in range(4):
        bar.advance(1_000_000)
    bar.finish()
    assert tty.getvalue().splitlines()[-1].endswith("[########################] 100%")
    assert tty.getvalue().count("\r") == 4 and tty.getvalue().endswith("\n")

    piped = io.StringIO()
    quiet = ProgressBar(piped, 4_000_000, "h.jsonl")
    quiet.advance(4_000_000)
    quiet.finish()
    assert piped.getvalue() == "" and not quiet.enabled

    small = ProgressBar(_Tty(), 10_000, "h.jsonl")
    assert not small.enabled
