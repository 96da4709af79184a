"""Collections: performance read from ``mart_collection``, the allocation board and runs, and the case work of
agencies and collectors (scoped in SQL, validated, audited).

Measures are cohort measures by *entry month*: a case belongs to the month and bucket in which it entered
collection, and everything later recovered on it counts there (DESIGN.md "Terms": recovery rate for entry bucket
B). Recent cohorts are still open, so their rates rise as they mature; the page says so.
"""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
from sqlalchemy import Connection, bindparam, func, insert, select, update

from . import kpi, schema as s
from .queries import BANK, Filters, _df, _month_window, branch_rows, each_branch
from .scope import Scope, mask_frame
from .text import clean as clean_text
from .users import audit

CHANNELS = ("ai_voice", "sms", "phone", "field", "agency", "mediation", "litigation", "write_off")
PENDING = "pending"
LEGAL_STAGES = ("filed", "hearing", "judgment", "enforcement", "closed")
MEASURES = ("cases", "overdue_at_entry", "balance_at_entry", "recovered_amount", "cured_cases", "rolled_cases",
            "open_cases", "contacted_cases", "promised_cases", "kept_cases", "paying_cases", "cost", "complaints",
            "compliance_breaches")
DIMENSIONS = ("entry_month", "entry_bucket", "channel", "agency_id", "branch_id", "legal_stage")
# months since entry → ageing band of an open case
AGE_BANDS = ((0, 0, "age.lt1"), (1, 2, "age.1_3"), (3, 5, "age.3_6"), (6, 11, "age.6_12"), (12, 10_000, "age.12p"))


def _sums(mc):
    return [func.sum(mc.c[m]).label(m) for m in MEASURES]


def performance(conn: Connection, scope: Scope, f: Filters, by: tuple[str, ...] = (), months: int = 12,
                channel: str | None = None, entry_bucket: int | None = None) -> pd.DataFrame:
    """Summed collection measures and every rate of :data:`data_access.kpi.COLLECTION_RATES`, grouped by ``by``
    (any of DIMENSIONS), over the ``months`` entry months up to ``f.month``.

    Grouping by ``branch_id`` gives one row per branch in scope; otherwise the whole bank's roll-up rows (head
    office) or the user's branches (summed) answer. Pending cases are left out (they are not being worked yet) and
    so are write-off transfers unless ``channel='write_off'`` asks for them: their recovery is post-write-off
    recovery, reported apart (:func:`write_offs`).
    """
    bad = [b for b in by if b not in DIMENSIONS]
    if bad:
        raise ValueError(f"cannot group collection measures by {bad}; choose from {DIMENSIONS}.")
    mc = s.mart_collection
    window = _month_window(conn, f.month, months)
    rows = each_branch(mc, scope) if "branch_id" in by and f.branch_id is None else branch_rows(mc, scope, f.branch_id)
    conds = [mc.c.entry_month.in_(window), rows]
    # 催收回收率's cases (kpi.COLLECTION_RECOVERY_EXCLUDED): write-off transfers only when asked for by channel
    conds.append(mc.c.channel.notin_(kpi.COLLECTION_RECOVERY_EXCLUDED) if channel is None else mc.c.channel == channel)
    if entry_bucket is not None:
        conds.append(mc.c.entry_bucket == entry_bucket)
    keys = [mc.c[b] for b in by]
    stmt = select(*keys, *_sums(mc)).where(*conds)
    if keys:
        stmt = stmt.group_by(*keys).order_by(*keys)
    df = _df(conn, stmt)
    if not keys and (df.empty or pd.isna(df["cases"].iloc[0])):
        df = pd.DataFrame([{m: 0 for m in MEASURES}])
    return kpi.collection_rates(df.fillna({m: 0 for m in MEASURES}))


