"""Regulatory figures read from the marts: the migration rates by period, 新发放贷款不良率, overdue loans in the G11
day bands. Scoped in SQL like every mart read (:func:`data_access.base.branch_rows`); definitions and sources are
in :mod:`data_access.kpi` and the README's risk terms.
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, func, select

from . import kpi, schema as s
from .base import Filters, _df, _mart_filter, _month_window, branch_rows, each_branch

PERIODS = {"ytd": s.mart_migration_ytd, "qtd": s.mart_migration_qtd}


def migration_period(conn: Connection, scope, f: Filters, period: str = "ytd", months: int = 12) -> pd.DataFrame:
    """Class transitions from the period start (previous December for ``ytd``, previous quarter end for ``qtd``) to
    each of the ``months`` period ends up to ``f.month``. Columns: month (period end), from_class, to_class,
    balance (period start), balance_next (period end)."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {tuple(PERIODS)}; got {period!r}.")
    mm = PERIODS[period]
    keys = [mm.c.month, mm.c.from_class, mm.c.to_class]
    return _df(conn, select(*keys, func.sum(mm.c.balance).label("balance"),
                            func.sum(mm.c.balance_next).label("balance_next"),
                            func.sum(mm.c.reduction).label("reduction"))
               .where(mm.c.month.in_(_month_window(conn, f.month, months)), _mart_filter(mm, scope, f))
               .group_by(*keys).order_by(mm.c.month))


def migration_rate_table(conn: Connection, scope, f: Filters, months: int = 12) -> dict[str, pd.DataFrame]:
    """The five regulator migration rates (kpi.CBIRC_RATES) per period end, for the year to date, the quarter to
    date and each month (start = previous month end). Each frame: month, c0 … c4."""
    from .portfolio import migration_trend
    from .base import shift_month
    monthly = migration_trend(conn, scope, f, months).assign(
        month=lambda d: [shift_month(m, 1) for m in d["month"]])  # filed under the start; shown at the end
    out = {}
    for key, frame in (("ytd", migration_period(conn, scope, f, "ytd", months)),
                       ("qtd", migration_period(conn, scope, f, "qtd", months)), ("monthly", monthly)):
        rows = [{"month": m, **{f"c{c}": r for c, r in kpi.cbirc_migration_rates(g).items()}}
                for m, g in frame.groupby("month")]
        out[key] = pd.DataFrame(rows, columns=["month"] + [f"c{c}" for c in kpi.CBIRC_RATES])
    return out


NEW_LOAN_BY = ("branch_id", "product_id")


def _month_rows(table, scope, f: Filters, by: str | None) -> list:
    """The month's rows of a branch × product mart in scope: each branch's when split by branch (unless one is
    chosen), else the roll-up or the user's branches; the product filter applies."""
    if by is not None and by not in NEW_LOAN_BY:
        raise ValueError(f"by must be one of {NEW_LOAN_BY} or None; got {by!r}.")
    split = by == "branch_id" and f.branch_id is None
    conds = [table.c.month == f.month, each_branch(table, scope) if split else branch_rows(table, scope, f.branch_id)]
    if f.product_id is not None:
        conds.append(table.c.product_id == f.product_id)
    return conds


def new_loan_npl(conn: Connection, scope, f: Filters, by: str | None = None) -> pd.DataFrame:
    """新发放贷款不良率 as of ``f.month``: the loans disbursed from January of its year up to it, the part of them that
    became NPL (NPL now, at its balance now, plus NPL when it left the book — written off or recovered — at its
    last balance), over the amount disbursed (kpi.new_loan_npl_rate). ``by`` branch_id (each branch in scope) or
    product_id; None for one row. Columns: [by], loans, amount, npl_loans, npl_balance, disposed_npl, rate."""
    mn = s.mart_new_loan
    conds = _month_rows(mn, scope, f, by)
    keys = [mn.c[by]] if by else []
    names = ["loans", "amount", "npl_loans", "npl_balance", "disposed_npl"]
    stmt = select(*keys, *[func.sum(mn.c[n]).label(n) for n in names]).where(*conds)
    if keys:
        stmt = stmt.group_by(*keys).order_by(*keys)
    df = _df(conn, stmt)
    df[names] = df[names].astype(float).fillna(0.0)
    df["rate"] = [kpi.new_loan_npl_rate(a, b, c) for a, b, c in zip(df["npl_balance"], df["disposed_npl"], df["amount"])]
    return df


def overdue_bands(conn: Connection, scope, f: Filters, by: str | None = None) -> pd.DataFrame:
    """Overdue loans at ``f.month`` in the G11 day bands (1: 1–90, 2: 91–360, 3: 361 days–3 years, 4: over 3
    years), optionally by branch_id or product_id. Columns: [by], band, loans, balance, overdue_amount."""
    mo = s.mart_overdue
    conds = _month_rows(mo, scope, f, by)
    keys = ([mo.c[by]] if by else []) + [mo.c.band]
    return _df(conn, select(*keys, func.sum(mo.c.loans).label("loans"), func.sum(mo.c.balance).label("balance"),
                            func.sum(mo.c.overdue_amount).label("overdue_amount"))
               .where(*conds).group_by(*keys).order_by(*keys))
