"""What an import reports and writes besides the store: the summary, the side files' names,
and the one thing it needs of a store (`ClientSink`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dialer.domain import ClientRecord


class ClientSink(Protocol):
    async def upsert_clients(self, records: Sequence[ClientRecord]) -> tuple[int, int]:
        """Insert or update by id; returns (inserted, updated).

        Importing the same id again updates that client, never duplicates it.
        """
        ...


@dataclass
class ImportSummary:
    rows: int  # data rows read (blank lines not counted)
    imported: int  # new clients
    updated: int  # existing clients updated
    rejected: int
    tz_from_row: int
    tz_inferred: int  # from the phone number
    tz_defaulted: int  # schedule / campaign / center zone
    rejected_path: Path | None = None  # written only when rejected > 0
    defaulted_path: Path | None = None  # clients whose zone was defaulted; written only when there are some
    source: Path | None = None
    blank: int = 0  # empty lines / rows of empty cells, skipped
    next_contact_past: int = 0  # accepted rows whose next_contact is before `now` (due at once)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (paths as strings)."""
        out = dict(self.__dict__)
        for key in ("rejected_path", "defaulted_path", "source"):
            out[key] = None if out[key] is None else str(out[key])
        out["seconds"] = round(self.seconds, 3)
        return out

    def lines(self) -> list[str]:
        name = self.source.name if self.source else "import"
        out = [
            f"{name}: {self.rows:,} rows: {self.imported:,} new, {self.updated:,} updated, {self.rejected:,} rejected"
        ]
        accepted = self.imported + self.updated
        if accepted:
            out.append(
                f"time zones: {self.tz_from_row:,} from the file, {self.tz_inferred:,} from the phone number, "
                f"{self.tz_defaulted:,} defaulted (schedule, campaign or center zone)"
            )
        if self.rejected and self.rejected_path:
            out.append(f"rejected rows with line and reason: {self.rejected_path} (fix them and import that file)")
        if self.tz_defaulted and self.defaulted_path:
            out.append(
                f"clients whose time zone was defaulted: {self.defaulted_path} "
                "(fill in their timezone and import that file to correct them)"
            )
        if self.blank:
            out.append(f"{self.blank:,} blank lines skipped")
        if self.next_contact_past:
            out.append(f"{self.next_contact_past:,} clients have a next_contact in the past: they are due now")
        if self.seconds >= 1:
            out.append(f"took {self.seconds:.1f} s ({self.rows / self.seconds:,.0f} rows/s)")
        return out


def rejected_path_for(csv_path: str | os.PathLike[str]) -> Path:
    """``clients.csv`` -> ``clients.rejected.csv`` in the same folder."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".rejected.csv")


def defaulted_path_for(csv_path: str | os.PathLike[str]) -> Path:
    """``clients.csv`` -> ``clients.defaulted.csv``: the imported clients whose time zone
    was neither in the file nor inferable from the number (same columns as the rejects,
    so the file can be corrected and imported again)."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".defaulted.csv")