def recovery_by_group(conn: Connection, scope: Scope, f: Filters, months: int = 12) -> pd.DataFrame:
    """Recovery rate for entry buckets M1, M2, M1+M2 and M3+ (DESIGN.md "Terms") over the window, with the cases,
    overdue at entry and recovered amounts behind each. Columns: group, cases, overdue_at_entry,
    recovered_amount, recovery_rate."""
    by_bucket = performance(conn, scope, f, ("entry_bucket",), months)
    out = []
    for name, buckets in kpi.ENTRY_BUCKET_GROUPS.items():
        sel = by_bucket[by_bucket["entry_bucket"].isin(buckets)]
        out.append({"group": name, "cases": int(sel["cases"].sum()),
                    "overdue_at_entry": float(sel["overdue_at_entry"].sum()),
                    "recovered_amount": float(sel["recovered_amount"].sum()),
                    "recovery_rate": kpi.recovery_rate(sel, buckets)})
    return pd.DataFrame(out)


def ageing(conn: Connection, scope: Scope, f: Filters) -> pd.DataFrame:
    """Open cases by age band (months since entry, as of ``f.month``) and entry bucket.
    Columns: band (i18n key), entry_bucket, open_cases."""
    by = performance(conn, scope, f, ("entry_month", "entry_bucket"), months=120)
    if by.empty:
        return pd.DataFrame(columns=["band", "entry_bucket", "open_cases"])
    now = int(f.month[:4]) * 12 + int(f.month[5:7])
    age = [now - (int(m[:4]) * 12 + int(m[5:7])) for m in by["entry_month"]]
    by["band"] = [next(key for lo, hi, key in AGE_BANDS if lo <= a <= hi) for a in age]
    out = by.groupby(["band", "entry_bucket"], as_index=False)["open_cases"].sum()
    order = {key: i for i, (_, _, key) in enumerate(AGE_BANDS)}
    return out.sort_values(["band", "entry_bucket"], key=lambda c: c.map(order) if c.name == "band" else c) \
        .reset_index(drop=True)


def funnel(conn: Connection, scope: Scope, f: Filters, months: int = 12) -> pd.DataFrame:
    """Per channel: assigned → contacted → promised → paid (cases with any recovery). Columns: channel, cases,
    contacted_cases, promised_cases, paying_cases and the rates."""
    df = performance(conn, scope, f, ("channel",), months)
    order = {c: i for i, c in enumerate(CHANNELS)}
    return df.sort_values("channel", key=lambda c: c.map(order)).reset_index(drop=True)


def agency_board(conn: Connection, scope: Scope, f: Filters, months: int = 12) -> pd.DataFrame:
    """Head office and branch leaders: every agency's recovery, kept-promise rate, complaints, compliance
    breaches and commission cost over the window, ranked by recovery rate. Agencies use
    :func:`data_access.queries.agency_league` (others anonymised) instead; they get nothing here.
    Columns: rank, agency_id, agency, commission_rate, monthly_capacity, the measures and rates."""
    if scope.role not in ("head_office", "branch_leader"):
        return pd.DataFrame(columns=["rank", "agency_id", "agency"])
    df = performance(conn, scope, f, ("agency_id",), months, channel="agency")
    a = _df(conn, select(s.agency.c.id.label("agency_id"), s.agency.c.name.label("agency"), s.agency.c.commission_rate,
                         s.agency.c.monthly_capacity))
    df = a.merge(df, on="agency_id", how="left").fillna({m: 0 for m in MEASURES})
    df = kpi.collection_rates(df)
    df["commission"] = df["recovered_amount"] * df["commission_rate"]
    df = df.sort_values("recovery_rate", ascending=False, na_position="last").reset_index(drop=True)
    df["rank"] = range(1, len(df) + 1)
    return df


def litigation_pipeline(conn: Connection, scope: Scope, f: Filters, months: int = 36) -> pd.DataFrame:
    """Litigation cases by stage (filed → hearing → judgment → enforcement → closed): cases, balance at entry,
    recovered. Columns: legal_stage, cases, balance_at_entry, recovered_amount, open_cases."""
    df = performance(conn, scope, f, ("legal_stage",), months, channel="litigation")
    df = df[df["legal_stage"] != ""]
    order = {c: i for i, c in enumerate(LEGAL_STAGES)}
    return df.sort_values("legal_stage", key=lambda c: c.map(order)).reset_index(drop=True)


