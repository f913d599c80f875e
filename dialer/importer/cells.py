"""Cells between the client file and the side files: bytes that were not text shown
readable, and formula-like cells quoted so a spreadsheet shows them instead of running them."""

from __future__ import annotations

import re

# What undecodable bytes become when a file is read with errors="surrogateescape".
ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")

# Cells a spreadsheet would run as a formula when a supervisor opens the rejected file
# (OWASP "CSV injection"), and a leading quote, so that quoting them is reversible.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise(cell: str) -> str:
    """A rejected file's cell as written: a leading ``'`` makes Excel and LibreOffice show
    ``=HYPERLINK(...)``, ``+7 912 ...`` or ``@SUM(...)`` as text instead of running it.
    A cell that already starts with ``'`` gets one more, so `restore` is its exact inverse."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def restore(cell: str) -> str:
    """Undo `neutralise` (only for a rejected file imported again, recognised by its
    trailing line/reason columns; a client file's own leading quotes are data)."""
    return cell[1:] if cell.startswith("'") else cell


def readable(cell: str) -> str:
    """A cell for the rejected file (which is UTF-8): bytes that were not text in the
    file's encoding are shown as Windows-1251, the usual reason for them in a Russian
    file otherwise UTF-8; NUL characters are dropped."""
    if cell.isascii() and "\x00" not in cell:
        return cell

    def decode(m: re.Match[str]) -> str:
        return bytes(ord(c) - 0xDC00 for c in m.group()).decode("cp1251", errors="replace")

    return ESCAPED_BYTES.sub(decode, cell).replace("\x00", "")
