"""Import of the bank's extracts (format: ``extract_format``): validate everything, then load in one transaction.

    run(engine, {"loan.csv": b"...", ...}, username="admin")   # → ImportResult

1. Read each file (CSV in UTF-8 or GB18030, or Excel), name → table, within the limits (``Limits``: size once
   unpacked, rows, columns; settings ``COCKPIT_IMPORT_MAX_MB`` / ``_MAX_ROWS`` / ``_MAX_PROBLEMS``). An Excel file's
   zip directory is checked before anything is unpacked, and its sheet is streamed (openpyxl read-only), so a zip
   bomb or an oversized sheet is refused before memory grows.
2. Validate before anything is written: columns, types, required values, lengths, code lists, ranges, month
   formats, duplicate keys, unique values taken by another row in the database, references (to rows of this import
   or of the database), DPD bucket against days past due, date order, ID-number checksums, region geometry, control
   characters in text. Every bad row is reported with its file, line, column, value and reason (the first
   ``max_problems`` of them kept, all counted); one bad row refuses the whole import.
3. Load in one transaction: upsert by primary key in dependency order (re-importing a file is harmless), extend
   the month dimension, set each snapshot's classification floor from the month imported on (a bank class
   better than the floor is loaded and reported in ``ImportResult.deviations``, not refused), compute
   application outcomes from the snapshots, keep the changed customer and village
   attributes as new point-in-time fact rows (``facts.record``: the old values stay with their months), move id
   sequences, rebuild the marts,
   stamp the data version and write the audit entry. Any failure rolls all of it back; a refused or failed import
   is audited too.
"""
from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Column, Connection, Engine, MetaData, Table, bindparam, func, select, text

from . import classification, facts, marts, schema as s, users
from .bulk import bulk_insert, sync_sequences
from .extract_format import (DATE_ORDER, DERIVED, MONTHLY, TABLES, Field, fields, key_columns, table_for_file,
                             unique_columns)

PROBLEM_COLUMNS = ["file", "table", "line", "column", "value", "reason", "detail"]
# reasons in English for the CLI; the UI translates the codes (imp.reason.<code>)
REASONS = {
    "unknown_file": "file name matches no table", "unreadable": "cannot be read", "empty_file": "no rows",
    "missing_column": "required column missing", "unknown_column": "column not in the format",
    "required": "value required", "not_integer": "not an integer", "not_number": "not a number",
    "not_date": "not a date (YYYY-MM-DD)", "not_datetime": "not a time (YYYY-MM-DD HH:MM:SS)",
    "not_bool": "not 1/0", "bad_month": "not a month (YYYY-MM)", "too_long": "too long",
    "not_allowed": "not an allowed code", "out_of_range": "out of range", "duplicate_key": "key repeated in the import",
    "duplicate_unique": "value repeated in the import", "unique_taken": "value already used by another row",
    "missing_reference": "refers to a row that does not exist", "bucket_mismatch": "bucket does not match DPD",
    "date_order": "date before its start date", "bad_id_number": "ID number invalid", "bad_geometry": "invalid geometry",
    "load_failed": "the database refused the load",
    "too_large": "larger than the limit once unpacked (split the file by month or branch)",
    "too_many_rows": "more rows than the limit (split the file by month or branch)",
    "too_many_columns": "more columns than the limit", "control_character": "contains a control character",
}
TRUE = {"1", "true", "t", "yes", "y", "是", "Y"}
FALSE = {"0", "false", "f", "no", "n", "否", "N"}
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# C0 and C1 controls (NUL, line breaks, tabs, escape …) and the invisible marks that reorder or hide text (bidi
# overrides and isolates, zero-width characters, line/paragraph separators, BOM): never part of a bank's name,
# address or note, and each a way to smuggle something past a screen or a spreadsheet
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


@dataclass(frozen=True)
class Limits:
    """Per-file caps of an import (README "Importing the bank's data" gives the defaults' reasoning).

    ``max_bytes``: a CSV's size, or everything an Excel file's zip unpacks to; ``max_rows``: data rows of one file;
    ``max_problems``: problem rows kept for the report (all are counted); ``max_columns`` and ``max_zip_entries``
    are far above any extract (the widest table has 27 columns, an xlsx a dozen entries)."""
    max_bytes: int = 100 * 2**20
    max_rows: int = 1_000_000
    max_problems: int = 10_000
    max_columns: int = 64
    max_zip_entries: int = 1_000


