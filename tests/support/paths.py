"""Where the repository's example files are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "config" / "dialer.yaml"
EXAMPLE_CLIENTS = ROOT / "config" / "clients.csv"
DATA = ROOT / "tests" / "data"
