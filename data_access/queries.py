"""Typed read functions for the pages.

Aggregate readers read marts only and take the caller's ``Scope`` to limit
branches; row readers (customers, loans, cases, managers) apply
``Scope.row_clause`` / ``Scope.case_clause`` in SQL and mask personal data
through :func:`data_access.scope.mask_frame`. Every function returns a pandas
DataFrame (or a dict for one record) with the columns its docstring lists.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Date, Integer, and_, case, distinct, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from . import kpi, schema as s
from .scope import Scope, mask_frame


@dataclass(frozen=True)
class Filters:
    """The filter bar's choices; ``None`` means all.

    With a township or village chosen, portfolio figures come from the village mart, which is not split
    by product or segment: those two filters then do not apply (the filter bar says so).
    """
    month: str
    branch_id: int | None = None
    product_id: int | None = None
    segment: str | None = None
    township_code: str | None = None
    village_code: str | None = None
    guarantee_type: str | None = None

    @property
    def geographic(self) -> bool:
        return self.township_code is not None or self.village_code is not None


def shift_month(month: str, n: int = -1) -> str:
    """'2026-01' shifted by ``n`` months: shift_month('2026-01') == '2025-12'."""
    idx = int(month[:4]) * 12 + int(month[5:7]) - 1 + n
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def _df(conn: Connection, stmt) -> pd.DataFrame:
    res = conn.execute(stmt)
    # plain tuples: pandas probes every Row object for attributes, which cost more than the query itself
    return pd.DataFrame(list(map(tuple, res.fetchall())), columns=list(res.keys()))


def _month_window(conn: Connection, last_month: str, n: int) -> list[str]:
    rows = conn.execute(select(s.dim_month.c.month).where(s.dim_month.c.month <= last_month)
                        .order_by(s.dim_month.c.month.desc()).limit(n)).scalars().all()
    return sorted(rows)


# ---------------------------------------------------------------- reference lists
def available_months(conn: Connection) -> list[str]:
    """Months that have marts, newest last."""
    return conn.execute(select(distinct(s.mart_branch.c.month)).order_by(s.mart_branch.c.month)).scalars().all()


def branches(conn: Connection, scope: Scope) -> pd.DataFrame:
    """Branches the user may see: id, code, name, county_code, lon, lat."""
    o = s.org_unit
    return _df(conn, select(o.c.id, o.c.code, o.c.name, o.c.county_code, o.c.lon, o.c.lat)
               .where(o.c.level == "branch", scope.branch_clause(o.c.id)).order_by(o.c.id))


def townships(conn: Connection, scope: Scope, branch_id: int | None = None) -> pd.DataFrame:
    """Townships the user may see (optionally of one branch): code, name, branch_id."""
    r, bt = s.region, s.branch_township
    conds = [r.c.level == "township", scope.branch_clause(bt.c.branch_id)]
    if branch_id is not None:
        conds.append(bt.c.branch_id == branch_id)
    return _df(conn, select(r.c.code, r.c.name, bt.c.branch_id).join(bt, bt.c.township_code == r.c.code)
               .where(*conds).order_by(r.c.code))


def villages(conn: Connection, scope: Scope, township_code: str) -> pd.DataFrame:
    """Villages of a township the user may see: code, name, credit_village_grade, whole_village_credit."""
    r, bt = s.region, s.branch_township
    allowed = select(bt.c.township_code).where(scope.branch_clause(bt.c.branch_id))
    return _df(conn, select(r.c.code, r.c.name, r.c.credit_village_grade, r.c.whole_village_credit)
               .where(r.c.level == "village", r.c.parent_code == township_code, r.c.parent_code.in_(allowed))
               .order_by(r.c.code))


def products(conn: Connection) -> pd.DataFrame:
    """Products: id, code, name, category, guarantee_type."""
    p = s.product
    return _df(conn, select(p.c.id, p.c.code, p.c.name, p.c.category, p.c.guarantee_type).order_by(p.c.id))


SEGMENTS = ("farmer", "grower", "business", "salaried")


# ---------------------------------------------------------------- overview (marts only)
BANK = 0  # branch_id of the marts' whole-bank roll-up rows


def branch_rows(table, scope: Scope, branch_id: int | None = None):
    """Which mart rows answer a question: one branch's, the whole bank's roll-up row (branch_id 0) for users
    who see every branch, or the user's own branches' rows. The roll-up keeps whole-bank reads independent
    of the number of branches."""
    if branch_id is not None:
        return and_(table.c.branch_id == branch_id, table.c.branch_id != BANK, scope.branch_clause(table.c.branch_id))
    if scope.all_branches:
        return and_(table.c.branch_id == BANK, scope.branch_clause(table.c.branch_id))
    return and_(table.c.branch_id != BANK, scope.branch_clause(table.c.branch_id))


def each_branch(table, scope: Scope):
    """Per-branch rows the user may see (never the roll-up)."""
    return and_(table.c.branch_id != BANK, scope.branch_clause(table.c.branch_id))


GUARANTEE_TYPES = ("credit", "guarantee", "mortgage")


def _mart_filter(table, scope: Scope, f: Filters, product: bool = True):
    conds = [branch_rows(table, scope, f.branch_id)]
    if product and f.guarantee_type is not None:
        conds.append(table.c.product_id.in_(select(s.product.c.id).where(s.product.c.guarantee_type == f.guarantee_type)))
    if product and f.product_id is not None:
        conds.append(table.c.product_id == f.product_id)
    if product and f.segment is not None:
        conds.append(table.c.segment == f.segment)
    return and_(*conds)


def portfolio_trend(conn: Connection, scope: Scope, f: Filters, months: int = 25) -> pd.DataFrame:
    """Monthly portfolio figures up to ``f.month``.

    Columns: month, loans, balance, npl_balance, m1_balance, m2_balance, m3_balance, m4_balance,
    overdue_balance, class1..class5 balances.
    """
    mp = s.mart_portfolio
    window = _month_window(conn, f.month, months)
    cols = [mp.c.month, func.sum(mp.c.loans).label("loans"), func.sum(mp.c.balance).label("balance"),
            func.sum(case((mp.c.class5 >= 3, mp.c.balance), else_=0)).label("npl_balance"),
            func.sum(case((mp.c.bucket >= 1, mp.c.balance), else_=0)).label("overdue_balance")]
    cols += [func.sum(case((mp.c.bucket == b, mp.c.balance), else_=0)).label(f"m{b}_balance") for b in range(1, 5)]
    cols += [func.sum(case((mp.c.class5 == c, mp.c.balance), else_=0)).label(f"class{c}") for c in range(1, 6)]
    stmt = (select(*cols).where(mp.c.month.in_(window), _mart_filter(mp, scope, f)).group_by(mp.c.month)
            .order_by(mp.c.month))
    return _df(conn, stmt)


def household_trend(conn: Connection, scope: Scope, f: Filters, months: int = 25) -> pd.DataFrame:
    """Monthly household and work figures (not split by product or segment).

    Columns: month, households, households_with_line, households_with_loan, open_warnings, new_warnings,
    tasks_due, tasks_overdue, tasks_done_on_time.
    """
    mb = s.mart_branch
    window = _month_window(conn, f.month, months)
    names = ["households", "households_with_line", "households_with_loan", "open_warnings", "new_warnings",
             "tasks_due", "tasks_overdue", "tasks_done_on_time"]
    stmt = (select(mb.c.month, *[func.sum(mb.c[n]).label(n) for n in names])
            .where(mb.c.month.in_(window), _mart_filter(mb, scope, f, product=False))
            .group_by(mb.c.month).order_by(mb.c.month))
    return _df(conn, stmt)


def disbursement_trend(conn: Connection, scope: Scope, f: Filters, months: int = 25) -> pd.DataFrame:
    """Columns: month, disbursed_loans, disbursed_amount."""
    md = s.mart_disbursement
    window = _month_window(conn, f.month, months)
    stmt = (select(md.c.month, func.sum(md.c.loans).label("disbursed_loans"),
                   func.sum(md.c.amount).label("disbursed_amount"))
            .where(md.c.month.in_(window), _mart_filter(md, scope, f)).group_by(md.c.month).order_by(md.c.month))
    return _df(conn, stmt)


def collection_summary(conn: Connection, scope: Scope, f: Filters, months: int = 25,
                       by: tuple[str, ...] = ("entry_month", "entry_bucket")) -> pd.DataFrame:
    """Collection figures grouped by ``by`` (columns of mart_collection), for entry months up to ``f.month``.

    Columns: the ``by`` columns, cases, overdue_at_entry, recovered_amount, cured_cases, rolled_cases,
    open_cases, contacted_cases, promised_cases, kept_cases, paying_cases, cost, complaints, compliance_breaches.
    """
    mc = s.mart_collection
    window = _month_window(conn, f.month, months)
    names = ["cases", "overdue_at_entry", "recovered_amount", "cured_cases", "rolled_cases", "open_cases",
             "contacted_cases", "promised_cases", "kept_cases", "paying_cases", "cost", "complaints",
             "compliance_breaches"]
    conds = [mc.c.entry_month.in_(window), branch_rows(mc, scope, f.branch_id)]
    keys = [mc.c[b] for b in by]
    stmt = select(*keys, *[func.sum(mc.c[n]).label(n) for n in names]).where(*conds).group_by(*keys).order_by(*keys)
    return _df(conn, stmt)


def overview(conn: Connection, scope: Scope, f: Filters, months: int = 25) -> pd.DataFrame:
    """One row per month up to ``f.month`` with every headline KPI of the Overview page.

    Columns: month, balance, loans, npl_balance, npl_ratio, overdue_ratio, m1_ratio, m2_ratio, m3p_ratio,
    households, households_with_line, households_with_loan, credit_coverage, usage_rate, disbursed_amount,
    disbursed_loans, recovery_rate (cases that entered in the three months before ``month``), open_warnings,
    tasks_overdue.
    """
    window = pd.DataFrame({"month": _month_window(conn, f.month, months)})
    if f.geographic:
        df = window.merge(village_trend(conn, scope, f, months), on="month", how="left")
    else:
        p = portfolio_trend(conn, scope, f, months)
        h = household_trend(conn, scope, f, months)
        d = disbursement_trend(conn, scope, f, months)
        c = collection_summary(conn, scope, f, months, by=("entry_month",)).rename(columns={"entry_month": "month"})
        df = window.merge(p, on="month", how="left").merge(h, on="month", how="left").merge(d, on="month", how="left")
        df = df.merge(c[["month", "recovered_amount", "overdue_at_entry"]], on="month", how="left")
    num = df.columns.drop("month")
    df[num] = df[num].astype(float)
    measured = [c for c in num if c not in ("recovered_amount", "overdue_at_entry", "tasks_overdue")]
    df[measured] = df[measured].fillna(0.0)  # no row in a mart means none; unmeasured columns stay NaN
    df["npl_ratio"] = [kpi.npl_ratio(n, b) for n, b in zip(df["npl_balance"], df["balance"])]
    df["overdue_ratio"] = [kpi.ratio(o, b) for o, b in zip(df["overdue_balance"], df["balance"])]
    df["m1_ratio"] = [kpi.ratio(o, b) for o, b in zip(df["m1_balance"], df["balance"])]
    df["m2_ratio"] = [kpi.ratio(o, b) for o, b in zip(df["m2_balance"], df["balance"])]
    df["m3p_ratio"] = [kpi.ratio(a + b_, b) for a, b_, b in zip(df["m3_balance"], df["m4_balance"], df["balance"])]
    df["credit_coverage"] = [kpi.credit_coverage(a, b) for a, b in zip(df["households_with_line"], df["households"])]
    df["usage_rate"] = [kpi.usage_rate(a, b) for a, b in zip(df["households_with_loan"], df["households_with_line"])]
    # cases need time to be worked: the month's recovery rate is that of cases that entered in the three
    # months before it (t-3 .. t-1), not of cases opened days ago
    rec = df["recovered_amount"].shift(1).rolling(3, min_periods=3).sum()
    due = df["overdue_at_entry"].shift(1).rolling(3, min_periods=3).sum()
    df["recovery_rate"] = [kpi.ratio(a, b) for a, b in zip(rec, due)]
    return df


def village_trend(conn: Connection, scope: Scope, f: Filters, months: int = 25) -> pd.DataFrame:
    """Monthly figures of a township or village from the village mart (not split by product or segment).

    Columns as :func:`overview` needs them; collection recovery and task figures are not kept per village
    and come back as NaN (shown as "—").
    """
    mv = s.mart_village
    window = _month_window(conn, f.month, months)
    conds = [mv.c.month.in_(window), scope.branch_clause(mv.c.branch_id)]
    if f.branch_id is not None:
        conds.append(mv.c.branch_id == f.branch_id)
    if f.township_code is not None:
        conds.append(mv.c.township_code == f.township_code)
    if f.village_code is not None:
        conds.append(mv.c.village_code == f.village_code)
    names = ["loans", "balance", "npl_balance", "overdue_balance", "m1_balance", "m2_balance", "m3_balance",
             "m4_balance", "households", "households_with_line", "households_with_loan", "open_warnings",
             "disbursed_amount"]
    df = _df(conn, select(mv.c.month, *[func.sum(mv.c[n]).label(n) for n in names])
             .where(*conds).group_by(mv.c.month).order_by(mv.c.month))
    for col in ("recovered_amount", "overdue_at_entry", "tasks_overdue"):
        df[col] = float("nan")
    return df


def branch_league(conn: Connection, scope: Scope, month: str, prev_month: str | None = None,
                  year_ago: str | None = None) -> pd.DataFrame:
    """One row per visible branch for ``month``.

    Columns: branch_id, branch, balance, balance_prev, balance_year_ago, growth_mom, growth_yoy, npl_ratio,
    npl_ratio_prev, npl_change_pp, overdue_ratio, recovery_rate, households_with_loan, tasks_overdue.
    """
    mb, o = s.mart_branch, s.org_unit
    months = [m for m in (month, prev_month, year_ago) if m]
    port = _df(conn, select(mb.c.month, mb.c.branch_id, mb.c.balance, mb.c.npl_balance.label("npl"),
                            mb.c.overdue_balance.label("overdue"), mb.c.households_with_loan, mb.c.tasks_overdue)
               .where(mb.c.month.in_(months), each_branch(mb, scope)))
    names = _df(conn, select(o.c.id.label("branch_id"), o.c.name.label("branch"))
                .where(o.c.level == "branch", scope.branch_clause(o.c.id)))
    work = port[port["month"] == month][["branch_id", "households_with_loan", "tasks_overdue"]]
    window = _month_window(conn, month, 12)
    coll = _df(conn, select(mb.c.branch_id, func.sum(mb.c.coll_recovered).label("rec"),
                            func.sum(mb.c.coll_overdue).label("due"))
               .where(mb.c.month.in_(window), each_branch(mb, scope)).group_by(mb.c.branch_id))
    df = names.copy()
    for label, m in (("", month), ("_prev", prev_month), ("_year_ago", year_ago)):
        part = port[port["month"] == m][["branch_id", "balance", "npl", "overdue"]] if m else port.iloc[0:0][["branch_id", "balance", "npl", "overdue"]]
        df = df.merge(part.rename(columns={c: c + label for c in ("balance", "npl", "overdue")}), on="branch_id", how="left")
    df = df.merge(work, on="branch_id", how="left").merge(coll, on="branch_id", how="left")
    df = df.fillna({c: 0.0 for c in df.columns if c not in ("branch",)})
    df["growth_mom"] = [kpi.change(a, b) for a, b in zip(df["balance"], df["balance_prev"])]
    df["growth_yoy"] = [kpi.change(a, b) for a, b in zip(df["balance"], df["balance_year_ago"])]
    df["npl_ratio"] = [kpi.npl_ratio(a, b) for a, b in zip(df["npl"], df["balance"])]
    df["npl_ratio_prev"] = [kpi.npl_ratio(a, b) for a, b in zip(df["npl_prev"], df["balance_prev"])]
    df["npl_change_pp"] = [kpi.change_pp(a, b) for a, b in zip(df["npl_ratio"], df["npl_ratio_prev"])]
    df["overdue_ratio"] = [kpi.ratio(a, b) for a, b in zip(df["overdue"], df["balance"])]
    df["recovery_rate"] = [kpi.ratio(a, b) for a, b in zip(df["rec"], df["due"])]
    return df[["branch_id", "branch", "balance", "balance_prev", "balance_year_ago", "growth_mom", "growth_yoy",
               "npl_ratio", "npl_ratio_prev", "npl_change_pp", "overdue_ratio", "recovery_rate",
               "households_with_loan", "tasks_overdue"]].sort_values("balance", ascending=False).reset_index(drop=True)


def village_hotspots(conn: Connection, scope: Scope, month: str, min_new_overdue: int = 3,
                     branch_id: int | None = None) -> pd.DataFrame:
    """Villages with a cluster of new overdue loans this month (``new_overdue_loans >= min_new_overdue``).

    Columns: village_code, village, township, branch_id, new_overdue_loans, households_with_loan, npl_ratio.
    """
    mv, r, t = s.mart_village, s.region, s.region.alias("t")
    conds = [mv.c.month == month, mv.c.new_overdue_loans >= min_new_overdue, scope.branch_clause(mv.c.branch_id)]
    if branch_id is not None:
        conds.append(mv.c.branch_id == branch_id)
    df = _df(conn, select(mv.c.village_code, r.c.name.label("village"), t.c.name.label("township"), mv.c.branch_id,
                          mv.c.new_overdue_loans, mv.c.households_with_loan, mv.c.npl_balance, mv.c.balance)
             .join(r, r.c.code == mv.c.village_code).join(t, t.c.code == mv.c.township_code)
             .where(*conds).order_by(mv.c.new_overdue_loans.desc()).limit(20))
    df["npl_ratio"] = [kpi.npl_ratio(a, b) for a, b in zip(df["npl_balance"], df["balance"])]
    return df.drop(columns=["npl_balance", "balance"])


# ---------------------------------------------------------------- row-level reads (scoped, masked)
CUSTOMER_COLUMNS = [s.customer.c.id, s.customer.c.customer_no, s.customer.c.name, s.customer.c.id_number,
                    s.customer.c.phone, s.customer.c.address, s.customer.c.village_code, s.customer.c.branch_id,
                    s.customer.c.manager_id, s.customer.c.segment]


def search_customers(conn: Connection, scope: Scope, query: str, limit: int = 50) -> pd.DataFrame:
    """Customers in scope matching a customer number (or its prefix), a phone number, the last four
    characters of an ID number, a name, or a village name.

    The kind of query is read from its shape so that each uses an index (except the ID tail).
    Columns: id, customer_no, name, id_number, phone, address, village_code, branch_id, manager_id, segment,
    village. Personal columns are masked unless the scope may see PII.
    """
    from .text import clean
    c, r = s.customer, s.region
    q = clean(query, 64)
    cols = [col.name for col in CUSTOMER_COLUMNS] + ["village"]
    if not q:
        return pd.DataFrame(columns=cols)
    if re.fullmatch(r"[Cc]\d{3,}", q):
        q = q.upper()
        match = and_(c.c.customer_no >= q, c.c.customer_no < q + "\uffff")
    elif re.fullmatch(r"1\d{10}", q):
        match = c.c.phone == q
    elif re.fullmatch(r"\d{3}[\dXx]", q):
        match = c.c.id_number.like(f"%{q.upper()}")
    else:
        villages = select(r.c.code).where(r.c.name == q, r.c.level == "village")
        match = or_(c.c.name == q, c.c.village_code.in_(villages))
    stmt = (select(*CUSTOMER_COLUMNS, r.c.name.label("village")).join(r, r.c.code == c.c.village_code)
            .where(scope.row_clause(c.c.branch_id), match).order_by(c.c.id).limit(limit))
    return mask_frame(_df(conn, stmt), scope)


def customer_profile(conn: Connection, scope: Scope, customer_id: int) -> dict | None:
    """One customer's profile, or None when unknown or outside the caller's scope.

    Keys: every column of ``customer`` plus village, township, branch, manager, manager_phone.
    """
    c, r, t, o, m = s.customer, s.region, s.region.alias("t"), s.org_unit, s.manager
    stmt = (select(c, r.c.name.label("village"), t.c.name.label("township"), o.c.name.label("branch"),
                   m.c.name.label("manager"), m.c.phone.label("manager_phone"))
            .join(r, r.c.code == c.c.village_code).join(t, t.c.code == r.c.parent_code)
            .join(o, o.c.id == c.c.branch_id).outerjoin(m, m.c.id == c.c.manager_id)
            .where(c.c.id == customer_id, scope.row_clause(c.c.branch_id)))
    df = _df(conn, stmt)
    if df.empty:
        return None
    return mask_frame(df, scope).iloc[0].to_dict()


def customer_loans(conn: Connection, scope: Scope, customer_id: int) -> pd.DataFrame:
    """Loans of a customer in scope, with the latest snapshot.

    Columns: id, loan_no, product, amount, disbursed_on, maturity_on, status, balance, dpd, bucket, class5.
    """
    l, p, sn = s.loan, s.product, s.loan_snapshot
    sn2 = sn.alias("sn2")
    # correlated on the (loan_id, month) key: reads a customer's few snapshots, never the whole book
    last = select(func.max(sn2.c.month)).where(sn2.c.loan_id == l.c.id).scalar_subquery()
    closed = l.c.status != "active"
    # a closed loan's last snapshot is the month before it closed: show it as settled, not as still owed
    stmt = (select(l.c.id, l.c.loan_no, p.c.name.label("product"), l.c.amount, l.c.disbursed_on, l.c.maturity_on,
                   l.c.status, case((closed, 0.0), else_=sn.c.balance).label("balance"),
                   case((closed, 0), else_=sn.c.dpd).label("dpd"), case((closed, None), else_=sn.c.bucket).label("bucket"),
                   case((closed, None), else_=sn.c.class5).label("class5"))
            .join(p, p.c.id == l.c.product_id)
            .outerjoin(sn, and_(sn.c.loan_id == l.c.id, sn.c.month == last))
            .where(l.c.customer_id == customer_id, scope.row_clause(l.c.branch_id))
            .order_by(l.c.disbursed_on.desc()))
    return _df(conn, stmt)


def village_households(conn: Connection, scope: Scope, village_code: str, with_line: bool | None = None,
                       with_loan: bool | None = None, overdue: bool | None = None, warning: bool | None = None,
                       limit: int = 2000) -> pd.DataFrame:
    """Households of a village in scope, each filter None (any), True or False.

    Columns: id, customer_no, name, phone, segment, deposit_balance, credit_household, has_line, has_loan,
    balance (latest month), max_dpd (latest month), overdue, open_warnings.
    """
    c, cl, l, sn, w = s.customer, s.credit_line, s.loan, s.loan_snapshot, s.warning_signal
    last_month = select(func.max(sn.c.month)).scalar_subquery()
    has_line = select(func.count()).where(cl.c.customer_id == c.c.id, cl.c.status == "active").scalar_subquery() > 0
    has_loan = select(func.count()).where(l.c.customer_id == c.c.id, l.c.status == "active").scalar_subquery() > 0
    latest = (select(func.coalesce(func.sum(sn.c.balance), 0)).select_from(sn.join(l, l.c.id == sn.c.loan_id))
              .where(l.c.customer_id == c.c.id, sn.c.month == last_month).scalar_subquery())
    max_dpd = (select(func.coalesce(func.max(sn.c.dpd), 0)).select_from(sn.join(l, l.c.id == sn.c.loan_id))
               .where(l.c.customer_id == c.c.id, sn.c.month == last_month).scalar_subquery())
    warnings = select(func.count()).where(w.c.customer_id == c.c.id, w.c.status == "open").scalar_subquery()
    conds = [c.c.village_code == village_code, scope.row_clause(c.c.branch_id)]
    for flag, expr in ((with_line, has_line), (with_loan, has_loan), (overdue, max_dpd > 0), (warning, warnings > 0)):
        if flag is not None:
            conds.append(expr if flag else ~expr)
    stmt = (select(c.c.id, c.c.customer_no, c.c.name, c.c.phone, c.c.segment, c.c.deposit_balance,
                   c.c.credit_household, has_line.label("has_line"), has_loan.label("has_loan"),
                   latest.label("balance"), max_dpd.label("max_dpd"), (max_dpd > 0).label("overdue"),
                   warnings.label("open_warnings"))
            .where(*conds).order_by(max_dpd.desc(), c.c.id).limit(limit))
    df = _df(conn, stmt)
    for col in ("has_line", "has_loan", "overdue", "credit_household"):
        df[col] = df[col].astype(bool)
    return mask_frame(df, scope)


def loan_list(conn: Connection, scope: Scope, month: str, branch_id: int | None = None,
              village_code: str | None = None, min_bucket: int = 0, limit: int = 5000) -> pd.DataFrame:
    """Loans on the book in ``month`` for the drill-down to loan level.

    Columns: loan_id, loan_no, customer_no, name, branch_id, village_code, product_id, balance, dpd, bucket, class5.
    """
    sn, l, c = s.loan_snapshot, s.loan, s.customer
    conds = [sn.c.month == month, scope.row_clause(l.c.branch_id), sn.c.bucket >= min_bucket]
    if branch_id is not None:
        conds.append(l.c.branch_id == branch_id)
    if village_code is not None:
        conds.append(l.c.village_code == village_code)
    stmt = (select(l.c.id.label("loan_id"), l.c.loan_no, c.c.customer_no, c.c.name, l.c.branch_id, l.c.village_code,
                   l.c.product_id, sn.c.balance, sn.c.dpd, sn.c.bucket, sn.c.class5)
            .join(l, l.c.id == sn.c.loan_id).join(c, c.c.id == l.c.customer_id)
            .where(*conds).order_by(sn.c.balance.desc()).limit(limit))
    return mask_frame(_df(conn, stmt), scope)


def collection_cases(conn: Connection, scope: Scope, status: str | None = None, case_id: int | None = None,
                     limit: int = 2000) -> pd.DataFrame:
    """Collection cases in scope (agencies: only their own).

    Columns: id, case_no, entry_month, entry_bucket, entry_dpd, overdue_at_entry, channel, agency_id, status,
    recovered_amount, name, phone, address, id_number.
    """
    k, c = s.collection_case, s.customer
    conds = [scope.case_clause(k)]
    if status is not None:
        conds.append(k.c.status == status)
    if case_id is not None:
        conds.append(k.c.id == case_id)
    stmt = (select(k.c.id, k.c.case_no, k.c.entry_month, k.c.entry_bucket, k.c.entry_dpd, k.c.overdue_at_entry,
                   k.c.channel, k.c.agency_id, k.c.status, k.c.recovered_amount, c.c.name, c.c.phone, c.c.address,
                   c.c.id_number)
            .join(c, c.c.id == k.c.customer_id).where(*conds).order_by(k.c.entry_date.desc()).limit(limit))
    return mask_frame(_df(conn, stmt), scope)


def managers(conn: Connection, scope: Scope, month: str | None = None) -> pd.DataFrame:
    """Managers in scope with their month's figures from mart_manager.

    Columns: id, code, name, branch_id, customers, borrowers, balance, npl_balance, visits, check_ins.
    """
    m, mm = s.manager, s.mart_manager
    month = month or conn.execute(select(func.max(mm.c.month))).scalar()
    stmt = (select(m.c.id, m.c.code, m.c.name, m.c.branch_id, mm.c.customers, mm.c.borrowers, mm.c.balance,
                   mm.c.npl_balance, mm.c.visits, mm.c.check_ins)
            .outerjoin(mm, and_(mm.c.manager_id == m.c.id, mm.c.month == month))
            .where(scope.row_clause(m.c.branch_id)).order_by(m.c.id))
    return _df(conn, stmt)


ROW_FUNCTIONS = ("search_customers", "customer_profile", "customer_loans", "village_households", "loan_list",
                 "collection_cases", "managers", "top_borrowers", "open_signals", "work_by_manager", "pending_tasks")


# ---------------------------------------------------------------- agency and admin reads
def agency_league(conn: Connection, scope: Scope, months: int = 12) -> pd.DataFrame:
    """Agencies ranked by recovery rate over the last ``months`` entry months.

    An agency user sees its own name and every other agency anonymised; head office sees all names.
    Columns: rank, agency, is_me, cases, overdue_at_entry, recovered_amount, recovery_rate, kept_rate, complaints.
    """
    if scope.role not in ("agency", "head_office", "branch_leader", "strategy"):
        return pd.DataFrame(columns=["rank", "agency", "is_me", "cases", "overdue_at_entry", "recovered_amount",
                                     "recovery_rate", "kept_rate", "complaints"])
    mc, a = s.mart_collection, s.agency
    last = conn.execute(select(func.max(mc.c.entry_month))).scalar()
    window = _month_window(conn, last, months) if last else []
    df = _df(conn, select(a.c.id, a.c.name, func.sum(mc.c.cases).label("cases"),
                          func.sum(mc.c.overdue_at_entry).label("overdue_at_entry"),
                          func.sum(mc.c.recovered_amount).label("recovered_amount"),
                          func.sum(mc.c.promised_cases).label("promised"), func.sum(mc.c.kept_cases).label("kept"),
                          func.sum(mc.c.complaints).label("complaints"))
             .join(mc, mc.c.agency_id == a.c.id).where(mc.c.entry_month.in_(window), mc.c.branch_id == BANK)
             .group_by(a.c.id, a.c.name))
    df["recovery_rate"] = [kpi.ratio(r, o) for r, o in zip(df["recovered_amount"], df["overdue_at_entry"])]
    df["kept_rate"] = [kpi.promise_kept_rate(k, p) for k, p in zip(df["kept"], df["promised"])]
    df = df.sort_values("recovery_rate", ascending=False).reset_index(drop=True)
    df["rank"] = range(1, len(df) + 1)
    df["is_me"] = df["id"] == scope.agency_id
    if scope.role == "agency":
        df["agency"] = [n if me else f"机构 {chr(64 + r)}" for n, me, r in zip(df["name"], df["is_me"], df["rank"])]
    else:
        df["agency"] = df["name"]
    return df[["rank", "agency", "is_me", "cases", "overdue_at_entry", "recovered_amount", "recovery_rate",
               "kept_rate", "complaints"]]


# ---------------------------------------------------------------- portfolio risk (marts only, except the top borrowers)
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
                            func.sum(mm.c.balance_next).label("balance_next"))
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


# ---------------------------------------------------------------- early warning and post-loan work
class days_between(FunctionElement):
    """Whole days from one date column to another, in the database's own date arithmetic."""
    type = Integer()
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    a, b = list(element.clauses)
    return f"CAST(julianday({compiler.process(b, **kw)}) - julianday({compiler.process(a, **kw)}) AS INTEGER)"