def write_offs(conn: Connection, scope: Scope, f: Filters, months: int = 24) -> pd.DataFrame:
    """Write-offs by month with what has been recovered on them since. Columns: entry_month, cases,
    balance_at_entry (amount written off), recovered_amount, recovery_rate (of the written-off amount)."""
    df = performance(conn, scope, f, ("entry_month",), months, channel="write_off")
    df["recovery_rate"] = [kpi.ratio(r, b) for r, b in zip(df["recovered_amount"], df["balance_at_entry"])]
    return df


# ---------------------------------------------------------------- allocation board and runs
def allocation_board(conn: Connection, scope: Scope, f: Filters) -> pd.DataFrame:
    """Cases of entry month ``f.month`` by entry bucket and channel, pending ones included (channel 'pending').
    Columns: entry_bucket, channel, cases, overdue_at_entry."""
    mc = s.mart_collection
    stmt = (select(mc.c.entry_bucket, mc.c.channel, func.sum(mc.c.cases).label("cases"),
                   func.sum(mc.c.overdue_at_entry).label("overdue_at_entry"))
            .where(mc.c.entry_month == f.month, branch_rows(mc, scope, f.branch_id))
            .group_by(mc.c.entry_bucket, mc.c.channel).order_by(mc.c.entry_bucket, mc.c.channel))
    return _df(conn, stmt)


def pending_summary(conn: Connection, scope: Scope, branch_id: int | None = None) -> pd.DataFrame:
    """Cases waiting for the allocation run, live (not from the mart: the button changes them), by entry date
    and bucket. Columns: entry_date, entry_bucket, cases, overdue_at_entry."""
    k = s.collection_case
    conds = [k.c.channel == PENDING, scope.row_clause(k.c.branch_id)]
    if branch_id is not None:
        conds.append(k.c.branch_id == branch_id)
    stmt = (select(k.c.entry_date, k.c.entry_bucket, func.count().label("cases"),
                   func.sum(k.c.overdue_at_entry).label("overdue_at_entry"))
            .where(*conds).group_by(k.c.entry_date, k.c.entry_bucket).order_by(k.c.entry_date, k.c.entry_bucket))
    return _df(conn, stmt)


def day_board(conn: Connection, scope: Scope, branch_id: int | None = None) -> pd.DataFrame:
    """Today's intake: the cases of the latest entry date in scope by entry bucket and channel (pending included),
    live. Columns: entry_date, entry_bucket, channel, cases, overdue_at_entry."""
    k = s.collection_case
    conds = [scope.row_clause(k.c.branch_id)]
    if branch_id is not None:
        conds.append(k.c.branch_id == branch_id)
    day = conn.execute(select(func.max(k.c.entry_date)).where(*conds)).scalar()
    if day is None:
        return pd.DataFrame(columns=["entry_date", "entry_bucket", "channel", "cases", "overdue_at_entry"])
    return _df(conn, select(k.c.entry_date, k.c.entry_bucket, k.c.channel, func.count().label("cases"),
                            func.sum(k.c.overdue_at_entry).label("overdue_at_entry"))
               .where(*conds, k.c.entry_date == day)
               .group_by(k.c.entry_date, k.c.entry_bucket, k.c.channel).order_by(k.c.entry_bucket, k.c.channel))


def allocation_rules(conn: Connection) -> pd.DataFrame:
    """The rules in force: entry_bucket, min_amount, channel, priority, description."""
    r = s.allocation_rule
    return _df(conn, select(r.c.entry_bucket, r.c.min_amount, r.c.channel, r.c.priority, r.c.description)
               .order_by(r.c.entry_bucket, r.c.priority))