def limits() -> Limits:
    """The limits in force: ``COCKPIT_IMPORT_MAX_MB``, ``COCKPIT_IMPORT_MAX_ROWS``, ``COCKPIT_IMPORT_MAX_PROBLEMS``
    (environment or secrets.toml), else the defaults. A value that is not a positive whole number is a ConfigError."""
    from .config import ConfigError, setting

    def number(name: str, default: int) -> int:
        raw = setting(name)
        if raw is None:
            return default
        try:
            value = int(str(raw).strip().replace("_", ""))
        except ValueError:
            value = 0
        if value <= 0:
            raise ConfigError(f"{name} must be a positive whole number (got {raw!r})")
        return value
    d = Limits()
    return Limits(max_bytes=number("COCKPIT_IMPORT_MAX_MB", d.max_bytes // 2**20) * 2**20,
                  max_rows=number("COCKPIT_IMPORT_MAX_ROWS", d.max_rows),
                  max_problems=number("COCKPIT_IMPORT_MAX_PROBLEMS", d.max_problems))


class FileRefused(ValueError):
    """A file over a limit: ``reason`` (a REASONS code) and ``detail`` (the figures in any language: "7.6 MB →
    109 MB > 100 MB" for an Excel file unpacked, "> 1,000,000" rows)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{REASONS[reason]}: {detail}")
        self.reason, self.detail = reason, detail


def _mb(n: int) -> str:
    if n < 2**20 // 10:
        return f"{n / 1024:,.0f} KB"
    return f"{n / 2**20:,.1f} MB" if n < 10 * 2**20 else f"{n / 2**20:,.0f} MB"


@dataclass
class ImportResult:
    ok: bool
    files: dict[str, str] = field(default_factory=dict)      # file name → table
    rows: dict[str, int] = field(default_factory=dict)       # table → rows in the import
    new_rows: dict[str, int] = field(default_factory=dict)   # table → rows that were not in the database
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS))
    error: str | None = None
    version: str | None = None
    seconds: float = 0.0
    problem_count: int = 0   # every problem found; ``problems`` keeps the first ``Limits.max_problems`` by file, line
    flagged: int = 0         # imported contacts that broke a conduct rule: loaded and flagged (conduct_view)
    # month → snapshot rows whose imported class is better than the classification engine's floor (flagged, not
    # refused: the Portfolio risk page lists them as classification deviations)
    deviations: dict[str, int] = field(default_factory=dict)
    # what the refresh rebuilt: {"full": reason} when every mart was, else {"full": None, "rebuilt": {mart: months}}
    refreshed: dict = field(default_factory=dict)


class _Problems:
    """Problem rows as they are found: all counted, at most ``keep`` kept (the first by file and line)."""

    def __init__(self, keep: int = Limits.max_problems):
        self.parts: list[pd.DataFrame] = []
        self.keep, self.count, self._held = keep, 0, 0

    def _hold(self, part: pd.DataFrame) -> None:
        self.count += len(part)
        self.parts.append(part.head(self.keep))
        self._held += min(len(part), self.keep)
        if self._held > 4 * self.keep:  # memory stays at a few times the cap, whatever the file
            self.parts = [self._sorted().head(self.keep)]
            self._held = len(self.parts[0])

    def add(self, df: pd.DataFrame, mask, table: str, column: str, reason: str, detail: str = "") -> None:
        mask = np.asarray(mask, bool)
        if not mask.any():
            return
        bad = df.loc[mask]
        value = bad[column].astype(str) if column in bad.columns and column != "" else ""
        self._hold(pd.DataFrame({"file": bad["_file"].to_numpy(), "table": table, "line": bad["_line"].to_numpy(),
                                 "column": column, "value": value, "reason": reason, "detail": detail}))

    def file(self, name: str, table: str | None, reason: str, column: str = "", detail: str = "") -> None:
        self._hold(pd.DataFrame([{"file": name, "table": table or "", "line": 1, "column": column, "value": "",
                                  "reason": reason, "detail": detail}]))

    def _sorted(self) -> pd.DataFrame:
        return pd.concat(self.parts, ignore_index=True).sort_values(["file", "line"], kind="stable")

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=PROBLEM_COLUMNS)
        out = self._sorted().head(self.keep).reset_index(drop=True)
        # a value shows its control characters as \u0000, so that the report and the screen show what is there
        out["value"] = out["value"].astype(str).str.slice(0, 80).str.replace(
            CONTROL_RE, lambda m: f"\\u{ord(m.group()):04x}", regex=True)
        return out


# ---------------------------------------------------------------- reading
def read_file(name: str, data: bytes, lim: Limits | None = None) -> pd.DataFrame:
    """All cells as text (empty → ''), so that validation sees exactly what the file says. A file over ``lim``
    raises FileRefused as soon as that is known: before unpacking (an Excel file's declared sizes, a CSV's size) or
    at the first row past the cap, never after the whole file was read."""
    lim = lim or limits()
    if name.lower().endswith((".xlsx", ".xlsm")):
        df = _read_excel(data, lim)
    else:
        if len(data) > lim.max_bytes:
            raise FileRefused("too_large", f"{_mb(len(data))} > {_mb(lim.max_bytes)}")
        for enc in ("utf-8-sig", "gb18030"):  # Chinese core systems often write GBK
            try:
                # one row past the cap is enough to know; the parser never reads further
                df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding=enc,
                                 nrows=lim.max_rows + 1)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ValueError("neither UTF-8 nor GB18030 text")
        if len(df) > lim.max_rows:
            raise FileRefused("too_many_rows", f"> {lim.max_rows:,}")
        if df.shape[1] > lim.max_columns:
            raise FileRefused("too_many_columns", f"{df.shape[1]:,} > {lim.max_columns:,}")
    df.columns = [str(c).strip() for c in df.columns]
    return df.apply(lambda c: c.str.strip())


def _cell_text(v) -> str:
    """A cell as pandas' Excel reader gives it as text: whole floats without '.0', dates as 'YYYY-MM-DD HH:MM:SS'."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _read_excel(data: bytes, lim: Limits) -> pd.DataFrame:
    """The first sheet, streamed. The zip's directory says what every entry unpacks to before anything is unpacked
    (Python's zipfile never unpacks past an entry's declared size: a lying entry fails its CRC instead), so a zip
    bomb is refused with the archive still packed; then rows are read one by one up to the row cap."""
    import zipfile
    from openpyxl import load_workbook
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not an Excel file ({exc})") from exc
    unpacked = sum(e.file_size for e in entries)
    if len(entries) > lim.max_zip_entries:
        raise FileRefused("too_large", f"{len(entries):,} > {lim.max_zip_entries:,}")
    if unpacked > lim.max_bytes:
        raise FileRefused("too_large", f"{_mb(len(data))} → {_mb(unpacked)} > {_mb(lim.max_bytes)}")
    # openpyxl reads a sheet's <dimension> at load; a sheet without one it parses through once (constant memory,
    # time bounded by the size cap)
    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    try:
        ws = wb.worksheets[0]
        if (ws.max_row or 0) - 1 > lim.max_rows:  # an honest file says its size up front (a lie is caught below)
            raise FileRefused("too_many_rows", f"{ws.max_row - 1:,} > {lim.max_rows:,}")
        header = next(ws.iter_rows(min_row=1, max_row=1, max_col=lim.max_columns + 1, values_only=True), ())
        width = max((i + 1 for i, v in enumerate(header) if v is not None and str(v).strip() != ""), default=0)
        if width > lim.max_columns:
            raise FileRefused("too_many_columns", f"> {lim.max_columns:,}")
        if width == 0:
            return pd.DataFrame()
        names, seen = [], {}
        for i, v in enumerate(header[:width]):  # as pandas names them: 'Unnamed: 3', a repeated 'name' → 'name.1'
            n = _cell_text(v).strip() or f"Unnamed: {i}"
            names.append(n if n not in seen else f"{n}.{seen[n]}")
            seen[n] = seen.get(n, 0) + 1
        chunks, rows, blank, n = [], [], 0, 0
        for row in ws.iter_rows(min_row=2, max_col=width, values_only=True):
            if n + blank >= lim.max_rows:  # this row is one past the cap (empty rows count too)
                raise FileRefused("too_many_rows", f"> {lim.max_rows:,}")
            if all(v is None for v in row):
                blank += 1  # kept only if a filled row follows: trailing empty rows are formatting, not data
                continue
            rows.extend([("",) * width] * blank)
            rows.append(tuple(_cell_text(v) for v in row))
            n, blank = n + blank + 1, 0
            if len(rows) >= 20_000:  # Python's tuples of str are ~10× the frame's Arrow strings: convert as we go
                chunks.append(pd.DataFrame(rows, columns=names, dtype=str))
                rows = []
    finally:
        wb.close()
    chunks.append(pd.DataFrame(rows, columns=names, dtype=str))
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


# ---------------------------------------------------------------- column checks
def _coerce(df: pd.DataFrame, f: Field, table: str, p: _Problems) -> pd.Series:
    raw = df[f.name] if f.name in df.columns else pd.Series([""] * len(df), index=df.index)
    given = raw != ""
    if f.required and f.name in df.columns:  # a column missing altogether is one missing_column line, not one a row
        p.add(df, ~given, table, f.name, "required")
    if f.kind in ("int", "number", "money"):
        v = pd.to_numeric(raw.where(given), errors="coerce")
        if f.kind == "int":
            # a whole number too large for a 64-bit integer (1E100) is no integer either
            bad = given & (v.isna() | (v.fillna(0) % 1 != 0) | (v.abs() > 2**62).fillna(False))
            p.add(df, bad, table, f.name, "not_integer")
            v = v.where(~bad).astype("Int64")
        else:
            p.add(df, given & v.isna(), table, f.name, "not_number")
            v = v.astype(float)
        if f.range:
            lo, hi = f.range
            p.add(df, given & v.notna() & ((v < lo) | (v > hi)).fillna(False), table, f.name, "out_of_range",
                  f"{lo:g} – {hi:g}")
        if f.default is not None:
            v = v.where(given, f.default)
        return v
    if f.kind == "bool":
        low = raw.str.lower()
        ok = low.isin({x.lower() for x in TRUE | FALSE})
        p.add(df, given & ~ok, table, f.name, "not_bool")
        v = pd.Series(np.where(low.isin({x.lower() for x in TRUE}), True, False), index=df.index, dtype=object)
        return v.where(given, f.default if f.default is not None else None)
    if f.kind in ("date", "datetime"):
        # Excel hands dates over as "2026-01-05 00:00:00": a date keeps its first ten characters
        txt = raw.str.slice(0, 10) if f.kind == "date" else raw
        fmt = "%Y-%m-%d" if f.kind == "date" else "ISO8601"
        v = pd.to_datetime(txt.where(given), format=fmt, errors="coerce")
        p.add(df, given & v.isna(), table, f.name, "not_date" if f.kind == "date" else "not_datetime")
        if f.kind == "date":
            return pd.Series([d.date() if not pd.isna(d) else None for d in v], index=df.index, dtype=object)
        return pd.Series([d.to_pydatetime() if not pd.isna(d) else None for d in v], index=df.index, dtype=object)
    if f.kind == "month":
        p.add(df, given & ~raw.str.match(MONTH_RE), table, f.name, "bad_month")
    if f.kind == "text":
        ctl = given & raw.str.contains(CONTROL_RE)
        if ctl.any():  # the detail names the character: "U+0000"
            first = raw[ctl].map(lambda v: f"U+{ord(CONTROL_RE.search(v).group()):04X}")
            for code in sorted(first.unique()):
                p.add(df, ctl & (first.reindex(df.index) == code), table, f.name, "control_character", code)
    if f.length:
        p.add(df, raw.str.len() > f.length, table, f.name, "too_long", f"≤ {f.length}")
    if f.codes:
        p.add(df, given & ~raw.isin(f.codes), table, f.name, "not_allowed", " | ".join(map(str, f.codes)))
    v = raw.where(given, None).astype(object)
    return v.where(given, f.default) if f.default is not None else v


def _bucket(dpd: pd.Series) -> pd.Series:
    """DESIGN.md: M0 current; M1 1–30; M2 31–60; M3 61–90; M4+ over 90."""
    d = dpd.astype(float)
    return pd.Series(np.select([d <= 0, d <= 30, d <= 60, d <= 90], [0, 1, 2, 3], 4), index=dpd.index)


ID_NUMBER_RE = re.compile(r"^\d{6}(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dXx]$")


def id_number_valid(v) -> bool:
    """GB 11643 shape: six region digits, a birth date, three sequence digits and a check character. The check
    character itself is not verified: the demo bank's numbers fail it on purpose, so that none is a real person's."""
    return isinstance(v, str) and bool(ID_NUMBER_RE.match(v))


def _geometry_problem(text_: str | None) -> str | None:
    if not isinstance(text_, str):  # an empty value is the "required" rule's to report
        return None
    import json
    from shapely.geometry import shape
    from shapely.validation import explain_validity
    try:
        g = shape(json.loads(text_))
    except Exception as exc:  # noqa: BLE001 - any parse failure is the same bad-row report
        return f"not GeoJSON: {str(exc)[:60]}"
    if g.is_empty:
        return "empty"
    if not g.is_valid:
        return explain_validity(g)[:80]
    return None


def typed_frames(raw: dict[str, pd.DataFrame], p: _Problems) -> dict[str, pd.DataFrame]:
    """Each table's rows with typed columns (plus _file, _line), derived columns added."""
    out = {}
    for table, df in raw.items():
        known = {f.name for f in fields(table)}
        for f in fields(table):
            if f.name not in df.columns and f.required and f.default is None:
                for name in df["_file"].unique():
                    p.file(name, table, "missing_column", f.name)
        for c in df.columns:
            if c not in known and not c.startswith("_"):
                for name in df["_file"].unique():
                    p.file(name, table, "unknown_column", c)
        typed = pd.DataFrame({f.name: _coerce(df, f, table, p) for f in fields(table)}, index=df.index)
        for (t, col), src in DERIVED.items():
            if t == table:
                typed[col] = [d.strftime("%Y-%m") if d is not None else None for d in typed[src]]
        typed["_file"], typed["_line"] = df["_file"], df["_line"]
        out[table] = typed
    return out


# ---------------------------------------------------------------- rules across rows and against the database
def _db_values(conn: Connection, table: str, column: str) -> set:
    t = s.metadata.tables[table]
    return set(conn.execute(select(t.c[column]).distinct()).scalars())


def check_rows(conn: Connection, frames: dict[str, pd.DataFrame], p: _Problems) -> None:
    cache: dict[tuple[str, str], set] = {}

    def known(table: str, column: str) -> set:
        if (table, column) not in cache:
            vals = _db_values(conn, table, column)
            if table in frames:
                vals |= set(frames[table][column].dropna())
            cache[(table, column)] = vals
        return cache[(table, column)]

    for table, df in frames.items():
        keys = key_columns(table)
        dup = df.duplicated(keys, keep=False) & df[keys].notna().all(axis=1)
        if len(keys) > 1 and dup.any():  # the report shows the whole key: "loan_id+month" = "1234/2026-11"
            df["+".join(keys)] = df[keys[0]].astype(str)
            for k in keys[1:]:
                df["+".join(keys)] += "/" + df[k].astype(str)
        p.add(df, dup, table, keys[0] if len(keys) == 1 else "+".join(keys), "duplicate_key")
        for u in unique_columns(table):
            p.add(df, df[u].notna() & df.duplicated(u, keep=False), table, u, "duplicate_unique")
            # the same value on another row of the database (a different key) would break the unique index
            t = s.metadata.tables[table]
            vals = df[u].dropna().unique().tolist()
            taken: dict = {}
            for i in range(0, len(vals), 5000):
                taken.update(dict(conn.execute(select(t.c[u], t.c[keys[0]]).where(t.c[u].in_(vals[i:i + 5000]))).all()))
            if taken:
                other = df[u].map(taken)
                p.add(df, other.notna() & (other != df[keys[0]]), table, u, "unique_taken")
        for f in fields(table):
            if f.reference:
                rt, rc = f.reference.split(".")
                v = df[f.name]
                p.add(df, v.notna() & ~v.isin(known(rt, rc)), table, f.name, "missing_reference", f.reference)
        for t_, early, late in DATE_ORDER:
            if t_ == table:
                a, b = df[early], df[late]
                both = a.notna() & b.notna()
                p.add(df, both & (pd.Series([x < y if ok else False for x, y, ok in zip(b, a, both)], index=df.index)),
                      table, late, "date_order", early)
        if table == "loan_snapshot":
            ok = df["dpd"].notna() & df["bucket"].notna()
            p.add(df, ok & (_bucket(df["dpd"].fillna(0)) != df["bucket"].fillna(-1).astype(int)), table, "bucket",
                  "bucket_mismatch", "M0 0, M1 1–30, M2 31–60, M3 61–90, M4+ >90")
        if table == "customer":
            p.add(df, df["id_number"].notna() & ~df["id_number"].map(id_number_valid).astype(bool), table, "id_number",
                  "bad_id_number")
        if table == "region" and "geometry" in df:
            why = df["geometry"].map(_geometry_problem)
            for reason in why.dropna().unique():
                p.add(df, why == reason, table, "geometry", "bad_geometry", reason)


# ---------------------------------------------------------------- loading
def _upsert(conn: Connection, table: str, df: pd.DataFrame, present: set[str]) -> None:
    """Insert new rows whole; on rows already there, update only the columns the files carried (an optional column
    left out of an extract keeps its value)."""
    t = s.metadata.tables[table]
    keys = key_columns(table)
    cols = [c for c in df.columns if not c.startswith("_") and c in t.c]
    df = df[cols]
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys and c in present)
    action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
    if conn.dialect.name == "postgresql":
        stage = Table(f"_stage_{table}", MetaData(), *[Column(c, t.c[c].type) for c in cols])
        conn.exec_driver_sql(f"CREATE TEMP TABLE {stage.name} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
        bulk_insert(conn, stage, df)
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {stage.name} "
                             f"ON CONFLICT ({', '.join(keys)}) {action}")
        conn.exec_driver_sql(f"DROP TABLE {stage.name}")
        return
    from .bulk import _python_rows
    raw = conn.connection.driver_connection.cursor()
    raw.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
                    f"ON CONFLICT ({', '.join(keys)}) {action}", _python_rows(df))


