"""The audit log's hash chain: every row carries SHA-256 over its content and the previous row's hash, so that a
row edited, deleted or inserted behind the app's back (by whoever can write the database file or disable its
triggers) breaks the chain at that row, and ``verify`` names it.

Canonical serialisation (version 1) of a row, the exact bytes that are hashed::

    "cockpit-audit-v1" + "|" + F(id) + "|" + F(at) + "|" + F(username) + "|" + F(action)
                       + "|" + F(customer_id) + "|" + F(target) + "|" + F(detail) + "|" + F(prev_hash)

    F(NULL)  = "N"
    F(value) = "S" + <length of the value's UTF-8 bytes, decimal> + ":" + <the value>
    id, customer_id: decimal integers;  at: "YYYY-MM-DD HH:MM:SS.ffffff" (always six fraction digits)
    prev_hash: the previous row's row_hash (64 lowercase hex digits); the first row's is GENESIS (64 zeros)
    row_hash = lowercase hex of SHA-256 over the UTF-8 bytes of the whole string

The length prefixes make the string unambiguous whatever a field contains (a "|" in a search term cannot shift
fields). "Previous" means the row with the next lower id; ids are assigned by the database as the previous id + 1.

Who computes it: on PostgreSQL the BEFORE INSERT trigger ``audit_log_chain`` (migration 0019, the same
serialisation in SQL, under a transaction-scoped advisory lock so that concurrent writers keep one chain); on
SQLite the app, inside the writing transaction (``seal``, called by ``users.audit`` after the INSERT, which holds
SQLite's single write lock). ``verify`` recomputes every row in Python, so the two must agree byte for byte; the
tests write through both and verify.

What it cannot see: rows cut off the end of the log, or a chain recomputed from the tampered row onwards. The
head (id and hash) that ``verify`` prints is an anchor: kept outside the database (a ticket, the operator's log,
a write-once store), a later ``verify --anchor ID:HASH`` proves the log still holds that row unchanged.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, text

from . import schema as s

VERSION = "cockpit-audit-v1"
GENESIS = "0" * 64
CONTENT = ("username", "action", "customer_id", "target", "detail")  # what a writer supplies; the rest is assigned


def _field(value) -> str:
    if value is None:
        return "N"
    if isinstance(value, dt.datetime):
        value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
    value = str(value)
    return f"S{len(value.encode('utf-8'))}:{value}"


def canonical(id_: int, at: dt.datetime, username: str, action: str, customer_id: int | None, target: str | None,
              detail: str | None, prev_hash: str) -> bytes:
    """The bytes that are hashed for one row (module docstring)."""
    return "|".join([VERSION] + [_field(v) for v in (id_, at, username, action, customer_id, target, detail,
                                                       prev_hash)]).encode("utf-8")


def row_hash(id_: int, at: dt.datetime, username: str, action: str, customer_id: int | None, target: str | None,
             detail: str | None, prev_hash: str) -> str:
    return hashlib.sha256(canonical(id_, at, username, action, customer_id, target, detail, prev_hash)).hexdigest()


def _as_datetime(v) -> dt.datetime:
    return v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(str(v))


def seal(conn: Connection, id_: int, at: dt.datetime, content: dict) -> None:
    """SQLite: chain the just-inserted row ``id_`` (its ``at`` as the database assigned it, its ``content`` as sent)
    to its predecessor. Called in the transaction of the INSERT, which holds SQLite's write lock, so no other writer
    can slip a row in between; the update trigger allows only this one change (hashes set on a row that has none,
    content untouched)."""
    a = s.audit_log
    prev = conn.execute(select(a.c.row_hash).where(a.c.id < id_).order_by(a.c.id.desc()).limit(1)).scalar()
    prev = prev or GENESIS
    h = row_hash(id_, _as_datetime(at), *(content.get(c) for c in CONTENT), prev)
    conn.execute(a.update().where(a.c.id == id_).values(prev_hash=prev, row_hash=h))


def chain_existing(conn: Connection) -> int:
    """Chain every row in id order (the migration, for rows written before the chain existed); returns the count.
    Rows are read in batches by id; each batch's hashes are written before the next is read."""
    a = s.audit_log
    prev, last, n = GENESIS, None, 0
    while True:
        stmt = select(a.c.id, a.c.at, a.c.username, a.c.action, a.c.customer_id, a.c.target, a.c.detail)
        if last is not None:
            stmt = stmt.where(a.c.id > last)
        rows = conn.execute(stmt.order_by(a.c.id).limit(5000)).all()
        if not rows:
            return n
        updates = []
        for r in rows:
            h = row_hash(r.id, _as_datetime(r.at), r.username, r.action, r.customer_id, r.target, r.detail, prev)
            updates.append({"p": prev, "h": h, "i": r.id})
            prev = h
        conn.execute(text("UPDATE audit_log SET prev_hash = :p, row_hash = :h WHERE id = :i"), updates)
        last, n = rows[-1].id, n + len(rows)


