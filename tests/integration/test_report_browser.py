"""The HTML report in headless Chromium at a phone's width (390 px): nothing overflows.

The page is rendered from the hand-computed month, with the longest strings a desk writes
(an unbroken host name, a long department, a long category), in Chinese and in English. In
the browser, with every folded section opened, every table cell must hold its text
(``scrollWidth ≤ clientWidth``), every table must fit inside its section, and the page must
not scroll sideways. A full-page screenshot is kept as ``artifacts/report-390.png``.

Chromium and chromedriver come from Debian (``apt-get install chromium chromium-driver``,
scripts/test.sh does it); selenium is pinned to /usr/bin/chromedriver so it never tries to
download a driver (the network is closed).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector.kpi.history import open_history
from connector.kpi.periods import parse_period
from connector.kpi.render_html import render_html
from connector.kpi.report import Report, build_report

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "kpi_2026-10.jsonl"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WIDTH = 390
LONG = {
    "T01": {"reporter": "Line-3-Operations-Control-Centre/North-Depot-Maintenance-Planning-Unit"},
    "T03": {"category": "应用系统/自动售检票系统(AFC)/车站计算机系统/票务清分与对账模块/日终批处理"},
    "T05": {"ci": "core-switch-01.datacenter-a.metro.example.com:GigabitEthernet1/0/48"},
    "T09": {"resolver": "华为技术服务有限公司深圳分公司第二技术支持中心(ServiceDesk-Partner-Escalation)"},
}

# Every cell holds its text, every table fits its section, and the page does not scroll sideways.
# The folded user sections are opened first, so their tables are laid out and checked too.
CHECK = """
document.querySelectorAll('details').forEach(d => { d.open = true; });
const out = {cells: [], tables: [], page: null};
for (const cell of document.querySelectorAll('th, td, summary, .card, h1, h2, .meta, li')) {
  if (cell.scrollWidth > cell.clientWidth) {
    out.cells.push([cell.tagName, cell.textContent.trim().slice(0, 60), cell.scrollWidth, cell.clientWidth]);
  }
}
for (const table of document.querySelectorAll('table, svg')) {
  const box = table.closest('section').getBoundingClientRect();
  const own = table.getBoundingClientRect();
  if (own.right > box.right + 0.5 || own.left < box.left - 0.5) {
    out.tables.push([table.closest('section').id, own.left, own.right, box.left, box.right]);
  }
}
const root = document.documentElement;
out.page = [root.scrollWidth, root.clientWidth, document.body.scrollWidth, window.innerWidth];
out.height = root.scrollHeight;
out.cellCount = document.querySelectorAll('td').length;
return out;
"""


def _browser_or_skip() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing and os.environ.get("ITSM_SKIP_SERVERS") == "1":
        pytest.skip(f"{', '.join(missing)} not installed and ITSM_SKIP_SERVERS=1 (scripts/test.sh installs them)")
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver (scripts/test.sh)")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.TemporaryDirectory(prefix="itsm-chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile.name}",
        f"--window-size={WIDTH},900",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(60)
    try:
        yield browser
    finally:
        browser.quit()
        profile.cleanup()


@pytest.fixture(scope="module")
def report() -> Report:
    with open_history(FIXTURE) as reader:
        records = [r.model_copy(update=LONG[r.id]) if r.id in LONG else r for r in reader]
    built = build_report(records, parse_period("2026-10"), as_of=datetime.fromisoformat("2026-11-01T09:00:00+08:00"))
    return built.with_input(reader.stats())


def _phone(browser: Any, height: int) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": True},
    )


@pytest.mark.parametrize(("lang", "shot"), [("zh", "report-390.png"), ("en", "report-390-en.png")])
def test_nothing_overflows_at_390_px(
    driver: Any, report: Report, tmp_path: Path, lang: str, shot: str, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / f"report-{lang}.html"
    page.write_text(render_html(report, lang), encoding="utf-8")
    _phone(driver, 900)
    driver.get(page.as_uri())
    result = driver.execute_script(CHECK)
    assert result["cellCount"] > 100  # the tables are there, folded sections included
    assert result["cells"] == [], f"text wider than its cell: {result['cells']}"
    assert result["tables"] == [], f"tables or charts wider than their section: {result['tables']}"
    root_scroll, root_client, body_scroll, inner = result["page"]
    assert inner == WIDTH
    assert root_scroll <= root_client and body_scroll <= root_client, f"the page scrolls sideways: {result['page']}"

    ARTIFACTS.mkdir(exist_ok=True)
    _phone(driver, min(int(result["height"]), 16_000))
    target = ARTIFACTS / shot
    assert driver.save_screenshot(str(target))
    assert target.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nscreenshot ({lang}, {WIDTH} px): {target}")


def test_the_check_sees_what_it_looks_for(driver: Any, tmp_path: Path) -> None:
    """The same check on a page that does overflow, so a pass above means something."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        '<body><section id="s"><table><tr><td style="white-space:nowrap; max-width:50px; overflow:hidden">'
        + "core-switch-01.datacenter-a.metro.example.com" * 3
        + '</td></tr></table><div style="width:600px">wide</div></section></body></html>',
        encoding="utf-8",
    )
    _phone(driver, 900)
    driver.get(bad.as_uri())
    result = driver.execute_script(CHECK)
    assert len(result["cells"]) == 1 and result["cells"][0][0] == "TD"
    assert result["page"][0] > result["page"][1]  # the 600 px block scrolls the page sideways
