"""The rendered reports: HTML (escaped, self-contained, both languages), CSV (BOM, no formulas), SVG."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector.kpi.history import HistoryRecord, open_history
from connector.kpi.periods import parse_period
from connector.kpi.render_csv import csv_files
from connector.kpi.render_html import render_html
from connector.kpi.report import Report, build_report
from connector.kpi.svg import Series, bar_chart, line_chart, nice_max

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kpi_2026-10.jsonl"
AS_OF = datetime.fromisoformat("2026-11-01T09:00:00+08:00")
HOSTILE = '<script>alert("x")</script> {{ 7*7 }} {% raw %} & "q"'


def month(**changes: Any) -> Report:
    """The fixture month, with ``changes`` applied to ticket T01 (reporter, CI, …)."""
    with open_history(FIXTURE) as reader:
        records = [r.model_copy(update=changes) if r.id == "T01" else r for r in reader]
    return build_report(records, parse_period("2026-10"), as_of=AS_OF).with_input(reader.stats())


@pytest.fixture(scope="module")
def report() -> Report:
    return month()


def test_ticket_strings_are_escaped_data_never_template_code() -> None:
    page = render_html(month(reporter=HOSTILE, ci=HOSTILE, category=HOSTILE, registrar=HOSTILE, resolver=HOSTILE))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "{{ 7*7 }}" in page  # shown as written: it was never compiled as a template
    assert "{% raw %} &amp;" in page


def test_the_page_is_self_contained(report: Report) -> None:
    page = render_html(report)
    assert not re.search(r"<script|<link|<img|@import|url\(|src=", page, re.IGNORECASE)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)
    assert page.count("<svg") == 3
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


def test_chinese_by_default_english_on_request(report: Report) -> None:
    zh, en = render_html(report), render_html(report, "en")
    assert '<html lang="zh-CN">' in zh and "事件管理月报 2026-10" in zh and "事件数量按用户及优先级统计" in zh
    assert '<html lang="en">' in en and "Incident management monthly report 2026-10" in en
    assert "Incidents by user and priority" in en and "事件数量按用户及优先级统计" not in en
    assert "(未填写)" in zh and "(not given)" in en  # T20 has no reporter
    with pytest.raises(ValueError, match="unsupported language"):
        render_html(report, "fr")


def test_the_page_names_the_skipped_lines(report: Report) -> None:
    page = render_html(report)
    assert "输入中有 3 行无效,已跳过" in page
    assert "第 18 行: missing field ci" in page
    assert "第 33 行: ticket T05 is already on line 5" in page


def test_the_trend_shows_the_previous_period(report: Report) -> None:
    page = render_html(report, "en")
    # KPI 2: 16/24 = 66.7% now, 2/3 = 66.7% in September: no change; KPI 7: 31.2 vs 5.3 minutes, worse
    assert re.search(r"1 · Total incidents</div>\s*<div class=\"value\">24</div>", page)
    assert re.search(r"Previous 3 <span class=\"\">▲ 21</span>", page)
    assert re.search(r"7 · Mean response time</div>\s*<div class=\"value\">31.2</div>", page)
    assert re.search(r"Previous 5.3 <span class=\"bad\">▲ 25.9</span>", page)
    assert "2026-09" in page  # the previous period's series in the charts


def test_a_quarter_is_a_quarterly_report() -> None:
    with open_history(FIXTURE) as reader:
        report = build_report(reader, parse_period("2026-Q4"), as_of=AS_OF)
    assert report.current.kpis.total == 26  # October's 24, T19 (1 November, Beijing) and T33 (December)
    assert report.previous.period.label == "2026-Q3"
    assert "事件管理季报 2026-Q4" in render_html(report)


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to read UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_one_csv_per_table_plus_the_kpis(report: Report) -> None:
    files = csv_files(report)
    assert sorted(files) == [
        "report-2026-10-1-by-user-priority.csv",
        "report-2026-10-2-by-user-ci.csv",
        "report-2026-10-3-by-user-category.csv",
        "report-2026-10-4-late-responses-by-user-priority.csv",
        "report-2026-10-5-late-resolutions-by-user-priority.csv",
        "report-2026-10-6-mean-times-by-priority.csv",
        "report-2026-10-7-line-rates-by-category.csv",
        "report-2026-10-8-by-staff.csv",
        "report-2026-10-kpis.csv",
    ]
    assert all(b"\r\n" in content for content in files.values())
    first = read_csv(files["report-2026-10-1-by-user-priority.csv"])
    assert first[0] == ["用户", "P1", "P2", "P3", "P4", "合计"]
    assert first[1] == ["票务中心", "0", "1", "6", "1", "8"]
    assert first[-2] == ["(未填写)", "0", "0", "0", "1", "1"]
    assert first[-1] == ["合计", "3", "5", "10", "6", "24"]
    kpis = read_csv(files["report-2026-10-kpis.csv"])
    assert kpis[0] == ["#", "指标", "2026-10", "2026-10 比率", "2026-09", "2026-09 比率"]
    assert kpis[2] == ["2", "已关闭", "16", "0.6667", "2", "0.6667"]
    assert kpis[9] == ["9", "第三方平均解决时间", "120.00", "", "", ""]  # September: no mean
    means = read_csv(files["report-2026-10-6-mean-times-by-priority.csv"])
    assert means[0] == ["优先级", "数量", "平均响应(分钟)", "平均解决(分钟)", "第三方平均解决(分钟)"]
    assert means[1] == ["P1", "3", "0.33", "191.33", ""]


def test_csv_cells_that_look_like_formulas_are_neutralised() -> None:
    files = csv_files(month(reporter='=HYPERLINK("http://x")', ci="+1-555", category="@SUM(A1)"), "en")
    rows = read_csv(files["report-2026-10-2-by-user-ci.csv"])
    assert ['\'=HYPERLINK("http://x")', "'+1-555", "1"] in rows
    assert rows[0] == ["User", "Device (CI)", "Count"]
    categories = read_csv(files["report-2026-10-3-by-user-category.csv"])
    assert ['\'=HYPERLINK("http://x")', "'@SUM(A1)", "1"] in categories


def test_an_empty_period_renders_with_dashes_not_zeros() -> None:
    report = build_report([], parse_period("2026-10"), as_of=AS_OF)
    page = render_html(report)
    assert page.count("本期没有事件") == 7  # report 6 always lists P1–P4, here with no means
    assert '<td class="num">—</td>' in page
    assert '<div class="value">—</div>' in page
    kpis = read_csv(csv_files(report)["report-2026-10-kpis.csv"])
    assert kpis[2] == ["2", "已关闭", "0", "", "0", ""]


@pytest.mark.parametrize(
    ("value", "whole", "top"),
    [(0, True, 4), (3, True, 4), (5, True, 8), (47, True, 60), (505, True, 600), (0.4, False, 0.4), (7.3, False, 8)],
)
def test_axis_tops_have_four_round_steps(value: float, whole: bool, top: float) -> None:
    assert nice_max(value, whole=whole) == pytest.approx(top)


def test_charts_escape_their_labels_and_skip_missing_values() -> None:
    bars = bar_chart("a<b", ["P1", "<P2>"], [Series("now & then", [3, None], "#000")])
    assert "<title>a&lt;b</title>" in bars and "&lt;P2&gt;" in bars and "now &amp; then" in bars
    assert bars.count("<rect") == 1 and "—" in bars
    line = line_chart("t", [Series("s", [1, None, 2], "#000")], ["1", "2", "3"])
    assert line.count("<polyline") == 1
    assert len(re.search(r'points="([^"]+)"', line)[1].split()) == 2  # type: ignore[index]


def test_a_record_from_the_fixture_still_validates_after_copy() -> None:
    # model_copy skips validation: the escaping tests above must not rely on an invalid record
    record = HistoryRecord.model_validate_json(FIXTURE.read_text(encoding="utf-8").splitlines()[0])
    assert (
        HistoryRecord.model_validate(record.model_copy(update={"reporter": HOSTILE}).model_dump()).reporter == HOSTILE
    )