@compiles(days_between)
def _days_between_default(element, compiler, **kw):  # PostgreSQL and standard SQL: date - date is days
    a, b = list(element.clauses)
    return f"({compiler.process(b, **kw)} - {compiler.process(a, **kw)})"


def warning_trend(conn: Connection, scope: Scope, f: Filters, months: int = 12) -> pd.DataFrame:
    """Signals raised per month, type and severity. Columns: month, signal_type, severity, raised, still_open."""
    mw = s.mart_warning
    window = _month_window(conn, f.month, months)
    keys = [mw.c.month, mw.c.signal_type, mw.c.severity]
    return _df(conn, select(*keys, func.sum(mw.c.raised).label("raised"), func.sum(mw.c.still_open).label("still_open"))
               .where(mw.c.month.in_(window), branch_rows(mw, scope, f.branch_id)).group_by(*keys).order_by(*keys))


def open_signals(conn: Connection, scope: Scope, branch_id: int | None = None, limit: int = 500,
                 status: str | None = "open") -> pd.DataFrame:
    """Warning signals in scope (open ones by default; ``status=None`` for all), newest first (row-level, masked).

    Columns: raised_on, customer_no, name, branch, signal_type, severity, detail.
    """
    w, c, o = s.warning_signal, s.customer, s.org_unit
    conds = [scope.row_clause(w.c.branch_id)] + ([w.c.status == status] if status else [])
    if branch_id is not None:
        conds.append(w.c.branch_id == branch_id)
    df = _df(conn, select(w.c.raised_on, c.c.customer_no, c.c.name, o.c.name.label("branch"), w.c.signal_type,
                          w.c.severity, w.c.detail).join(c, c.c.id == w.c.customer_id).join(o, o.c.id == w.c.branch_id)
             .where(*conds).order_by(w.c.raised_on.desc()).limit(limit))
    return mask_frame(df, scope)


