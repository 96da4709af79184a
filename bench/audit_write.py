"""Cost of one audit write (the app writes one at every login and every customer-360 view), and of chaining an
existing log (migration 0019) and verifying it.

    .venv/bin/python bench/audit_write.py sqlite:////tmp/audit_bench.db [--rows 100000] [--writes 2000]

The database must be new or empty. It is built at the schema before the hash chain (0018) with ``--rows`` rows
already in the log, then upgraded to head (timed: this is where a deployment's existing rows are chained), then
``--writes`` entries are written one transaction each, as the app writes them; per-write times are reported.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

from alembic import command
from sqlalchemy import text

from data_access.engine import make_engine
from data_access.migrate import _config
from data_access.users import audit


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--writes", type=int, default=2000)
    a = p.parse_args()
    engine = make_engine(a.url)
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0018")
    start = dt.datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (id, at, username, action, customer_id, target, detail) "
                          "VALUES (:i, :at, 'hq_wang', 'view_customer', :c, 'customer_360', :d)"),
                     [{"i": i + 1, "at": start + dt.timedelta(seconds=i), "c": i % 50_000,
                       "d": '{"purpose": "贷后检查", "masked": false}'} for i in range(a.rows)])
        if engine.dialect.name == "postgresql":  # what the code before the chain needs to number the next rows
            conn.execute(text("SELECT setval(pg_get_serial_sequence('audit_log', 'id'), :n)"), {"n": a.rows})
    t = time.perf_counter()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    print(f"upgrade to head with {a.rows:,} rows in the log: {time.perf_counter() - t:.1f} s")
    times = []
    for i in range(a.writes):
        t = time.perf_counter()
        with engine.begin() as conn:
            audit(conn, "hq_wang", "view_customer", customer_id=i, target="customer_360",
                  detail={"purpose": "贷后检查", "masked": False})
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"{a.writes:,} audit writes, one transaction each: mean {statistics.mean(times) * 1e3:.2f} ms, "
          f"median {times[len(times) // 2] * 1e3:.2f} ms, p95 {times[int(len(times) * 0.95)] * 1e3:.2f} ms")
    t = time.perf_counter()
    with engine.begin() as conn:  # the statements alone, without a commit (and its fsync) each
        for i in range(a.writes):
            audit(conn, "hq_wang", "view_customer", customer_id=i, target="customer_360",
                  detail={"purpose": "贷后检查", "masked": False})
    print(f"{a.writes:,} audit writes in one transaction: {(time.perf_counter() - t) / a.writes * 1e3:.3f} ms each")
    try:
        from data_access import audit_chain
    except ImportError:
        return
    t = time.perf_counter()
    with engine.connect() as conn:
        r = audit_chain.verify(conn)
    print(f"verify: {r.line()[:60]}… in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
