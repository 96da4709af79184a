"""One login attempt, start to end, in the caller's transaction: the back-off (``throttle``), the password check
(``users.verify_password``), the session (``sessions.start``) and the audit entry — every attempt audited, locked or
not, with why it failed (which only the audit log tells: the person at the form gets one message for an unknown
name, a wrong password and a throttled attempt alike). Kept free of streamlit."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select

from . import schema as s, sessions, throttle
from .users import audit, verify_password


@dataclass(frozen=True)
class Outcome:
    ok: bool
    token: str | None = None
    session_id: int | None = None
    reason: str | None = None  # unknown | wrong | throttled (for the audit log and tests; never shown)


def attempt(conn: Connection, username: str, password: str, client: str | None = None, agent: str | None = None,
            now: dt.datetime | None = None) -> Outcome:
    now = now or dt.datetime.now()
    username = (username or "").strip().lower()
    where = {"client": client, "agent": agent}
    until = throttle.blocked(conn, username, client, now)
    if until is not None:
        reason = "throttled"  # the password is not even checked while a delay runs
    elif verify_password(conn, username, password):
        throttle.record_success(conn, username, client)
        token, sid = sessions.start(conn, username, client, agent, now=now)
        audit(conn, username, "login", detail={"session": sid, **where})
        return Outcome(True, token, sid)
    else:
        known = conn.execute(select(s.app_user.c.id).where(s.app_user.c.username == username,
                                                           s.app_user.c.active.is_(True))).first() is not None
        reason = "wrong" if known else "unknown"
    counts = throttle.record_failure(conn, username, client, now)
    audit(conn, username or "?", "login_failed",
          detail={"reason": reason, "failures": counts, "waits_until": until.isoformat(timespec="seconds") if until else None,
                  **where})
    return Outcome(False, reason=reason)