def _new_rows(conn: Connection, table: str, df: pd.DataFrame) -> int:
    """Rows of the import whose key is not in the database yet."""
    t = s.metadata.tables[table]
    keys = key_columns(table)
    if len(keys) == 1:
        have = set()
        vals = df[keys[0]].unique().tolist()
        for i in range(0, len(vals), 5000):
            have |= set(conn.execute(select(t.c[keys[0]]).where(t.c[keys[0]].in_(vals[i:i + 5000]))).scalars())
        return int((~df[keys[0]].isin(have)).sum())
    months = df["month"].unique().tolist() if "month" in keys else None
    stmt = select(*[t.c[k] for k in keys])
    if months:
        stmt = stmt.where(t.c.month.in_(months))
    have = set(conn.execute(stmt).all())
    return int(sum(tuple(r) not in have for r in df[keys].itertuples(index=False, name=None)))


def _extend_months(conn: Connection) -> None:
    """Every month from the first to the last one the data mention, in dim_month (year × 12 + month − 1)."""
    found = set()
    for table, col in (("loan_snapshot", "month"), ("loan", "disbursed_month"), ("application", "month"),
                       ("collection_case", "entry_month"), ("repayment", "month"), ("warning_signal", "month")):
        t = s.metadata.tables[table]
        found |= set(conn.execute(select(t.c[col]).distinct()).scalars())
    found.discard(None)
    if not found:
        return
    idx = lambda m: int(m[:4]) * 12 + int(m[5:7]) - 1  # noqa: E731
    have = set(conn.execute(select(s.dim_month.c.month)).scalars())
    want = [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(idx(min(found)), idx(max(found)) + 1)]
    missing = [m for m in want if m not in have]
    if missing:
        conn.execute(s.dim_month.insert(), [{"month": m, "idx": idx(m)} for m in missing])


