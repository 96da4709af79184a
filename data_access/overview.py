"""Overview reads (marts only): portfolio, household, disbursement and collection trends, the branch league
and the villages with new overdue clusters."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, case, func, select

from . import kpi, schema as s
from .base import Filters, _df, _mart_filter, _month_window, branch_rows, each_branch
from .scope import Scope


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

    Columns: month, households, households_with_line, households_with_loan, households_line_loan, line_amount,
    line_used_amount, open_warnings, new_warnings, tasks_due, tasks_overdue, tasks_done_on_time.
    """
    mb = s.mart_branch
    window = _month_window(conn, f.month, months)
    names = ["households", "households_with_line", "households_with_loan", "households_line_loan", "line_amount",
             "line_used_amount", "open_warnings", "new_warnings", "tasks_due", "tasks_overdue", "tasks_done_on_time"]
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

    Cases waiting for allocation and write-off transfers are left out (kpi.COLLECTION_RECOVERY_EXCLUDED).
    Columns: the ``by`` columns, cases, overdue_at_entry, recovered_amount, cured_cases, rolled_cases,
    open_cases, contacted_cases, promised_cases, kept_cases, paying_cases, cost, complaints, compliance_breaches.
    """
    mc = s.mart_collection
    window = _month_window(conn, f.month, months)
    names = ["cases", "overdue_at_entry", "recovered_amount", "cured_cases", "rolled_cases", "open_cases",
             "contacted_cases", "promised_cases", "kept_cases", "paying_cases", "cost", "complaints",
             "compliance_breaches"]
    conds = [mc.c.entry_month.in_(window), branch_rows(mc, scope, f.branch_id),
             mc.c.channel.notin_(kpi.COLLECTION_RECOVERY_EXCLUDED)]
    keys = [mc.c[b] for b in by]
    stmt = select(*keys, *[func.sum(mc.c[n]).label(n) for n in names]).where(*conds).group_by(*keys).order_by(*keys)
    return _df(conn, stmt)


def overview(conn: Connection, scope: Scope, f: Filters, months: int = 25) -> pd.DataFrame:
    """One row per month up to ``f.month`` with every headline KPI of the Overview page.

    Columns: month, balance, loans, npl_balance, npl_ratio, overdue_ratio, m1_ratio, m2_ratio, m3p_ratio,
    households, households_with_line, households_with_loan, households_line_loan, credit_coverage, usage_rate (by
    household), usage_amount_rate, disbursed_amount, disbursed_loans, recovery_rate (催收回收率 of the cases that
    entered in the kpi.RECOVERY_WINDOW entry months up to ``month``), open_warnings, tasks_overdue.
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
    df["usage_rate"] = [kpi.usage_rate(a, b) for a, b in zip(df["households_line_loan"], df["households_with_line"])]
    # one definition with the branch league and the Collections page: cases that entered in the RECOVERY_WINDOW
    # entry months up to the month (t-11 .. t; fewer while the bank's history is shorter, as in the league),
    # everything recovered on them so far
    w = kpi.RECOVERY_WINDOW
    rec = df["recovered_amount"].rolling(w, min_periods=1).sum()
    due = df["overdue_at_entry"].rolling(w, min_periods=1).sum()
    df["recovery_rate"] = [kpi.ratio(a, b) for a, b in zip(rec, due)]
    df["usage_amount_rate"] = [kpi.usage_amount_rate(a, b) for a, b in zip(df["line_used_amount"], df["line_amount"])]
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
             "m4_balance", "households", "households_with_line", "households_with_loan", "households_line_loan",
             "line_amount", "line_used_amount", "open_warnings", "disbursed_amount"]
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
    window = _month_window(conn, month, kpi.RECOVERY_WINDOW)
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
