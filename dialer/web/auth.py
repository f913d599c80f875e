"""Sessions, CSRF and the Principal behind a request.

* Pages: a signed session cookie (itsdangerous; HttpOnly, SameSite=Lax, Secure when the
  public URL is https) holding the account name, a CSRF token and a fingerprint of the
  password hash (a password change ends every session). It expires after
  ``web.session_ttl``. Every request re-reads the account: a disabled account is out
  at once, a changed role or scope applies at once.
* CSRF: every state-changing request carrying the session cookie must echo the
  session's token, in the form field ``csrf_token`` or the ``X-CSRF-Token`` header
  (for JSON calls made by pages). The login form has its own pre-session token.
* API: ``Authorization: Bearer <token>`` (``dialer token add``); no cookie, no CSRF.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired
from starlette.requests import Request
from starlette.responses import Response

from dialer.accounts import Principal, principal_for_token, principal_of_account
from dialer.store.people import Account, Role
from dialer.web.context import WebContext

SESSION_COOKIE = "dialer_session"
LOGIN_COOKIE = "dialer_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_FORM_TTL = 3600  # seconds a login form stays valid
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class HttpError(Exception):
    """A refusal with a status and one line for the person; nothing was changed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Session:
    name: str
    csrf: str
    fingerprint: str


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


def _fingerprint(account: Account) -> str:
    return hashlib.sha256(account.password_hash.encode("utf-8")).hexdigest()[:16]


def client_address(request: Request) -> str:
    """The browser's address: the TCP peer, or (when the peer is a trusted proxy) the
    last address X-Forwarded-For names that is not itself a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    networks = context(request).settings.proxy_networks()

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in networks)

    if not networks or not trusted(peer):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return peer


def set_session(response: Response, ctx: WebContext, account: Account) -> None:
    session = {"n": account.name, "c": secrets.token_urlsafe(24), "f": _fingerprint(account)}
    value = ctx.serializer("session").dumps(session)
    response.set_cookie(
        SESSION_COOKIE, str(value), max_age=int(ctx.settings.session_ttl.total_seconds()), httponly=True,
        samesite="lax", secure=ctx.settings.secure_cookies, path="/",
    )  # fmt: skip


def clear_session(response: Response, ctx: WebContext) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=ctx.settings.secure_cookies)


def read_session(request: Request) -> Session | None:
    """The cookie's session if it is signed by us and not expired (not yet checked
    against the account: see `session_principal`)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    ctx = context(request)
    try:
        data = ctx.serializer("session").loads(raw, max_age=int(ctx.settings.session_ttl.total_seconds()))
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("n", "c", "f")):
        return None
    return Session(data["n"], data["c"], data["f"])


async def session_principal(request: Request) -> Principal | None:
    """The logged-in person, or None (no cookie, expired, disabled, password changed)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    session = read_session(request)
    if session is None:
        return None
    account = await context(request).people.get_account(session.name)
    if account is None or account.disabled or not hmac.compare_digest(_fingerprint(account), session.fingerprint):
        return None
    principal = principal_of_account(account)
    request.state.principal = principal
    request.state.session = session
    return principal


def csrf_token(request: Request) -> str:
    """The token a page puts in its forms (and its JS in the X-CSRF-Token header).
    Call after `session_principal` succeeded."""
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        session = read_session(request)
    return session.csrf if session else ""


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = csrf_token(request)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise HttpError(403, "the form expired or came from another site: reload the page and try again")


async def api_principal(request: Request) -> Principal:
    """Bearer token, or a page's session (then state-changing calls need the CSRF header)."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HttpError(401, "use Authorization: Bearer <token> (dialer token add)")
        principal = await principal_for_token(context(request).people, token.strip())
        if principal is None:
            raise HttpError(401, "the token is unknown or revoked")
        return principal
    principal = await session_principal(request)
    if principal is None:
        raise HttpError(401, "not logged in (or the session expired): log in again, or use a Bearer token")
    if request.method not in SAFE_METHODS:
        check_csrf(request, request.headers.get(CSRF_HEADER))
    return principal


def require_role(principal: Principal, role: Role) -> None:
    if principal.role is not role:
        raise HttpError(403, f"this needs the {role.value} role")


def login_form_token(ctx: WebContext) -> str:
    return str(ctx.serializer("login").dumps(secrets.token_urlsafe(16)))


def check_login_form(request: Request, submitted: str | None) -> None:
    """The login form's token: the one its page set in the cookie, and signed by us."""
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        raise HttpError(403, "the login form expired: reload the page and try again")
    try:
        context(request).serializer("login").loads(submitted, max_age=LOGIN_FORM_TTL)
    except (SignatureExpired, BadSignature):
        raise HttpError(403, "the login form expired: reload the page and try again") from None


__all__ = [
    "CSRF_FIELD", "CSRF_HEADER", "HttpError", "LOGIN_COOKIE", "SESSION_COOKIE", "api_principal", "check_csrf",
    "check_login_form", "clear_session", "client_address", "context", "csrf_token", "login_form_token",
    "read_session", "require_role", "session_principal", "set_session",
]  # fmt: skip