# DESIGN.md: bad = ever 90+ days past due within 12 months on book; the outcome is known once it went bad or
# twelve months after disbursement are covered by the snapshots (a loan repaid early is then a known good)
_BAD = ("EXISTS (SELECT 1 FROM loan l JOIN loan_snapshot x ON x.loan_id = l.id "
        "WHERE l.application_id = application.id AND x.mob <= 12 AND x.dpd > 90)")
_KNOWN = (f"{_BAD} OR EXISTS (SELECT 1 FROM loan l JOIN dim_month d ON d.month = l.disbursed_month "
          "WHERE l.application_id = application.id AND d.idx + 12 <= (SELECT e.idx FROM dim_month e "
          "WHERE e.month = (SELECT MAX(month) FROM loan_snapshot)))")
OUTCOMES = f"""
UPDATE application SET
  bad_12m = CASE WHEN {_BAD} THEN TRUE ELSE FALSE END,
  outcome_known = CASE WHEN {_KNOWN} THEN TRUE ELSE FALSE END
WHERE decision = 'approved' AND outcome_known = FALSE
"""
# the months of the applications whose outcome OUTCOMES is about to learn (their mart rows change; a still unknown
# outcome counts no bad either way)
OUTCOMES_LEARNT = f"SELECT DISTINCT month FROM application WHERE decision = 'approved' AND outcome_known = FALSE AND ({_KNOWN})"

