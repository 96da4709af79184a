"""Negotiated repayment plans (协商还款) on collection cases: agreed, validated and audited here; each instalment's
payment tracked from the loan's repayments by :func:`evaluate`, which the nightly mart refresh runs.

A plan is a list of instalments (due date, amount) agreed on a day (``start_on``) by a user — an agency on its own
cases, head office, a branch leader on cases of their branches (the same reach as
:func:`data_access.collections.record_action`) — with the debtor or a guarantor / co-borrower.

How an instalment is judged (:func:`judge`): every payment on the case's loan from the plan's start counts, oldest
instalment first (an early or larger payment counts towards the next one). Instalment *i* is **kept** when the
payments up to its due date plus the grace days cover instalments 1 … *i*; it is **missed** when that day has passed
(in the data: the newest payment loaded is later) and they do not. A plan is **kept** when every instalment is, and
**broken** at the first missed one: the later ones are void, the case is back in ordinary collection (the work list
says so) and the break is audited. Broken and kept are final.

Settings (environment or ``.streamlit/secrets.toml``):

* ``COCKPIT_PLAN_GRACE_DAYS`` — days after a due date a payment still counts, default 3 (our default, the usual
  grace of a Chinese bank's instalment products; the bank sets its own). Fixed on each plan when it is agreed.
* ``COCKPIT_PLAN_MAX_MONTHS`` — the last instalment at most this many months after the agreement, default 24
  (a county bank's policy for negotiated loan plans; the card rules, 《商业银行信用卡业务监督管理办法》第七十条, allow
  personalised card plans up to five years, so 1–60 are accepted).
"""
from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, String, bindparam, case, cast, func, insert, select, update

from . import schema as s
from .base import _df, _month_window
from .config import ConfigError, setting
from .scope import Scope
from .text import clean as clean_text
from .users import audit

PARTIES = ("debtor", "guarantor")        # who may agree on the debtor's side: the debtor, a co-borrower or guarantor
STATUSES = ("active", "kept", "broken")
INSTALMENT_STATUSES = ("pending", "kept", "missed", "void")
MAX_INSTALMENTS = 60
MAX_NOTE = 256
EPS = 0.005                              # amounts are cents: a shortfall under half a cent is none
SYSTEM_USER = "system"                   # who the nightly evaluation audits as


def _number(name: str, default: int, lo: int, hi: int) -> int:
    raw = setting(name)
    if raw is None or not str(raw).strip():
        return default
    try:
        v = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number between {lo} and {hi}; got {raw!r}.") from None
    if not lo <= v <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}; got {raw!r}.")
    return v


def grace_days() -> int:
    """COCKPIT_PLAN_GRACE_DAYS (default 3, 0–30)."""
    return _number("COCKPIT_PLAN_GRACE_DAYS", 3, 0, 30)


def max_months() -> int:
    """COCKPIT_PLAN_MAX_MONTHS (default 24, 1–60)."""
    return _number("COCKPIT_PLAN_MAX_MONTHS", 24, 1, 60)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months (31 January + 1 month = 28/29 February)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class PlanError(ValueError):
    """The plan cannot be recorded as asked; the message is for the user (an i18n key and its values)."""

    def __init__(self, key: str, denied: bool = False, **values):
        super().__init__(key)
        self.key, self.values, self.denied = key, values, denied


# ---------------------------------------------------------------- judging one plan (pure)
@dataclass
class Judged:
    status: str                                   # active | kept | broken
    paid_amount: float
    closed_on: dt.date | None = None
    broken_seq: int | None = None
    instalments: list[dict] = field(default_factory=list)  # seq, paid_amount, status, covered_on