def capacity(conn: Connection, month: str) -> pd.DataFrame:
    """Every allocation option (a channel, or one agency) with its monthly capacity, what ``month``'s cases
    already use, what is left, its cost per case and commission.

    Columns: option (channel, or ``agency:<id>``), channel, agency_id (0), name, capacity (NaN: no limit), used,
    left, cost_per_case, commission_rate.
    """
    ch, a, k = s.collection_channel, s.agency, s.collection_case
    used = dict(conn.execute(select(k.c.channel, func.count()).where(k.c.entry_month == month, k.c.channel != PENDING)
                             .group_by(k.c.channel)).all())
    used_ag = dict(conn.execute(select(k.c.agency_id, func.count())
                                .where(k.c.entry_month == month, k.c.channel == "agency").group_by(k.c.agency_id)).all())
    rows = []
    agency_cost = 0.0
    for r in conn.execute(select(ch).where(ch.c.active).order_by(ch.c.code)).mappings():
        if r["code"] == "agency":
            agency_cost = float(r["cost_per_case"])
            continue
        cap = r["monthly_capacity"]
        rows.append(dict(option=r["code"], channel=r["code"], agency_id=0, name=r["code"],
                         capacity=float("nan") if cap is None else float(cap), used=int(used.get(r["code"], 0)),
                         cost_per_case=float(r["cost_per_case"]), commission_rate=0.0))
    for r in conn.execute(select(a).where(a.c.active).order_by(a.c.id)).mappings():
        rows.append(dict(option=f"agency:{r['id']}", channel="agency", agency_id=int(r["id"]), name=r["name"],
                         capacity=float(r["monthly_capacity"]), used=int(used_ag.get(r["id"], 0)),
                         cost_per_case=agency_cost, commission_rate=float(r["commission_rate"])))
    df = pd.DataFrame(rows)
    if not df.empty:
        df["left"] = (df["capacity"] - df["used"]).clip(lower=0)
    return df


COLLECTION_ROLES = ("head_office", "branch_leader", "strategy")


def rules_board(conn: Connection, scope: Scope) -> pd.DataFrame:
    """The allocation rules for the collections page (bank-wide reference data; collection roles only)."""
    if scope.role not in COLLECTION_ROLES:
        return pd.DataFrame(columns=["entry_bucket", "min_amount", "channel", "priority", "description"])
    return allocation_rules(conn)


def capacity_board(conn: Connection, scope: Scope, month: str) -> pd.DataFrame:
    """:func:`capacity` for the collections page (collection roles only)."""
    if scope.role not in COLLECTION_ROLES:
        return pd.DataFrame(columns=["option", "channel", "agency_id", "name", "capacity", "used", "left",
                                     "cost_per_case", "commission_rate"])
    return capacity(conn, month)


def names(conn: Connection, scope: Scope, kind: str) -> dict[int, str]:
    """Display names by id: ``kind`` 'branch' (branches in scope) or 'agency' (collection roles only)."""
    if kind == "branch":
        o = s.org_unit
        return dict(conn.execute(select(o.c.id, o.c.name).where(o.c.level == "branch", scope.branch_clause(o.c.id))).all())
    if kind == "agency" and scope.role in COLLECTION_ROLES:
        return dict(conn.execute(select(s.agency.c.id, s.agency.c.name)).all())
    return {}


def record_allocation(conn: Connection, username: str, month: str, model_id: int | None, chosen: pd.DataFrame,
                      lines: pd.DataFrame, totals: dict) -> int:
    """Write one allocation run: the run, its summary lines, and the chosen channel on each case still pending
    (a case allocated meanwhile by someone else is left alone). Inside the caller's transaction; returns the run id.

    ``chosen``: case_id, channel, agency_id (0 = none), propensity, expected_recovery — queued cases omitted.
    """
    run = s.allocation_run
    run_id = conn.execute(insert(run).values(
        run_at=dt.datetime.now().replace(microsecond=0), run_by=username, month=month, model_id=model_id,
        **{k: totals[k] for k in ("cases", "assigned", "queued", "expected_recovery", "expected_cost",
                                  "baseline_recovery", "baseline_cost")}).returning(run.c.id)).scalar_one()
    if not lines.empty:
        conn.execute(insert(s.allocation_run_line), [dict(run_id=run_id, **r) for r in lines.to_dict("records")])
    k = s.collection_case
    params = [dict(b_id=int(r.case_id), b_channel=r.channel, b_agency=int(r.agency_id) or None,
                   b_p=float(r.propensity), b_er=round(float(r.expected_recovery), 2), b_run=run_id)
              for r in chosen.itertuples()]
    if params:
        conn.execute(update(k).where(k.c.id == bindparam("b_id"), k.c.channel == PENDING)
                     .values(channel=bindparam("b_channel"), agency_id=bindparam("b_agency"),
                             propensity=bindparam("b_p"), expected_recovery=bindparam("b_er"),
                             allocation_run_id=bindparam("b_run")), params)
    audit(conn, username, "allocation_run", target=f"allocation_run:{run_id}",
          detail={"month": month, **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in totals.items()}})
    return run_id


