"""Finding 8 (audit half): the audit log is tamper-evident. The database assigns id and at; every row is chained by
SHA-256 to the one before; ``python -m data_access audit verify`` names the first row that was edited, deleted or
slipped in behind the app's back — by SQLite's file owner (who can drop the triggers) or PostgreSQL's owner (who can
disable them). On the code before the fix there is no chain to verify (and the app picks id and at itself)."""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from data_access import audit_chain, schema as s
from data_access.engine import make_engine
from data_access.migrate import upgrade
from data_access.users import audit

from ..conftest import BACKENDS, _new_database
from ..test_app import app_env, errors, logged_in  # noqa: F401 - app_env is a fixture

ROOT = Path(__file__).resolve().parents[2]
TRICKY = [("ann", "login", None, None, None), ("b|o|b", "view_customer", 7, "S3:x|N", {"purpose": "贷后检查 | N"}),
          ("卫", "export", None, "loans" * 20, {"rows": 12, "filters": {"branch": [1, 2]}, "note": "\"quoted\"\n"}),
          ("ann", "login_failed", None, "", {"why": "😀" * 10})]


def _write(engine, rows=TRICKY, times=1) -> None:
    for _ in range(times):
        for user, action, cust, target, detail in rows:
            with engine.begin() as conn:
                audit(conn, user, action, customer_id=cust, target=target, detail=detail)


def _verify(engine, anchor=None) -> audit_chain.Verification:
    with engine.connect() as conn:
        return audit_chain.verify(conn, anchor)


def _ids(engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(s.audit_log.c.id).order_by(s.audit_log.c.id)).scalars())


