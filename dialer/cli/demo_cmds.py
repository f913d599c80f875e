"""`dialer demo`: try the dialer in one command (the worker, simulated calls, people)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from dialer import logging as dlog
from dialer.cli.logsetup import log_settings
from dialer.cli.options import command
from dialer.config.errors import ConfigError
from dialer.demo import HOST, SECRET_ENV, TEMPLATE


def _port_free(port: int) -> str | None:
    """None when the demo can listen on `port`, else why not (one line)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {HOST} is in use: choose another with --port N"
            return f"cannot listen on {HOST}:{port}: {exc.strerror}"
    return None


@command("demo")
@click.option(
    "--config",
    "template",
    default=TEMPLATE,
    show_default="config/demo.yaml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the demo's settings (campaigns, provider); zones, agents, store and port are filled in",
)
@click.option("--port", default=8089, show_default=True, type=click.IntRange(1, 65535), help="the pages' port")
@click.option(
    "--db",
    "db",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="keep the demo in this new SQLite file (default: a temporary folder, removed at the end)",
)
@click.option(
    "--agents", default=2, show_default=True, type=click.IntRange(1, 6), help="agent accounts (ivanova, petrov, ...)"
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 20.0),
    help="rings and answering machines go this many times faster (talk time is yours)",
)
@click.pass_context
def demo_cmd(ctx: click.Context, template: Path, port: int, db: Path | None, agents: int, speed: float) -> None:
    """Try the dialer: the worker in real time with simulated clients; you are the agent.

    Creates a fresh store with clients whose windows are open now, agent accounts and a
    supervisor (passwords printed: demo only), and serves the pages on 127.0.0.1 until
    Ctrl-C. Calls go only to agents who press Ready in the browser."""
    from dialer.demo.run import run_demo
    from dialer.demo.setup import DemoError, DemoPaths, prepare

    started = time.monotonic()
    # Warnings of every held campaign would bury the banner: errors only, unless asked.
    log_settings(ctx).apply(default_level=logging.ERROR, stream=dlog.STDERR)
    problem = _port_free(port)
    if problem is not None:
        raise click.ClickException(problem)
    if db is not None and db.exists():
        raise click.ClickException(f"{db} exists: the demo makes a fresh store; remove it or choose another --db")
    if db is not None and not db.parent.is_dir():
        raise click.ClickException(f"folder {db.parent} does not exist")
    folder: Path | None = None
    if db is None:
        folder = Path(tempfile.mkdtemp(prefix="dialer-demo-"))
        paths = DemoPaths.beside(folder / "demo.db")
    else:
        paths = DemoPaths.beside(db.resolve())
    # The session key of this run only: in this process's environment, never in a file.
    os.environ[SECRET_ENV] = secrets.token_hex(32)
    url = f"http://{HOST}:{port}/"
    code = 0
    try:
        prepared = asyncio.run(
            prepare(paths, datetime.now(UTC), agents=agents, port=port, speed=speed, template=template)
        )
        code = asyncio.run(run_demo(prepared, url, click.echo, started, kept=folder is None))
    except (DemoError, ConfigError) as exc:
        click.echo(f"error: {exc}", err=True)
        code = 1
    except KeyboardInterrupt:  # Ctrl-C while it was still preparing
        code = 130
    finally:
        os.environ.pop(SECRET_ENV, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if code == 0:
        click.echo("dialer demo stopped.")
    raise SystemExit(code)
