"""Point-in-time dimensions and the incremental refresh (#20).

A snapshot carries its loan's branch, manager, product, segment and village as they were in the month, so a loan
that moves later leaves the months already reported where they were. The import refreshes only what it touched,
and that is proven equal, mart row for mart row, to a full rebuild after every import of a sequence (new months, a
correction to an old month, a loan moving branch) on each backend.
"""
from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from data_access import demo, importer, marts, schema as s
from data_access.extract_format import export
from data_access.queries import shift_month

from .conftest import BACKENDS, _new_database


def _month_col(table) -> str:
    return next(c for c in ("month", "entry_month", "cohort") if c in table.c)


def mart_rows(conn) -> dict[str, pd.DataFrame]:
    """Every mart table, rows sorted, amounts rounded to the cent (the engines sum decimals in their own order)."""
    out = {}
    for t in s.MART_TABLES:
        df = pd.read_sql(text(f"SELECT * FROM {t.name}"), conn)
        for c in df.columns:
            if df[c].dtype == object and df[c].map(lambda v: isinstance(v, Decimal)).any():
                df[c] = df[c].astype(float)
            if df[c].dtype.kind == "f":
                df[c] = df[c].round(2)
        out[t.name] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return out


def differences(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> dict[str, str]:
    out = {}
    for name in a:
        x, y = a[name], b[name]
        if x.shape != y.shape:
            out[name] = f"{len(x)} rows against {len(y)}"
            continue
        try:
            pd.testing.assert_frame_equal(x, y, check_dtype=False, check_exact=False, atol=0.005, rtol=0)
        except AssertionError as exc:
            out[name] = str(exc).splitlines()[0:6].__str__()
    return out


def _extract(conn, **kw) -> dict[str, pd.DataFrame]:
    with tempfile.TemporaryDirectory() as d:
        export(conn, Path(d), **kw)
        return {p.name: pd.read_csv(p, dtype=str, keep_default_na=False) for p in Path(d).glob("*.csv")}


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def _moved_loan(conn, month: str) -> tuple[int, int, int, int]:
    """An active loan with a snapshot in ``month`` and in its own disbursement month, and a branch (with one of its
    managers) it can move to: (loan, old branch, new branch, new manager)."""
    loan, branch = conn.execute(text(
        "SELECT l.id, l.branch_id FROM loan l JOIN loan_snapshot s ON s.loan_id = l.id AND s.month = :m "
        "JOIN loan_snapshot d ON d.loan_id = l.id AND d.month = l.disbursed_month "
        "WHERE l.disbursed_month < :m AND s.balance > 0 ORDER BY l.id LIMIT 1"), {"m": month}).one()
    new_branch, manager = conn.execute(text(
        "SELECT m.branch_id, MIN(m.id) FROM manager m WHERE m.branch_id <> :b GROUP BY m.branch_id "
        "ORDER BY m.branch_id LIMIT 1"), {"b": branch}).one()
    return loan, branch, new_branch, manager


def _past(rows: dict[str, pd.DataFrame], before: str) -> dict[str, pd.DataFrame]:
    """The mart rows of the months before ``before`` (a vintage row's month is its cohort plus its months on book)."""
    out = {}
    for t in s.MART_TABLES:
        df = rows[t.name]
        col = _month_col(t)
        if t.name == "mart_vintage":
            month = pd.Series([shift_month(c, int(k)) for c, k in zip(df["cohort"], df["mob"])], index=df.index, dtype=object)
        else:
            month = df[col]
        out[t.name] = df[month < before].reset_index(drop=True)
    return out


def test_a_loan_moving_branch_leaves_its_past_months_where_they_were(empty_engine):
    engine = empty_engine
    demo.generate(engine, size="tiny", seed=3, progress=False)
    marts.refresh(engine)
    with engine.connect() as conn:
        last = conn.execute(text("SELECT MAX(month) FROM loan_snapshot")).scalar()
        loan, old_branch, new_branch, manager = _moved_loan(conn, last)
        before = mart_rows(conn)
        loans = _extract(conn, tables=["loan"])["loan.csv"]
        snap = _extract(conn, month=last, tables=["loan_snapshot"])[f"loan_snapshot_{last}.csv"]
    row = loans[loans["id"] == str(loan)].assign(branch_id=str(new_branch), manager_id=str(manager))
    with engine.begin() as conn:  # the bank's extract of the month is where the loan's new branch first shows
        conn.execute(text("DELETE FROM loan_snapshot WHERE loan_id = :l AND month = :m"), {"l": loan, "m": last})
    r = importer.run(engine, {"loan.csv": _csv(row), f"loan_snapshot_{last}.csv": _csv(snap[snap["loan_id"] == str(loan)])},
                     username="t")
    assert r.ok, r.problems.head().to_dict("records")
    with engine.connect() as conn:
        dims = conn.execute(text("SELECT month, branch_id, manager_id FROM loan_snapshot WHERE loan_id = :l "
                                 "ORDER BY month"), {"l": loan}).all()
        after = mart_rows(conn)
    assert dims[-1] == (last, new_branch, manager) and {b for _, b, _ in dims[:-1]} == {old_branch}
    assert differences(_past(before, last), _past(after, last)) == {}  # no month before the move changed
    port = after["mart_portfolio"]
    now = port[(port["month"] == last) & (port["branch_id"] == new_branch)]["loans"].sum()
    was = before["mart_portfolio"]
    assert now == was[(was["month"] == last) & (was["branch_id"] == new_branch)]["loans"].sum() + 1


# ---------------------------------------------------------------- incremental = full
@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    """The source bank (a tiny demo bank on SQLite) as text extracts: the whole export and its months."""
    from data_access.engine import make_engine
    from data_access.migrate import upgrade
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('src') / 'src.db'}")
    upgrade(engine)
    demo.generate(engine, size="tiny", seed=5, progress=False)
    with engine.connect() as conn:
        files = _extract(conn)
        months = [m for (m,) in conn.execute(text("SELECT DISTINCT month FROM loan_snapshot ORDER BY month"))]
        move = _moved_loan(conn, months[-1])
    engine.dispose()
    return {n.removesuffix(".csv"): df for n, df in files.items()}, months, move


