"""Login sessions kept on the server. The browser's cookie carries only a random 256-bit token; the table
``app_session`` keeps its HMAC-SHA256 under the install's secret key (``secret_key``), so neither a copy of the table
nor someone who can write it (but not read the key) holds or can make a usable cookie.

Every script run checks its token (``check``): a session ends when its user logs out, at the absolute lifetime
(``COCKPIT_SESSION_HOURS``, default 12 h from the login), after ``COCKPIT_SESSION_IDLE_MINUTES`` (default 30) without
a run, and for all of a user's sessions at once (every tab and browser) when the user is disabled, their password
is reset, or their role, scope or PII right changes (``end_all``, called by ``admin`` in the same transaction as
the change). A session that was resumed from the cookie (a new tab, a refresh) is audited as ``session_resume``;
a login by password as ``login`` (``login.attempt``) with the session's id.

Kept free of streamlit: the app (``components.auth``), the cookie route (``components.web``) and the tests share it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, and_, insert, select, update

from . import config, schema as s
from .secret_key import secret

TOUCH_SECONDS = 20  # last_seen is written at most this often per session: a rerun is a read, not a write


def idle_minutes() -> float:
    return _positive("COCKPIT_SESSION_IDLE_MINUTES", 30)


def lifetime_hours() -> float:
    return _positive("COCKPIT_SESSION_HOURS", 12)


def _positive(name: str, default: float) -> float:
    raw = config.setting(name)
    try:
        value = float(raw) if raw is not None else default
    except ValueError as exc:
        raise config.ConfigError(f"{name} must be a number of {'minutes' if 'IDLE' in name else 'hours'}; "
                                 f"got {raw!r}") from exc
    if value <= 0:
        raise config.ConfigError(f"{name} must be greater than 0; got {raw!r}")
    return value


def token_hash(token: str) -> str:
    return hmac.new(secret(), token.encode("utf-8"), hashlib.sha256).hexdigest()


def well_formed(token) -> bool:
    """A token as ``start`` makes them (43 characters of urlsafe base64); anything else is not looked up."""
    return isinstance(token, str) and len(token) == 43 and all(c.isalnum() or c in "-_" for c in token)


@dataclass(frozen=True)
class Session:
    id: int
    username: str
    display_name: str
    created_at: dt.datetime
    expires_at: dt.datetime
    cookie_set: bool


def start(conn: Connection, username: str, client_addr: str | None = None, user_agent: str | None = None,
          now: dt.datetime | None = None) -> tuple[str, int]:
    """Open a session for an (already authenticated, active) user; returns (token, session id). The token is
    returned once and never stored."""
    now = now or dt.datetime.now()
    uid = conn.execute(select(s.app_user.c.id).where(s.app_user.c.username == username,
                                                     s.app_user.c.active.is_(True))).scalar()
    if uid is None:
        raise ValueError(f"no active user named {username!r}")
    token = secrets.token_urlsafe(32)  # 256 bits
    sid = conn.execute(insert(s.app_session).values(
        token_hash=token_hash(token), user_id=uid, created_at=now, last_seen=now,
        expires_at=now + dt.timedelta(hours=lifetime_hours()), client_addr=(client_addr or None) and client_addr[:64],
        user_agent=(user_agent or None) and user_agent[:256], cookie_set=False).returning(s.app_session.c.id)).scalar_one()
    return token, sid


def check(conn: Connection, token: str | None, now: dt.datetime | None = None) -> Session | None:
    """The open session of ``token``, touched; None when there is none (unknown, malformed, ended, idle past the
    timeout, past its lifetime, or its user disabled), and a session found past a limit is ended with the reason.
    ``conn`` is a writing transaction."""
    if not well_formed(token):
        return None
    now = now or dt.datetime.now()
    a, u = s.app_session, s.app_user
    row = conn.execute(select(a.c.id, a.c.created_at, a.c.last_seen, a.c.expires_at, a.c.ended_at, a.c.cookie_set,
                              u.c.username, u.c.display_name, u.c.active)
                       .join(u, u.c.id == a.c.user_id).where(a.c.token_hash == token_hash(token))).first()
    if row is None or row.ended_at is not None:
        return None
    reason = None
    if not row.active:
        reason = "disabled"
    elif now >= row.expires_at:
        reason = "expired"
    elif now - row.last_seen >= dt.timedelta(minutes=idle_minutes()):
        reason = "idle"
    if reason:
        end(conn, row.id, reason, now)
        return None
    if (now - row.last_seen).total_seconds() >= TOUCH_SECONDS:
        conn.execute(update(a).where(a.c.id == row.id, a.c.ended_at.is_(None)).values(last_seen=now))
    return Session(row.id, row.username, row.display_name, row.created_at, row.expires_at, bool(row.cookie_set))


def end(conn: Connection, session_id: int, reason: str, now: dt.datetime | None = None) -> None:
    a = s.app_session
    conn.execute(update(a).where(a.c.id == session_id, a.c.ended_at.is_(None))
                 .values(ended_at=now or dt.datetime.now(), end_reason=reason))


def end_token(conn: Connection, token: str | None, reason: str = "logout") -> int | None:
    """End the session of ``token`` (logout); returns its id, None when it was not open."""
    if not well_formed(token):
        return None
    a = s.app_session
    sid = conn.execute(select(a.c.id).where(a.c.token_hash == token_hash(token), a.c.ended_at.is_(None))).scalar()
    if sid is not None:
        end(conn, sid, reason)
    return sid


def end_all(conn: Connection, username: str, reason: str) -> int:
    """End every open session of ``username`` (all tabs and browsers); returns how many."""
    a, u = s.app_session, s.app_user
    uid = select(u.c.id).where(u.c.username == username).scalar_subquery()
    return conn.execute(update(a).where(and_(a.c.user_id == uid, a.c.ended_at.is_(None)))
                        .values(ended_at=dt.datetime.now(), end_reason=reason)).rowcount


def claim_cookie(conn: Connection, token: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """The cookie route's one step: for an open session whose cookie has not been set yet, mark it set and return
    when the cookie must expire; None otherwise (so a token seen once in a page cannot be turned into a cookie
    again, for instance by another site posting it)."""
    if not well_formed(token):
        return None
    a = s.app_session
    now = now or dt.datetime.now()
    n = conn.execute(update(a).where(a.c.token_hash == token_hash(token), a.c.ended_at.is_(None),
                                     a.c.cookie_set.is_(False), a.c.expires_at > now).values(cookie_set=True)).rowcount
    if not n:
        return None
    return conn.execute(select(a.c.expires_at).where(a.c.token_hash == token_hash(token))).scalar()


def open_sessions(conn: Connection, username: str) -> int:
    a, u = s.app_session, s.app_user
    return len(conn.execute(select(a.c.id).join(u, u.c.id == a.c.user_id)
                            .where(u.c.username == username, a.c.ended_at.is_(None))).all())
