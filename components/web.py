"""The HTTP side of the login: the two routes that set and delete the HttpOnly session cookie, and the security
headers on every response. Mounted by ``serve.py`` (Streamlit's ``st.App``, which ``streamlit run serve.py`` serves).

A script cannot set an HttpOnly cookie, and Streamlit's script runs speak over a websocket, which sets none; so after
a password login the page posts the new session's token to ``/api/session`` once, and this route answers with
``Set-Cookie: <name>=<token>; HttpOnly; SameSite=Strict; Path=/`` (``Secure`` over HTTPS), valid until the session's
absolute end. The route accepts a token only for an open session whose cookie was never set
(``sessions.claim_cookie``), so it cannot be used to plant a session in someone's browser, nor to replay one.
``/api/logout`` ends the cookie's session too and deletes the cookie.
"""
from __future__ import annotations

import datetime as dt
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from data_access import config, sessions
from data_access.engine import get_engine

log = logging.getLogger("cockpit")
MAX_BODY = 256

# Streamlit's front end needs inline styles and its own scripts; st.html's one script (this module's cookie hand-over)
# is inline too. Everything else comes from the app's own origin: no CDN, no tiles, no fonts from elsewhere.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
       "frame-src 'self' blob: data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin"}


def _same_origin(request: Request) -> bool:
    """A browser's fetch from our own page carries our origin; another site's form or fetch carries its own."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a cross-site browser request (browsers send Origin on every cross-site POST)
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    return origin.split("://", 1)[-1].rstrip("/") == host


def _secure(request: Request) -> bool:
    setting = (config.setting("COCKPIT_COOKIE_SECURE", "auto") or "auto").strip().lower()
    if setting in {"1", "true", "yes", "on"}:
        return True
    if setting in {"0", "false", "no", "off"}:
        return False
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


async def _body(request: Request) -> str | None:
    body = await request.body()
    if len(body) > MAX_BODY:
        return None
    try:
        return body.decode("ascii").strip()
    except UnicodeDecodeError:
        return None


def _claim(token: str) -> dt.datetime | None:
    with get_engine(config.database_url()).begin() as conn:
        return sessions.claim_cookie(conn, token)


async def session_cookie(request: Request) -> Response:
    token = await _body(request)
    if not _same_origin(request) or not sessions.well_formed(token):
        return Response(status_code=403)
    try:
        expires = await run_in_threadpool(_claim, token)
    except Exception:  # noqa: BLE001 - a database outage or a refused key: no cookie, the tab's login still holds
        log.exception("session cookie route")
        return Response(status_code=503)
    if expires is None:
        return Response(status_code=403)
    resp = Response(status_code=204)
    max_age = max(1, int((expires - dt.datetime.now()).total_seconds()))
    resp.set_cookie(_name(), token, max_age=max_age, path="/", httponly=True, samesite="strict",
                    secure=_secure(request))
    return resp


def _end(token: str) -> None:
    with get_engine(config.database_url()).begin() as conn:
        sessions.end_token(conn, token, "logout")


async def logout(request: Request) -> Response:
    if not _same_origin(request):
        return Response(status_code=403)
    token = request.cookies.get(_name())
    if sessions.well_formed(token):
        try:
            await run_in_threadpool(_end, token)
        except Exception:  # noqa: BLE001 - the app already ended the session; deleting the cookie still matters
            log.exception("logout route")
    resp = Response(status_code=204)
    resp.delete_cookie(_name(), path="/", httponly=True, samesite="strict", secure=_secure(request))
    return resp


def _name() -> str:
    return config.setting("COCKPIT_COOKIE_NAME", "credit_cockpit")


def routes() -> list[Route]:
    return [Route("/api/session", session_cookie, methods=["POST"]), Route("/api/logout", logout, methods=["POST"])]


CLIENT_HEADER = b"x-cockpit-client"


def trusted_proxies() -> set[str]:
    raw = config.setting("COCKPIT_TRUSTED_PROXIES", "127.0.0.1,::1") or ""
    return {p.strip() for p in raw.split(",") if p.strip()}


def client_address(scope) -> str | None:
    """The browser's address: the connection's peer, or, when the peer is a trusted proxy, the last address in the
    X-Forwarded-For it sent (the one the proxy itself saw; anything before it the client could have written)."""
    peer = (scope.get("client") or (None,))[0]
    if peer in trusted_proxies():
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                hops = [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
                if hops:
                    return hops[-1][:64]
    return peer


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response; on every request and the websocket, the client's
    address in X-Cockpit-Client (any such header the client sent is dropped), which the login's back-off reads
    through st.context.headers (Streamlit under uvicorn does not report ip_address)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            addr = client_address(scope)
            headers = [(k, v) for k, v in scope.get("headers", []) if k != CLIENT_HEADER]
            if addr:
                headers.append((CLIENT_HEADER, addr.encode("latin-1", "replace")))
            scope = {**scope, "headers": headers}
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items() if k.lower().encode() not in present]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)
        await self.app(scope, receive, send_with_headers)
