"""Fast bulk loading of DataFrames: executemany on SQLite, COPY on PostgreSQL.

pandas ``to_sql`` manages about 250k rows/s on SQLite and 70k rows/s on
PostgreSQL (DESIGN.md); the driver-level paths here are several times faster
and still run inside the caller's transaction.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table


def _python_rows(df: pd.DataFrame) -> list[tuple]:
    cols = []
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_datetime64_any_dtype(s):
            fmt = "%Y-%m-%d" if name.endswith(("_on", "date")) else "%Y-%m-%d %H:%M:%S"
            out = s.dt.strftime(fmt).to_numpy(dtype=object)
            out[s.isna().to_numpy()] = None
        elif pd.api.types.is_bool_dtype(s):
            out = s.to_numpy(dtype=object)
        elif pd.api.types.is_float_dtype(s):
            out = s.to_numpy(dtype=object)
            out[np.isnan(s.to_numpy())] = None
        else:
            out = s.astype(object).where(s.notna(), None).to_numpy(dtype=object)
        cols.append(out)
    return list(zip(*cols)) if cols else []


def bulk_insert(conn: Connection, table: Table, df: pd.DataFrame, chunk_rows: int = 200_000) -> int:
    """Insert ``df`` (columns named as in ``table``) into ``table`` inside the caller's transaction."""
    if df.empty:
        return 0
    unknown = set(df.columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"columns not in table {table.name}: {sorted(unknown)}")
    cols = list(df.columns)
    dialect = conn.dialect.name
    raw = conn.connection.driver_connection
    for start in range(0, len(df), chunk_rows):
        rows = _python_rows(df.iloc[start:start + chunk_rows])
        if dialect == "postgresql":
            cur = raw.cursor()
            with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join("?" for _ in cols)
            cur = raw.cursor()
            cur.executemany(f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({placeholders})", rows)
    return len(df)


def sync_sequences(conn: Connection) -> None:
    """After rows were loaded with explicit ids, move PostgreSQL's id sequences past them, so that the app's own
    inserts (an agency's action, an allocation run) get fresh ids. SQLite needs nothing: it takes max(id) + 1."""
    if conn.dialect.name != "postgresql":
        return
    from sqlalchemy import text
    from .schema import metadata
    for table in metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].name == "id" and pk[0].autoincrement in (True, "auto"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                              f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))
