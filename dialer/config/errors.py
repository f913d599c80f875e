"""A config problem located in its file: ``FILE:LINE: field.path: message``."""

from __future__ import annotations

from dataclasses import dataclass

# A message is one line of at most this many characters, whatever built it.
MESSAGE_LIMIT = 400


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int
    path: str
    message: str

    def __post_init__(self) -> None:
        # One line, never a whole value: whatever built the message, it is cut here.
        message = " ".join(self.message.split())
        if len(message) > MESSAGE_LIMIT:
            message = message[: MESSAGE_LIMIT - 3] + "..."
        object.__setattr__(self, "message", message)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class ConfigError(Exception):
    """Every problem found in a config, each with its line (`issues`)."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))
