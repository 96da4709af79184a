"""Finding 7: login back-off without a lock-out that anyone can put on an account. On the code before, five wrong
passwords from anyone locked ``admin`` for 15 minutes (again and again), attempts on a locked account were not
audited, 12 parallel attempts were counted as 6, and the lock message told which names exist."""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select

from data_access import admin, login, schema as s, throttle
from data_access.scope import scope_for_user


T0 = dt.datetime(2026, 12, 1, 9, 0)
ATTACKER, ADMIN_PC = "10.9.9.9", "10.1.1.1"


@pytest.fixture(scope="module")
def bank(own_bank):
    return own_bank


@pytest.fixture
def clean(bank):
    with bank.begin() as conn:
        conn.execute(s.login_throttle.delete())
    return bank


def _try(engine, user, password, client, now):
    with engine.begin() as conn:
        return login.attempt(conn, user, password, client, "pytest", now=now)


def _audit(engine, since_id: int, action: str | None = None) -> list:
    with engine.connect() as conn:
        stmt = select(s.audit_log.c.username, s.audit_log.c.action, s.audit_log.c.detail).where(s.audit_log.c.id > since_id)
        if action:
            stmt = stmt.where(s.audit_log.c.action == action)
        return conn.execute(stmt.order_by(s.audit_log.c.id)).all()


def _last_id(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.max(s.audit_log.c.id), 0))).scalar_one()


def test_delays_grow_and_are_capped(clean):
    assert [throttle.delay_seconds("pair", n) for n in range(1, 9)] == [0, 0, 0, 1, 2, 4, 8, 16]
    assert throttle.delay_seconds("pair", 40) == 900 and throttle.delay_seconds("client", 40) == 900
    assert [throttle.delay_seconds("user", n) for n in (20, 21, 500)] == [0, 5, 5]


def test_admin_lock_out_attempt_does_not_keep_the_admin_out(clean):
    """An attacker fails 200 times on admin from one machine, then from 20 machines; the admin, at their own
    machine, logs in at once (the other machines' failures cap the account's delay at 5 s)."""
    start = _last_id(clean)
    now = T0
    for i in range(200):
        now += dt.timedelta(seconds=1)
        assert not _try(clean, "admin", f"guess{i}", ATTACKER, now).ok
    # the attacker's own machine is now slowed down hard
    with clean.connect() as conn:
        until = throttle.blocked(conn, "admin", ATTACKER, now)
    assert until is not None and until >= now + dt.timedelta(minutes=14)
    # ... and a right password from there is not even checked while it waits
    now += dt.timedelta(seconds=1)
    assert _try(clean, "admin", "Admin@2026", ATTACKER, now).reason == "throttled"
    for m in range(20):
        _try(clean, "admin", "guess", f"10.9.8.{m}", now)
    # the admin at their own machine: at most the account's 5-second brake, then in
    with clean.connect() as conn:
        until = throttle.blocked(conn, "admin", ADMIN_PC, now)
    assert until is None or until <= now + dt.timedelta(seconds=5)
    ok = _try(clean, "admin", "Admin@2026", ADMIN_PC, now + dt.timedelta(seconds=6))
    assert ok.ok and ok.token
    # every attempt audited, the throttled ones included, each with its reason
    rows = _audit(clean, start)
    failed = [json.loads(r.detail) for r in rows if r.action == "login_failed"]
    assert len(failed) == 200 + 1 + 20
    assert {f["reason"] for f in failed} == {"wrong", "throttled"}
    assert sum(f["reason"] == "throttled" for f in failed) >= 190
    assert rows[-1].action == "login" and json.loads(rows[-1].detail)["client"] == ADMIN_PC


def test_same_outcome_for_unknown_wrong_and_throttled(clean):
    now = T0
    unknown = _try(clean, "no_such_user", "x", ATTACKER, now)
    wrong = _try(clean, "hq_li", "x", ATTACKER, now)
    for _ in range(6):
        _try(clean, "hq_li", "x", ATTACKER, now)
    throttled = _try(clean, "hq_li", "Demo@2026", ATTACKER, now)
    assert (unknown.ok, wrong.ok, throttled.ok) == (False, False, False)
    assert (unknown.reason, wrong.reason, throttled.reason) == ("unknown", "wrong", "throttled")
    assert unknown.token is wrong.token is throttled.token is None
    # once the delay is over the right password works
    assert _try(clean, "hq_li", "Demo@2026", ATTACKER, now + dt.timedelta(minutes=15)).ok


def test_admin_unlocks_and_password_reset_clears(clean):
    now = T0
    for _ in range(8):  # the user's own machine: held back on this account (3 free), not yet as a client (10)
        _try(clean, "branch02", "x", ATTACKER, now)
    with clean.begin() as conn:
        assert throttle.blocked(conn, "branch02", ATTACKER, now) is not None
        admin.unlock_user(conn, scope_for_user(conn, "admin"), "branch02")
        assert throttle.blocked(conn, "branch02", ATTACKER, now) is None
        with pytest.raises(PermissionError):
            admin.unlock_user(conn, scope_for_user(conn, "hq_wang"), "branch02")
    assert _try(clean, "branch02", "Demo@2026", ATTACKER, now).ok
    for _ in range(8):  # the user's own machine: held back on this account (3 free), not yet as a client (10)
        _try(clean, "branch02", "x", ATTACKER, now)
    with clean.begin() as conn:
        admin.reset_password(conn, scope_for_user(conn, "admin"), "branch02", "Fresh@2026x")
    assert _try(clean, "branch02", "Fresh@2026x", ADMIN_PC, now).ok
    assert _audit(clean, 0, "user_unlock")


def test_twelve_parallel_failures_are_all_counted_and_audited(clean):
    """12 threads fail on one account at once: the counter reads 12 (one atomic UPDATE per attempt), and there are
    12 audit entries."""
    start = _last_id(clean)
    barrier = threading.Barrier(12)
    errors: list = []

    def one(i):
        try:
            barrier.wait()
            _try(clean, "strategy_chen", f"wrong{i}", f"10.2.0.{i}", T0)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    with clean.connect() as conn:
        n = conn.execute(select(s.login_throttle.c.failures).where(s.login_throttle.c.key == "user:strategy_chen")).scalar()
    assert n == 12
    assert len(_audit(clean, start, "login_failed")) == 12
