"""Pacing: dial modes, the rolling statistics, the per-moment decision and the offline evaluator.

Pure Python, no I/O: the dispatcher and the simulated provider feed it and act on its answers.
"""

from dialer.pacing.decide import calls_to_place
from dialer.pacing.modes import AbandonWindow, DialMode, PacingSettings, validate_settings
from dialer.pacing.stats import CampaignStats, WindowCounts

__all__ = [
    "AbandonWindow",
    "CampaignStats",
    "DialMode",
    "PacingSettings",
    "WindowCounts",
    "calls_to_place",
    "validate_settings",
]