# what the incremental refresh needs to know of the rows an import replaces (marts.Touched): their values before
TRACKED = {"loan": ("disbursed_month", "amount", "branch_id", "product_id", "segment", "village_code", "manager_id",
                    "customer_id", "credit_line_id", "status", "closed_on"),
           "application": ("month",), "collection_action": ("case_id",),
           # a case's own figures (the collection mart, the manager page) and where it counts as a new overdue loan
           "collection_case": ("entry_month", "entry_bucket", "loan_id", "branch_id", "channel", "agency_id",
                               "legal_stage", "status", "overdue_at_entry", "balance_at_entry", "recovered_amount",
                               "cost", "complaints", "compliance_breaches"),
           "warning_signal": ("month", "raised_on", "closed_on")}
_COHORT = ("disbursed_month", "amount", "branch_id", "product_id", "segment", "village_code", "manager_id")
_DIMS = ("branch_id", "product_id", "segment", "village_code", "manager_id")


def _by_id(conn: Connection, table: str, cols, ids) -> pd.DataFrame:
    """``cols`` of the rows of ``table`` with those ids, indexed by id (a probe of the key per row)."""
    t = s.metadata.tables[table]
    parts = [pd.DataFrame(columns=["id", *cols])]
    for i in range(0, len(ids), 5000):
        res = conn.execute(select(t.c.id, *[t.c[c] for c in cols]).where(t.c.id.in_(ids[i:i + 5000])))
        parts.append(pd.DataFrame(res.fetchall(), columns=["id", *cols]))
    return pd.concat(parts, ignore_index=True).set_index("id")