def allocation_runs(conn: Connection, scope: Scope, limit: int = 20) -> pd.DataFrame:
    """Recent allocation runs (bank-wide figures: head office and strategy only). Columns as allocation_run."""
    r = s.allocation_run
    if not scope.all_branches:
        return pd.DataFrame(columns=[c.name for c in r.c])
    return _df(conn, select(r).order_by(r.c.id.desc()).limit(limit))


def allocation_run_lines(conn: Connection, scope: Scope, run_id: int) -> pd.DataFrame:
    """One run's lines, applied ('optimised') and baseline ('rules'), with agency names.
    Columns: method, entry_bucket, channel, agency_id, agency, cases, overdue, expected_recovery, expected_cost."""
    ln, a = s.allocation_run_line, s.agency
    if not scope.all_branches:
        return pd.DataFrame(columns=["method", "entry_bucket", "channel", "agency_id", "agency", "cases", "overdue",
                                     "expected_recovery", "expected_cost"])
    return _df(conn, select(ln.c.method, ln.c.entry_bucket, ln.c.channel, ln.c.agency_id, a.c.name.label("agency"),
                            ln.c.cases, ln.c.overdue, ln.c.expected_recovery, ln.c.expected_cost)
               .outerjoin(a, a.c.id == ln.c.agency_id).where(ln.c.run_id == run_id)
               .order_by(ln.c.method, ln.c.entry_bucket, ln.c.channel, ln.c.agency_id))


# ---------------------------------------------------------------- case work (agencies and collectors)
RESULTS = ("no_answer", "promise_to_pay", "paid", "refused", "hardship", "wrong_party", "will_call_back")
MAX_NOTE = 256
MAX_PROMISE_DAYS = 30


class ActionError(ValueError):
    """The action cannot be recorded as asked; the message is for the user (an i18n key and its values)."""

    def __init__(self, key: str, denied: bool = False, rule: str | None = None, **values):
        super().__init__(key)
        self.key, self.values, self.denied, self.rule = key, values, denied, rule


def _case_in_scope(conn: Connection, scope: Scope, case_id: int):
    k = s.collection_case
    return conn.execute(select(k.c.id, k.c.customer_id, k.c.status, k.c.channel, k.c.agency_id, k.c.overdue_at_entry,
                               k.c.entry_date)
                        .where(k.c.id == case_id, scope.case_clause(k), k.c.channel != PENDING)).first()


WORKING_ROLES = ("agency", "head_office", "branch_leader")  # who works cases; strategy and admin users only read


def open_case_to_work(conn: Connection, scope: Scope, case_id: int, error: type[ValueError], prefix: str):
    """The case row for a write on it (an action, a repayment plan): raises ``error`` with ``<prefix>.err_role``
    for a role that does not work cases, ``<prefix>.err_case`` (``denied=True``) for a case out of reach (another
    agency's, another branch's, or still waiting for allocation) and ``<prefix>.err_closed`` for a closed one. The
    caller's transaction rolls back on the error; it records a denial (audit_denial) in its own."""
    if scope.role not in WORKING_ROLES:
        raise error(f"{prefix}.err_role")
    row = _case_in_scope(conn, scope, case_id)
    if row is None:
        raise error(f"{prefix}.err_case", denied=True)
    if row.status != "open":
        raise error(f"{prefix}.err_closed")
    return row


