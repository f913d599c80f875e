"""The day report page in a real browser: it draws its charts, its form picks a
campaign, a bad date is refused on the page, and the XLSX download opens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from dialer.config import DialerConfig, load_config
from tests.support.paths import EXAMPLE_CLIENTS, EXAMPLE_CONFIG
from tests.support.simulated_day import DAY, report_app, simulate_day

DOWNLOAD_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[DialerConfig, Path]:
    config = load_config(EXAMPLE_CONFIG)
    db = tmp_path_factory.mktemp("report") / "day.db"
    simulate_day(config, EXAMPLE_CLIENTS, db)
    return config, db


def _charts(browser: Any) -> dict[str, Any]:
    from selenium.webdriver.common.by import By

    return {e.get_attribute("id"): e for e in browser.find_elements(By.CSS_SELECTOR, "svg.chart")}


def test_the_page_draws_its_charts_and_tables(browser: Any, serve_app: Any, simulated: Any) -> None:
    from selenium.webdriver.common.by import By

    base = serve_app(report_app(*simulated))
    browser.get(f"{base}/report?date={DAY.isoformat()}")
    assert DAY.isoformat() in browser.title
    charts = _charts(browser)
    assert set(charts) == {"chart-hours", "chart-talk", "chart-funnel", "chart-agents"}
    for chart_id, svg in charts.items():
        box = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", svg)
        assert box[0] > 300 and box[1] > 100, (chart_id, box)
        bars = svg.find_elements(By.CSS_SELECTOR, "rect.bar")
        assert bars, f"{chart_id} has no bars"
        # every bar is drawn: the browser gives it a real area
        areas = browser.execute_script(
            "return Array.from(arguments[0].querySelectorAll('rect.bar'))"
            ".map(b => b.getBBox().width * b.getBBox().height);",
            svg,
        )
        assert min(areas) > 0, chart_id
    # the stylesheet came from the package's static folder
    bg = browser.execute_script("return getComputedStyle(document.documentElement).backgroundColor")
    assert bg == "rgb(244, 246, 249)"
    agents = browser.find_elements(By.CSS_SELECTOR, "#table-agents tbody tr")
    assert len(agents) == 10  # six cold agents, three warm, the care queue


def test_the_form_picks_a_campaign(browser: Any, serve_app: Any, simulated: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base = serve_app(report_app(*simulated))
    browser.get(f"{base}/report?date={DAY.isoformat()}")
    Select(browser.find_element(By.NAME, "campaign")).select_by_value("warm")
    browser.find_element(By.CSS_SELECTOR, "form.pick button[type=submit]").click()
    deadline = time.monotonic() + 5
    while "campaign=warm" not in browser.current_url and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "campaign=warm" in browser.current_url
    campaigns = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#table-campaigns tbody th")]
    assert campaigns == ["warm"]
    assert "campaign=warm" in browser.find_element(By.ID, "download-xlsx").get_attribute("href")


def test_a_bad_date_is_refused_on_the_page(browser: Any, serve_app: Any, simulated: Any) -> None:
    from selenium.webdriver.common.by import By

    base = serve_app(report_app(*simulated))
    browser.get(f"{base}/report?date=2026-02-30")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert alert.text == "'2026-02-30' is not a date like 2026-12-01"
    assert len(_charts(browser)) == 4  # today's report is still shown under the message


def test_the_xlsx_download_opens(browser: Any, serve_app: Any, simulated: Any) -> None:
    from selenium.webdriver.common.by import By

    base = serve_app(report_app(*simulated))
    browser.get(f"{base}/report?date={DAY.isoformat()}")
    browser.find_element(By.ID, "download-xlsx").click()
    target = browser.download_dir / f"day-report-{DAY.isoformat()}.xlsx"
    deadline = time.monotonic() + DOWNLOAD_TIMEOUT
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert target.exists(), f"no download in {DOWNLOAD_TIMEOUT} s: {list(browser.download_dir.iterdir())}"
    wb = load_workbook(target)
    assert wb.sheetnames == ["Campaigns", "Agents", "Hours", "Talk time", "Funnel", "Calls"]
    shown = int(browser.find_element(By.CSS_SELECTOR, ".kpi b").text)  # the page's call count
    assert wb["Calls"].max_row - 1 == shown
    campaigns = {row[1]: row for row in wb["Campaigns"].iter_rows(min_row=2, values_only=True)}
    assert set(campaigns) == {"care", "cold", "warm"}
    calls_per_campaign = [r[3] for r in campaigns.values()]
    assert all(isinstance(n, int) for n in calls_per_campaign)  # typed cells: numbers are numbers
    assert sum(n for n in calls_per_campaign if isinstance(n, int)) == shown