def _ids(frames, table) -> list[int]:
    return [int(i) for i in frames[table]["id"].dropna().unique()]


def _before(conn: Connection, frames: dict[str, pd.DataFrame]) -> dict:
    """The tracked values of the rows the import is about to replace, and the first snapshot month held."""
    old = {t: _by_id(conn, t, cols, _ids(frames, t)) for t, cols in TRACKED.items() if t in frames}
    old["first_month"] = conn.execute(select(func.min(s.loan_snapshot.c.month))).scalar()
    old["refreshed"] = conn.execute(select(s.data_status.c.key).where(s.data_status.c.key == "refresh")).first()
    return old


def _differs(a: pd.Series, b: pd.Series) -> pd.Series:
    return ~((a == b) | (a.isna() & b.isna()))


def _month_index(dates: pd.Series, missing: int) -> np.ndarray:
    d = pd.to_datetime(dates)
    return np.where(d.isna(), missing, d.dt.year.fillna(0) * 12 + d.dt.month.fillna(1) - 1).astype(int)


def _months_of(conn: Connection, sql: str, ids) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(ids), 5000):
        out |= set(conn.execute(text(sql).bindparams(bindparam("ids", expanding=True)), {"ids": ids[i:i + 5000]}).scalars())
    return out


def _touched(conn: Connection, frames: dict[str, pd.DataFrame], old: dict) -> marts.Touched:
    """What the loaded rows changed, for marts.refresh_touched (read after the upserts, compared with ``old``)."""
    t = marts.Touched()
    other = sorted(set(frames) - set(MONTHLY))
    if other:  # reference rows (customers, lines, regions, the organisation …) are read by every month's marts
        t.full = "the import brings " + ", ".join(other)
        return t
    if old["refreshed"] is None:
        t.full = "the marts were never built"
        return t
    if "loan_snapshot" in frames:
        t.months = {str(m) for m in frames["loan_snapshot"]["month"].dropna().unique()}
        if old["first_month"] is None or min(t.months) < old["first_month"]:
            t.full = "a month before the first one held"
            return t
    if "loan" in frames:
        ids = _ids(frames, "loan")
        new = _by_id(conn, "loan", TRACKED["loan"], ids)
        was = old["loan"].reindex(new.index)
        existed = new.index.isin(old["loan"].index)
        cohort = ~existed | np.any([_differs(new[c], was[c]) for c in _COHORT], axis=0)
        t.cohorts |= set(new.loc[cohort, "disbursed_month"]) | set(was.loc[cohort & existed, "disbursed_month"])
        t.closures |= set(new.index[existed & (_differs(new["status"], was["status"])
                                               | _differs(new["closed_on"], was["closed_on"]))])
        changed = ~existed | np.any([_differs(new[c], was[c]) for c in TRACKED["loan"]], axis=0)
        for frame in (new[changed], was[changed & existed]):
            t.loans |= set(frame["disbursed_month"].dropna())
            t.loans |= {d.strftime("%Y-%m") for d in pd.to_datetime(frame["closed_on"]).dropna()}
        moved = new.index[existed & np.any([_differs(new[c], was[c]) for c in _DIMS], axis=0)].tolist()
        # a case's village and manager fall back to its loan's where the loan has no snapshot in the entry month
        t.cases |= _months_of(conn, "SELECT DISTINCT entry_month FROM collection_case WHERE loan_id IN :ids", moved)
        owner = new.index[existed & (_differs(new["customer_id"], was["customer_id"])
                                     | _differs(new["credit_line_id"], was["credit_line_id"]))].tolist()
        t.months |= _months_of(conn, "SELECT DISTINCT month FROM loan_snapshot WHERE loan_id IN :ids", owner)
    if "application" in frames:
        t.applications |= set(old["application"]["month"]) | set(frames["application"]["month"].dropna())
    if "collection_case" in frames:
        cols = TRACKED["collection_case"]
        new = _by_id(conn, "collection_case", cols, _ids(frames, "collection_case"))
        was = old["collection_case"].reindex(new.index)
        existed = new.index.isin(old["collection_case"].index)
        where = ~existed | np.any([_differs(new[c], was[c]) for c in cols[:4]], axis=0)  # a new overdue loan's
        figures = ~where & np.any([_differs(new[c], was[c]) for c in cols[4:]], axis=0)  # only the case's figures
        t.cases |= set(new.loc[where, "entry_month"]) | set(was.loc[where & existed, "entry_month"])
        t.recoveries |= set(new.loc[figures, "entry_month"])
    if "collection_action" in frames:
        case_ids = {int(c) for c in old["collection_action"]["case_id"].dropna()} | \
            {int(c) for c in frames["collection_action"]["case_id"].dropna()}
        t.actions |= _months_of(conn, "SELECT DISTINCT entry_month FROM collection_case WHERE id IN :ids", sorted(case_ids))
    if "warning_signal" in frames:
        w = frames["warning_signal"].drop_duplicates("id").set_index("id")
        was = old["warning_signal"].reindex(w.index)
        t.warnings |= set(was["month"].dropna()) | set(w["month"].dropna())
        # open at a month end: raised by then and not yet closed, i.e. from the raising month to before the closing one
        never = 10**6
        r1, c1 = _month_index(w["raised_on"], never), _month_index(w["closed_on"], never)
        r0, c0 = _month_index(was["raised_on"], never), _month_index(was["closed_on"], never)
        for m in conn.execute(select(s.dim_month.c.month, s.dim_month.c.idx)).all():
            if np.any(((r0 <= m.idx) & (m.idx < c0)) != ((r1 <= m.idx) & (m.idx < c1))):
                t.open_warnings.add(m.month)
    return t


