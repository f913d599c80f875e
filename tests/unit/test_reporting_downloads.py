"""The report's downloads read back: XLSX with openpyxl, CSV with the csv module."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

from openpyxl import load_workbook

from dialer.config import DialerConfig
from dialer.domain import CallStatus, Disposition, Guideline
from dialer.reporting.data import DayReport, build_day_report
from dialer.reporting.downloads import csv_excel, excel_cell, report_csv_excel, report_xlsx
from dialer.reports import REPORT_FIELDS
from dialer.store.base import CallRecord

DAY = date(2026, 12, 1)
T0 = datetime(2026, 12, 1, 6, 15, tzinfo=UTC)  # 10:15 at the center (UTC+4)


def call(n: int, status: CallStatus, talk_s: float, agent: str) -> CallRecord:
    return CallRecord(
        call_id=f"k{n}", client_id=f"c{n}", campaign="cold", agent=agent, phone="+79120000000",
        client_tz="Europe/Moscow", attempt=1, started_at=T0, local_day=DAY, status=status, provider="simulated",
        provider_call_id=None, answered_at=None, ended_at=None, ring_s=5.0, talk_s=talk_s,
        guideline=Guideline.WITHIN if talk_s else None,
        disposition=Disposition.MEETING_SET if talk_s else None, disposition_at=None, note=None,
        error="=HYPERLINK(\"x\")" if not talk_s else None, allowed_by="test",
    )  # fmt: skip


def sample(config: DialerConfig) -> DayReport:
    calls = [call(1, CallStatus.ANSWERED, 200.4, "Иванова"), call(2, CallStatus.FAILED, 0, "-petrov")]
    return build_day_report(config, DAY, calls, [], {"cold": (7, 2)})


def test_xlsx_has_a_typed_sheet_per_table(config: DialerConfig) -> None:
    wb = load_workbook(io.BytesIO(report_xlsx(sample(config))))
    assert wb.sheetnames == ["Campaigns", "Agents", "Hours", "Talk time", "Funnel", "Calls"]
    for ws in wb:
        assert ws.freeze_panes is not None and ws.freeze_panes.endswith("2")  # header row frozen
        assert all(c.font.b for c in ws[1])
        assert ws.column_dimensions["A"].width > 5
    camp = wb["Campaigns"]
    header = [c.value for c in camp[1]]
    row = dict(zip(header, [c for c in camp[2]], strict=True))
    assert row["Date"].value == datetime(2026, 12, 1) and row["Date"].number_format == "yyyy-mm-dd"
    assert row["Planned"].value == 7 and row["Calls"].value == 2 and row["Rolled over"].value == 2
    assert row["Median talk"].value == timedelta(seconds=200) and row["Median talk"].number_format == "[h]:mm:ss"
    assert row["In band"].value == 1.0 and row["In band"].number_format == "0%"
    agents = {r[2]: r for r in wb["Agents"].iter_rows(min_row=2, values_only=True)}
    assert set(agents) == {"Иванова", "-petrov"}  # Cyrillic kept, a leading "-" stays text
    assert agents["Иванова"][5] == timedelta(seconds=200)  # talk time as an Excel duration
    hours = list(wb["Hours"].iter_rows(min_row=2, values_only=True))
    assert (time(10, 0), 2) in {(h[0], h[-1]) for h in hours}
    calls = {r[0]: r for r in wb["Calls"].iter_rows(min_row=2, values_only=True)}
    assert calls["k1"][1] == datetime(2026, 12, 1, 10, 15)  # center local time, as the header says
    assert calls["k1"][5] == "+79120000000"  # a string cell: no formula, no apostrophe
    assert calls["k2"][15] == '\'=HYPERLINK("x")'  # never written as a formula
    assert [r for r in wb["Funnel"].iter_rows(min_row=2, values_only=True)][0] == ("Planned", 7)


def test_csv_for_russian_excel(config: DialerConfig) -> None:
    data = report_csv_excel(sample(config))
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads UTF-8, not cp1251
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert list(rows[0]) == list(REPORT_FIELDS)  # the columns of `dialer report --csv`
    assert [r["agent"] for r in rows] == ["*", "'-petrov", "Иванова"]
    total = rows[0]
    assert total["talk_median_s"] == "200,4"  # decimal comma
    assert total["talk_within_share"] == "1"
    assert total["planned"] == "7" and total["date"] == "2026-12-01"
    assert rows[1]["planned"] == ""  # agents carry no plan


def test_excel_cells() -> None:
    assert excel_cell(0.381) == "0,381"
    assert excel_cell(238.0) == "238"
    assert excel_cell(1 / 3) == "0,333333"
    assert excel_cell(None) == "" and excel_cell(True) == "1" and excel_cell(12) == "12"
    assert excel_cell(datetime(2026, 12, 1, 9, 5)) == "2026-12-01 09:05:00"
    assert excel_cell("@SUM(A1)") == "'@SUM(A1)" and excel_cell("+7912") == "'+7912"
    assert excel_cell("a;b") == "a;b"  # the csv module quotes it, see below
    data = csv_excel([{"x": "a;b", "y": 'say "hi"'}], ["x", "y"]).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(data, newline=""), delimiter=";")) == [["x", "y"], ["a;b", 'say "hi"']]