def judge(start_on: dt.date, grace: int, instalments: list[tuple[int, dt.date, float]],
          payments: list[tuple[dt.date, float]], as_of: dt.date) -> Judged:
    """Judge one plan on the payments known up to ``as_of`` (see the module's doc).

    ``instalments``: (seq, due_on, amount) in seq order; ``payments``: (paid_on, amount) on the case's loan, any
    order (those before ``start_on`` or after ``as_of`` are ignored).
    """
    pays = sorted((d, float(a)) for d, a in payments if start_on <= d <= as_of and a > 0)

    def paid_by(day: dt.date) -> float:
        return sum(a for d, a in pays if d <= day)

    def covered(target: float) -> dt.date | None:
        total = 0.0
        for d, a in pays:
            total += a
            if total >= target - EPS:
                return d
        return None

    total_paid = paid_by(as_of)
    out: list[dict] = []
    before = 0.0
    status, closed_on, broken_seq = "active", None, None
    for seq, due, amount in instalments:
        amount = float(amount)
        target = before + amount
        deadline = due + dt.timedelta(days=grace)
        if status == "broken":
            out.append(dict(seq=seq, paid_amount=0.0, status="void", covered_on=None))
        else:
            cov = covered(target)
            if cov is not None and cov <= deadline:
                out.append(dict(seq=seq, paid_amount=amount, status="kept", covered_on=cov))
            elif as_of > deadline:
                part = min(max(paid_by(deadline) - before, 0.0), amount)
                out.append(dict(seq=seq, paid_amount=round(part, 2), status="missed", covered_on=None))
                status, closed_on, broken_seq = "broken", deadline + dt.timedelta(days=1), seq
            else:
                part = min(max(total_paid - before, 0.0), amount)
                out.append(dict(seq=seq, paid_amount=round(part, 2), status="pending", covered_on=None))
        before = target
    if status == "active" and out and all(i["status"] == "kept" for i in out):
        status, closed_on = "kept", out[-1]["covered_on"]
    return Judged(status=status, paid_amount=round(sum(i["paid_amount"] for i in out), 2), closed_on=closed_on,
                  broken_seq=broken_seq, instalments=out)


# ---------------------------------------------------------------- the nightly evaluation
def data_date(conn: Connection) -> dt.date:
    """The day the payments are known up to: the newest repayment loaded (never after today); today when none is.
    An instalment is judged missed only once this date is past its grace, so a late extract breaks no plan."""
    newest = conn.execute(select(func.max(s.repayment.c.paid_on))).scalar()
    today = dt.date.today()
    if newest is None:
        return today
    if isinstance(newest, str):  # SQLite may hand back the text
        newest = dt.date.fromisoformat(newest[:10])
    if isinstance(newest, dt.datetime):
        newest = newest.date()
    return min(newest, today)