def load(conn: Connection, frames: dict[str, pd.DataFrame], progress: Callable[[float, str], None],
         present: dict[str, set[str]], deviations: dict[str, int] | None = None,
         refreshed: dict | None = None) -> dict[str, int]:
    """Upsert every table in dependency order and finish the load (months, classification floors, outcomes,
    sequences, marts); returns the rows new to the database per table. ``deviations`` receives, per month
    reclassified, the snapshots classed better than their floor; ``refreshed`` what the refresh rebuilt (the
    months and keys the import touched: marts.refresh_touched)."""
    new = {}
    old = _before(conn, frames)
    order = [t for t in TABLES if t in frames]
    for i, table in enumerate(order):
        progress(0.1 + 0.6 * i / len(order), table)
        new[table] = _new_rows(conn, table, frames[table])
        _upsert(conn, table, frames[table], present[table])
    progress(0.72, "dim_month")
    _extend_months(conn)
    if "loan_snapshot" in frames:  # a new snapshot row's point-in-time dimensions: its loan's as of this import
        marts.fill_snapshot_dims(conn, set(frames["loan_snapshot"]["month"].dropna().unique()))
    touched = _touched(conn, frames, old)
    start = _reclassify_from(frames)
    if start:
        progress(0.73, "classification")
        found = classification.reclassify(conn, start)
        touched.floors |= set(found)
        if deviations is not None:
            deviations.update({m: n for m, n in found.items() if n})
    if "loan_snapshot" in frames or "application" in frames or "loan" in frames:
        touched.applications |= set(conn.execute(text(OUTCOMES_LEARNT)).scalars())
        conn.execute(text(OUTCOMES))
    if "customer" in frames or "region" in frames:
        # the changed attributes get a new fact row from the data month on; the old values stay with their months
        facts.record(conn)
    sync_sequences(conn)
    progress(0.75, "marts")
    report = marts.refresh_touched(conn, touched)
    if refreshed is not None:
        refreshed.update(report)
    return new


def _reclassify_from(frames: dict[str, pd.DataFrame]) -> str | None:
    """The first month whose floors the import may change: its earliest snapshot month, or the month of a loan's
    restructuring it brings (the floors from then on depend on it)."""
    starts = []
    if "loan_snapshot" in frames and len(frames["loan_snapshot"]):
        starts.append(str(frames["loan_snapshot"]["month"].min()))
    if "loan" in frames and "restructured_on" in frames["loan"]:
        r = pd.to_datetime(frames["loan"]["restructured_on"]).dropna()
        if len(r):
            starts.append(r.min().strftime("%Y-%m"))
    return min(starts) if starts else None


