"""Engine creation, one per URL, with the pragmas SQLite needs to be a good server."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, DBAPIError

from .config import database_url


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or the URL is wrong; message is user-facing."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets page reads go on while a refresh or import writes.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-200000")
    cur.execute("PRAGMA temp_store=MEMORY")
    # a write (a login's session and audit rows) waits for another's transaction rather than failing: the
    # early-warning batch's scores and mart rebuild hold the write lock for about 30 s on a county bank (measured on
    # a first start: with 10 s, a login during it failed with "database is locked")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    """Create an engine for ``url`` (default: the configured one)."""
    url = url or database_url()
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                                   connect_args={"connect_timeout": 5} if url.startswith("postgresql") else {})
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise DatabaseUnavailable(f"COCKPIT_DATABASE_URL is not a valid database URL ({url!r}): {exc}") from exc
    return engine


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process."""
    return make_engine(url)


def check_connection(engine: Engine) -> None:
    """Raise :class:`DatabaseUnavailable` with a readable reason if the database is down."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise DatabaseUnavailable(
            f"Cannot reach the database at {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from exc


def is_postgres(engine_or_conn) -> bool:
    return engine_or_conn.dialect.name == "postgresql"
