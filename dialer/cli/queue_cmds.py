"""Commands that fill the queue or set up its database: import, migrate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from dialer.cli.common import load_or_exit, run_or_exit, with_store
from dialer.cli.options import SpellingError, command, config_from, config_option, db_option
from dialer.store.roles import Database, Queue


@command("import")
@config_option
@click.argument(
    "files",
    nargs=-1,
    required=True,
    metavar="CSV_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the clients' CSV file",
)
@db_option
@click.option("--progress/--no-progress", default=None, help="progress bar (default: when stderr is a terminal)")
@click.option("--strict", is_flag=True, help="exit 1 when any row was rejected (the good rows are still imported)")
@click.pass_context
def import_cmd(
    ctx: click.Context, config_path: Path, files: tuple[Path, ...], db: str | None, progress: bool | None, strict: bool
) -> None:
    """Load clients from CSV_FILE into the queue (re-import updates, never duplicates).

    Creates the database or migrates its schema if needed."""
    from dialer.importer import ImportAborted, ImportFileError
    from dialer.loading import load_clients

    # `import CONFIG CSV_FILE` is the old spelling of `import --config CONFIG CSV_FILE`.
    if len(files) > 2:
        raise SpellingError(f"{len(files)} files given: import takes one CSV_FILE (and the config as --config)")
    *legacy_config, csv_file = files
    config = load_or_exit(config_from(ctx, legacy_config[0] if legacy_config else None))
    show = sys.stderr.isatty() if progress is None else progress

    async def go(store: Queue) -> Any:
        return await load_clients(config, csv_file, store, progress=show)

    try:
        summary, placed = run_or_exit(with_store(config, db, go, migrate=True))
    except (ImportFileError, ImportAborted) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    for line in summary.lines() + placed.lines():
        click.echo(line)
    if strict and summary.rejected:
        click.echo(f"error: {summary.rejected:,} rows rejected (--strict)", err=True)
        raise SystemExit(1)


@command("migrate")
@config_option
@db_option
def migrate_cmd(config_path: Path, db: str | None) -> None:
    """Create the database or bring its schema up to this version.

    Stop the workers of an older version first: they refuse a newer schema."""
    config = load_or_exit(config_path)

    async def go(store: Database) -> tuple[str, int, int]:
        before = await store.schema_version()
        return store.describe(), before, await store.migrate()

    where, before, after = run_or_exit(with_store(config, db, go, schema_by_fn=True))
    if before == after:
        click.echo(f"{where}: schema version {after}, already current")
    else:
        click.echo(f"{where}: schema version {after} (was {before or 'none'})")
