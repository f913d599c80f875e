"""What an import refuses: one row, the whole file, or the rest of an import under way."""

from __future__ import annotations


class RowError(ValueError):
    """A row that cannot be imported; ``reason`` names the column(s) and what is wrong."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable, no header, missing column, the
    rejected file cannot be written); raised before anything is imported."""


class ImportAborted(RuntimeError):
    """The import stopped part-way for a reason outside the file's rows (the store failed,
    the disk filled up). Each batch is one transaction, so the clients written so far are
    whole; importing the same file again completes the import (upsert by id)."""
