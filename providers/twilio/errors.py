"""Reading Twilio API errors: HTTP status, Twilio error code, whether a retry is safe.

TwilioRestException (legacy errors), TwilioServiceException (RFC 9457 problems) and the
plain TwilioException a list page raises on a non-200 all derive from TwilioException;
none of them is typed, so the attributes are read defensively here.
"""

from __future__ import annotations

# Authenticate / account suspended or closed: no call can be placed with this account.
AUTH_REFUSED_CODES = frozenset({"20003", "20005"})


def api_status(exc: BaseException) -> int:
    """HTTP status of a Twilio API error (0 when unknown)."""
    status = getattr(exc, "status", None)
    if status is None and len(exc.args) >= 2:  # TwilioException("Unable to fetch page", response)
        status = getattr(exc.args[1], "status_code", None)
    try:
        return int(status or 0)
    except (TypeError, ValueError):
        return 0


def api_code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return "" if code is None else str(code)


def retryable(exc: BaseException) -> bool:
    """429 / 20429 (too many requests) and 5xx: safe to retry for idempotent requests."""
    status = api_status(exc)
    return status == 429 or api_code(exc) == "20429" or status >= 500
