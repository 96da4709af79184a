"""Portfolio-risk reads: breakdowns, migration, vintage (marts) and the largest borrowers (row-level, masked)."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, and_, case, func, select

from . import schema as s
from .base import Filters, _df, _mart_filter, _month_window, branch_rows, each_branch, shift_month
from .scope import Scope, mask_frame


BREAKDOWNS = ("class5", "bucket", "product_id", "segment", "branch_id")


def portfolio_breakdown(conn: Connection, scope: Scope, f: Filters, by: str) -> pd.DataFrame:
    """The month's book split by ``by`` (class5, bucket, product_id, segment or branch_id).

    Columns: ``by``, loans, balance, overdue_amount, npl_balance, overdue_balance.
    """
    if by not in BREAKDOWNS:
        raise ValueError(f"by must be one of {BREAKDOWNS}; got {by!r}.")
    if f.geographic:
        return _village_breakdown(conn, scope, f, by)
    mp = s.mart_portfolio
    cond = each_branch(mp, scope) if by == "branch_id" else _mart_filter(mp, scope, f)
    if by == "branch_id":
        cond = and_(cond, *([mp.c.product_id == f.product_id] if f.product_id else []),
                    *([mp.c.segment == f.segment] if f.segment else []))
    return _df(conn, select(mp.c[by], func.sum(mp.c.loans).label("loans"), func.sum(mp.c.balance).label("balance"),
                            func.sum(mp.c.overdue_amount).label("overdue_amount"),
                            func.sum(case((mp.c.class5 >= 3, mp.c.balance), else_=0)).label("npl_balance"),
                            func.sum(case((mp.c.bucket >= 1, mp.c.balance), else_=0)).label("overdue_balance"))
               .where(mp.c.month == f.month, cond).group_by(mp.c[by]).order_by(mp.c[by]))


def _village_breakdown(conn: Connection, scope: Scope, f: Filters, by: str) -> pd.DataFrame:
    """The class or bucket split of a township or village, from the village mart (other splits are not kept there
    and come back empty)."""
    cols = [by, "loans", "balance", "overdue_amount", "npl_balance", "overdue_balance"]
    if by not in ("class5", "bucket"):
        return pd.DataFrame(columns=cols)
    mv = s.mart_village
    conds = [mv.c.month == f.month, scope.branch_clause(mv.c.branch_id)]
    for col, value in (("branch_id", f.branch_id), ("township_code", f.township_code), ("village_code", f.village_code)):
        if value is not None:
            conds.append(mv.c[col] == value)
    names = ["balance"] + [f"class{c}_balance" for c in range(1, 6)] + [f"m{b}_balance" for b in range(1, 5)]
    row = conn.execute(select(*[func.coalesce(func.sum(mv.c[n]), 0).label(n) for n in names]).where(*conds)).mappings().one()
    if by == "class5":
        parts = {c: float(row[f"class{c}_balance"]) for c in range(1, 6)}
        npl = {c: c >= 3 for c in parts}
    else:
        parts = {b: float(row[f"m{b}_balance"]) for b in range(1, 5)}
        parts = {0: float(row["balance"]) - sum(parts.values()), **parts}
        npl = {b: False for b in parts}  # NPL is a classification, not a bucket
    return pd.DataFrame([{by: k, "loans": None, "balance": v, "overdue_amount": None,
                          "npl_balance": v if npl[k] else 0.0,
                          "overdue_balance": v if (by == "bucket" and k >= 1) else 0.0} for k, v in parts.items()],
                        columns=cols)


def industry_breakdown(conn: Connection, scope: Scope, f: Filters) -> pd.DataFrame:
    """The month's book by borrower industry. Columns: industry, loans, borrowers, balance, npl_balance."""
    mi = s.mart_industry
    return _df(conn, select(mi.c.industry, func.sum(mi.c.loans).label("loans"),
                            func.sum(mi.c.borrowers).label("borrowers"), func.sum(mi.c.balance).label("balance"),
                            func.sum(mi.c.npl_balance).label("npl_balance"))
               .where(mi.c.month == f.month, branch_rows(mi, scope, f.branch_id)).group_by(mi.c.industry)
               .order_by(func.sum(mi.c.balance).desc()))