def _cli(engine, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, COCKPIT_DATABASE_URL=engine.url.render_as_string(hide_password=False))
    return subprocess.run([sys.executable, "-m", "data_access", "audit", "verify", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _as_owner(engine, *statements, disable: str | None = None) -> None:
    """What the file owner (SQLite) or the table owner (PostgreSQL) can do, outside the app: SQLite's owner drops the
    trigger, PostgreSQL's disables it for the statement and enables it again."""
    if engine.dialect.name == "sqlite":
        raw = sqlite3.connect(engine.url.database)
        try:
            if disable:
                raw.execute(f"DROP TRIGGER IF EXISTS {disable}")
            for stmt in statements:
                raw.execute(stmt)
            raw.commit()
        finally:
            raw.close()
        return
    with engine.begin() as conn:
        if disable:
            conn.execute(text(f"ALTER TABLE audit_log DISABLE TRIGGER {disable}"))
        for stmt in statements:
            conn.execute(text(stmt))
        if disable:
            conn.execute(text(f"ALTER TABLE audit_log ENABLE TRIGGER {disable}"))


def _update_trigger(engine) -> str:
    return "audit_log_no_update" if engine.dialect.name == "sqlite" else "audit_log_no_change"


def _delete_trigger(engine) -> str:
    return "audit_log_no_delete" if engine.dialect.name == "sqlite" else "audit_log_no_change"


def test_the_app_and_the_verifier_agree_byte_for_byte(empty_engine):
    """Rows written by the app (SQLite) or by the trigger (PostgreSQL), with separators, NULLs, quotes, line breaks
    and characters of every width in them, verify; the head is the last row's hash as canonical() defines it."""
    _write(empty_engine, times=3)
    r = _verify(empty_engine)
    assert r.ok and r.rows == 12 and r.head_id == 12, r
    assert _ids(empty_engine) == list(range(1, 13))  # the database numbers them, one after the other
    with empty_engine.connect() as conn:
        last = conn.execute(select(s.audit_log).where(s.audit_log.c.id == 12)).mappings().one()
        first = conn.execute(select(s.audit_log.c.prev_hash).where(s.audit_log.c.id == 1)).scalar()
    assert first == audit_chain.GENESIS
    assert r.head_hash == last["row_hash"] == audit_chain.row_hash(
        12, last["at"], last["username"], last["action"], last["customer_id"], last["target"], last["detail"],
        last["prev_hash"])
    out = _cli(empty_engine)
    assert out.returncode == 0 and f"intact: 12 rows, head row 12 sha256 {r.head_hash}" in out.stdout, out


def test_the_serialisation_is_unambiguous():
    """A separator moved from one field to the next changes the bytes (length prefixes), NULL differs from ''."""
    now = dt.datetime(2026, 12, 1, 9, 0, 0, 5)
    a = audit_chain.canonical(1, now, "a|S1:b", "x", None, None, None, audit_chain.GENESIS)
    b = audit_chain.canonical(1, now, "a", "S1:b|x", None, None, None, audit_chain.GENESIS)
    c = audit_chain.canonical(1, now, "a|S1:b", "x", None, "", None, audit_chain.GENESIS)
    assert len({a, b, c}) == 3
    assert a.startswith(b"cockpit-audit-v1|S1:1|S26:2026-12-01 09:00:00.000005|S6:a|S1:b|S1:x|N|N|N|S64:0000")


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert"])
def test_a_row_changed_behind_the_apps_back_is_named(empty_engine, tamper):
    """SQLite: the file owner drops the trigger; PostgreSQL: the owner disables it. Either way verify (and the
    command, exit 2, one line) names the row where the chain breaks."""
    _write(empty_engine, times=2)  # rows 1–8
    assert _verify(empty_engine).ok
    if tamper == "edit":
        _as_owner(empty_engine, "UPDATE audit_log SET username = 'nobody' WHERE id = 5", disable=_update_trigger(empty_engine))
        want, reason = 5, "content"
    elif tamper == "delete":
        _as_owner(empty_engine, "DELETE FROM audit_log WHERE id = 5", disable=_delete_trigger(empty_engine))
        want, reason = 6, "link"
    else:  # a back-dated row slipped in past the database's numbering, time and chain
        trig = "audit_log_assigned" if empty_engine.dialect.name == "sqlite" else "audit_log_chain"
        _as_owner(empty_engine, "INSERT INTO audit_log (id, at, username, action) "
                                "VALUES (9, '2026-01-05 10:00:00', 'ghost', 'login')", disable=trig)
        want, reason = 9, "unsealed"
    r = _verify(empty_engine)
    assert not r.ok and r.broken_id == want and r.reason == reason and r.rows == want - 1 - (tamper == "delete"), r
    out = _cli(empty_engine)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out
    assert out.stderr.strip().splitlines() == [f"error: audit chain broken at row {want}: {audit_chain.REASONS[reason]}"]


def test_a_recomputed_chain_or_a_cut_tail_is_caught_by_an_anchor(empty_engine):
    """Who can rewrite the table can recompute every hash after the row they changed, or cut the newest rows off:
    the chain is then consistent again. The head printed by an earlier verify, kept outside, catches both."""
    _write(empty_engine, times=2)
    with empty_engine.connect() as conn:
        anchor = (6, conn.execute(select(s.audit_log.c.row_hash).where(s.audit_log.c.id == 6)).scalar())
    assert _verify(empty_engine, anchor).ok
    _as_owner(empty_engine, "UPDATE audit_log SET username = 'nobody' WHERE id = 3",
              disable=_update_trigger(empty_engine))
    with empty_engine.begin() as conn:  # the forger recomputes the chain with the module's own code
        if empty_engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        audit_chain.chain_existing(conn)
        if empty_engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
    assert _verify(empty_engine).ok  # consistent again: only the anchor can tell
    r = _verify(empty_engine, anchor)
    assert not r.ok and r.broken_id == 6 and r.reason == "anchor_changed"
    out = _cli(empty_engine, "--anchor", f"{anchor[0]}:{anchor[1]}")
    assert out.returncode == 2 and "broken at row 6" in out.stderr
    _as_owner(empty_engine, "DELETE FROM audit_log WHERE id >= 6", disable=_delete_trigger(empty_engine))
    r = _verify(empty_engine, anchor)
    assert not r.ok and r.reason == "anchor_missing" and r.broken_id == 6
    bad = _cli(empty_engine, "--anchor", "6:nothex")
    assert bad.returncode == 2 and "ROW_ID:SHA256" in bad.stderr


def test_the_database_assigns_id_and_at(empty_engine):
    """A client that sends its own id, a back-dated time or ready-made hashes: PostgreSQL's trigger overwrites them
    (the row gets the next id, the database's clock and a valid hash); SQLite refuses the row."""
    _write(empty_engine, TRICKY[:2])
    before = dt.datetime.now() - dt.timedelta(seconds=5)
    forged = dict(id=1000, at=dt.datetime(2026, 1, 5, 10, 0), username="early", action="login",
                  prev_hash="0" * 64, row_hash="f" * 64)
    if empty_engine.dialect.name == "sqlite":
        for field in ("id", "at", "row_hash"):
            values = {k: v for k, v in forged.items() if k in ("username", "action", field)}
            with pytest.raises(DBAPIError, match="assigned by the database"), empty_engine.begin() as conn:
                conn.execute(insert(s.audit_log).values(**values))
        assert _ids(empty_engine) == [1, 2]
    else:
        with empty_engine.begin() as conn:
            conn.execute(insert(s.audit_log).values(**forged))
            conn.execute(text("SET TIME ZONE 'Pacific/Kiritimati'"))  # a session's zone does not move the clock
            conn.execute(insert(s.audit_log).values(username="zoned", action="login"))
        with empty_engine.connect() as conn:
            rows = conn.execute(select(s.audit_log.c.id, s.audit_log.c.at).where(s.audit_log.c.id > 2)
                                .order_by(s.audit_log.c.id)).all()
        assert [r.id for r in rows] == [3, 4]
        assert all(before <= r.at <= dt.datetime.now() + dt.timedelta(seconds=5) for r in rows), rows
    assert _verify(empty_engine).ok


def test_concurrent_writers_keep_one_chain(empty_engine):
    """Four writers at once, each row in its own transaction as the app writes them: one chain, no gaps."""
    errors = []

    def writer(k):
        try:
            for i in range(15):
                with empty_engine.begin() as conn:
                    audit(conn, f"w{k}", "view_customer", customer_id=i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    r = _verify(empty_engine)
    assert r.ok and r.rows == 60 and _ids(empty_engine) == list(range(1, 61))


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_migration_chains_the_rows_already_there(backend, tmp_path_factory):
    """A database with audit rows from before the chain (client-chosen ids with a gap, client times): the upgrade
    chains them in id order, and the app's next rows continue the chain."""
    url, drop = _new_database(backend, tmp_path_factory)
    engine = make_engine(url)
    try:
        upgrade(engine, "0018")
        with engine.begin() as conn:
            for i, (user, action, cust, target, detail) in enumerate(TRICKY * 2):
                conn.execute(text("INSERT INTO audit_log (id, at, username, action, customer_id, target, detail) "
                                  "VALUES (:i, :at, :u, :a, :c, :t, :d)"),
                             {"i": i + 1 + 10 * (i >= 4), "at": dt.datetime(2026, 11, 1 + i, 8, 30, 0, 123456),
                              "u": user, "a": action, "c": cust, "t": target, "d": str(detail) if detail else None})
        upgrade(engine)
        r = _verify(engine)
        assert r.ok and r.rows == 8 and r.head_id == 18, r
        _write(engine, TRICKY[:1])
        r = _verify(engine)
        assert r.ok and r.rows == 9 and r.head_id == 19
    finally:
        engine.dispose()
        drop()


def test_verify_reads_in_batches(empty_engine):
    """The walk reads by the primary key in batches: a batch boundary changes nothing."""
    _write(empty_engine, times=2)
    with empty_engine.connect() as conn:
        whole, small = audit_chain.verify(conn), audit_chain.verify(conn, batch=3)
    assert whole == small or (whole.ok and small.ok and whole.head_hash == small.head_hash and whole.rows == small.rows)
    _as_owner(empty_engine, "UPDATE audit_log SET detail = '{}' WHERE id = 4", disable=_update_trigger(empty_engine))
    with empty_engine.connect() as conn:
        assert audit_chain.verify(conn, batch=3).broken_id == 4  # the first row of the second batch


def test_a_recorded_check_is_chained_and_read_back(empty_engine):
    _write(empty_engine, TRICKY[:3])
    with empty_engine.begin() as conn:
        result = audit_chain.verify(conn)
        audit_chain.record(conn, result, "ops")
    with empty_engine.connect() as conn:
        state = audit_chain.last(conn)
        n = conn.execute(select(func.count()).select_from(s.audit_log).where(s.audit_log.c.action == "audit_verify")).scalar()
    assert state["ok"] and state["rows"] == 3 and state["head_id"] == 3 and n == 1
    assert isinstance(state["checked_at"], dt.datetime)
    assert _verify(empty_engine).rows == 4  # the check itself is a chained row


def test_the_data_admin_page_shows_the_chains_state(app_env):
    """The audit tab says whether the chain was intact at the last check, up to which row, and when; "verify now"
    walks it again and records the check (itself a chained audit row)."""
    at = logged_in("admin", "pages/data_admin.py")
    assert not at.exception
    at.button(key="audit_chain_verify").click().run()
    assert not at.exception and not errors(at), errors(at)
    with app_env.connect() as conn:
        n = audit_chain.verify(conn).rows
    assert any("哈希链完整" in x.value and "校验时间" in x.value for x in at.success), [x.value for x in at.success]
    with app_env.begin() as conn:  # how a broken chain reads (the shared demo bank itself is not tampered with)
        audit_chain.record(conn, audit_chain.Verification(False, 2, 2, "0" * 64, 3, "content",
                                                          dt.datetime(2026, 12, 1, 8, 0)), "ops")
    at.run()
    assert any("第 3 条处断开" in e and "被修改过" in e and "2026-12-01 08:00" in e for e in errors(at)), errors(at)
    at.button(key="audit_chain_verify").click().run()  # and back: the real chain is intact
    assert not errors(at) and any(f"共 {n + 1:,} 条" in x.value for x in at.success), [x.value for x in at.success]