def case_detail(conn: Connection, scope: Scope, case_id: int) -> dict | None:
    """One case in scope with the masked debtor facts collection needs; None if not found or not permitted.

    Keys: id, case_no, entry_date, entry_bucket, entry_dpd, overdue_at_entry, balance_at_entry, channel,
    agency_id, status, recovered_amount, legal_stage, loan_no, product, name, phone, address, id_number."""
    k, c, l, p = s.collection_case, s.customer, s.loan, s.product
    row = conn.execute(select(k.c.id, k.c.case_no, k.c.entry_date, k.c.entry_bucket, k.c.entry_dpd,
                              k.c.overdue_at_entry, k.c.balance_at_entry, k.c.channel, k.c.agency_id, k.c.status,
                              k.c.recovered_amount, k.c.legal_stage, l.c.loan_no, p.c.name.label("product"),
                              c.c.name, c.c.phone, c.c.address, c.c.id_number)
                       .join(c, c.c.id == k.c.customer_id).join(l, l.c.id == k.c.loan_id)
                       .join(p, p.c.id == l.c.product_id)
                       .where(k.c.id == case_id, scope.case_clause(k))).mappings().first()
    if row is None:
        return None
    return mask_frame(pd.DataFrame([dict(row)]), scope).iloc[0].to_dict()


def case_actions(conn: Connection, scope: Scope, case_id: int) -> pd.DataFrame:
    """A case's actions, newest first, if the case is in scope (else empty).
    Columns: action_on, contact_at, party, way, duration_s, recording_ref, channel, contacted, result, promise_date,
    promise_amount, promise_kept, note, created_by."""
    k, a = s.collection_case, s.collection_action
    return _df(conn, select(a.c.action_on, a.c.contact_at, a.c.party, a.c.way, a.c.duration_s, a.c.recording_ref,
                            a.c.channel, a.c.contacted, a.c.result, a.c.promise_date,
                            a.c.promise_amount, a.c.promise_kept, a.c.note, a.c.created_by)
               .join(k, k.c.id == a.c.case_id).where(a.c.case_id == case_id, scope.case_clause(k))
               .order_by(a.c.action_on.desc(), a.c.contact_at.desc(), a.c.id.desc()))