def migration_trend(conn: Connection, scope: Scope, f: Filters, months: int = 12) -> pd.DataFrame:
    """Month-to-next-month transitions for the ``months`` pairs ending at ``f.month`` (month t → t+1 = f.month).

    Columns: month (t), from_bucket, to_bucket, from_class, to_class, loans, balance (at t), balance_next (at t+1).
    """
    mm = s.mart_migration
    window = _month_window(conn, shift_month(f.month, -1), months)
    keys = [mm.c.month, mm.c.from_bucket, mm.c.to_bucket, mm.c.from_class, mm.c.to_class]
    return _df(conn, select(*keys, func.sum(mm.c.loans).label("loans"), func.sum(mm.c.balance).label("balance"),
                            func.sum(mm.c.balance_next).label("balance_next"),
                            func.sum(mm.c.reduction).label("reduction"))
               .where(mm.c.month.in_(window), _mart_filter(mm, scope, f)).group_by(*keys).order_by(mm.c.month))


def vintage(conn: Connection, scope: Scope, f: Filters) -> pd.DataFrame:
    """Vintage cohorts observed up to the latest month (branch and product filters apply; segment does not).

    Columns: cohort, mob, loans, amount, ever30_amount, ever90_amount.
    """
    mv = s.mart_vintage
    conds = [branch_rows(mv, scope, f.branch_id)]
    if f.product_id is not None:
        conds.append(mv.c.product_id == f.product_id)
    return _df(conn, select(mv.c.cohort, mv.c.mob, func.sum(mv.c.loans).label("loans"),
                            func.sum(mv.c.amount).label("amount"), func.sum(mv.c.ever30_amount).label("ever30_amount"),
                            func.sum(mv.c.ever90_amount).label("ever90_amount"))
               .where(*conds).group_by(mv.c.cohort, mv.c.mob).order_by(mv.c.cohort, mv.c.mob))


def top_borrowers(conn: Connection, scope: Scope, month: str, branch_id: int | None = None,
                  limit: int = 20) -> pd.DataFrame:
    """The largest borrowers in scope by balance in ``month`` (row-level, masked).

    Columns: customer_no, name, segment, branch_id, loans, balance, max_dpd, worst_class.
    """
    sn, l, c = s.loan_snapshot, s.loan, s.customer
    conds = [sn.c.month == month, scope.row_clause(l.c.branch_id)]
    if branch_id is not None:
        conds.append(l.c.branch_id == branch_id)
    df = _df(conn, select(c.c.customer_no, c.c.name, c.c.segment, l.c.branch_id, func.count().label("loans"),
                          func.sum(sn.c.balance).label("balance"), func.max(sn.c.dpd).label("max_dpd"),
                          func.max(sn.c.class5).label("worst_class"))
             .join(l, l.c.id == sn.c.loan_id).join(c, c.c.id == l.c.customer_id).where(*conds)
             .group_by(c.c.customer_no, c.c.name, c.c.segment, l.c.branch_id)
             .order_by(func.sum(sn.c.balance).desc()).limit(limit))
    return mask_frame(df, scope)


def migration_ytd(conn: Connection, scope: Scope, f: Filters, months: int = 12) -> pd.DataFrame:
    """Year-to-date classification transitions (previous December → each month), for the regulator's rates.

    Columns: month (period end), from_class, to_class, balance (December), balance_next (period end).
    """
    mm = s.mart_migration_ytd
    window = _month_window(conn, f.month, months)
    keys = [mm.c.month, mm.c.from_class, mm.c.to_class]
    return _df(conn, select(*keys, func.sum(mm.c.balance).label("balance"),
                            func.sum(mm.c.balance_next).label("balance_next"),
                            func.sum(mm.c.reduction).label("reduction"))
               .where(mm.c.month.in_(window), _mart_filter(mm, scope, f)).group_by(*keys).order_by(mm.c.month))
