"""pyVoIP imported in the one order that works, and made quiet.

``import pyVoIP.SIP`` before ``pyVoIP.VoIP`` fails with a circular import, so every
module of this package takes pyVoIP from here. pyVoIP's ``debug`` prints to stdout even
with DEBUG off: it goes to structlog at debug level instead.
"""

from __future__ import annotations

import warnings
from typing import Any

import structlog

# pyVoIP.VoIP first: importing pyVoIP.SIP before it fails with a circular import. Its RTP
# module imports audioop (deprecated); that warning is pyVoIP's business, not our users'.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import pyVoIP
    import pyVoIP.VoIP
    from pyVoIP import RTP as pv_rtp
    from pyVoIP import SIP as pv_sip
    from pyVoIP.VoIP import VoIP as pv_voip
    from pyVoIP.VoIP.status import PhoneStatus

__all__ = ["PhoneStatus", "pv_rtp", "pv_sip", "pv_voip", "quiet_pyvoip"]

log = structlog.get_logger("providers.sip")


def _pyvoip_debug(s: Any, e: Any = None) -> None:
    """pyVoIP's debug(): it prints `e` to stdout even with DEBUG off. Log it instead."""
    log.debug("pyvoip", message=str(e if e is not None else s)[:500])


def quiet_pyvoip() -> None:
    pyVoIP.DEBUG = False
    for module in (pyVoIP, pv_sip, pv_voip, pv_rtp):
        module.debug = _pyvoip_debug  # type: ignore[attr-defined]


quiet_pyvoip()