def run(engine: Engine, files: dict[str, bytes], username: str, progress: Callable[[float, str], None] | None = None,
        dry_run: bool = False) -> ImportResult:
    """Validate ``files`` (name → content) and, when every row is good and not ``dry_run``, load them in one
    transaction. The result says what happened; nothing is written unless ``ok`` and not ``dry_run``."""
    started = time.perf_counter()
    progress = progress or (lambda _f, _m: None)
    lim = limits()
    p = _Problems(lim.max_problems)
    result = ImportResult(ok=False)
    raw: dict[str, list[pd.DataFrame]] = {}
    for name, data in files.items():
        table = table_for_file(name)
        result.files[name] = table or ""
        if table is None:
            p.file(name, None, "unknown_file")
            continue
        try:
            df = read_file(name, data, lim)
        except FileRefused as exc:  # over a limit: refused before it was read whole
            p.file(name, table, exc.reason, detail=exc.detail)
            continue
        except Exception as exc:  # noqa: BLE001 - a broken file is a report line, never a traceback
            p.file(name, table, "unreadable", detail=str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__)
            continue
        if df.empty:
            p.file(name, table, "empty_file")
            continue
        df["_file"], df["_line"] = name, np.arange(2, len(df) + 2)  # line 1 is the header
        raw.setdefault(table, []).append(df)
    progress(0.03, "validate")
    merged = {t: pd.concat(parts, ignore_index=True) for t, parts in raw.items()}
    frames = typed_frames(merged, p)
    result.rows = {t: len(df) for t, df in frames.items()}
    with engine.connect() as conn:
        check_rows(conn, frames, p)
    result.problems, result.problem_count = p.frame(), p.count
    progress(0.1, "validated")
    if not result.problems.empty or dry_run:
        result.ok = result.problems.empty
        if not dry_run:
            _audit_outcome(engine, username, result, "refused")
        result.seconds = time.perf_counter() - started
        return result
    try:
        with engine.begin() as conn:
            present = {t: set(df.columns) | {c for (tt, c), src in DERIVED.items() if tt == t and src in df.columns}
                       for t, df in merged.items()}
            result.new_rows = load(conn, frames, progress, present, result.deviations, result.refreshed)
            if "collection_action" in frames:
                from .conduct_view import flag_imported
                result.flagged = flag_imported(conn, frames["collection_action"]["id"].dropna().tolist())
            for t, n in result.rows.items():
                marts.stamp(conn, f"table:{t}", n)
            result.version = marts.stamp(conn, "import", sum(result.rows.values()))
            users.audit(conn, username, "import", target=_target(files),
                        detail={"result": "loaded", "files": list(files), "rows": result.rows,
                                "new_rows": result.new_rows, "conduct_flagged": result.flagged,
                                "class_deviations": result.deviations, "refreshed": _refresh_summary(result.refreshed)})
    except Exception as exc:  # noqa: BLE001 - rolled back as a whole; reported, not raised
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()
        result.error = reason[0][:300] if reason else type(exc).__name__
        result.problems = pd.DataFrame([{"file": "", "table": "", "line": 0, "column": "", "value": "",
                                         "reason": "load_failed", "detail": result.error}])
        result.problem_count = 1
        _audit_outcome(engine, username, result, "failed")
        result.seconds = time.perf_counter() - started
        return result
    result.ok = True
    progress(1.0, "done")
    result.seconds = time.perf_counter() - started
    return result


def _refresh_summary(report: dict) -> dict:
    """The audit entry's account of the refresh: why it was full, or the months each mart had rebuilt."""
    if report.get("full"):
        return {"full": report["full"]}
    return {"months": {m: len(keys) for m, keys in report.get("rebuilt", {}).items()}}


def _target(files) -> str:
    """The audit entry's target: the file names, cut to the column's 128 characters (the detail has them all)."""
    names = ", ".join(files)
    return names if len(names) <= 128 else names[:120] + f" …+{len(files)}"


def _audit_outcome(engine: Engine, username: str, result: ImportResult, outcome: str) -> None:
    try:
        with engine.begin() as conn:
            users.audit(conn, username, "import", target=_target(result.files),
                        detail={"result": outcome, "files": list(result.files), "rows": result.rows, "problems": int(result.problem_count),
                                "error": result.error})
    except Exception:  # noqa: BLE001 - the database may be the reason the import failed
        pass


def report_bytes(problems: pd.DataFrame) -> bytes:
    """The bad-row report as CSV (UTF-8 with BOM, so that Excel opens the Chinese correctly)."""
    out = problems.copy()
    out["reason_text"] = out["reason"].map(REASONS).fillna(out["reason"])
    from .export_safety import csv_bytes
    return csv_bytes(out)  # the rejected values are what a hostile file put there: never live formulas


def read_folder(paths, lim: Limits | None = None) -> dict[str, bytes]:
    """Files of the given paths (files or folders; CSV and Excel only) as name → content. A file larger on disk than
    the size cap is refused before it is read (ValueError: the command line's one-line message): a CSV is that size,
    and an Excel file never unpacks to less than about its packed size."""
    from pathlib import Path
    lim = lim or limits()
    out = {}
    for p in map(Path, paths):
        items = sorted(p.iterdir()) if p.is_dir() else [p]
        for f in items:
            if f.is_file() and f.suffix.lower() in (".csv", ".xlsx", ".xlsm"):
                size = f.stat().st_size
                if size > lim.max_bytes:
                    raise ValueError(f"{f.name} is {_mb(size)}, over the import limit of {_mb(lim.max_bytes)} a "
                                     "file (COCKPIT_IMPORT_MAX_MB); split it by month or branch")
                out[f.name] = f.read_bytes()
    return out

