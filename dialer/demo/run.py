"""Running the demo: the real service (dialer/service.py) until Ctrl-C, and the banner."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

from dialer.demo.setup import Prepared
from dialer.hangup import HangsUp
from dialer.service import Service
from dialer.store.people import Role

READY_WITHIN = 60.0  # seconds the service may take to start before the demo gives up


class DemoService(Service):
    """The service, except that a stop first hangs up the calls people are on: they end
    with their real talk time (awaiting a disposition) instead of being cut off by the
    drain timeout and recorded canceled."""

    def request_stop(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop_claiming()  # no new call between these hang-ups and the stop
            for provider in self.dispatcher.providers.values():
                if isinstance(provider, HangsUp) and hasattr(provider, "in_progress"):
                    for call_id in provider.in_progress():
                        provider.hang_up(call_id)
        super().request_stop()


def banner(prepared: Prepared, url: str, seconds: float, *, kept: bool) -> str:
    zones = ", ".join(f"{z.zone} ({z.local:%H:%M})" for z in prepared.zones)
    width = max(len(login.name) for login in prepared.logins)
    accounts = "\n".join(
        f"    {login.name:<{width}}  {login.password}   "
        + ("agent" if login.role is Role.AGENT else "supervisor, every campaign")
        for login in prepared.logins
    )
    files = (
        f"The demo's files are kept: {prepared.paths.db} (config {prepared.paths.config})."
        if kept
        else "The demo's files are in a temporary folder, removed when it stops (--db PATH keeps them)."
    )
    rates = [
        float(p.settings.get("answer_rate", 0.55)) for p in prepared.config.providers.values() if p.type == "simulated"
    ]
    answering = f"About {round(rates[0] * 10)} in 10 clients answer." if rates else ""
    return f"""
dialer demo is ready ({seconds:.1f} s): {url}

  Accounts (demo only: random passwords, printed here, valid for this run):
{accounts}

  {prepared.clients} clients, all due now, local time {zones}.
  Log in as an agent and press Ready: a call rings within a few seconds. {answering}
  Stay on an answered call, press Hang up, then record what the client said.
  Log in as {prepared.logins[-1].name} in another browser (or a private window) to watch the day.
  {files}
  Ctrl-C stops it (calls in progress are hung up and kept for a disposition).
"""


async def run_demo(
    prepared: Prepared, url: str, say: Callable[[str], None], started: float, *, kept: bool = False
) -> int:
    """Run the service until SIGINT/SIGTERM; `say` prints the banner once it is up."""
    service = DemoService(prepared.paths.config, str(prepared.paths.db))
    loop = asyncio.get_running_loop()
    # Until the service installs its own handlers, a signal still stops it cleanly.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, service.request_stop)
    task = asyncio.create_task(service.run(), name="demo-service")
    deadline = time.monotonic() + READY_WITHIN
    while service.scheduler is None and not task.done() and time.monotonic() < deadline:
        await asyncio.wait({task}, timeout=0.05)
    if service.scheduler is not None and not task.done():
        say(banner(prepared, url, time.monotonic() - started, kept=kept))
    elif not task.done():
        service.request_stop()
        await task
        return 1
    return await task


__all__ = ["DemoService", "banner", "run_demo"]