def record_action(conn: Connection, scope: Scope, case_id: int, result: str, contact_at: dt.datetime,
                  promise_date: dt.date | None = None, promise_amount: float | None = None,
                  note: str | None = None, *, party: str = "debtor", way: str | None = None,
                  duration_s: int | None = None, recording_ref: str | None = None, consented: bool = False) -> None:
    """Record one contact attempt on an open case in the caller's scope: validated, checked against the conduct
    rules (:func:`data_access.conduct.check`, with the case's earlier contacts), written with the user's name and
    agency, and audited, in the caller's transaction. Raises ActionError (nothing written) otherwise; a contact that
    would break a conduct rule is refused with ``conduct.err_<rule>`` (``exc.rule`` names it).

    ``contact_at`` is the contact's date and time (a date alone is refused: the quiet hours need the time);
    ``way`` defaults to the case channel's usual way. A promise to pay needs a date within MAX_PROMISE_DAYS of the
    action and an amount above 0 and at most twice the case's overdue amount at entry (a typo guard); other results
    take neither.
    """
    from . import conduct
    row = open_case_to_work(conn, scope, case_id, ActionError, "action")
    if result not in RESULTS:
        raise ActionError("action.err_result")
    today = dt.date.today()
    if not isinstance(contact_at, dt.datetime):
        raise ActionError("action.err_time")
    action_on = contact_at.date()
    if action_on > today or action_on < row.entry_date or contact_at > dt.datetime.now() + dt.timedelta(minutes=5):
        raise ActionError("action.err_date", first=str(row.entry_date), last=str(today))
    way = way or conduct.CHANNEL_WAY.get(row.channel, "call")
    if party not in conduct.PARTIES:
        raise ActionError("action.err_party")
    if way not in conduct.WAYS:
        raise ActionError("action.err_way")
    if duration_s is not None and not (isinstance(duration_s, (int, float)) and math.isfinite(duration_s)
                                       and 0 <= duration_s <= 24 * 3600):
        raise ActionError("action.err_duration")
    recording_ref = clean_text(recording_ref) or None
    if recording_ref is not None and len(recording_ref) > 64:
        raise ActionError("action.err_recording")
    note = clean_text(note) or None
    if note is not None and len(note) > MAX_NOTE:
        raise ActionError("action.err_note", n=MAX_NOTE)
    if result == "promise_to_pay":
        if promise_date is None or promise_amount is None:
            raise ActionError("action.err_promise_missing")
        if not action_on <= promise_date <= action_on + dt.timedelta(days=MAX_PROMISE_DAYS):
            raise ActionError("action.err_promise_date", n=MAX_PROMISE_DAYS)
        cap = 2 * float(row.overdue_at_entry)
        if not (isinstance(promise_amount, (int, float)) and math.isfinite(promise_amount)
                and 0 < promise_amount <= cap):
            raise ActionError("action.err_promise_amount", max=f"{cap:,.2f}")
    else:
        promise_date, promise_amount = None, None
    contacted = result not in ("no_answer", "wrong_party")
    a = s.collection_action
    history = _df(conn, select(a.c.id.label("key"), a.c.case_id, a.c.contact_at, a.c.party, a.c.way, a.c.contacted,
                               a.c.consented, a.c.recording_ref)
                  .where(a.c.case_id == case_id, a.c.contact_at.is_not(None)))
    new = pd.DataFrame([dict(key="new", case_id=case_id, contact_at=contact_at, party=party, way=way,
                             contacted=contacted, consented=bool(consented), recording_ref=recording_ref)])
    broken = conduct.check(pd.concat([history, new], ignore_index=True) if not history.empty else new)
    broken = broken[broken["key"] == "new"]
    if not broken.empty:
        lim = conduct.limits()
        rule = str(broken.iloc[0]["rule"])
        raise ActionError(f"conduct.err_{rule}", rule=rule, start=lim.quiet_start.strftime("%H:%M"),
                          end=lim.quiet_end.strftime("%H:%M"), cap=lim.max_attempts_per_day,
                          n=lim.third_party_after)
    channel = "agency" if scope.role == "agency" else row.channel
    conn.execute(insert(a).values(
        case_id=case_id, action_on=action_on, month=action_on.strftime("%Y-%m"), channel=channel, agency_id=scope.agency_id if scope.role == "agency" else row.agency_id,
        contacted=contacted, promise_amount=promise_amount, promise_date=promise_date,
        promise_kept=None, result=result, note=note, created_by=scope.username, contact_at=contact_at.replace(microsecond=0),
        party=party, way=way, duration_s=None if duration_s is None else int(duration_s), recording_ref=recording_ref,
        consented=bool(consented)))
    audit(conn, scope.username, "case_action", customer_id=row.customer_id, target=f"case:{case_id}",
          detail={"result": result, "action_on": action_on.isoformat(), "contact_at": contact_at.isoformat(timespec="minutes"),
                  "party": party, "way": way, "recording_ref": recording_ref,
                  "promise_date": promise_date.isoformat() if promise_date else None,
                  "promise_amount": promise_amount, "note": note})


def audit_refusal(conn: Connection, scope: Scope, case_id: int, rule: str) -> None:
    """Record that a contact was refused for breaking a conduct rule (in its own transaction: the refused one
    rolled back)."""
    audit(conn, scope.username, "case_action_refused", target=f"case:{case_id}", detail={"rule": rule})


def audit_denial(conn: Connection, scope: Scope, case_id: int) -> None:
    """Record that ``scope`` tried to act on a case outside its reach (in its own transaction)."""
    audit(conn, scope.username, "case_action_denied", target=f"case:{case_id}")


WORKLIST_PAGE = 100  # rows per work-list page: a page's cost stays the same however many cases an agency holds


def _case_conds(scope: Scope, status: str | None, bucket: int | None) -> list:
    k = s.collection_case
    conds = [scope.case_clause(k), k.c.channel != PENDING]
    if status is not None:
        conds.append(k.c.status == status)
    if bucket is not None:
        conds.append(k.c.entry_bucket == int(bucket))
    return conds