def task_monitor(conn: Connection, scope: Scope, month: str) -> pd.DataFrame:
    """Post-loan work per branch for ``month``.

    Columns: branch_id, branch, tasks_due, tasks_done_on_time, tasks_overdue, open_warnings, new_warnings,
    on_time_rate, risk_tasks (risk-driven on-site tasks created in the month), risk_done (of those, done within
    30 days of creation), risk_coverage_30d (risk_done / risk_tasks), pending.
    """
    mb, o, t = s.mart_branch, s.org_unit, s.postloan_task
    work = _df(conn, select(mb.c.branch_id, o.c.name.label("branch"), mb.c.tasks_due, mb.c.tasks_done_on_time,
                            mb.c.tasks_overdue, mb.c.open_warnings, mb.c.new_warnings).join(o, o.c.id == mb.c.branch_id)
               .where(mb.c.month == month, each_branch(mb, scope)))
    done_30 = and_(t.c.completed_on.is_not(None), days_between(t.c.created_on, t.c.completed_on) <= 30)
    risk = _df(conn, select(t.c.branch_id, func.count().label("risk_tasks"),
                            func.sum(case((done_30, 1), else_=0)).label("risk_done"),
                            func.sum(case((t.c.status == "pending", 1), else_=0)).label("pending"))
               .where(t.c.month == month, t.c.trigger == "risk", t.c.task_type == "on_site",
                      scope.branch_clause(t.c.branch_id)).group_by(t.c.branch_id))
    df = work.merge(risk, on="branch_id", how="left").fillna({"risk_tasks": 0, "risk_done": 0, "pending": 0})
    df["on_time_rate"] = [kpi.ratio(a, b) for a, b in zip(df["tasks_done_on_time"], df["tasks_due"])]
    df["risk_coverage_30d"] = [kpi.ratio(a, b) for a, b in zip(df["risk_done"], df["risk_tasks"])]
    return df.sort_values("tasks_overdue", ascending=False).reset_index(drop=True)


