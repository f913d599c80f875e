"""`dialer demo`: the worker in real time with the simulated provider, people as agents.

* `clients`: time zones where it is daytime now and a client list in them;
* `setup`: the demo's config (from config/demo.yaml), a fresh store, the clients and
  the accounts with their printed (demo only) passwords;
* `run`: the real service until Ctrl-C, and the banner.
"""
