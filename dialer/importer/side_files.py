"""The files an import writes next to the client file: ``<stem>.rejected.csv`` (rows
refused, with line and reason) and ``<stem>.defaulted.csv`` (clients whose zone was
defaulted). Both have the client file's columns, so they can be fixed and imported again."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from dialer.importer.cells import neutralise, readable
from dialer.importer.errors import ImportFileError
from dialer.importer.rows import REJECT_COLUMNS
from dialer.importer.source import Source
from dialer.importer.summary import defaulted_path_for, rejected_path_for


class SideFile:
    """``<stem>.rejected.csv``: original columns + line + reason; written to a temporary
    name and moved into place at the end, so an interrupted import leaves no half file.

    The temporary file is created before the first row is read, so a folder where it
    cannot be written stops the import before anything is imported."""

    def __init__(self, path: Path, header: list[str], ncols: int, delimiter: str):
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.header = header[:ncols]
        self.ncols = ncols
        self.delimiter = delimiter
        self.count = 0
        try:
            # utf-8-sig: Excel opens a UTF-8 CSV with Cyrillic correctly only with a BOM.
            self._file: Any = open(self.part, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        except OSError as exc:
            raise ImportFileError(
                f"{path}: cannot write the rejected rows there: {exc.strerror or exc}; nothing was imported"
            ) from None
        self._writer: Any = csv.writer(self._file, delimiter=delimiter)

    def add(self, line: int, cells: list[str], reason: str) -> None:
        if self.count == 0:
            self._writer.writerow([neutralise(readable(h)) for h in self.header] + list(REJECT_COLUMNS))
        row = cells[: self.ncols]
        if len(row) < self.ncols:
            row = row + [""] * (self.ncols - len(row))
        self._writer.writerow([*(neutralise(readable(c)) for c in row), line, neutralise(readable(reason))])
        self.count += 1

    def finish(self, source: Path) -> Path | None:
        self._file.close()
        if self.count:
            os.replace(self.part, self.path)
            return self.path
        self.part.unlink(missing_ok=True)
        if self.path.exists() and self.path.resolve() != source.resolve():
            self.path.unlink()  # stale, from an earlier run of this file
        return None

    def abort(self) -> None:
        self._file.close()
        self.part.unlink(missing_ok=True)


def defaulted_reason(zone: str) -> str:
    return (
        f"timezone: empty and not inferable from the number; defaulted to {zone} "
        "(the schedule's, campaign's or center's zone)"
    )


def side_files(path: Path, source: Source) -> tuple[SideFile, SideFile]:
    """The rejected-rows file and the defaulted-zone file of an import."""
    return (
        SideFile(rejected_path_for(path), source.header, source.ncols, source.delimiter),
        SideFile(defaulted_path_for(path), source.header, source.ncols, source.delimiter),
    )