def model_summary(conn: Connection, scope: Scope, name: str) -> dict | None:
    """The active model of ``name``: version, trained_at, trained_by, data_window, metrics (dict); None if none."""
    import json
    if scope.role not in ("head_office", "branch_leader", "strategy", "admin"):
        return None
    r = s.model_registry
    row = conn.execute(select(r.c.version, r.c.trained_at, r.c.trained_by, r.c.data_window, r.c.metrics)
                       .where(r.c.name == name, r.c.active.is_(True)).order_by(r.c.version.desc())).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["metrics"] = json.loads(out["metrics"] or "{}")
    return out


def work_by_manager(conn: Connection, scope: Scope, month: str, branch_id: int | None = None) -> pd.DataFrame:
    """Post-loan work and open signals per manager in scope for ``month`` (row-level: managers).

    Columns: manager_id, manager, branch, tasks, done, done_on_time, pending, overdue, risk_tasks, open_signals.
    """
    t, m, o, w, l = s.postloan_task, s.manager, s.org_unit, s.warning_signal, s.loan
    y, mo = int(month[:4]), int(month[5:7])
    end = literal(dt.date(y + (mo == 12), mo % 12 + 1, 1), Date)  # first day after the month: overdue if due before
    conds = [t.c.month == month, scope.row_clause(t.c.branch_id)]
    if branch_id is not None:
        conds.append(t.c.branch_id == branch_id)
    work = _df(conn, select(t.c.manager_id, m.c.name.label("manager"), o.c.name.label("branch"),
                            func.count().label("tasks"),
                            func.sum(case((t.c.status == "done", 1), else_=0)).label("done"),
                            func.sum(case((and_(t.c.completed_on.is_not(None), t.c.completed_on <= t.c.due_on), 1),
                                          else_=0)).label("done_on_time"),
                            func.sum(case((t.c.status == "pending", 1), else_=0)).label("pending"),
                            func.sum(case((and_(t.c.status == "pending", t.c.due_on < end), 1),
                                          else_=0)).label("overdue"),
                            func.sum(case((t.c.trigger == "risk", 1), else_=0)).label("risk_tasks"))
               .join(m, m.c.id == t.c.manager_id).join(o, o.c.id == t.c.branch_id).where(*conds)
               .group_by(t.c.manager_id, m.c.name, o.c.name))
    sig_conds = [w.c.status == "open", scope.row_clause(w.c.branch_id)]
    if branch_id is not None:
        sig_conds.append(w.c.branch_id == branch_id)
    sig = _df(conn, select(l.c.manager_id, func.count().label("open_signals")).join(l, l.c.id == w.c.loan_id)
              .where(*sig_conds).group_by(l.c.manager_id))
    df = work.merge(sig, on="manager_id", how="left").fillna({"open_signals": 0})
    return df.sort_values(["overdue", "pending"], ascending=False).reset_index(drop=True)


