"""The day report over HTTP: Starlette routes for the page, its downloads and its CSS.

    GET {prefix}?date=YYYY-MM-DD&campaign=NAME   the page (both optional: today, all)
    GET {prefix}.xlsx?...                        the XLSX workbook
    GET {prefix}.csv?...                         the report rows as CSV for Russian Excel
    GET {prefix}/static/report.css               the page's stylesheet

The routes only read the store. They do no authentication of their own: the
supervisor console mounts them behind its login (and scopes `campaigns`). A bad
date or an unknown campaign is answered 400 with one line (the page shows it above
today's report), and nothing else happens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dialer.config import DialerConfig
from dialer.domain import EARLIEST_YEAR, LATEST_YEAR, year_in_range
from dialer.planning import center_today
from dialer.reporting.data import DayReport, load_day_report
from dialer.reporting.downloads import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    download_name,
    report_csv_excel,
    report_xlsx,
)
from dialer.reporting.page import STATIC_DIR_NAME, Links, render_day_report
from dialer.store.roles import DayRecords

log = structlog.get_logger("dialer.reporting")


class BadRequest(ValueError):
    """A query the report cannot answer; the message is shown to the person as is."""


def parse_query(params: dict[str, str], config: DialerConfig, now: datetime) -> tuple[date, str | None]:
    """(day, campaign) from ?date=&campaign=; missing: today (center time), all campaigns."""
    raw = (params.get("date") or "").strip()
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise BadRequest(f"{raw[:40]!r} is not a date like 2026-12-01") from None
        if not year_in_range(day.year):
            raise BadRequest(f"{raw!r} is out of range (years {EARLIEST_YEAR}-{LATEST_YEAR})")
    else:
        day = center_today(config, now)
    campaign = (params.get("campaign") or "").strip() or None
    names = [c.name for c in config.campaigns]
    if campaign is not None and campaign not in names:
        raise BadRequest(f"no campaign named {campaign[:60]!r} (campaigns: {', '.join(names)})")
    return day, campaign


def report_routes(
    store: DayRecords,
    config: DialerConfig,
    *,
    prefix: str = "/report",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Sequence[BaseRoute]:
    """The day report's routes for a Starlette app (see the module doc)."""
    links = Links(page=prefix, css=f"{prefix}/{STATIC_DIR_NAME}/report.css")

    async def load(request: Request) -> DayReport:
        now = clock()
        day, campaign = parse_query(dict(request.query_params), config, now)
        return await load_day_report(store, config, day, campaign=campaign, now=now)

    async def page(request: Request) -> Response:
        try:
            report = await load(request)
        except BadRequest as exc:
            now = clock()
            report = await load_day_report(store, config, center_today(config, now), now=now)
            html = render_day_report(report, links=links, center_name=config.center.name, error=str(exc))
            return HTMLResponse(html, status_code=400)
        return HTMLResponse(render_day_report(report, links=links, center_name=config.center.name))

    async def xlsx(request: Request) -> Response:
        try:
            report = await load(request)
        except BadRequest as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        log.info("report_download", format="xlsx", day=report.day.isoformat(), campaign=report.campaign)
        return Response(report_xlsx(report), media_type=XLSX_MEDIA_TYPE, headers=_attachment(report, "xlsx"))

    async def csv(request: Request) -> Response:
        try:
            report = await load(request)
        except BadRequest as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        log.info("report_download", format="csv-excel", day=report.day.isoformat(), campaign=report.campaign)
        return Response(report_csv_excel(report), media_type=CSV_MEDIA_TYPE, headers=_attachment(report, "csv"))

    return [
        Route(prefix, page, methods=["GET"]),
        Route(f"{prefix}.xlsx", xlsx, methods=["GET"]),
        Route(f"{prefix}.csv", csv, methods=["GET"]),
        Mount(f"{prefix}/{STATIC_DIR_NAME}", StaticFiles(packages=[("dialer.reporting", STATIC_DIR_NAME)])),
    ]


def _attachment(report: DayReport, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{download_name(report, ext)}"'}
