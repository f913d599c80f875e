"""The day report page: one server-rendered HTML page (Jinja2), charts inline as SVG.

`render_day_report` returns the whole page as text; it does no I/O beyond reading its
template, so the supervisor console (behind its login) and a test can both call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from dialer.domain import Disposition
from dialer.reporting import charts
from dialer.reporting.data import BAND_LABELS, OUTCOME_LABELS, Band, DayReport, Outcome
from dialer.reporting.occupancy import NEAR_CAP, abandon_level

STATIC_DIR_NAME = "static"
CSS_FILE = "report.css"


def mmss(seconds: float | None) -> str:
    """Talk time as M:SS (H:MM:SS past an hour); a dash when there is none."""
    if seconds is None:
        return "–"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def pct(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"


def rate(share: float | None) -> str:
    """An abandon rate: one decimal, since caps are a few percent (3.0 %)."""
    return "–" if share is None else f"{share:.1%}"


def per_hour(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def dash(value: object) -> str:
    return "–" if value is None else str(value)


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("dialer.reporting", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(mmss=mmss, pct=pct, dash=dash, rate=rate, per_hour=per_hour)
    env.globals.update(abandon_level=abandon_level)
    return env


@dataclass(frozen=True)
class Links:
    """Where the page's form and downloads point. `page` is the page's own path; the
    downloads are `page` + ".xlsx" / ".csv" with the same query."""

    page: str = "/report"
    css: str = "/report/static/report.css"

    def query(self, report: DayReport) -> str:
        q: dict[str, str] = {"date": report.day.isoformat()}
        if report.campaign:
            q["campaign"] = report.campaign
        return urlencode(q)

    def download(self, report: DayReport, ext: str) -> str:
        return f"{self.page}.{ext}?{self.query(report)}"


def render_day_report(
    report: DayReport,
    *,
    links: Links | None = None,
    center_name: str = "",
    error: str | None = None,
) -> str:
    """The day report page. `error` (one line, e.g. a bad date in the form) is shown
    above the report instead of failing the page."""
    links = links or Links()
    local = report.generated_at.astimezone(ZoneInfo(report.center_tz))
    context = {
        "r": report,
        "links": links,
        "xlsx_url": links.download(report, "xlsx"),
        "csv_url": links.download(report, "csv"),
        "center_name": center_name,
        "error": error,
        "generated": local.strftime("%Y-%m-%d %H:%M"),
        "day_title": _day_title(report.day),
        "charts": {
            "hours": Markup(charts.hourly_chart(report.hours, report.center_tz)),
            "talk": Markup(charts.talk_chart(report.talk)),
            "funnel": Markup(charts.funnel_chart(report.funnel)),
            "agents": Markup(charts.agents_chart(report.agents)),
        },
        "bands": list(Band),
        "band_labels": BAND_LABELS,
        "outcomes": [o for o in Outcome if any(h.counts[o] for h in report.hours)],
        "outcome_labels": OUTCOME_LABELS,
        "disposition_names": {d: d.value.replace("_", " ") for d in Disposition},
        "conversations": report.talk.conversations,
        "meetings": next(s.value for s in report.funnel if s.key == "meetings"),
        "contracts": next(s.value for s in report.funnel if s.key == "contracts"),
        "undisposed": sum(a.undisposed for a in report.agents),
        "occupied_agents": {
            c.campaign: [a for a in report.agents if a.campaign == c.campaign and a.row.logged_in_s is not None]
            for c in report.campaign_rows
        },
        "near_cap": NEAR_CAP,
        "client_first": any(p.client_first for p in report.pacing.values()),
    }
    return _env().get_template("day_report.html").render(context)


def _day_title(day: date) -> str:
    return f"{datetime(day.year, day.month, day.day):%A} {day.day} {datetime(day.year, day.month, 1):%B} {day.year}"