def pending_tasks(conn: Connection, scope: Scope, branch_id: int | None = None, limit: int = 300) -> pd.DataFrame:
    """Pending post-loan tasks in scope, riskiest and oldest first (row-level, masked).

    Columns: id, task_type, trigger, risk_score, created_on, due_on, customer_no, name, manager, branch_id.
    """
    t, c, m = s.postloan_task, s.customer, s.manager
    conds = [t.c.status == "pending", scope.row_clause(t.c.branch_id)]
    if branch_id is not None:
        conds.append(t.c.branch_id == branch_id)
    df = _df(conn, select(t.c.id, t.c.task_type, t.c.trigger, t.c.risk_score, t.c.created_on, t.c.due_on,
                          c.c.customer_no, c.c.name, m.c.name.label("manager"), t.c.branch_id)
             .join(c, c.c.id == t.c.customer_id).outerjoin(m, m.c.id == t.c.manager_id).where(*conds)
             .order_by(t.c.due_on, t.c.risk_score.desc()).limit(limit))
    return mask_frame(df, scope)


def migration_ytd(conn: Connection, scope: Scope, f: Filters, months: int = 12) -> pd.DataFrame:
    """Year-to-date classification transitions (previous December → each month), for the regulator's rates.

    Columns: month (period end), from_class, to_class, balance (December), balance_next (period end).
    """
    mm = s.mart_migration_ytd
    window = _month_window(conn, f.month, months)
    keys = [mm.c.month, mm.c.from_class, mm.c.to_class]
    return _df(conn, select(*keys, func.sum(mm.c.balance).label("balance"),
                            func.sum(mm.c.balance_next).label("balance_next"))
               .where(mm.c.month.in_(window), _mart_filter(mm, scope, f)).group_by(*keys).order_by(mm.c.month))
