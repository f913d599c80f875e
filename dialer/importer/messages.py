"""Values quoted in the reasons an import gives: short, whatever the cell held."""

from __future__ import annotations


def clip(value: object, limit: int = 60) -> str:
    """repr of a value for a message, cut to `limit` characters: a reason never carries a
    whole 100 KiB cell."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "..." + text[-1]


def cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
