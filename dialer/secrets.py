"""Secrets come from the environment or systemd credentials, never from config files.

The config names a variable (e.g. ``auth_token_env: TWILIO_AUTH_TOKEN``); this looks
it up in the environment, then in ``$CREDENTIALS_DIRECTORY`` (systemd
``LoadCredential=``), and registers the value with the log redactor.
"""

from __future__ import annotations

import os
from pathlib import Path

from dialer.logging import register_secret


class MissingSecret(LookupError):
    pass


def secret(name: str, *, required: bool = True) -> str | None:
    value = os.environ.get(name)
    if value is None:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if directory:
            path = Path(directory) / name
            if path.is_file():
                value = path.read_text(encoding="utf-8").strip()
    if value is None:
        if required:
            raise MissingSecret(f"secret {name} is not set: export it or add LoadCredential={name}:... to the unit")
        return None
    register_secret(value)
    return value
