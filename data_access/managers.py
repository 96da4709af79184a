"""客户经理 Manager behaviour reads: the team's figures from the manager marts, a manager's events (trajectory)
and check-in authenticity flags. Manager rows are row-level data: head office sees all, a branch leader their
own branch's managers (``Scope.row_clause`` in SQL); nobody else sees any.
"""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
from sqlalchemy import Connection, and_, case, func, select

from . import schema as s
from .queries import _df, _month_window, shift_month
from .scope import Scope, mask_name

TARGET_CUSTOMERS = 200
STOCKS = ("customers", "borrowers", "balance", "npl_balance")
EXT_STOCKS = ("visited_90d", "matured_12m", "renewed_12m", "originated_amount", "originated_ever30_amount",
              "case_overdue", "case_recovered")
SOURCES = ("walk_in", "whole_village", "referral", "online", "event")


def team(conn: Connection, scope: Scope, month: str, branch_id: int | None = None) -> pd.DataFrame:
    """One row per manager in scope: the month's stocks and the three months' flows to ``month``.

    Columns: manager_id, code, name, branch_id, branch, customers, borrowers, balance, npl_balance, visits_3m,
    check_ins_3m, tasks_due_3m, tasks_on_time_3m, new_customers_3m, visited_90d, matured_12m, renewed_12m,
    originated_amount, originated_ever30_amount, case_overdue, case_recovered, events_3m, flags_high_3m,
    flags_medium_3m, flags_low_3m, new_<source>_3m for each source.
    """
    m, mm, mx, o = s.manager, s.mart_manager, s.mart_manager_ext, s.org_unit
    window = [shift_month(month, -k) for k in (2, 1, 0)]
    conds = [scope.row_clause(m.c.branch_id)]
    if branch_id is not None:
        conds.append(m.c.branch_id == branch_id)
    cur = lambda col, t: func.sum(case((t.c.month == month, t.c[col]), else_=0)).label(col)  # noqa: E731
    base = _df(conn, select(m.c.id.label("manager_id"), m.c.code, m.c.name, m.c.branch_id, o.c.name.label("branch"),
                            *[cur(c, mm) for c in STOCKS],
                            func.sum(mm.c.visits).label("visits_3m"), func.sum(mm.c.check_ins).label("check_ins_3m"),
                            func.sum(mm.c.tasks_due).label("tasks_due_3m"),
                            func.sum(mm.c.tasks_done_on_time).label("tasks_on_time_3m"),
                            func.sum(mm.c.new_customers).label("new_customers_3m"))
               .join(o, o.c.id == m.c.branch_id)
               .join(mm, and_(mm.c.manager_id == m.c.id, mm.c.month.in_(window)))
               .where(*conds).group_by(m.c.id, m.c.code, m.c.name, m.c.branch_id, o.c.name).order_by(m.c.id))
    ext = _df(conn, select(mx.c.manager_id, *[cur(c, mx) for c in EXT_STOCKS],
                           func.sum(mx.c.events).label("events_3m"),
                           *[func.sum(mx.c[f"flags_{v}"]).label(f"flags_{v}_3m") for v in ("high", "medium", "low")],
                           *[func.sum(mx.c[f"new_{v}"]).label(f"new_{v}_3m") for v in SOURCES])
              .join(m, m.c.id == mx.c.manager_id).where(mx.c.month.in_(window), *conds).group_by(mx.c.manager_id))
    if base.empty:
        return base
    out = base.merge(ext, on="manager_id", how="left")
    num = [c for c in out.columns if c not in ("manager_id", "code", "name", "branch_id", "branch")]
    out[num] = out[num].fillna(0).astype(float)
    return out


def months_with_activity(conn: Connection) -> list[str]:
    """Months of the manager mart that have activity figures, oldest first."""
    mx = s.mart_manager_ext
    return conn.execute(select(mx.c.month).group_by(mx.c.month).having(func.sum(mx.c.events) > 0)
                        .order_by(mx.c.month)).scalars().all()


def months_with_activity_in_scope(conn: Connection, scope: Scope) -> list[str]:
    """:func:`months_with_activity` for users who may see manager rows (else none)."""
    return months_with_activity(conn) if scope.role in ("head_office", "branch_leader") else []


