"""The report's SVG charts: valid, accessible, and drawn to the data's scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

from dialer.config import DialerConfig
from dialer.domain import CallStatus, Disposition
from dialer.reporting import charts
from dialer.reporting.data import DayReport, build_day_report
from dialer.store.base import CallRecord

SVG = "{http://www.w3.org/2000/svg}"
DAY = date(2026, 12, 1)
T0 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def call(n: int, status: CallStatus, *, agent: str = "ivanova", hour: int = 0, talk_s: float = 0.0) -> CallRecord:
    disposition = Disposition.NO_NEED if status is CallStatus.ANSWERED else None
    return CallRecord(
        call_id=f"k{n}", client_id=f"c{n}", campaign="cold", agent=agent, phone="+79120000000",
        client_tz="Europe/Moscow", attempt=1, started_at=T0 + timedelta(hours=hour), local_day=DAY, status=status,
        provider="simulated", provider_call_id=None, answered_at=None, ended_at=None, ring_s=5.0, talk_s=talk_s,
        guideline=None, disposition=disposition, disposition_at=None, note=None, error=None, allowed_by="test",
    )  # fmt: skip


def report(config: DialerConfig) -> DayReport:
    calls = [
        call(1, CallStatus.BUSY),
        call(2, CallStatus.BUSY),
        call(3, CallStatus.ANSWERED, talk_s=200),
        call(4, CallStatus.NO_ANSWER, hour=2, agent="<petrov & co>"),
    ]
    return build_day_report(config, DAY, calls, [], {"cold": (10, 0)})


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby", "").split()
    assert root.find(f"{SVG}title").get("id") == title_id  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").get("id") == desc_id  # type: ignore[union-attr]
    return root


def bars(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}rect") if e.get("class") == "bar"]


def test_calls_per_hour_stacks_outcomes_to_scale(config: DialerConfig) -> None:
    r = report(config)
    root = parse(charts.hourly_chart(r.hours, r.center_tz))
    drawn = bars(root)
    assert len(drawn) == 3  # 09:00 busy (2 calls) + conversation; 11:00 no answer
    height = {b.findtext(f"{SVG}title"): float(b.get("height", 0)) for b in drawn}
    one = height["11:00-12:00: No answer 1"]
    assert one > 0 and abs(height["09:00-10:00: Busy 2"] - 2 * one) < 0.2  # coordinates keep one decimal
    legend = [t.text for t in root.iter(f"{SVG}text") if t.text in ("Busy", "No answer", "Answering machine")]
    assert legend == ["Busy", "No answer"]  # only the outcomes the day had
    assert "4 calls" in (root.findtext(f"{SVG}desc") or "")


def test_talk_chart_shades_the_band(config: DialerConfig) -> None:
    r = report(config)
    root = parse(charts.talk_chart(r.talk))
    band = next(e for e in root.iter(f"{SVG}rect") if e.get("class") == "band")
    assert float(band.get("width", 0)) > 0
    assert any(t.text == "target 3:00-5:00" for t in root.iter(f"{SVG}text"))
    assert [b.findtext(f"{SVG}title") for b in bars(root)] == ["3:00-3:30: In band 1"]


def test_funnel_and_agents(config: DialerConfig) -> None:
    r = report(config)
    funnel = parse(charts.funnel_chart(r.funnel))
    widths = [float(b.get("width", 0)) for b in bars(funnel)]
    assert widths[0] > widths[1] > widths[2] > 0  # planned 10 > dialed 4 > reached 1
    agents_svg = charts.agents_chart(r.agents)
    assert "&lt;petrov &amp; co&gt;" in agents_svg  # names are escaped, never markup
    labels = [t.text for t in parse(agents_svg).iter(f"{SVG}text")]
    assert "<petrov & co>" in labels and "ivanova" in labels


def test_an_empty_day_says_so(config: DialerConfig) -> None:
    empty = build_day_report(config, DAY, [], [], {})
    for svg in (
        charts.hourly_chart(empty.hours, empty.center_tz),
        charts.talk_chart(empty.talk),
        charts.funnel_chart(empty.funnel),
        charts.agents_chart(empty.agents),
    ):
        root = parse(svg)
        assert not bars(root)
        assert any(t.get("class") == "empty" for t in root.iter(f"{SVG}text"))


def test_nice_ticks() -> None:
    assert charts.nice_ticks(0) == [0.0, 1.0]
    assert charts.nice_ticks(3) == [0.0, 1.0, 2.0, 3.0]
    assert charts.nice_ticks(37) == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert charts.nice_ticks(120)[-1] >= 120