@dataclass
class Verification:
    """What ``verify`` found: ``ok``; ``rows`` checked; the head (last good row) ``head_id`` / ``head_hash``; where
    it broke (``broken_id``, ``reason``: a code, ``REASONS`` says it in words) and when it was checked."""
    ok: bool
    rows: int
    head_id: int | None
    head_hash: str | None
    broken_id: int | None = None
    reason: str | None = None
    checked_at: dt.datetime | None = None

    def line(self) -> str:
        """One line for the command line and the audit entry."""
        if self.ok:
            if not self.rows:
                return "audit chain intact: the log is empty"
            return (f"audit chain intact: {self.rows:,} rows, head row {self.head_id} sha256 {self.head_hash} "
                    "(keep this line outside the database as an anchor)")
        return f"audit chain broken at row {self.broken_id}: {REASONS[self.reason]}"


REASONS = {
    "content": "its content does not match its hash (the row was edited)",
    "link": "it does not follow the row before it (a row before it was deleted or inserted, or its link edited)",
    "unsealed": "it carries no hash (written with the chain's trigger bypassed)",
    "anchor_missing": "the anchored row is no longer in the log (rows were deleted)",
    "anchor_changed": "the anchored row's hash differs from the anchor (the chain was recomputed)",
}


def verify(conn: Connection, anchor: tuple[int, str] | None = None, batch: int = 20_000) -> Verification:
    """Walk the whole chain in id order and stop at the first row that breaks it: its hash does not match its
    content (edited), or its link does not match the row before it (a row deleted or inserted before it). With
    ``anchor`` (id, hash, printed by an earlier run and kept elsewhere) also check that row is still there with
    that hash. Reads in batches of ``batch`` rows by the primary key, so memory stays flat."""
    a = s.audit_log
    prev, last, n = GENESIS, None, 0
    anchor_seen = False
    now = dt.datetime.now()
    while True:
        stmt = select(a.c.id, a.c.at, a.c.username, a.c.action, a.c.customer_id, a.c.target, a.c.detail,
                      a.c.prev_hash, a.c.row_hash)
        if last is not None:
            stmt = stmt.where(a.c.id > last)
        rows = conn.execute(stmt.order_by(a.c.id).limit(batch)).all()
        if not rows:
            break
        for r in rows:
            head = (last, prev if n else None)
            if r.row_hash is None:
                return Verification(False, n, *head, r.id, "unsealed", now)
            if r.prev_hash != prev:
                return Verification(False, n, *head, r.id, "link", now)
            if row_hash(r.id, _as_datetime(r.at), r.username, r.action, r.customer_id, r.target, r.detail,
                        r.prev_hash) != r.row_hash:
                return Verification(False, n, *head, r.id, "content", now)
            if anchor and r.id == anchor[0]:
                if r.row_hash != anchor[1]:
                    return Verification(False, n, *head, r.id, "anchor_changed", now)
                anchor_seen = True
            prev, last, n = r.row_hash, r.id, n + 1
    if anchor and not anchor_seen:
        return Verification(False, n, last, prev if n else None, anchor[0], "anchor_missing", now)
    return Verification(True, n, last, prev if n else None, checked_at=now)


def parse_anchor(value: str) -> tuple[int, str]:
    """``ID:HASH`` (as ``verify`` prints the head) → (id, hash); ValueError with the expected form otherwise."""
    id_, _, h = (value or "").partition(":")
    h = h.strip().lower()
    if not id_.strip().isdigit() or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise ValueError(f"an anchor is ROW_ID:SHA256 as `audit verify` prints it (got {value!r})")
    return int(id_), h


STATUS_KEY = "audit_verify"


def record(conn: Connection, result: Verification, username: str) -> None:
    """Keep a verification: as an audit entry (chained itself, so the chain carries its own checked heads) and as
    the data_status row the Data admin page reads (``last``)."""
    from .users import audit
    audit(conn, username, "audit_verify", target="audit_log",
          detail={"ok": result.ok, "rows": result.rows, "head_id": result.head_id, "head_hash": result.head_hash,
                  "broken_id": result.broken_id, "reason": result.reason})
    value = json.dumps({"ok": result.ok, "rows": result.rows, "head_id": result.head_id,
                        "broken_id": result.broken_id, "reason": result.reason}, separators=(",", ":"))
    ds = s.data_status  # not marts.stamp: a check is no new data, page caches keep their version
    conn.execute(delete(ds).where(ds.c.key == STATUS_KEY))
    conn.execute(ds.insert().values(key=STATUS_KEY, value=value, row_count=result.rows,
                                    updated_at=(result.checked_at or dt.datetime.now()).replace(microsecond=0)))


def last(conn: Connection) -> dict | None:
    """The last recorded verification: ok, rows, head_id, broken_id, reason, checked_at; None if never checked."""
    row = conn.execute(select(s.data_status.c.value, s.data_status.c.updated_at)
                       .where(s.data_status.c.key == STATUS_KEY)).first()
    if row is None:
        return None
    try:
        out = json.loads(row.value)
    except ValueError:
        return None
    out["checked_at"] = row.updated_at
    return out
