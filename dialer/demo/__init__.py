"""`dialer demo`: the worker in real time with the simulated provider, people as agents.

* `clients`: time zones where it is daytime now and a client list in them;
* `setup`: the demo's config (from config/demo.yaml), a fresh store, the clients and
  the accounts with their printed (demo only) passwords;
* `run`: the real service until Ctrl-C, and the banner.
"""

from pathlib import Path

HOST = "127.0.0.1"  # loopback only: the demo's passwords are printed on the terminal
SECRET_ENV = "DIALER_DEMO_SESSION_SECRET"  # the session key of one run, in its environment only
TEMPLATE = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"

__all__ = ["HOST", "SECRET_ENV", "TEMPLATE"]