DATE_OF = {"loan_snapshot": "month", "repayment": "paid_on", "warning_signal": "raised_on", "collection_case": "entry_date",
           "collection_action": "action_on", "application": "applied_on", "loan": "disbursed_on"}


def _months_files(tables: dict[str, pd.DataFrame], months: list[str]) -> tuple[dict, list[dict]]:
    """The bank without ``months``' rows, and each month's files as a bank's monthly extract brings them: the rows
    dated in the month, and the loans and warnings closed in it (which the earlier files showed still open)."""
    later = tables.copy()
    base, per_month = {}, []
    for t, df in tables.items():
        if t in DATE_OF:
            df = df[~df[DATE_OF[t]].str.slice(0, 7).isin(months)]
            if "closed_on" in df:
                closing = df["closed_on"].str.slice(0, 7).isin(months)
                df = df.copy()
                df.loc[closing, "closed_on"] = ""
                df.loc[closing, "status"] = "active" if t == "loan" else "open"
        later[t] = df
    for t, df in later.items():  # the odd row that points at a loan or case of those months waits for them
        if "loan_id" in df and t != "loan":
            df = df[df["loan_id"].isin(later["loan"]["id"]) | (df["loan_id"] == "")]
        if t == "collection_action":
            df = df[df["case_id"].isin(later["collection_case"]["id"])]
        base[f"{t}.csv"] = _csv(df)
    for m in months:
        files = {}
        for t, date in DATE_OF.items():
            df = tables[t]
            this = df[date].str.slice(0, 7) == m
            if "closed_on" in df:
                this |= (df["closed_on"].str.slice(0, 7) == m) & (df[date].str.slice(0, 7) < m)
            files[f"{t}_{m}.csv"] = _csv(df[this])
        per_month.append(files)
    return base, per_month


def _correction(tables: dict[str, pd.DataFrame], month: str) -> dict[str, bytes]:
    """A corrected old month: some snapshots' balances and days past due, and a warning closed at another date."""
    snap = tables["loan_snapshot"]
    fix = snap[snap["month"] == month].head(40).copy()
    fix["balance"] = (fix["balance"].astype(float) * 0.5).round(2).astype(str)
    late = fix.index[:10]
    fix.loc[late, "dpd"], fix.loc[late, "bucket"], fix.loc[late, "overdue_amount"] = "45", "2", "100.00"
    fix.loc[late, "class5"] = fix.loc[late, "class5"].astype(int).clip(lower=2).astype(str)
    w = tables["warning_signal"]
    closed = w[(w["raised_on"].str.slice(0, 7) <= month) & (w["closed_on"] > month + "-31")].head(3).copy()
    closed["closed_on"] = month + "-28"
    return {f"loan_snapshot_{month}.csv": _csv(fix), "warning_signal_fix.csv": _csv(closed)}


def _full_rebuild(engine) -> dict[str, pd.DataFrame]:
    """The marts a full rebuild gives now, rolled back afterwards (the database keeps its incremental marts)."""
    with engine.connect() as conn:
        tx = conn.begin()
        marts.refresh_in(conn)
        rows = mart_rows(conn)
        tx.rollback()
    return rows


@pytest.mark.parametrize("backend", BACKENDS)
def test_incremental_imports_give_the_marts_of_a_full_rebuild(backend, bank, tmp_path_factory):
    from data_access.engine import make_engine
    from data_access.migrate import upgrade
    tables, months, (loan, _, new_branch, manager) = bank
    base, (prev, last) = _months_files(tables, months[-2:])
    url, drop = _new_database(backend, tmp_path_factory)
    engine = make_engine(url)
    upgrade(engine)
    try:
        first = importer.run(engine, base, username="t")
        assert first.ok and first.refreshed["full"], first.problems.head().to_dict("records")
        row = tables["loan"][tables["loan"]["id"] == str(loan)].assign(branch_id=str(new_branch), manager_id=str(manager))
        steps = [("month", prev), ("correction", _correction(tables, months[-8])), ("move", {"loan_moved.csv": _csv(row)}),
                 ("month", last), ("month", last)]  # the last again: nothing changed but the month's snapshots
        for what, files in steps:
            r = importer.run(engine, files, username="t")
            assert r.ok, (what, r.error, r.problems.head().to_dict("records"))
            assert r.refreshed["full"] is None, (what, r.refreshed)
            with engine.connect() as conn:
                incremental = mart_rows(conn)
            assert differences(incremental, _full_rebuild(engine)) == {}, what
            rebuilt = r.refreshed["rebuilt"]
            if what == "month":  # a month's import rebuilds that month's portfolio, not the history's
                month = next(iter(files)).rsplit("_", 1)[1][:7]
                assert rebuilt["mart_portfolio"] == [month]
            if what == "move":  # no snapshot changed: the loan's past months stay as reported
                assert "mart_portfolio" not in rebuilt and "mart_migration" not in rebuilt
        with engine.connect() as conn:
            dims = conn.execute(text("SELECT month, branch_id FROM loan_snapshot WHERE loan_id = :l ORDER BY month"),
                                {"l": loan}).all()
        assert dims[-1] == (months[-1], new_branch) and dims[-2][1] != new_branch
    finally:
        engine.dispose()
        drop()
