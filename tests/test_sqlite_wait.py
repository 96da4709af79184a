"""On SQLite a write waits for another's transaction instead of failing: the first start's early-warning batch holds
the write lock while it stores scores and rebuilds the marts, and a login (session and audit rows) during it failed
with "database is locked" after 10 s."""
from __future__ import annotations

import threading
import time

from sqlalchemy import text

from data_access.engine import make_engine


def test_a_write_waits_past_ten_seconds_for_another_transaction(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    held = threading.Event()

    def long_writer():
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            held.set()
            time.sleep(11)  # past the old 10 s busy timeout

    worker = threading.Thread(target=long_writer)
    worker.start()
    held.wait(5)
    started = time.monotonic()
    with engine.begin() as conn:  # raised OperationalError 'database is locked' with the old timeout
        conn.execute(text("INSERT INTO t VALUES (2)"))
    worker.join()
    assert time.monotonic() - started > 5  # it did wait for the other transaction
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT x FROM t")).scalars()) == [1, 2]
    engine.dispose()