def evaluate(conn: Connection, as_of: dt.date | None = None, username: str = SYSTEM_USER,
             audited: bool = True) -> dict[str, int]:
    """Judge every **active** plan on the payments up to ``as_of`` (default :func:`data_date`), in the caller's
    transaction: instalments' paid amounts and statuses, the plan's status; a plan that is kept or broken now is
    audited (``repayment_plan_kept`` / ``repayment_plan_broken``). Its cost follows the active plans and their loans'
    payments since the plans started, not the book. Returns counts: evaluated, kept, broken, active."""
    as_of = as_of or data_date(conn)
    p, k, i, r = s.repayment_plan, s.collection_case, s.repayment_plan_instalment, s.repayment
    plans = conn.execute(select(p.c.id, p.c.case_id, p.c.start_on, p.c.grace_days, p.c.total_amount, k.c.loan_id,
                                k.c.customer_id)
                         .join(k, k.c.id == p.c.case_id).where(p.c.status == "active").order_by(p.c.id)).all()
    counts = {"evaluated": len(plans), "kept": 0, "broken": 0, "active": 0}
    if not plans:
        return counts
    active = select(p.c.id).where(p.c.status == "active")
    inst: dict[int, list] = {}
    for row in conn.execute(select(i.c.plan_id, i.c.seq, i.c.due_on, i.c.amount).where(i.c.plan_id.in_(active))
                            .order_by(i.c.plan_id, i.c.seq)):
        inst.setdefault(row.plan_id, []).append((row.seq, row.due_on, float(row.amount)))
    first = min(pl.start_on for pl in plans)
    loans = select(k.c.loan_id).join(p, p.c.case_id == k.c.id).where(p.c.status == "active")
    pays: dict[int, list] = {}
    for row in conn.execute(select(r.c.loan_id, r.c.paid_on, (r.c.principal + r.c.interest).label("amount"))
                            .where(r.c.loan_id.in_(loans), r.c.paid_on >= first, r.c.paid_on <= as_of)):
        pays.setdefault(row.loan_id, []).append((row.paid_on, float(row.amount)))
    plan_rows, inst_rows = [], []
    for pl in plans:
        j = judge(pl.start_on, int(pl.grace_days), inst.get(pl.id, []), pays.get(pl.loan_id, []), as_of)
        counts[j.status] += 1
        plan_rows.append(dict(b_id=pl.id, b_status=j.status, b_paid=j.paid_amount, b_closed=j.closed_on,
                              b_seq=j.broken_seq, b_eval=as_of))
        inst_rows += [dict(b_plan=pl.id, b_sq=x["seq"], b_paid=x["paid_amount"], b_status=x["status"],
                           b_cov=x["covered_on"]) for x in j.instalments]
        if j.status != "active" and audited:  # the demo's history predates the log: it judges unaudited
            detail = {"plan": pl.id, "as_of": as_of.isoformat(), "paid": j.paid_amount,
                      "total": round(float(pl.total_amount), 2)}
            if j.status == "broken":
                missed = next(x for x in j.instalments if x["status"] == "missed")
                due = next(d for sq, d, _ in inst[pl.id] if sq == j.broken_seq)
                detail.update(instalment=j.broken_seq, due_on=due.isoformat(), paid_on_it=missed["paid_amount"])
            audit(conn, username, f"repayment_plan_{j.status}", customer_id=pl.customer_id,
                  target=f"case:{pl.case_id}", detail=detail)
    conn.execute(update(p).where(p.c.id == bindparam("b_id")).values(
        status=bindparam("b_status"), paid_amount=bindparam("b_paid"), closed_on=bindparam("b_closed"),
        broken_seq=bindparam("b_seq"), evaluated_on=bindparam("b_eval")), plan_rows)
    if inst_rows:
        conn.execute(update(i).where(i.c.plan_id == bindparam("b_plan"), i.c.seq == bindparam("b_sq")).values(
            paid_amount=bindparam("b_paid"), status=bindparam("b_status"), covered_on=bindparam("b_cov")), inst_rows)
    return counts


# ---------------------------------------------------------------- agreeing a plan
def outstanding(conn: Connection, case_id: int) -> float:
    """What a plan may at most total: the loan's balance plus its overdue amount in its newest snapshot (the case's
    figures at entry when the loan has none)."""
    k, sn = s.collection_case, s.loan_snapshot
    row = conn.execute(select(k.c.loan_id, k.c.overdue_at_entry, k.c.balance_at_entry).where(k.c.id == case_id)).one()
    last = select(func.max(sn.c.month)).where(sn.c.loan_id == row.loan_id).scalar_subquery()
    snap = conn.execute(select(sn.c.balance, sn.c.overdue_amount)
                        .where(sn.c.loan_id == row.loan_id, sn.c.month == last)).first()
    if snap is None:
        return round(float(row.balance_at_entry) + float(row.overdue_at_entry), 2)
    return round(float(snap.balance) + float(snap.overdue_amount), 2)


def plan_cap(conn: Connection, scope: Scope, case_id: int) -> float:
    """:func:`outstanding` of a case in the caller's reach (the form's cap); 0 when out of reach."""
    from .collections import _case_in_scope
    if _case_in_scope(conn, scope, case_id) is None:
        return 0.0
    return outstanding(conn, case_id)


