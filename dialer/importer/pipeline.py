"""`import_clients`: the client file into a store, parsing one batch ahead of the store's
writes, in a worker thread for small files and in a separate process for large ones."""

from __future__ import annotations

import asyncio
import os
import sys
import time as _time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialer.config.models import DialerConfig
from dialer.domain import ClientRecord
from dialer.importer.batches import Counts, Reader
from dialer.importer.errors import ImportAborted, ImportFileError
from dialer.importer.messages import cut
from dialer.importer.rows import parser_for
from dialer.importer.side_files import SideFile, side_files
from dialer.importer.source import Source
from dialer.importer.summary import ClientSink, ImportSummary
from dialer.importer.zones import TZ_DEFAULTED, TZ_FROM_ROW, TZ_INFERRED

PARALLEL_FROM_BYTES = 8 << 20  # files larger than this are parsed in a separate process
_CHILD_POLL = 0.5  # seconds between checks that the parsing process is still alive


async def import_clients(
    config: DialerConfig,
    csv_path: str | os.PathLike[str],
    sink: ClientSink,
    *,
    batch_size: int = 5000,
    progress: bool = False,
    now: datetime | None = None,
    encoding: str | None = None,
    parallel: bool | None = None,
) -> ImportSummary:
    """Import a client CSV into `sink` in batches of `batch_size`.

    A row that cannot be read (a cell over FIELD_LIMIT, a line over LINE_LIMIT, bytes that
    are not text in the file's encoding, a NUL) is rejected on its own like any invalid
    row; the rest is imported. Raises ImportFileError (nothing imported) when the file
    cannot be opened, its header cannot be read or lacks a required column, or the
    rejected file cannot be written; ImportAborted when the sink fails part-way. `now`
    (default: the current time) only decides which next_contact dates count as past in the
    summary. `encoding` overrides the detection
    (UTF-8 with or without BOM, else Windows-1251).

    Parsing runs one batch ahead of the sink, so the store's writes overlap with it:
    in a worker thread for small files, in a separate process for large ones
    (`parallel`, default: files over 8 MiB), where it also escapes the GIL.
    """
    started = _time.perf_counter()
    path = Path(csv_path)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    source = Source(path, encoding)  # header errors surface here, before anything is written
    if parallel is None:
        parallel = source.size > PARALLEL_FROM_BYTES
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=source.size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=path.name,
            file=sys.stderr,
            dynamic_ncols=True,
        )
    writer = _Writer(sink)
    try:
        if parallel:
            source.close()
            inserted, updated, counts, rejected_path = await _import_in_process(
                config, path, source.encoding, now, batch_size, writer, bar
            )
        else:
            inserted, updated, counts, rejected_path = await _import_in_thread(
                config, source, path, now, batch_size, writer, bar
            )
    except ImportFileError:
        raise
    except Exception as exc:
        written = writer.inserted + writer.updated
        raise ImportAborted(
            f"{path}: the import stopped after {written:,} clients were written "
            f"({type(exc).__name__}: {cut(str(exc), 300)}); importing the file again completes it "
            "(by id, without duplicates)"
        ) from exc
    finally:
        if bar is not None:
            bar.close()
        source.close()
    c = counts
    summary = ImportSummary(
        rows=c.rows,
        imported=inserted,
        updated=updated,
        rejected=c.rejected,
        tz_from_row=c.tz[TZ_FROM_ROW],
        tz_inferred=c.tz[TZ_INFERRED],
        tz_defaulted=c.tz[TZ_DEFAULTED],
        rejected_path=rejected_path,
        defaulted_path=c.defaulted_path,
        source=path,
        blank=c.blank,
        next_contact_past=c.past,
        seconds=_time.perf_counter() - started,
    )
    assert summary.rows == summary.imported + summary.updated + summary.rejected, summary
    return summary


