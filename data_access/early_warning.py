"""Early-warning and post-loan work reads: signals, tasks, model summaries, work by manager."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, Date, Integer, and_, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from . import kpi, schema as s
from .base import Filters, _df, _month_window, branch_rows, each_branch
from .scope import Scope, mask_frame


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
    """The model of ``name`` in use (the active production champion): version, trained_at, trained_by,
    data_window, metrics (dict: the validated sibling's out-of-time figures); None if none."""
    import json
    if scope.role not in ("head_office", "branch_leader", "strategy", "admin"):
        return None
    r = s.model_registry
    row = conn.execute(select(r.c.version, r.c.trained_at, r.c.trained_by, r.c.data_window, r.c.metrics)
                       .where(r.c.name == name, r.c.active.is_(True), r.c.kind == "production",
                              r.c.role == "champion").order_by(r.c.version.desc())).first()
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