def _as_date(v) -> dt.date | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.date()
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return None


def propose(conn: Connection, scope: Scope, case_id: int, instalments: list[tuple], debtor_party: str = "debtor",
            note: str | None = None, agreed_on: dt.date | None = None) -> int:
    """Record a plan agreed on ``agreed_on`` (default today) on an open case in the caller's reach, validated and
    audited (``repayment_plan_agreed``), in the caller's transaction; returns its id. Raises PlanError (nothing
    written) with the message key otherwise:

    * ``plan.err_role`` — strategy and admin users agree no plans; ``plan.err_case`` (``denied``) — no such case in
      reach (another agency's, another branch's, or still waiting for allocation);
    * ``plan.err_closed`` — the case is closed; ``plan.err_active`` — it already has an active plan;
    * ``plan.err_party``, ``plan.err_agreed_on``, ``plan.err_count``, ``plan.err_due_missing``, ``plan.err_amount``
      (each amount above 0), ``plan.err_dates`` (due dates from the agreement on, each after the one before),
      ``plan.err_horizon`` (the last within COCKPIT_PLAN_MAX_MONTHS), ``plan.err_total`` (at most
      :func:`outstanding`), ``plan.err_note``.

    ``instalments``: (due_on, amount) pairs in order.
    """
    from .collections import open_case_to_work
    row = open_case_to_work(conn, scope, case_id, PlanError, "plan")
    p = s.repayment_plan
    if conn.execute(select(p.c.id).where(p.c.case_id == case_id, p.c.status == "active")).first() is not None:
        raise PlanError("plan.err_active")
    if debtor_party not in PARTIES:
        raise PlanError("plan.err_party")
    today = dt.date.today()
    agreed_on = today if agreed_on is None else _as_date(agreed_on)
    if agreed_on is None or not row.entry_date <= agreed_on <= today:
        raise PlanError("plan.err_agreed_on", first=str(row.entry_date), last=str(today))
    rows = list(instalments or [])
    if not 1 <= len(rows) <= MAX_INSTALMENTS:
        raise PlanError("plan.err_count", n=MAX_INSTALMENTS)
    clean: list[tuple[int, dt.date, float]] = []
    for seq, (due, amount) in enumerate(rows, start=1):
        due = _as_date(due)
        if due is None:
            raise PlanError("plan.err_due_missing", seq=seq)
        if not (isinstance(amount, (int, float)) and not isinstance(amount, bool) and math.isfinite(amount)
                and round(float(amount), 2) > 0):
            raise PlanError("plan.err_amount", seq=seq)
        previous = clean[-1][1] if clean else None
        if due < agreed_on or (previous is not None and due <= previous):
            raise PlanError("plan.err_dates", seq=seq)
        clean.append((seq, due, round(float(amount), 2)))
    months = max_months()
    horizon = add_months(agreed_on, months)
    if clean[-1][1] > horizon:
        raise PlanError("plan.err_horizon", months=months, last=str(horizon))
    total = round(sum(a for _, _, a in clean), 2)
    cap = outstanding(conn, case_id)
    if total > cap + EPS:
        raise PlanError("plan.err_total", total=f"{total:,.2f}", cap=f"{cap:,.2f}")
    note = clean_text(note) or None
    if note is not None and len(note) > MAX_NOTE:
        raise PlanError("plan.err_note", n=MAX_NOTE)
    grace = grace_days()
    now = dt.datetime.now().replace(microsecond=0)
    plan_id = conn.execute(insert(p).values(
        case_id=case_id, status="active", start_on=agreed_on, instalments=len(clean), total_amount=total,
        grace_days=grace, agreed_by=scope.username, agreed_at=now, debtor_party=debtor_party,
        agency_id=scope.agency_id if scope.role == "agency" else row.agency_id, note=note, paid_amount=0,
        source="app").returning(p.c.id)).scalar_one()
    conn.execute(insert(s.repayment_plan_instalment), [
        dict(plan_id=plan_id, seq=seq, due_on=due, amount=a, paid_amount=0, status="pending") for seq, due, a in clean])
    audit(conn, scope.username, "repayment_plan_agreed", customer_id=row.customer_id, target=f"case:{case_id}",
          detail={"plan": plan_id, "agreed_on": agreed_on.isoformat(), "party": debtor_party, "instalments": len(clean),
                  "total": total, "first_due": clean[0][1].isoformat(), "last_due": clean[-1][1].isoformat(),
                  "grace_days": grace, "note": note})
    return plan_id


