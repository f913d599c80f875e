"""The client file as rows: encoding and delimiter detected, header checked, and every
physical line bounded, so that no line or cell can stop an import or fill memory."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from dialer.importer.cells import ESCAPED_BYTES, restore
from dialer.importer.errors import ImportFileError
from dialer.importer.messages import clip
from dialer.importer.rows import KNOWN_COLUMNS, REJECT_COLUMNS, REQUIRED_COLUMNS

# Bounds on what one row may be. A cell over FIELD_LIMIT (the csv module's own default
# limit) or a physical line over LINE_LIMIT characters rejects its row; both also bound
# the memory one row can take, whatever the file holds.
FIELD_LIMIT = 128 * 1024
LINE_LIMIT = 1024 * 1024
_PREVIEW = 1000  # characters of an over-long line kept to show its first cells


def detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        # Mostly UTF-8 with a few foreign rows (one pasted from a Windows-1251 file) is
        # UTF-8: those rows are rejected, the rest read right. Windows-1251 Cyrillic almost
        # never forms valid UTF-8 sequences, so more valid than invalid ones means UTF-8.
        text = head.decode("utf-8", errors="surrogateescape")
        invalid = len(ESCAPED_BYTES.findall(text))
        valid = sum(1 for c in text if c > "\x7f" and not "\udc80" <= c <= "\udcff")
        return "utf-8-sig" if valid > invalid else "cp1251"
    return "utf-8-sig"


def detect_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class Source:
    """The opened CSV: encoding, delimiter and header settled, rows to iterate.

    Bytes that are not text in the file's encoding are decoded with ``surrogateescape``
    and NUL characters are kept, so that such a row can be rejected on its own (with the
    rest imported) instead of stopping the import; `rows` flags them.
    """

    def __init__(self, path: Path, encoding: str | None):
        self.path = path
        try:
            self.raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ImportFileError(f"{path}: cannot open: {exc.strerror or exc}") from None
        try:
            self.size = os.fstat(self.raw.fileno()).st_size
            head = self.raw.read(1 << 16)
            if encoding is None and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                # Excel's "Unicode Text" (UTF-16, tab-separated) would otherwise read as
                # cp1251 mojibake and be refused for "missing columns".
                raise ImportFileError(
                    f'{path}: UTF-16 text (Excel\'s "Unicode Text"); save it as "CSV UTF-8" '
                    "(or CSV in Windows-1251) and import that"
                )
            self.encoding = encoding or detect_encoding(head)
            self.raw.seek(0)
            self.text = io.TextIOWrapper(self.raw, encoding=self.encoding, errors="surrogateescape", newline="")
            # physical line -> why its row cannot be imported (over-long, not text); filled
            # by _lines as the csv reader pulls lines, emptied by rows().
            self.bad_lines: dict[int, str] = {}
            self.current = ""  # the physical line the csv reader took last
            self.record_end = 0  # the physical line where the record rows() gave last ends
            lines = self._lines()
            first = next(lines, "")
            if self.bad_lines:
                raise ImportFileError(f"{path}: the header line cannot be read: {self.bad_lines[1]}")
            if not first.strip():
                raise ImportFileError(
                    f"{path}: no header line; the first line must name the columns, "
                    f"at least {', '.join(REQUIRED_COLUMNS)}"
                )
            self.delimiter = detect_delimiter(first)
            self.reader = csv.reader(itertools.chain([first], lines), delimiter=self.delimiter)
            try:
                self.header = next(self.reader)
            except csv.Error as exc:
                raise ImportFileError(f"{path}: the header cannot be read: {exc}") from None
            if self.bad_lines:  # a quoted header name running on over later lines
                line, reason = next(iter(self.bad_lines.items()))
                raise ImportFileError(f"{path}: the header cannot be read (line {line}): {reason}")
            self._check_header()
        except BaseException:
            self.raw.close()
            raise

    def _lines(self) -> Iterator[str]:
        """The file's physical lines, none longer than LINE_LIMIT: the rest of an over-long
        line is read and dropped (its row is rejected), so one line cannot fill memory."""
        readline = self.text.readline
        bad = self.bad_lines
        n = 0
        while True:
            line = readline(LINE_LIMIT)
            if not line:
                return
            n += 1
            if len(line) >= LINE_LIMIT and line[-1] not in "\r\n":
                total = len(line)
                while more := readline(LINE_LIMIT):
                    total += len(more)
                    if more[-1] in "\r\n":
                        total -= len(more) - len(more.rstrip("\r\n"))
                        break
                bad[n] = f"the line is {total:,} characters long (at most {LINE_LIMIT:,})"
                line = _stand_in(line)
            elif "\x00" in line:
                bad[n] = self._unreadable(line)
            elif not line.isascii():
                try:
                    line.encode("utf-8")  # fails on the surrogates undecodable bytes became
                except UnicodeEncodeError:
                    bad[n] = self._unreadable(line)
            self.current = line
            yield line

    def _unreadable(self, line: str) -> str:
        if "\x00" in line and not ESCAPED_BYTES.search(line):
            return "contains a NUL character (a binary file, or one saved as UTF-16?)"
        if self.encoding.startswith("utf-8"):
            return (
                "not UTF-8 text like the rest of the file (its cells are shown here read as "
                "Windows-1251): check them and import this file again"
            )
        return f"not {self.encoding} text (unreadable bytes are shown here as \ufffd)"

    def _check_header(self) -> None:
        raw = [h.replace("\ufeff", "").strip() for h in self.header]
        # A rejected file imported again: its trailing line/reason columns are ours.
        self.bookkeeping = len(raw) >= 2 and tuple(n.lower() for n in raw[-2:]) == REJECT_COLUMNS
        ncols = len(raw) - (2 if self.bookkeeping else 0)
        if self.bookkeeping:
            raw = [restore(n) for n in raw]
            self.header = [restore(h) for h in self.header]
        names = [n.lower() for n in raw]
        self.ncols = ncols
        # A column without a name keeps its values as the attribute column_N (its
        # position): they are the client's data, the header line just lacks a word.
        self.keys = [(n or f"column_{i + 1}") if i < ncols else "" for i, n in enumerate(names)]
        self.extra = [n for n in self.keys if n and n not in KNOWN_COLUMNS]
        seen: dict[str, int] = {}
        for i, n in enumerate(self.keys):
            if not n:
                continue
            if n in seen:
                j = seen[n]
                unnamed = [k + 1 for k in (j, i) if not names[k]]
                if unnamed:
                    raise ImportFileError(
                        f"{self.path}: column {unnamed[0]} has no name in the header line and column "
                        f"{j + 1 if unnamed[0] == i + 1 else i + 1} is named {clip(n)}: name the column or delete it"
                    )
                raise ImportFileError(f"{self.path}: column {clip(n)} appears twice (columns {j + 1} and {i + 1})")
            seen[n] = i
        missing = [c for c in REQUIRED_COLUMNS if c not in seen]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            found = ", ".join(clip(h, 40) for h in self.header[:20]) or "nothing"
            if len(self.header) > 20:
                found += ", ..."
            raise ImportFileError(
                f"{self.path}: missing required column{plural} {', '.join(missing)} "
                f"(the header line has {found}; delimiter {self.delimiter!r})"
            )

    def rows(self) -> Iterator[tuple[int, list[str], str | None]]:
        """(line where the record starts, cells, why the row cannot be imported or None).

        A record the csv module cannot read (a cell over its limit) comes with the first
        cells of its line when it started on that line; reading resumes on the next line.
        """
        reader = self.reader
        bad = self.bad_lines
        prev = reader.line_num
        bookkeeping = self.bookkeeping
        while True:
            try:
                for cells in reader:
                    end = reader.line_num
                    problem = None
                    if bad:
                        for n in range(prev + 1, end + 1):
                            reason = bad.pop(n, None)
                            if reason is not None and problem is None:
                                problem = reason if n == prev + 1 else f"line {n}: {reason}"
                    if bookkeeping:
                        cells = [restore(c) for c in cells]
                    self.record_end = end
                    yield prev + 1, cells, problem
                    prev = end
                return
            except csv.Error as exc:
                end = reader.line_num
                first = prev + 1
                for n in range(first, end + 1):
                    bad.pop(n, None)
                message = str(exc)
                if "field larger than field limit" in message:
                    message = f"a cell is longer than {csv.field_size_limit():,} characters (the limit)"
                if end != first:
                    # A quoted cell running over lines; what follows `end` is read afresh.
                    message = f"lines {first}-{end} were read as one row (a quote not closed?): {message}"
                cells = _preview_cells(self.current, self.delimiter) if end == first else []
                prev = end
                yield first, cells, message

    def tell(self) -> int:
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        self.raw.close()


def _stand_in(line: str) -> str:
    """What the csv reader gets instead of an over-long line: its start without quotes
    (so its first cells show in the rejected file), with one quote in front when the
    line had an odd number, so the reader's quoted/unquoted state changes as it would
    have over the whole line."""
    head = line[:_PREVIEW].replace('"', "").replace("\r", " ").replace("\n", " ")
    return ('"' if line.count('"') % 2 else "") + head + "\n"


def _preview_cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line[:_PREVIEW].replace('"', "")], delimiter=delimiter), [])
    except csv.Error:
        return []
