"""The day report counts calls the dialer itself cut on their own lines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dialer.domain import CallStatus
from dialer.model import CallRecord
from dialer.reports import TOTAL, build_rows, report_table

T = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def call(n: int, status: CallStatus) -> CallRecord:
    return CallRecord(
        call_id=f"k{n}", client_id=f"c{n}", campaign="cold", agent="ivanova", phone="+79120000000",
        client_tz="Europe/Moscow", attempt=1, started_at=T + timedelta(minutes=n), local_day=date(2026, 12, 1),
        status=status, provider="sip", provider_call_id=None, answered_at=None, ended_at=T + timedelta(minutes=n),
        ring_s=0, talk_s=0, guideline=None, disposition=None, disposition_at=None, note=None, error=None,
        allowed_by="test", worker="w1",
    )  # fmt: skip


def test_interrupted_calls_have_their_own_column() -> None:
    statuses = [CallStatus.INTERRUPTED, CallStatus.INTERRUPTED, CallStatus.FAILED, CallStatus.CANCELED]
    rows = build_rows(date(2026, 12, 1), [call(n, s) for n, s in enumerate(statuses)], [], {})
    total = next(r for r in rows if r.agent == TOTAL)
    assert (total.dialed, total.interrupted, total.failed, total.canceled) == (4, 2, 1, 1)
    header, *_ = report_table(rows).splitlines()
    assert "intr" in header.split()
