"""The conduct view: breaches of the collection conduct rules (:mod:`data_access.conduct`) kept in
``contact_breach``, by rule, agency, way and month with the cases behind them; the agency league on recovery *and*
conduct; flagging of imported contacts.

Scope in SQL: head office sees every breach, a branch leader those on its branches' cases, an agency its own
contacts' breaches only (``agency_id`` = its id), anyone else nothing.
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, delete, false, func, insert, select, true

from . import conduct, schema as s
from .queries import Filters, _df, _month_window
from .scope import Scope

DIMENSIONS = ("rule", "agency_id", "way", "month")


def _scope_clause(scope: Scope, b=s.contact_breach):
    if scope.role == "agency":
        return b.c.agency_id == scope.agency_id if scope.agency_id is not None else false()
    if scope.role == "head_office":
        return true()
    if scope.role == "branch_leader":
        return b.c.branch_id.in_(sorted(scope.branch_ids)) if scope.branch_ids else false()
    return false()


def _conds(conn: Connection, scope: Scope, f: Filters, months: int, **eq) -> list:
    b = s.contact_breach
    conds = [_scope_clause(scope), b.c.month.in_(_month_window(conn, f.month, months))]
    if f.branch_id is not None:
        conds.append(b.c.branch_id == f.branch_id)
    for k, v in eq.items():
        if v is not None:
            conds.append(b.c[k] == v)
    return conds


def breaches(conn: Connection, scope: Scope, f: Filters, by: tuple[str, ...] = ("rule",), months: int = 12) -> pd.DataFrame:
    """Breaches in scope over the ``months`` contact months up to ``f.month``, counted by ``by`` (any of
    DIMENSIONS). Columns: the ``by`` columns, breaches, cases (distinct cases with a breach)."""
    bad = [d for d in by if d not in DIMENSIONS]
    if bad:
        raise ValueError(f"cannot count breaches by {bad}; choose from {DIMENSIONS}.")
    b = s.contact_breach
    keys = [b.c[d] for d in by]
    stmt = (select(*keys, func.count().label("breaches"), func.count(func.distinct(b.c.case_id)).label("cases"))
            .where(*_conds(conn, scope, f, months)))
    if keys:
        stmt = stmt.group_by(*keys).order_by(*keys)
    return _df(conn, stmt)


def breach_cases(conn: Connection, scope: Scope, f: Filters, months: int = 12, rule: str | None = None,
                 agency_id: int | None = None, way: str | None = None, month: str | None = None,
                 limit: int = 500) -> pd.DataFrame:
    """The contacts behind the counts, newest first: case_no, entry bucket, contact time, party, way, rule, the
    rule's measure and the agency (no debtor's personal data). Columns: case_id, case_no, entry_bucket, contact_at,
    party, way, rule, value, agency_id, agency, source."""
    b, k, a, ag = s.contact_breach, s.collection_case, s.collection_action, s.agency
    stmt = (select(b.c.case_id, k.c.case_no, k.c.entry_bucket, b.c.contact_at, a.c.party, b.c.way, b.c.rule, b.c.value,
                   b.c.agency_id, ag.c.name.label("agency"), b.c.source)
            .join(k, k.c.id == b.c.case_id).join(a, a.c.id == b.c.action_id).outerjoin(ag, ag.c.id == b.c.agency_id)
            .where(*_conds(conn, scope, f, months, rule=rule, agency_id=agency_id, way=way, month=month))
            .order_by(b.c.contact_at.desc(), b.c.id.desc()).limit(max(int(limit), 0)))
    df = _df(conn, stmt)
    if scope.role == "agency" and not df.empty:
        df["agency"] = None  # an agency knows its own name; the column is left out of its table
    return df


def league(conn: Connection, scope: Scope, f: Filters, months: int = 12, board: pd.DataFrame | None = None,
           lim: conduct.Limits | None = None) -> pd.DataFrame:
    """The agency league on recovery and conduct (信用卡业务监督管理办法 第六十六条: collectors are not assessed on
    recovered amount alone).

    recovery score = the agency's recovery rate ÷ the best agency's (0 … 1); conduct rate = (conduct breaches of
    its contacts in the window + complaints) per 100 cases it worked; conduct score = 1 − conduct rate ÷ the worst
    agency's (1 when nobody breached); composite = w × recovery score + (1 − w) × conduct score, w =
    ``Limits.recovery_weight`` (0.6). Ranked by composite. ``board``: :func:`collections.agency_board`'s frame.
    Columns: the board's plus conduct_breaches, conduct_rate, recovery_score, conduct_score, composite, rank."""
    from .collections import agency_board
    lim = lim or conduct.limits()
    df = agency_board(conn, scope, f, months) if board is None else board.copy()
    if df.empty:
        return df
    by = breaches(conn, scope, f, ("agency_id",), months)
    return _rank(df, dict(zip(by["agency_id"], by["breaches"])) if not by.empty else {}, lim)


def _rank(df: pd.DataFrame, counts: dict, lim: conduct.Limits) -> pd.DataFrame:
    """The composite of :func:`league` on a board of agencies with their breach counts."""
    df = df.copy()
    df["conduct_breaches"] = df["agency_id"].map(counts).fillna(0).astype(int)
    per = (df["conduct_breaches"] + df["complaints"]) / df["cases"].where(df["cases"] > 0) * 100
    df["conduct_rate"] = per
    best = df["recovery_rate"].max()
    worst = per.max()
    df["recovery_score"] = (df["recovery_rate"] / best) if best and best > 0 else 0.0
    df["conduct_score"] = 1 - per / worst if worst and worst > 0 else 1.0
    df["composite"] = lim.recovery_weight * df["recovery_score"] + (1 - lim.recovery_weight) * df["conduct_score"]
    df = df.sort_values("composite", ascending=False, na_position="last").reset_index(drop=True)
    df["rank"] = range(1, len(df) + 1)
    return df