class _Writer:
    """Feeds batches to the sink, one in flight, checking the sink's counts."""

    def __init__(self, sink: ClientSink):
        self.sink = sink
        self.inserted = 0
        self.updated = 0
        self._pending: asyncio.Future[tuple[int, int]] | None = None
        self._size = 0

    async def flush(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            ins, upd = await pending
            _check_counts(ins, upd, self._size)
            self.inserted += ins
            self.updated += upd

    async def put(self, records: list[ClientRecord]) -> None:
        await self.flush()
        if records:
            self._pending = asyncio.ensure_future(self.sink.upsert_clients(records))
            self._size = len(records)

    async def settle(self) -> None:
        """After a failure: let the batch in flight finish (it commits or not as a whole)
        instead of cancelling it under the store, which the caller closes next; its own
        error, if any, is consumed here (the first failure is the one reported)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await asyncio.wait([pending])
            if not pending.cancelled() and pending.exception() is None:
                ins, upd = pending.result()
                self.inserted += ins
                self.updated += upd


async def _import_in_thread(
    config: DialerConfig, source: Source, path: Path, now: datetime, batch_size: int, writer: _Writer, bar: Any
) -> tuple[int, int, Counts, Path | None]:
    rejects, defaulted = side_files(path, source)
    reader = Reader(source, parser_for(config), rejects, now, bar, defaulted)
    finished = False
    try:
        while not reader.done:
            records = await asyncio.to_thread(reader.batch, batch_size)
            await writer.put(records)
        await writer.flush()
        rejected_path = rejects.finish(path)
        reader.counts.defaulted_path = defaulted.finish(path)
        finished = True
    finally:
        await writer.settle()
        if not finished:
            rejects.abort()
            defaulted.abort()
    return writer.inserted, writer.updated, reader.counts, rejected_path


def _read_in_process(
    conn: Any, config: DialerConfig, path: Path, encoding: str, now: datetime, batch_size: int
) -> None:
    """The parsing process: sends ("batch", records, file position) and waits for the
    parent's go-ahead (so at most two batches are in memory), then ("done", counts,
    rejected file) or ("error", message)."""
    rejects: SideFile | None = None
    defaulted: SideFile | None = None
    try:
        source = Source(path, encoding)
        rejects, defaulted = side_files(path, source)
        reader = Reader(source, parser_for(config), rejects, now, None, defaulted)
        while not reader.done:
            records = reader.batch(batch_size)
            conn.send(("batch", records, source.size if reader.done else source.tell()))
            if conn.recv() != "more":
                rejects.abort()
                defaulted.abort()
                return
        reader.counts.defaulted_path = defaulted.finish(path)
        conn.send(("done", reader.counts, rejects.finish(path)))
        source.close()
    except ImportFileError as exc:
        for side in (rejects, defaulted):
            if side is not None:
                side.abort()
        conn.send(("error", str(exc)))
    except BaseException as exc:  # reported to the parent, which raises it
        for side in (rejects, defaulted):
            if side is not None:
                side.abort()
        conn.send(("crash", f"{type(exc).__name__}: {exc}"))


async def _import_in_process(
    config: DialerConfig, path: Path, encoding: str, now: datetime, batch_size: int, writer: _Writer, bar: Any
) -> tuple[int, int, Counts, Path | None]:
    import multiprocessing

    # spawn, not fork: the parent has threads (the store's), and forking those is unsafe.
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_read_in_process, args=(child, config, path, encoding, now, batch_size), daemon=True)
    proc.start()
    child.close()
    position = 0

    def receive() -> Any:
        while not parent.poll(_CHILD_POLL):
            if not proc.is_alive():
                raise RuntimeError(f"{path}: the parsing process died (exit code {proc.exitcode})")
        return parent.recv()

    try:
        while True:
            message = await asyncio.to_thread(receive)
            kind = message[0]
            if kind == "batch":
                _, records, pos = message
                parent.send("more")  # the child parses the next batch while we write this one
                await writer.put(records)
                if bar is not None:
                    bar.update(max(0, pos - position))
                    position = max(pos, position)
            elif kind == "done":
                await writer.flush()
                return writer.inserted, writer.updated, message[1], message[2]
            elif kind == "error":
                raise ImportFileError(message[1])
            else:
                raise RuntimeError(f"{path}: parsing failed: {message[1]}")
    finally:
        await writer.settle()
        if proc.is_alive():
            try:
                parent.send("stop")
            except OSError:
                pass
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        parent.close()


def _check_counts(inserted: int, updated: int, expected: int) -> None:
    if inserted + updated != expected:
        raise RuntimeError(
            f"the store accounted for {inserted} inserted + {updated} updated clients "
            f"of a batch of {expected}: rows would be lost"
        )
