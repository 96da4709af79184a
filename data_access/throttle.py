"""Login back-off: a growing delay, never a lock that someone else can put on your account.

Every failed attempt (wrong password, unknown name, or an attempt made while a delay was running) is counted under
three keys in ``login_throttle``, each by one atomic ``UPDATE … SET failures = failures + 1`` (so parallel attempts
all count) and each with its own delay before the next attempt is even checked:

================  =========================  ====================================================================
key               free attempts, then        why
================  =========================  ====================================================================
``pair:C|U``      3, then 1, 2, 4 … s,       one client guessing one account: grows fast
                  at most 15 min
``client:C``      10, then 1, 2, 4 … s,      one client guessing many accounts (or names)
                  at most 15 min
``user:U``        20, then 5 s               many clients guessing one account: slowed, but capped so low that
                                             nobody can keep the real user (the only admin) out
================  =========================  ====================================================================

The delays are from the last failure. A success clears that account's keys for that client; an admin's "unlock"
(or a password reset) clears every key of the account. Counters older than a day are dropped. The caller shows the
same message for an unknown name, a wrong password and a throttled attempt, and audits every attempt
(``users.record_attempt``).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, delete, or_, select, update

from . import schema as s

RULES = {"pair": (3, 900.0), "client": (10, 900.0), "user": (20, 5.0)}  # (free failures, longest delay in s)
FORGET_AFTER = dt.timedelta(days=1)


def keys(username: str, client: str | None) -> dict[str, str]:
    """The keys an attempt counts under. Without a client address (the server could not tell one; ``serve.py``
    always can) there is no per-client key: one shared "unknown client" would let anyone slow everyone down."""
    c = (client or "?")[:64]
    u = (username or "?")[:64]
    out = {"pair": f"pair:{c}|{u}", "user": f"user:{u}"}
    if client:
        out["client"] = f"client:{c}"
    return out


def delay_seconds(kind: str, failures: int) -> float:
    """How long after the ``failures``-th failure the next attempt waits (0 while still free)."""
    free, cap = RULES[kind]
    if failures <= free:
        return 0.0
    if kind == "user":
        return cap
    return min(cap, 2.0 ** (failures - free - 1))


def blocked(conn: Connection, username: str, client: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """Until when an attempt for ``username`` from ``client`` waits (the latest of its keys), None when it may go."""
    now = now or dt.datetime.now()
    t = s.login_throttle
    until = conn.execute(select(t.c.blocked_until).where(t.c.key.in_(list(keys(username, client).values())),
                                                         t.c.blocked_until > now)
                         .order_by(t.c.blocked_until.desc()).limit(1)).scalar()
    return until


def _insert_missing(conn: Connection, key: str, now: dt.datetime) -> None:
    t = s.login_throttle
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(t).values(key=key, failures=0, last_failure=now).on_conflict_do_nothing(index_elements=["key"]))


def record_failure(conn: Connection, username: str, client: str | None, now: dt.datetime | None = None) -> dict[str, int]:
    """Count one failed attempt under each key; returns {kind: failures now}. Each count is one atomic UPDATE, the
    new delay is set only forward (a slower concurrent writer never shortens it)."""
    now = now or dt.datetime.now()
    t = s.login_throttle
    counts = {}
    for kind, key in keys(username, client).items():
        _insert_missing(conn, key, now)
        n = conn.execute(update(t).where(t.c.key == key).values(failures=t.c.failures + 1, last_failure=now)
                         .returning(t.c.failures)).scalar_one()
        counts[kind] = n
        wait = delay_seconds(kind, n)
        if wait:
            until = now + dt.timedelta(seconds=wait)
            conn.execute(update(t).where(t.c.key == key, or_(t.c.blocked_until.is_(None), t.c.blocked_until < until))
                         .values(blocked_until=until))
    conn.execute(delete(t).where(t.c.last_failure < now - FORGET_AFTER))
    return counts


def record_success(conn: Connection, username: str, client: str | None) -> None:
    k = keys(username, client)
    conn.execute(delete(s.login_throttle).where(s.login_throttle.c.key.in_([k["pair"], k["user"]])))


def _pairs_of(u: str):
    escaped = u.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return s.login_throttle.c.key.like(f"pair:%|{escaped}", escape="\\")


def unlock(conn: Connection, username: str) -> int:
    """Clear every counter of ``username`` (from any client); returns how many."""
    t = s.login_throttle
    u = (username or "?")[:64]
    return conn.execute(delete(t).where(or_(t.c.key == f"user:{u}", _pairs_of(u)))).rowcount


def state(conn: Connection, username: str) -> tuple[int, dt.datetime | None]:
    """(failures across all clients in the last day, latest delay end) of ``username``, for the admin's list."""
    t = s.login_throttle
    u = (username or "?")[:64]
    n = conn.execute(select(t.c.failures).where(t.c.key == f"user:{u}")).scalar() or 0
    until = conn.execute(select(t.c.blocked_until).where(or_(t.c.key == f"user:{u}", _pairs_of(u)))
                         .order_by(t.c.blocked_until.desc()).limit(1)).scalar()
    return n, until