def equal_split(total: float, n: int, first_due: dt.date) -> list[tuple[dt.date, float]]:
    """``n`` monthly instalments from ``first_due`` summing to ``total`` exactly (cents to the last one): the form's
    starting point, whose dates the user may then edit."""
    n = max(int(n), 1)
    each = math.floor(total * 100 / n) / 100
    amounts = [each] * (n - 1) + [round(total - each * (n - 1), 2)]
    return [(add_months(first_due, i), a) for i, a in enumerate(amounts)]


def audit_denial(conn: Connection, scope: Scope, case_id: int) -> None:
    """Record that ``scope`` tried to agree a plan on a case outside its reach (in its own transaction)."""
    audit(conn, scope.username, "repayment_plan_denied", target=f"case:{case_id}")


# ---------------------------------------------------------------- reading plans (scoped in SQL)
PLAN_COLUMNS = ("id", "case_id", "case_no", "status", "start_on", "instalments", "total_amount", "paid_amount",
                "grace_days", "agreed_by", "agreed_at", "debtor_party", "agency_id", "closed_on", "broken_seq",
                "evaluated_on", "note")


def _plan_select(scope: Scope, *conds):
    p, k = s.repayment_plan, s.collection_case
    return (select(p.c.id, p.c.case_id, k.c.case_no, p.c.status, p.c.start_on, p.c.instalments, p.c.total_amount,
                   p.c.paid_amount, p.c.grace_days, p.c.agreed_by, p.c.agreed_at, p.c.debtor_party, p.c.agency_id,
                   p.c.closed_on, p.c.broken_seq, p.c.evaluated_on, p.c.note)
            .join(k, k.c.id == p.c.case_id).where(scope.case_clause(k), *conds)
            .order_by(p.c.agreed_at.desc(), p.c.id.desc()))


def case_plans(conn: Connection, scope: Scope, case_id: int) -> pd.DataFrame:
    """A case's plans, newest first, if the case is in scope (agencies: their own cases), else empty.
    Columns: PLAN_COLUMNS."""
    return _df(conn, _plan_select(scope, s.collection_case.c.id == case_id))


def customer_plans(conn: Connection, scope: Scope, customer_id: int) -> pd.DataFrame:
    """Every plan on a customer's cases in scope (Customer 360), newest first. Columns: PLAN_COLUMNS."""
    return _df(conn, _plan_select(scope, s.collection_case.c.customer_id == customer_id))


def plan_instalments(conn: Connection, scope: Scope, plan_ids: list[int]) -> pd.DataFrame:
    """The instalments of those of ``plan_ids`` whose case is in scope. Columns: plan_id, seq, due_on, amount,
    paid_amount, status, covered_on, due_by (the due date plus the plan's grace days)."""
    p, k, i = s.repayment_plan, s.collection_case, s.repayment_plan_instalment
    ids = sorted({int(x) for x in plan_ids})
    cols = ["plan_id", "seq", "due_on", "amount", "paid_amount", "status", "covered_on", "due_by"]
    if not ids:
        return pd.DataFrame(columns=cols)
    df = _df(conn, select(i.c.plan_id, i.c.seq, i.c.due_on, i.c.amount, i.c.paid_amount, i.c.status, i.c.covered_on,
                          p.c.grace_days)
             .join(p, p.c.id == i.c.plan_id).join(k, k.c.id == p.c.case_id)
             .where(i.c.plan_id.in_(ids), scope.case_clause(k)).order_by(i.c.plan_id, i.c.seq))
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["due_by"] = [pd.Timestamp(d).date() + dt.timedelta(days=int(g)) for d, g in zip(df["due_on"], df["grace_days"])]
    return df.drop(columns="grace_days")