def my_cases(conn: Connection, scope: Scope, status: str | None = "open", limit: int = WORKLIST_PAGE,
             offset: int = 0, bucket: int | None = None) -> pd.DataFrame:
    """One page of the cases in scope for a work list (newest entry first), masked, with the last action.
    Columns: id, case_no, entry_date, entry_bucket, entry_dpd, overdue_at_entry, status, channel, name, phone,
    address, last_action_on, actions, plan_status (the newest repayment plan's: active, kept, broken — a broken plan's
    case is back in ordinary collection —, None without a plan). ``bucket`` narrows to one entry bucket;
    :func:`count_cases` gives the total."""
    k, c, a, p = s.collection_case, s.customer, s.collection_action, s.repayment_plan
    conds = _case_conds(scope, status, bucket)
    page = (select(k.c.id).where(*conds).order_by(k.c.entry_date.desc(), k.c.id.desc())
            .limit(max(int(limit), 0)).offset(max(int(offset), 0)).subquery())
    # the last action of the page's cases only: its cost follows the page, not the bank's action history
    last = (select(a.c.case_id, func.max(a.c.action_on).label("last_action_on"), func.count().label("actions"))
            .where(a.c.case_id.in_(select(page.c.id))).group_by(a.c.case_id).subquery())
    newest = (select(p.c.case_id, func.max(p.c.id).label("plan_id")).where(p.c.case_id.in_(select(page.c.id)))
              .group_by(p.c.case_id).subquery())
    plan = p.alias("plan")
    stmt = (select(k.c.id, k.c.case_no, k.c.entry_date, k.c.entry_bucket, k.c.entry_dpd, k.c.overdue_at_entry,
                   k.c.status, k.c.channel, c.c.name, c.c.phone, c.c.address, last.c.last_action_on,
                   func.coalesce(last.c.actions, 0).label("actions"), plan.c.status.label("plan_status"))
            .join(page, page.c.id == k.c.id).join(c, c.c.id == k.c.customer_id)
            .outerjoin(last, last.c.case_id == k.c.id).outerjoin(newest, newest.c.case_id == k.c.id)
            .outerjoin(plan, plan.c.id == newest.c.plan_id).order_by(k.c.entry_date.desc(), k.c.id.desc()))
    return mask_frame(_df(conn, stmt), scope)


def count_cases(conn: Connection, scope: Scope, status: str | None = "open", bucket: int | None = None) -> dict:
    """Cases in scope for the work list: {"total": n, "by_bucket": {bucket: n}} (bucket counts ignore ``bucket``)."""
    k = s.collection_case
    rows = conn.execute(select(k.c.entry_bucket, func.count()).where(*_case_conds(scope, status, None))
                        .group_by(k.c.entry_bucket)).all()
    by_bucket = {int(b): int(n) for b, n in rows}
    total = by_bucket.get(int(bucket), 0) if bucket is not None else sum(by_bucket.values())
    return {"total": total, "by_bucket": by_bucket}


def agency_kpis(conn: Connection, scope: Scope, months: int = 12) -> dict:
    """An agency's own figures over the window (from the mart): cases, recovery, contact, promise, kept rates,
    open cases, complaints, breaches; empty for anyone but an agency."""
    if scope.role != "agency" or scope.agency_id is None:
        return {}
    mc = s.mart_collection
    last = conn.execute(select(func.max(mc.c.entry_month))).scalar()
    if last is None:
        return {}
    window = _month_window(conn, last, months)
    df = _df(conn, select(*_sums(mc)).where(mc.c.entry_month.in_(window), mc.c.branch_id == BANK,
                                            mc.c.agency_id == scope.agency_id))
    df = kpi.collection_rates(df.fillna(0))
    return {**df.iloc[0].to_dict(), "first_month": window[0], "last_month": window[-1]}


ROW_FUNCTIONS = ("case_detail", "case_actions", "my_cases")

__all__ = ["performance", "recovery_by_group", "ageing", "funnel", "agency_board", "litigation_pipeline", "write_offs",
           "allocation_board", "pending_summary", "day_board", "allocation_rules", "capacity", "record_allocation",
           "allocation_runs", "allocation_run_lines", "case_detail", "case_actions", "record_action", "my_cases",
           "count_cases", "WORKLIST_PAGE",
           "agency_kpis", "ActionError", "CHANNELS", "RESULTS"]