def flag_imported(conn: Connection, action_ids: list[int]) -> int:
    """After an import: judge the contacts of every case the imported contacts belong to (the daily cap and the
    third-party rule read a case's earlier contacts), replace those cases' breach rows, and return how many of the
    imported contacts broke a rule. The contacts stay: they happened; they are flagged, not refused."""
    if not action_ids:
        return 0
    a, k, b = s.collection_action, s.collection_case, s.contact_breach
    ids = sorted({int(i) for i in action_ids})
    cases: set[int] = set()
    for i in range(0, len(ids), 5000):
        cases |= set(conn.execute(select(a.c.case_id).where(a.c.id.in_(ids[i:i + 5000])).distinct()).scalars())
    cases_l = sorted(cases)
    frames = []
    for i in range(0, len(cases_l), 2000):
        frames.append(_df(conn, select(a.c.id.label("key"), a.c.case_id, a.c.contact_at, a.c.party, a.c.way,
                                       a.c.contacted, a.c.consented, a.c.recording_ref, a.c.agency_id,
                                       k.c.branch_id)
                          .join(k, k.c.id == a.c.case_id)
                          .where(a.c.case_id.in_(cases_l[i:i + 2000]), a.c.contact_at.is_not(None))))
    contacts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for i in range(0, len(cases_l), 5000):
        conn.execute(delete(b).where(b.c.case_id.in_(cases_l[i:i + 5000])))
    if contacts.empty:
        return 0
    found = conduct.check(contacts)
    if found.empty:
        return 0
    info = contacts.set_index("key")
    keys = found["key"].to_numpy()
    at = pd.to_datetime(info.loc[keys, "contact_at"])
    rows = pd.DataFrame(dict(
        action_id=keys.astype(int), case_id=info.loc[keys, "case_id"].astype(int).to_numpy(),
        branch_id=info.loc[keys, "branch_id"].astype(int).to_numpy(),
        agency_id=info.loc[keys, "agency_id"].fillna(0).astype(int).to_numpy(),
        month=at.dt.strftime("%Y-%m").to_numpy(), contact_at=[t.to_pydatetime() for t in at],
        way=info.loc[keys, "way"].fillna("call").to_numpy(), rule=found["rule"].to_numpy(),
        value=found["value"].astype(float).to_numpy(), source="import"))
    conn.execute(insert(b), rows.to_dict("records"))
    return int(found.loc[found["key"].isin(ids), "key"].nunique())


def agency_breaches(conn: Connection, scope: Scope, months: int = 12) -> pd.DataFrame:
    """An agency's own breaches over the last ``months`` months with data, by rule (for its workspace)."""
    if scope.role != "agency":
        return pd.DataFrame(columns=["rule", "breaches", "cases"])
    last = conn.execute(select(func.max(s.mart_collection.c.entry_month))).scalar()
    if last is None:
        return pd.DataFrame(columns=["rule", "breaches", "cases"])
    return breaches(conn, scope, Filters(month=last), ("rule",), months)


def agency_ranking(conn: Connection, scope: Scope, months: int = 12, lim: conduct.Limits | None = None) -> pd.DataFrame:
    """The league as an agency sees it: every agency on the same composite as :func:`league` over the last
    ``months`` entry months, the others anonymised (机构 A, B, … by rank); the breach counts behind it are whole-bank
    aggregates, never rows. Columns: rank, agency, is_me, recovery_rate, kept_rate, conduct_rate, composite."""
    cols = ["rank", "agency", "is_me", "recovery_rate", "kept_rate", "conduct_rate", "composite"]
    if scope.role != "agency":
        return pd.DataFrame(columns=cols)
    from .collections import MEASURES
    from . import kpi
    from .queries import BANK
    mc, a, b = s.mart_collection, s.agency, s.contact_breach
    last = conn.execute(select(func.max(mc.c.entry_month))).scalar()
    if last is None:
        return pd.DataFrame(columns=cols)
    window = _month_window(conn, last, months)
    df = _df(conn, select(a.c.id.label("agency_id"), a.c.name, *[func.sum(mc.c[m]).label(m) for m in MEASURES])
             .join(mc, mc.c.agency_id == a.c.id).where(mc.c.entry_month.in_(window), mc.c.branch_id == BANK)
             .group_by(a.c.id, a.c.name))
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = kpi.collection_rates(df.fillna({m: 0 for m in MEASURES}))
    counts = dict(conn.execute(select(b.c.agency_id, func.count()).where(b.c.month.in_(window))
                               .group_by(b.c.agency_id)).all())
    df["agency"] = df["name"]
    board = df.assign(conduct_breaches=0)
    ranked = _rank(board, counts, lim or conduct.limits())
    ranked["is_me"] = ranked["agency_id"] == scope.agency_id
    ranked["agency"] = [n if me else f"机构 {chr(64 + r)}" for n, me, r in
                        zip(ranked["name"], ranked["is_me"], ranked["rank"])]
    return ranked[cols]


def agency_breach_cases(conn: Connection, scope: Scope, months: int = 12) -> pd.DataFrame:
    """An agency's own breaching contacts over the last ``months`` months with data (its workspace)."""
    if scope.role != "agency":
        return pd.DataFrame()
    last = conn.execute(select(func.max(s.mart_collection.c.entry_month))).scalar()
    return pd.DataFrame() if last is None else breach_cases(conn, scope, Filters(month=last), months)


ROW_FUNCTIONS = ("breach_cases", "agency_breach_cases")
