"""The client file -> batches of records: each row parsed, counted, and a refused one
written to the rejected file with its line and reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dialer.domain import ClientRecord
from dialer.importer.errors import RowError
from dialer.importer.messages import clip, cut
from dialer.importer.rows import RowParser
from dialer.importer.side_files import SideFile, defaulted_reason
from dialer.importer.source import Source
from dialer.importer.zones import TZ_DEFAULTED, TZ_FROM_ROW, TZ_INFERRED


@dataclass
class Counts:
    rows: int = 0
    blank: int = 0
    rejected: int = 0
    tz: dict[str, int] = field(default_factory=lambda: {TZ_FROM_ROW: 0, TZ_INFERRED: 0, TZ_DEFAULTED: 0})
    past: int = 0
    defaulted_path: Path | None = None


class Reader:
    """Turns the file into batches of records; rejects go to the rejected file."""

    def __init__(
        self,
        source: Source,
        parser: RowParser,
        rejects: SideFile,
        now: datetime,
        bar: Any,
        defaulted: SideFile | None = None,
    ):
        self.source = source
        self.parser = parser
        self.rejects = rejects
        self.defaulted = defaulted
        self.now = now
        self.bar = bar
        self.counts = Counts()
        self.seen: dict[str, int] = {}
        self.rows = source.rows()
        self.done = False
        self._pos = 0

    def batch(self, size: int) -> list[ClientRecord]:
        records: list[ClientRecord] = []
        append = records.append
        parse = self.parser.parse
        keys = self.source.keys
        extra = self.source.extra
        ncols = self.source.ncols
        width = len(keys)
        seen = self.seen
        counts = self.counts
        tz = counts.tz
        add_reject = self.rejects.add
        file = self.source

        def reject(line: int, cells: list[str], reason: str) -> None:
            # A record read over several lines that is then refused was most likely cut
            # by a quote never closed (the following rows became one cell): say so, or
            # "phone: empty" hides where the rows of the file went.
            if file.record_end > line:
                reason = f"lines {line}-{file.record_end} were read as one row (a quote not closed?): {reason}"
            add_reject(line, cells, reason)

        now = self.now
        for line, cells, problem in self.rows:
            if problem is not None:
                # Not readable as a row (over-long, not text): rejected on its own, the
                # rest of the file is imported.
                counts.rows += 1
                counts.rejected += 1
                reject(line, cells, problem)
                continue
            if len(cells) != width:
                if not "".join(cells).strip():
                    counts.blank += 1
                    continue
                if len(cells) > width and "".join(cells[width:]).strip():
                    counts.rows += 1
                    counts.rejected += 1
                    surplus = [c for c in cells[width:] if c.strip()]
                    reject(
                        line,
                        cells,
                        f"row has {len(cells)} cells but the header has {width} "
                        f"(extra: {', '.join(clip(c) for c in surplus[:5])}); a delimiter inside an unquoted cell?",
                    )
                    continue
            row = dict(zip(keys, cells, strict=False))
            id_ = row["id"].strip() if "id" in row else ""
            if id_:
                first = seen.get(id_)
                if first is not None:
                    counts.rows += 1
                    counts.rejected += 1
                    reject(line, cells, f"duplicate id {cut(id_)} (first seen on line {first})")
                    continue
                seen[id_] = line
            elif not "".join(cells[:ncols]).strip():
                counts.blank += 1
                continue
            counts.rows += 1
            try:
                record, source = parse(row, line, extra)
            except RowError as exc:
                counts.rejected += 1
                reject(line, cells, exc.reason)
                continue
            tz[source] += 1
            if source == TZ_DEFAULTED and self.defaulted is not None:
                self.defaulted.add(line, cells, defaulted_reason(record.timezone))
            if record.next_contact is not None and record.next_contact < now:
                counts.past += 1
            append(record)
            if len(records) >= size:
                break
        else:
            self.done = True
        if self.bar is not None:
            pos = self.source.size if self.done else self.source.tell()
            self.bar.update(max(0, pos - self._pos))
            self._pos = max(pos, self._pos)
            self.bar.set_postfix_str(f"{counts.rows:,} rows, {counts.rejected:,} rejected", refresh=False)
        return records