def day_events(conn: Connection, scope: Scope, manager_id: int, first: dt.date, last: dt.date) -> pd.DataFrame:
    """A manager's events between two days, in order, with the visited household's home and the rules that fired.

    Columns: id, event_at, event_type, lon, lat, customer_id, customer_no, name, home_lon, home_lat, flags (text),
    worst (high / medium / low / ''). Empty if the manager is not in scope. Customer names and home points are
    masked for users without PII rights (home points coarsened to about a kilometre)."""
    e, c, m, f = s.activity_event, s.customer, s.manager, s.activity_flag
    allowed = conn.execute(select(m.c.id).where(m.c.id == manager_id, scope.row_clause(m.c.branch_id))).first()
    if allowed is None:
        return pd.DataFrame(columns=["id", "event_at", "event_type", "lon", "lat", "customer_id", "customer_no", "name",
                                     "home_lon", "home_lat", "flags", "worst"])
    start = dt.datetime.combine(first, dt.time())
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time())
    ev = _df(conn, select(e.c.id, e.c.event_at, e.c.event_type, e.c.lon, e.c.lat, e.c.customer_id, c.c.customer_no,
                          c.c.name, c.c.lon.label("home_lon"), c.c.lat.label("home_lat"))
             .outerjoin(c, c.c.id == e.c.customer_id)
             .where(e.c.manager_id == manager_id, e.c.event_at >= start, e.c.event_at < end)
             .order_by(e.c.event_at, e.c.id))
    if ev.empty:
        return ev.assign(flags=[], worst=[])
    fl = _df(conn, select(f.c.event_id, f.c.rule, f.c.severity, f.c.detail)
             .where(f.c.manager_id == manager_id, f.c.event_at >= start, f.c.event_at < end))
    rank = {"high": 0, "medium": 1, "low": 2}
    by_event = fl.groupby("event_id") if not fl.empty else None
    ev["flags"] = [("；".join(by_event.get_group(i)["detail"]) if by_event is not None and i in by_event.groups else "")
                   for i in ev["id"]]
    ev["worst"] = [(min(by_event.get_group(i)["severity"], key=rank.get) if by_event is not None and i in by_event.groups
                    else "") for i in ev["id"]]
    if not scope.pii:
        ev["name"] = ev["name"].map(mask_name)
        for col in ("home_lon", "home_lat"):
            ev[col] = ev[col].astype(float).round(2)
    return ev


def manager_grid(conn: Connection, scope: Scope, manager_id: int) -> pd.DataFrame:
    """The villages a manager is responsible for (their grid), as the trajectory's background.
    Columns: code, name, geometry, centroid_lon, centroid_lat. Empty if the manager is not in scope."""
    r, g, m = s.region, s.grid_assignment, s.manager
    return _df(conn, select(r.c.code, r.c.name, r.c.geometry, r.c.centroid_lon, r.c.centroid_lat)
               .join(g, g.c.village_code == r.c.code).join(m, m.c.id == g.c.manager_id)
               .where(g.c.manager_id == manager_id, scope.row_clause(m.c.branch_id)).order_by(r.c.code))


def active_days(conn: Connection, scope: Scope, manager_id: int, month: str) -> list[dt.date]:
    """Days of ``month`` on which the manager recorded activity (newest first); empty if not in scope."""
    e, m = s.activity_event, s.manager
    rows = conn.execute(select(e.c.event_at).join(m, m.c.id == e.c.manager_id)
                        .where(e.c.manager_id == manager_id, e.c.month == month, scope.row_clause(m.c.branch_id))).scalars()
    return sorted({pd.Timestamp(r).date() for r in rows}, reverse=True)


def flag_list(conn: Connection, scope: Scope, month: str, branch_id: int | None = None, severity: str | None = None,
              rule: str | None = None, limit: int = 500) -> pd.DataFrame:
    """Authenticity alerts of ``month`` in scope, most severe first. Columns: event_id, event_at, manager_id,
    manager, branch, rule, severity, value, detail, customer_no."""
    f, m, o, e, c = s.activity_flag, s.manager, s.org_unit, s.activity_event, s.customer
    conds = [f.c.month == month, scope.row_clause(f.c.branch_id)]
    if branch_id is not None:
        conds.append(f.c.branch_id == branch_id)
    if rule is not None:
        conds.append(f.c.rule == rule)
    # one ordered index range per severity (month, severity, event_at), each stopping at the limit: the cost follows
    # the page's ``limit`` rows, not the month's thousands of alerts at province size
    parts, left = [], max(int(limit), 0)
    for sev in [severity] if severity is not None else ["high", "medium", "low"]:
        if parts and left <= 0:
            break
        df = _df(conn, select(f.c.event_id, f.c.event_at, f.c.manager_id, m.c.name.label("manager"),
                              o.c.name.label("branch"), f.c.rule, f.c.severity, f.c.value, f.c.detail, c.c.customer_no)
                 .join(m, m.c.id == f.c.manager_id).join(o, o.c.id == f.c.branch_id)
                 .join(e, e.c.id == f.c.event_id).outerjoin(c, c.c.id == e.c.customer_id)
                 .where(*conds, f.c.severity == sev).order_by(f.c.event_at.desc(), f.c.id.desc()).limit(left))
        parts.append(df)
        left -= len(df)
    full = [p for p in parts if not p.empty]
    return pd.concat(full, ignore_index=True) if len(full) > 1 else (full or parts)[0]


