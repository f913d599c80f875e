"""The day report's downloads: an XLSX workbook and a CSV that Russian Excel opens.

XLSX (openpyxl): one sheet per table of the page plus the call log; cells are typed
(counts are numbers, talk times are Excel durations, shares are percentages, dates
and times are Excel dates), the header row is frozen and filtered, columns are sized.

CSV for Excel: UTF-8 with a BOM (without it Excel reads the bytes as cp1251 and the
Cyrillic turns to mojibake), ``;`` between fields and a **decimal comma**. Russian
Excel takes ``,`` as its decimal separator (that is why its list separator is ``;``):
with a decimal point ``0.381`` stays text and ``3.05`` even becomes the 3rd of May, so
fractions are written ``0,381``. Lines end CRLF. The columns are the ones of
``dialer report --csv``; machines should keep reading that (plain RFC 4180).
A text cell that Excel would take for a formula (starting ``= + - @``, tab or CR)
is prefixed with ``'`` so opening the file never runs anything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from dialer.reporting.data import BAND_LABELS, OUTCOME_LABELS, Band, DayReport, Outcome
from dialer.reports import REPORT_FIELDS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

DURATION = "[h]:mm:ss"  # a talk time; [h] so a day's total past 24 h still reads right
SHARE = "0%"
RATE = "0.0%"  # an abandon rate: caps are a few percent
PER_HOUR = "0.0"
DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm:ss"
HOUR = "hh:mm"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _duration(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=round(seconds))


class _Col:
    """A column: its header, the Excel number format of its cells, its width hint."""

    def __init__(self, header: str, fmt: str | None = None, width: int | None = None):
        self.header = header
        self.fmt = fmt
        self.width = width


def _sheet(
    wb: Workbook, title: str, cols: Sequence[_Col], rows: Iterable[Sequence[Any]], *, freeze: str = "A2"
) -> None:
    ws: Worksheet = wb.create_sheet(title)
    ws.append([c.header for c in cols])
    header_fill = PatternFill("solid", fgColor="EEF1F5")
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(vertical="center")
    widths = [len(c.header) for c in cols]
    count = 0
    for row in rows:
        ws.append([_xlsx_value(v) for v in row])
        count += 1
        for i, (col, v) in enumerate(zip(cols, row, strict=True)):
            if col.fmt is not None and v is not None:
                ws.cell(row=count + 1, column=i + 1).number_format = col.fmt
            widths[i] = max(widths[i], _shown_width(v))
    for i, col in enumerate(cols):
        ws.column_dimensions[get_column_letter(i + 1)].width = min(60, (col.width or widths[i]) + 2)
    ws.freeze_panes = freeze
    if count:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{count + 1}"


def _xlsx_value(v: Any) -> Any:
    # A string cell of an XLSX is text whatever it starts with, but openpyxl writes a
    # string starting "=" as a formula: keep that one text.
    if isinstance(v, str) and v.startswith("="):
        return "'" + v
    return v


def _shown_width(v: Any) -> int:
    if v is None:
        return 0
    if isinstance(v, datetime):
        return 19
    if isinstance(v, date | time | timedelta):
        return 10
    if isinstance(v, float):
        return 8
    return len(str(v))


def report_xlsx(report: DayReport) -> bytes:
    """The whole day report as an XLSX workbook (bytes): Campaigns, Agents, Hours,
    Talk time, Funnel and Calls sheets."""
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    wb.properties.title = f"Day report {report.day.isoformat()}"
    day = report.day

    _sheet(
        wb,
        "Campaigns",
        [
            _Col("Date", DATE),
            _Col("Campaign"),
            _Col("Planned"),
            _Col("Calls"),
            _Col("Clients dialed"),
            _Col("Reached"),
            _Col("Busy"),
            _Col("No answer"),
            _Col("Failed"),
            _Col("Machine"),
            _Col("Invalid number"),
            _Col("Canceled"),
            _Col("Interrupted"),
            _Col("Meetings"),
            _Col("Contracts"),
            _Col("Became hot"),
            _Col("Refused"),
            _Col("Do-not-call"),
            _Col("Complaints"),
            _Col("Rolled over"),
            _Col("Median talk", DURATION),
            _Col("In band", SHARE),
            _Col("Short"),
            _Col("In band (calls)"),
            _Col("Long"),
            _Col("Abandoned"),
            _Col("Abandon rate", RATE),
            _Col("Abandon rate (window)", RATE),
            _Col("Abandon window"),
            _Col("Abandon cap", RATE),
            _Col("Dial mode"),
            _Col("Logged in", DURATION),
            _Col("Talk", DURATION),
            _Col("Wrap-up", DURATION),
            _Col("Waiting", DURATION),
            _Col("Talk min per agent-hour", PER_HOUR),
        ],  # fmt: skip
        (
            [
                day,
                r.campaign,
                r.planned,
                r.dialed,
                r.clients_dialed,
                r.reached,
                r.busy,
                r.no_answer,
                r.failed,
                r.machine,
                r.invalid_number,
                r.canceled,
                r.interrupted,
                r.meetings_set,
                r.contracts_signed,
                r.became_hot,
                r.refused,
                r.do_not_call,
                r.complaints,
                r.rolled_over,
                _duration(r.talk_median_s),
                r.talk_within_share,
                r.talk_short,
                r.talk_within,
                r.talk_long,
                r.abandoned,
                r.abandon_rate,
                r.abandon_rate_window,
                *_pacing(report, r.campaign),
                _duration(r.logged_in_s),
                _duration(r.talk_total_s),
                _duration(r.wrap_s),
                _duration(r.wait_s),
                r.talk_min_per_agent_hour,
            ]  # fmt: skip
            for r in report.campaign_rows
        ),
        freeze="C2",
    )

    bands = list(Band)
    _sheet(
        wb,
        "Agents",
        [
            _Col("Date", DATE),
            _Col("Campaign"),
            _Col("Agent"),
            _Col("Calls"),
            _Col("Conversations"),
            _Col("Talk time", DURATION),
            _Col("Median talk", DURATION),
            _Col("In band", SHARE),
            *[_Col(BAND_LABELS[b]) for b in bands],
            _Col("Meetings"),
            _Col("Contracts"),
            _Col("Refused"),
            _Col("Do-not-call"),
            _Col("Awaiting disposition"),
            _Col("Dispositions"),
            _Col("Logged in", DURATION),
            _Col("Wrap-up", DURATION),
            _Col("Waiting", DURATION),
            _Col("Talk min per agent-hour", PER_HOUR),
        ],  # fmt: skip
        (
            [
                day,
                a.campaign,
                a.agent,
                a.row.dialed,
                a.conversations,
                _duration(a.talk_total_s),
                _duration(a.row.talk_median_s),
                a.within_share,
                *[a.bands[b] for b in bands],
                a.row.meetings_set,
                a.row.contracts_signed,
                a.row.refused,
                a.row.do_not_call,
                a.undisposed,
                ", ".join(f"{d.value} {n}" for d, n in sorted(a.dispositions.items())),
                _duration(a.row.logged_in_s),
                _duration(a.row.wrap_s),
                _duration(a.row.wait_s),
                a.row.talk_min_per_agent_hour,
            ]  # fmt: skip
            for a in report.agents
        ),
        freeze="D2",
    )

    outcomes = list(Outcome)
    _sheet(
        wb,
        "Hours",
        [_Col(f"Hour ({report.center_tz})", HOUR), *[_Col(OUTCOME_LABELS[o]) for o in outcomes], _Col("All calls")],
        ([time(h.hour), *[h.counts[o] for o in outcomes], h.total] for h in report.hours),
        freeze="B2",
    )

    _sheet(
        wb,
        "Talk time",
        [_Col("From", DURATION), _Col("To", DURATION), *[_Col(BAND_LABELS[b]) for b in bands], _Col("All")],
        ([_duration(b.start_s), _duration(b.end_s), *[b.counts[x] for x in bands], b.total] for b in report.talk.bins),
    )

    _sheet(
        wb,
        "Funnel",
        [_Col("Step"), _Col("Value")],
        ([s.label, s.value] for s in report.funnel),
        freeze="B2",
    )

    zone = ZoneInfo(report.center_tz)
    _sheet(
        wb,
        "Calls",
        [
            _Col("Call"),
            _Col(f"Started ({report.center_tz})", DATETIME),
            _Col("Campaign"),
            _Col("Agent"),
            _Col("Client"),
            _Col("Phone"),
            _Col("Client zone"),
            _Col("Status"),
            _Col("Ring", DURATION),
            _Col("Talk", DURATION),
            _Col("Band"),
            _Col("Disposition"),
            _Col("Attempt"),
            _Col("Allowed by"),
            _Col("Provider call"),
            _Col("Error"),
        ],  # fmt: skip
        (
            [
                c.call_id,
                c.started_at.astimezone(zone).replace(tzinfo=None),
                c.campaign,
                c.agent,
                c.client_id,
                c.phone,
                c.client_tz,
                c.status.value,
                _duration(c.ring_s),
                _duration(c.talk_s) if c.talk_s else None,
                c.guideline.value if c.guideline else None,
                c.disposition.value if c.disposition else None,
                c.attempt,
                c.allowed_by,
                c.provider_call_id,
                c.error,
            ]  # fmt: skip
            for c in report.calls
        ),
        freeze="B2",
    )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _pacing(report: DayReport, campaign: str) -> list[Any]:
    """Abandon window, cap and dial mode of a campaign (blank: no longer configured)."""
    p = report.pacing.get(campaign)
    return [p.abandon_window, p.max_abandon_rate, p.dial_mode] if p else [None, None, None]


def excel_cell(value: Any) -> str:
    """One value as Russian Excel reads it from a CSV cell (see the module doc)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".").replace(".", ",") if value % 1 else str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_excel(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> bytes:
    """Rows as CSV for Russian Excel: UTF-8 with BOM, ';', decimal comma, CRLF."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([excel_cell(row.get(c)) for c in columns])
    return buf.getvalue().encode("utf-8-sig")


def report_csv_excel(report: DayReport) -> bytes:
    """The `dialer report` rows of the day (campaign totals, agent *, then the agents)
    as CSV for Russian Excel."""
    return csv_excel((asdict(r) for r in report.row_list()), REPORT_FIELDS)


def download_name(report: DayReport, ext: str) -> str:
    """The file name a download is saved as: day-report-2026-12-01[-cold].xlsx"""
    suffix = f"-{report.campaign}" if report.campaign else ""
    return f"day-report-{report.day.isoformat()}{suffix}.{ext}"
