"""The agent's and supervisor's commands about one client or call: why, dispose."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from dialer.cli.common import iso, load_or_exit, login_name, parse_instant, run_or_exit, with_store
from dialer.cli.options import command, config_option, db_option
from dialer.config.values import show
from dialer.domain import Disposition
from dialer.store.base import Store


@command("why")
@config_option
@db_option
@click.argument("client_id", help="the client's id (as in the imported CSV)")
@click.option("--at", "at", default=None, help="instant to explain (ISO; default now; no offset = center time)")
def why_cmd(config_path: Path, db: str | None, client_id: str, at: str | None) -> None:
    """Why is this client (not) being dialed?"""
    from dialer.why import explain

    config = load_or_exit(config_path)
    instant = parse_instant(at, config.center.timezone)
    text = run_or_exit(with_store(config, db, lambda s: explain(s, config, client_id, instant)))
    if text is None:
        click.echo(f"no client {client_id!r}", err=True)
        raise SystemExit(1)
    click.echo(text)


@command("dispose")
@config_option
@db_option
@click.argument("call_id", help="the answered call's id (see `dialer calls`)")
@click.argument(
    "disposition", type=click.Choice([d.value for d in Disposition]), help="what the agent and the client agreed"
)
@click.option(
    "--at", "at", default=None,
    help="agreed time for callback / meeting_set (ISO; no offset = client's time); 'now' = the client's next opening",
)  # fmt: skip
@click.option("--note", default=None, help="free text kept with the disposition")
@click.option("--replace", is_flag=True, help="correct the call's disposition (audited; re-applied from before it)")
@click.option("--by", "by", default=None, help="who records it, for the audit trail (default: your login name)")
def dispose_cmd(
    config_path: Path, db: str | None, call_id: str, disposition: str, at: str | None, note: str | None,
    replace: bool, by: str | None,
) -> None:  # fmt: skip
    """Record an agent's disposition for an answered call (one per call; --replace corrects it)."""
    from dialer.clock import SystemClock
    from dialer.dispositions import NEXT_OPENING, DispositionRefused, NextOpening, dispose
    from dialer.placement import Placement

    config = load_or_exit(config_path)
    disp = Disposition(disposition)
    if disp.needs_time and at is None:
        raise click.ClickException(
            f"{disposition} needs --at (the agreed time, or 'now' for the client's next opening)"
        )
    who = by or login_name()

    async def go(store: Store) -> str:
        call = await store.get_call(call_id)
        if call is None:
            raise click.ClickException(f"no call {show(call_id)}")
        when: datetime | NextOpening | None = None
        if at is not None:
            try:
                when = NEXT_OPENING if at.strip().lower() == "now" else parse_instant(at, call.client_tz)
            except click.BadParameter as exc:
                raise click.ClickException(f"--at: {exc.message}") from None
        placement = Placement(store, SystemClock(), config)
        try:
            done = await dispose(placement, call_id, disp, when, note=note, by=who, replace=replace)
        except (DispositionRefused, LookupError) as exc:
            raise click.ClickException(str(exc)) from None
        what = f"{disposition} recorded" + (f" (replaces {done.replaced.value})" if done.replaced else "")
        if done.at_next_opening and done.at is not None:
            what += f"; --at now took the client's next opening {iso(done.at)}"
        nxt = iso(done.update.next_dial_at)
        return f"{call_id}: {what}; {done.transition.reason}; next dial {nxt or 'never'}"

    click.echo(run_or_exit(with_store(config, db, go)))