def flag_summary(conn: Connection, scope: Scope, month: str, branch_id: int | None = None) -> pd.DataFrame:
    """Alerts of ``month`` in scope by rule and severity, with the managers concerned.
    Columns: rule, severity, flags, managers."""
    f = s.activity_flag
    conds = [f.c.month == month, scope.row_clause(f.c.branch_id)]
    if branch_id is not None:
        conds.append(f.c.branch_id == branch_id)
    return _df(conn, select(f.c.rule, f.c.severity, func.count().label("flags"),
                            func.count(func.distinct(f.c.manager_id)).label("managers"))
               .where(*conds).group_by(f.c.rule, f.c.severity).order_by(f.c.rule, f.c.severity))


def workload(conn: Connection, scope: Scope, month: str) -> pd.DataFrame:
    """Per branch in scope: managers, customers and post-loan tasks due in the last three months (a month's
    average). Columns: branch_id, branch, managers, customers, tasks_per_month."""
    mm, o = s.mart_manager, s.org_unit
    window = [shift_month(month, -k) for k in (2, 1, 0)]
    df = _df(conn, select(mm.c.branch_id, o.c.name.label("branch"),
                          func.count(func.distinct(case((and_(mm.c.month == month, mm.c.customers > 0), mm.c.manager_id))))
                          .label("managers"),
                          func.sum(case((mm.c.month == month, mm.c.customers), else_=0)).label("customers"),
                          func.sum(mm.c.tasks_due).label("tasks_3m"))
             .join(o, o.c.id == mm.c.branch_id)
             .where(mm.c.month.in_(window), scope.row_clause(mm.c.branch_id))
             .group_by(mm.c.branch_id, o.c.name).order_by(mm.c.branch_id))
    if df.empty:
        return df.assign(tasks_per_month=[])
    df["tasks_per_month"] = df["tasks_3m"].astype(float) / 3
    return df.drop(columns=["tasks_3m"])


def managers_needed(workload_df: pd.DataFrame, per_manager: int) -> pd.DataFrame:
    """The what-if: managers each branch needs if a manager looks after ``per_manager`` customers, and the
    post-loan tasks each would then carry a month. Adds needed, gap (needed − current), tasks_per_manager."""
    if per_manager <= 0:
        raise ValueError("customers per manager must be positive.")
    out = workload_df.copy()
    out["needed"] = [math.ceil(c / per_manager) if c else 0 for c in out["customers"]]
    out["gap"] = out["needed"] - out["managers"]
    out["tasks_per_manager"] = [t / n if n else 0.0 for t, n in zip(out["tasks_per_month"], out["needed"])]
    return out


def new_customer_sources(conn: Connection, scope: Scope, month: str, months: int = 12,
                         branch_id: int | None = None) -> pd.DataFrame:
    """New customers by source and month (managers in scope). Columns: month, source, customers."""
    mx, m = s.mart_manager_ext, s.manager
    window = _month_window(conn, month, months)
    conds = [mx.c.month.in_(window), scope.row_clause(mx.c.branch_id)]
    if branch_id is not None:
        conds.append(mx.c.branch_id == branch_id)
    df = _df(conn, select(mx.c.month, *[func.sum(mx.c[f"new_{v}"]).label(v) for v in SOURCES])
             .where(*conds).group_by(mx.c.month).order_by(mx.c.month))
    if df.empty:
        return pd.DataFrame(columns=["month", "source", "customers"])
    return df.melt(id_vars="month", var_name="source", value_name="customers")


ROW_FUNCTIONS = ("team", "day_events", "flag_list", "workload")

__all__ = ["team", "months_with_activity", "day_events", "active_days", "flag_list", "flag_summary", "workload",
           "managers_needed", "new_customer_sources", "TARGET_CUSTOMERS"]