SUMMARY_BY = ("entry_bucket", "agency_id", "agreed_month")


def summary(conn: Connection, scope: Scope, month: str, months: int = 12, by: str | None = None,
            branch_id: int | None = None) -> pd.DataFrame:
    """Plans agreed in the ``months`` months up to ``month``, by ``by`` (the case's entry bucket, the agency that
    agreed it — 0 for the bank's staff — or the month agreed): plans, active, kept, broken, total_amount, paid_amount,
    kept_rate = kept ÷ (kept + broken) (active plans are not decided yet; NaN when none is). Aggregates for the
    collection roles (head office; branch leaders their branches), nothing for others. A live read of the plans
    (a plan agreed today shows at once): its cost follows the window's plans, a small share of its cases."""
    if by is not None and by not in SUMMARY_BY:
        raise ValueError(f"cannot group plans by {by!r}; choose from {SUMMARY_BY}.")
    cols = ([by] if by else []) + ["plans", "active", "kept", "broken", "total_amount", "paid_amount", "kept_rate"]
    if scope.role not in ("head_office", "branch_leader", "strategy"):
        return pd.DataFrame(columns=cols)
    p, k = s.repayment_plan, s.collection_case
    window = _month_window(conn, month, months)
    first = dt.date.fromisoformat(f"{(window or [month])[0]}-01")
    end = add_months(dt.date.fromisoformat(f"{month}-01"), 1)
    conds = [p.c.start_on >= first, p.c.start_on < end, scope.branch_clause(k.c.branch_id)]
    if branch_id is not None:
        conds.append(k.c.branch_id == branch_id)
    keys = {"entry_bucket": k.c.entry_bucket, "agency_id": func.coalesce(p.c.agency_id, 0),
            "agreed_month": func.substr(cast(p.c.start_on, String), 1, 7)}
    key = [keys[by].label(by)] if by else []

    def n(status):
        return func.sum(case((p.c.status == status, 1), else_=0)).label(status)
    stmt = (select(*key, func.count().label("plans"), n("active"), n("kept"), n("broken"),
                   func.sum(p.c.total_amount).label("total_amount"), func.sum(p.c.paid_amount).label("paid_amount"))
            .select_from(p.join(k, k.c.id == p.c.case_id)).where(*conds))
    if key:
        stmt = stmt.group_by(keys[by]).order_by(keys[by])
    df = _df(conn, stmt)
    if df.empty or (not by and (df["plans"].iloc[0] == 0 or pd.isna(df["plans"].iloc[0]))):
        df = pd.DataFrame([{c: 0 for c in cols if c != "kept_rate"}]) if not by else pd.DataFrame(columns=cols[:-1])
    for c in ("plans", "active", "kept", "broken"):
        df[c] = df[c].fillna(0).astype(int)
    for c in ("total_amount", "paid_amount"):
        df[c] = df[c].fillna(0).astype(float)
    decided = df["kept"] + df["broken"]
    df["kept_rate"] = [kk / d if d else float("nan") for kk, d in zip(df["kept"], decided)]
    if by:
        df[by] = df[by].astype(int) if by != "agreed_month" else df[by].astype(str)
    return df[cols].reset_index(drop=True)


ROW_FUNCTIONS = ("case_plans", "customer_plans", "plan_instalments")

__all__ = ["judge", "evaluate", "data_date", "propose", "equal_split", "outstanding", "plan_cap", "case_plans", "customer_plans",
           "plan_instalments", "summary", "PlanError", "PARTIES", "grace_days", "max_months", "add_months"]
