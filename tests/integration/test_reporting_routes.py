"""The day report over HTTP and from `dialer report --format`, on a store filled by a
real simulated day: the page, the downloads and the CLI agree with `dialer report`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from starlette.applications import Starlette

from dialer.cli import main
from dialer.config import DialerConfig, load_config
from dialer.reporting.web import report_routes
from dialer.store.sqlite import SqliteStore
from tests.support.paths import EXAMPLE_CLIENTS, EXAMPLE_CONFIG
from tests.support.simulated_day import DAY, simulate_day

Q = f"date={DAY.isoformat()}"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[DialerConfig, Path]:
    config = load_config(EXAMPLE_CONFIG)
    db = tmp_path_factory.mktemp("report") / "day.db"
    simulate_day(config, EXAMPLE_CLIENTS, db)
    return config, db


@pytest.fixture
async def client(simulated: tuple[DialerConfig, Path]) -> AsyncIterator[httpx.AsyncClient]:
    config, db = simulated
    store = SqliteStore(db)
    await store.open(create=False)
    app = Starlette(routes=list(report_routes(store, config)))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
            yield c
    finally:
        await store.close()


def cli(db: Path, *args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, ["report", "--config", str(EXAMPLE_CONFIG), "--db", str(db), *args])
    return result.exit_code, result.stdout_bytes, result.stderr


async def test_the_page(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/report?{Q}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 4
    assert f'href="/report.xlsx?{Q}"' in r.text and f'href="/report.csv?{Q}"' in r.text
    css = await client.get("/report/static/report.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date=2026-13-01", "&#39;2026-13-01&#39; is not a date like 2026-12-01"),
        ("date=0999-01-01", "is out of range (years 1000-8999)"),
        ("date=2026-12-01&campaign=nope", "no campaign named &#39;nope&#39; (campaigns: cold, warm, care)"),
        ("date=<script>", "&#39;&lt;script&gt;&#39; is not a date"),
    ],
)
async def test_bad_input_is_one_line_on_the_page(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/report?{query}")
    assert r.status_code == 400
    assert message in r.text and "<script>" not in r.text
    assert 'role="alert"' in r.text


async def test_bad_input_to_a_download(client: httpx.AsyncClient) -> None:
    r = await client.get("/report.xlsx?date=yesterday")
    assert r.status_code == 400 and r.text == "'yesterday' is not a date like 2026-12-01\n"


@pytest.fixture(scope="module")
def cli_report(simulated: tuple[DialerConfig, Path]) -> tuple[list[dict[str, object]], bytes]:
    """`dialer report --json` and `--format csv-excel` of the day (run outside any event loop)."""
    _, db = simulated
    code, out, err = cli(db, "--date", DAY.isoformat(), "--format", "json")
    assert code == 0, err
    code, csv_bytes, err = cli(db, "--date", DAY.isoformat(), "--format", "csv-excel")
    assert code == 0, err
    return json.loads(out), csv_bytes


async def test_the_downloads_match_dialer_report(client: httpx.AsyncClient, cli_report: Any) -> None:
    rows, cli_csv = cli_report
    xlsx = await client.get(f"/report.xlsx?{Q}")
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert xlsx.headers["content-disposition"] == f'attachment; filename="day-report-{DAY.isoformat()}.xlsx"'
    wb = load_workbook(io.BytesIO(xlsx.content))
    campaigns = {r[1]: r for r in wb["Campaigns"].iter_rows(min_row=2, values_only=True)}
    for row in rows:
        if row["agent"] == "*":
            assert campaigns[row["campaign"]][2:6] == (
                row["planned"], row["dialed"], row["clients_dialed"], row["reached"],
            )  # fmt: skip
    assert wb["Calls"].max_row - 1 == sum(r["dialed"] for r in rows if r["agent"] == "*")

    page_csv = await client.get(f"/report.csv?{Q}")
    assert page_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert cli_csv == page_csv.content
    parsed = list(csv.DictReader(io.StringIO(cli_csv.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert [(r["campaign"], r["agent"], r["dialed"]) for r in parsed] == [
        (r["campaign"], r["agent"], str(r["dialed"])) for r in rows
    ]


async def test_a_campaign_download(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/report.csv?{Q}&campaign=warm")
    assert r.headers["content-disposition"].endswith(f'day-report-{DAY.isoformat()}-warm.csv"')
    parsed = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert {p["campaign"] for p in parsed} == {"warm"}


def test_cli_xlsx_to_a_file(simulated: tuple[DialerConfig, Path], tmp_path: Path) -> None:
    _, db = simulated
    target = tmp_path / "day.xlsx"
    code, _, err = cli(db, "--date", DAY.isoformat(), "--format", "xlsx", "--output", str(target))
    assert code == 0 and err.startswith(f"{target}: xlsx, ")
    assert load_workbook(target).sheetnames[0] == "Campaigns"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--output", "x.csv"], 2, "--output goes with --format xlsx|csv-excel"),
        (
            ["--format", "xlsx", "--json", "--output", "x.xlsx"],
            2,
            "--format xlsx and --json together: choose one output format",
        ),
        (["--format", "pdf"], 2, "'pdf' is not one of 'table', 'json', 'csv', 'xlsx', 'csv-excel'"),
        (["--format", "xlsx", "--output", "/nonexistent-dir/x.xlsx"], 1, "error: cannot write /nonexistent-dir/x.xlsx"),
    ],
)
def test_cli_refuses_bad_options(
    simulated: tuple[DialerConfig, Path], tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    _, db = simulated
    before = sorted(tmp_path.iterdir())
    got, out, err = cli(db, "--date", DAY.isoformat(), *args)
    assert got == code and message in err and out == b""
    assert "Traceback" not in err
    assert sorted(tmp_path.iterdir()) == before
