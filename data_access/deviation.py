"""五级分类偏离 classification deviation: the bank's own class against the classification engine's floor.

Two views an examiner reads side by side:

* the loans classed better than the rules allow (``mart_class_deviation``: one row a loan-month whose bank class
  is better than its floor, built by the mart refresh from ``loan_snapshot.floor_class5``; see
  :mod:`data_access.classification` for the rules of 《商业银行金融资产风险分类办法》, 2023年第1号令), by branch,
  product and manager, with the rules that set each floor;
* 逾期90天以上贷款与不良贷款比例 = balance of loans more than 90 days overdue ÷ NPL balance (次级 + 可疑 + 损失), and
  the same with more than 60 days. Since the 2023 rules put every loan over 90 days in 次级 or worse, the 90-day
  ratio is at most 100 % when classification follows them; examiners read a ratio above 100 % as
  under-classification (the 60-day ratio shows how much of the book is close to the line). Both from the
  portfolio mart (bucket 4 = over 90 days, bucket 3 = 61–90 days).

Aggregates are scoped by ``Scope.branch_clause``, the loan list by ``Scope.row_clause`` (PII masked as everywhere).
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, and_, case, func, select

from . import classification as cls, kpi, schema as s
from .base import Filters, _df, _month_window, each_branch
from .scope import Scope, mask_frame


def overdue_to_npl(m4_balance: float, npl_balance: float) -> float:
    """逾期90天以上贷款 ÷ 不良贷款 (nan without NPL)."""
    return kpi.ratio(m4_balance, npl_balance)


def overdue60_to_npl(m3_balance: float, m4_balance: float, npl_balance: float) -> float:
    """逾期60天以上贷款 ÷ 不良贷款 (nan without NPL)."""
    return kpi.ratio(m3_balance + m4_balance, npl_balance)


def add_overdue_ratios(ov: pd.DataFrame) -> pd.DataFrame:
    """Add ``overdue90_npl`` and ``overdue60_npl`` to a frame with m3_balance, m4_balance and npl_balance
    (:func:`data_access.queries.overview` rows)."""
    ov = ov.copy()
    ov["overdue90_npl"] = [overdue_to_npl(b, n) for b, n in zip(ov["m4_balance"], ov["npl_balance"])]
    ov["overdue60_npl"] = [overdue60_to_npl(a, b, n) for a, b, n in
                           zip(ov["m3_balance"], ov["m4_balance"], ov["npl_balance"])]
    return ov


def overdue_npl_by(conn: Connection, scope: Scope, f: Filters, by: str) -> pd.DataFrame:
    """逾期90天以上/不良 and 逾期60天以上/不良 per branch or product in ``f.month`` (the branches in scope; the
    portfolio mart's per-branch rows). Columns: key, npl_balance, m3_balance, m4_balance, overdue90_npl,
    overdue60_npl."""
    if by not in ("branch_id", "product_id"):
        raise ValueError(f"by must be branch_id or product_id; got {by!r}.")
    mp = s.mart_portfolio
    conds = [mp.c.month == f.month, each_branch(mp, scope)]
    for col, value in (("branch_id", f.branch_id), ("product_id", f.product_id), ("segment", f.segment)):
        if value is not None:
            conds.append(mp.c[col] == value)
    if f.guarantee_type is not None:
        conds.append(mp.c.product_id.in_(select(s.product.c.id).where(s.product.c.guarantee_type == f.guarantee_type)))
    out = _df(conn, select(mp.c[by].label("key"),
                           func.sum(case((mp.c.class5 >= 3, mp.c.balance), else_=0)).label("npl_balance"),
                           func.sum(case((mp.c.bucket == 3, mp.c.balance), else_=0)).label("m3_balance"),
                           func.sum(case((mp.c.bucket == 4, mp.c.balance), else_=0)).label("m4_balance"))
              .where(*conds).group_by(mp.c[by]))
    out[["npl_balance", "m3_balance", "m4_balance"]] = out[["npl_balance", "m3_balance", "m4_balance"]].astype(float)
    return add_overdue_ratios(out)


def _conds(scope: Scope, f: Filters, rows: bool = False) -> list:
    d = s.mart_class_deviation
    conds = [d.c.month == f.month, scope.row_clause(d.c.branch_id) if rows else scope.branch_clause(d.c.branch_id)]
    if f.branch_id is not None:
        conds.append(d.c.branch_id == f.branch_id)
    if f.product_id is not None:
        conds.append(d.c.product_id == f.product_id)
    if f.segment is not None:
        conds.append(d.c.segment == f.segment)
    if f.guarantee_type is not None:
        conds.append(d.c.product_id.in_(select(s.product.c.id).where(s.product.c.guarantee_type == f.guarantee_type)))
    return conds


BY = {"branch_id": (s.org_unit.c.name, s.org_unit.c.id), "product_id": (s.product.c.name, s.product.c.id),
      "manager_id": (s.manager.c.name, s.manager.c.id)}


def deviation_summary(conn: Connection, scope: Scope, f: Filters, by: str) -> pd.DataFrame:
    """Deviating loans in ``f.month`` grouped by ``by`` (branch_id, product_id or manager_id).

    Columns: key, name, loans, balance, npl_understated (balance whose floor is an NPL but the bank's class is
    not), worst_gap (classes between the bank's class and the floor, at most)."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}; got {by!r}.")
    d = s.mart_class_deviation
    name, key = BY[by]
    stmt = (select(d.c[by].label("key"), func.max(name).label("name"), func.count().label("loans"),
                   func.sum(d.c.balance).label("balance"),
                   func.sum(case((and_(d.c.floor_class >= 3, d.c.bank_class < 3), d.c.balance), else_=0))
                   .label("npl_understated"),
                   func.max(d.c.floor_class - d.c.bank_class).label("worst_gap"))
            .select_from(d.outerjoin(key.table, key == d.c[by])).where(*_conds(scope, f))
            .group_by(d.c[by]).order_by(func.sum(d.c.balance).desc()))
    out = _df(conn, stmt)
    out[["balance", "npl_understated"]] = out[["balance", "npl_understated"]].astype(float)
    return out


def deviation_reasons(conn: Connection, scope: Scope, f: Filters) -> pd.DataFrame:
    """Deviating loans in ``f.month`` by the rule that set their floor. Columns: reason (code of
    ``classification.REASONS``), loans, balance; a loan whose floor two rules set counts under each."""
    d = s.mart_class_deviation
    rows = _df(conn, select(d.c.floor_reasons, func.count().label("loans"), func.sum(d.c.balance).label("balance"))
               .where(*_conds(scope, f)).group_by(d.c.floor_reasons))
    out = [{"reason": r, "loans": int(n), "balance": float(b)} for m, n, b in rows.itertuples(index=False)
           for r in cls.reason_codes(m)]
    if not out:
        return pd.DataFrame(columns=["reason", "loans", "balance"])
    return pd.DataFrame(out).groupby("reason", as_index=False, sort=False).sum()


def deviation_loans(conn: Connection, scope: Scope, f: Filters, limit: int = 2000) -> pd.DataFrame:
    """The deviating loans of ``f.month`` (row-level: head office and own-branch leaders), largest first.

    Columns: loan_id, loan_no, customer_no (no name: the list needs none; the 360 view is audited), branch, product,
    manager, dpd, balance, bank_class, floor_class,
    floor_reasons (mask)."""
    d, l, c = s.mart_class_deviation, s.loan, s.customer
    o, p, m = s.org_unit, s.product, s.manager
    stmt = (select(d.c.loan_id, l.c.loan_no, c.c.customer_no, o.c.name.label("branch"),
                   p.c.name.label("product"), m.c.name.label("manager"), d.c.dpd, d.c.balance, d.c.bank_class,
                   d.c.floor_class, d.c.floor_reasons)
            .select_from(d.join(l, l.c.id == d.c.loan_id).join(c, c.c.id == l.c.customer_id)
                         .join(o, o.c.id == d.c.branch_id).join(p, p.c.id == d.c.product_id)
                         .outerjoin(m, m.c.id == d.c.manager_id))
            .where(*_conds(scope, f, rows=True)).order_by(d.c.balance.desc(), d.c.loan_id).limit(limit))
    out = mask_frame(_df(conn, stmt), scope)
    out["balance"] = out["balance"].astype(float)
    return out


def deviation_trend(conn: Connection, scope: Scope, f: Filters, months: int = 13) -> pd.DataFrame:
    """Deviating loans and balance a month up to ``f.month``. Columns: month, loans, balance."""
    d = s.mart_class_deviation
    window = _month_window(conn, f.month, months)
    conds = [c for c in _conds(scope, f)[1:]] + [d.c.month.in_(window)]
    got = _df(conn, select(d.c.month, func.count().label("loans"), func.sum(d.c.balance).label("balance"))
              .where(*conds).group_by(d.c.month))
    return pd.DataFrame({"month": window}).merge(got, on="month", how="left").fillna({"loans": 0, "balance": 0.0})
