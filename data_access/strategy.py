"""Strategy lab reads (marts only, bank- or branch-level aggregates) and saved scenarios.

Aggregate roles only (head office, strategy; branch leaders for their branches): nothing here is customer-level.
"""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
from sqlalchemy import Connection, case, func, insert, select

from . import schema as s
from .queries import Filters, _df, branch_rows, shift_month
from .scope import Scope

LAB_ROLES = ("head_office", "strategy")


def rollrate_inputs(conn: Connection, scope: Scope, f: Filters, window: int = 12) -> dict:
    """What the NPL simulator needs at ``f.month``: ``transitions`` (month, from_bucket, to_bucket, balance,
    balance_next) of the ``window`` month pairs ending at ``f.month``, ``book`` (bucket, balance, npl_balance) at
    ``f.month``, the same by class (``class_transitions`` with from_class / to_class, ``book_classes``), ``new_business`` (average monthly disbursement of the last six months) and ``realised`` (month,
    balance, npl_balance) for the backtest."""
    mm, mp, md = s.mart_migration, s.mart_portfolio, s.mart_disbursement
    first = shift_month(f.month, -window)
    transitions = _df(conn, select(mm.c.month, mm.c.from_bucket, mm.c.to_bucket, func.sum(mm.c.balance).label("balance"),
                                   func.sum(mm.c.balance_next).label("balance_next"))
                      .where(mm.c.month >= first, mm.c.month < f.month, branch_rows(mm, scope, f.branch_id))
                      .group_by(mm.c.month, mm.c.from_bucket, mm.c.to_bucket))
    npl_sum = func.sum(case((mp.c.class5 >= 3, mp.c.balance), else_=0)).label("npl_balance")  # 次级+ (DESIGN.md)
    book = _df(conn, select(mp.c.bucket, func.sum(mp.c.balance).label("balance"), npl_sum)
               .where(mp.c.month == f.month, branch_rows(mp, scope, f.branch_id)).group_by(mp.c.bucket))
    class_transitions = _df(conn, select(mm.c.month, mm.c.from_class, mm.c.to_class,
                                         func.sum(mm.c.balance).label("balance"),
                                         func.sum(mm.c.balance_next).label("balance_next"))
                            .where(mm.c.month >= first, mm.c.month < f.month, branch_rows(mm, scope, f.branch_id))
                            .group_by(mm.c.month, mm.c.from_class, mm.c.to_class))
    book_classes = _df(conn, select(mp.c.class5, func.sum(mp.c.balance).label("balance"))
                       .where(mp.c.month == f.month, branch_rows(mp, scope, f.branch_id)).group_by(mp.c.class5))
    disb = _df(conn, select(func.sum(md.c.amount).label("amount"))
               .where(md.c.month > shift_month(f.month, -6), md.c.month <= f.month, branch_rows(md, scope, f.branch_id)))
    realised = _df(conn, select(mp.c.month, func.sum(mp.c.balance).label("balance"), npl_sum)
                   .where(mp.c.month >= first, mp.c.month <= f.month, branch_rows(mp, scope, f.branch_id))
                   .group_by(mp.c.month).order_by(mp.c.month))
    amount = float(disb["amount"].iloc[0] or 0) if not disb.empty else 0.0
    return {"transitions": transitions, "book": book, "class_transitions": class_transitions,
            "book_classes": book_classes, "new_business": amount / 6, "realised": realised}


def inspection_base(conn: Connection, scope: Scope, f: Filters) -> dict:
    """The inspection simulator's denominators at ``f.month``: loans the early-warning model scores (current and
    M1) and managers with customers."""
    mp, mm = s.mart_portfolio, s.mart_manager
    loans = conn.execute(select(func.sum(mp.c.loans)).where(mp.c.month == f.month, mp.c.bucket <= 1,
                                                            branch_rows(mp, scope, f.branch_id))).scalar() or 0
    conds = [mm.c.month == f.month, mm.c.customers > 0, scope.branch_clause(mm.c.branch_id)]
    if f.branch_id is not None:
        conds.append(mm.c.branch_id == f.branch_id)
    managers = conn.execute(select(func.count()).select_from(mm).where(*conds)).scalar() or 0
    return {"scored_loans": int(loans), "managers": int(managers)}


APPROVAL_KEYS = ("segment", "village_grade", "credit_household", "score_band", "decision")
APPROVAL_MEASURES = ("applications", "amount", "rate_amount", "pd_sum", "pd_amount", "outcome_known", "bads",
                     "known_pd_sum")


def approval_inputs(conn: Connection, scope: Scope, f: Filters, window: int = 12, lag: int = 0) -> pd.DataFrame:
    """The approval simulator's population (lab roles only): applications of the ``window`` months ending ``lag``
    months before ``f.month``, by APPROVAL_KEYS with APPROVAL_MEASURES summed (see schema.mart_approval). ``lag=12``
    gives the year whose 12-month outcomes are observed, for the backtest."""
    ma = s.mart_approval
    if scope.role not in LAB_ROLES:
        return pd.DataFrame(columns=[*APPROVAL_KEYS, *APPROVAL_MEASURES])
    last = shift_month(f.month, -lag)
    stmt = (select(*[ma.c[k] for k in APPROVAL_KEYS], *[func.sum(ma.c[m]).label(m) for m in APPROVAL_MEASURES])
            .where(ma.c.month > shift_month(last, -window), ma.c.month <= last, branch_rows(ma, scope, f.branch_id))
            .group_by(*[ma.c[k] for k in APPROVAL_KEYS]))
    df = _df(conn, stmt)
    for m in APPROVAL_MEASURES:
        df[m] = df[m].astype(float)
    return df


def approval_backtest_cells(conn: Connection, scope: Scope, f: Filters, window: int = 12, lag: int = 12) -> dict:
    """The approval backtest year (the ``window`` months ending ``lag`` months before ``f.month``) scored by the
    **validated** scorecard — trained only on application months whose outcomes closed before its validation
    window — in the same cells as :func:`approval_inputs`, so that a swap set's realised bad rates are out of
    sample. Lab roles only. Returns {"cells": DataFrame, "in_sample": bool, "model_id", "train_to", "label_to",
    "months"}: ``in_sample`` is True (and the cells empty) when no validated scorecard exists or its training
    labels reach into that year."""
    import pickle
    from .features import APPLICATION_FEATURES
    last = shift_month(f.month, -lag)
    first = shift_month(last, -(window - 1))
    out = {"cells": pd.DataFrame(columns=[*APPROVAL_KEYS, *APPROVAL_MEASURES]), "in_sample": True, "model_id": None,
           "train_to": None, "label_to": None, "months": f"{first}..{last}"}
    if scope.role not in LAB_ROLES:
        return out
    reg = s.model_registry
    row = conn.execute(select(reg.c.id, reg.c.train_to, reg.c.label_to, reg.c.artifact).where(
        reg.c.name == "application_scorecard", reg.c.kind == "validated", reg.c.role == "champion",
        reg.c.active)).first()
    if row is None:
        return out
    out.update(model_id=row.id, train_to=row.train_to, label_to=row.label_to)
    if row.label_to is None or row.label_to >= first:
        return out
    a, p = s.application, s.product
    conds = [a.c.month >= first, a.c.month <= last, scope.branch_clause(a.c.branch_id)]
    if f.branch_id is not None:
        conds.append(a.c.branch_id == f.branch_id)
    apps = _df(conn, select(a.c.age, a.c.annual_income, a.c.multi_lending_count, a.c.deposit_balance,
                            a.c.household_size, a.c.amount_requested, a.c.segment, a.c.credit_village_grade,
                            a.c.credit_household, a.c.product_id, a.c.decision, a.c.outcome_known, a.c.bad_12m,
                            p.c.annual_rate).join(p, p.c.id == a.c.product_id).where(*conds))
    if apps.empty:
        out["in_sample"] = False
        return out
    model = pickle.loads(row.artifact)
    X = apps.assign(credit_village_grade=apps["credit_village_grade"].fillna("none"),
                    credit_household=np.where(apps["credit_household"].astype(bool), "yes", "no"),
                    product_id=apps["product_id"].astype(str))
    for c in ("annual_income", "deposit_balance", "amount_requested"):
        X[c] = X[c].astype(float)
    pd_ = model.predict_proba(X[APPLICATION_FEATURES])[:, 1]
    points = np.round(model.points(X[APPLICATION_FEATURES])).astype(int)
    amount = apps["amount_requested"].astype(float)
    known = apps["outcome_known"].astype(bool)
    frame = pd.DataFrame({
        "segment": apps["segment"].fillna("unknown"), "village_grade": X["credit_village_grade"],
        "credit_household": apps["credit_household"].astype(bool).astype(int), "score_band": (points // 5) * 5,
        "decision": apps["decision"], "applications": 1, "amount": amount,
        "rate_amount": amount * apps["annual_rate"].astype(float), "pd_sum": pd_, "pd_amount": pd_ * amount,
        "outcome_known": known.astype(int), "bads": apps["bad_12m"].astype(bool).astype(int),
        "known_pd_sum": np.where(known, pd_, 0.0)})
    out["cells"] = frame.groupby(list(APPROVAL_KEYS), as_index=False)[list(APPROVAL_MEASURES)].sum()
    out["in_sample"] = False
    return out


# ---------------------------------------------------------------- saved scenarios
def save_scenario(conn: Connection, scope: Scope, name: str, kind: str, params: dict, results: dict) -> int:
    """Save a named scenario (its parameters and headline results) for the lab's users; returns its id."""
    if scope.role not in LAB_ROLES:
        raise PermissionError("only head office and strategy users save scenarios.")
    from .text import clean
    name = clean(name)
    if not 1 <= len(name) <= 64:
        raise ValueError("a scenario needs a name of 1 to 64 characters.")
    return conn.execute(insert(s.scenario).values(
        name=name, kind=kind, params=json.dumps(params, ensure_ascii=False), results=json.dumps(results, ensure_ascii=False),
        created_by=scope.username, created_at=dt.datetime.now().replace(microsecond=0)).returning(s.scenario.c.id)).scalar_one()


def scenarios(conn: Connection, scope: Scope, kind: str | None = None) -> pd.DataFrame:
    """Saved scenarios, newest first (lab roles only). Columns: id, name, kind, params, results (dicts),
    created_by, created_at."""
    sc = s.scenario
    if scope.role not in LAB_ROLES:
        return pd.DataFrame(columns=["id", "name", "kind", "params", "results", "created_by", "created_at"])
    stmt = select(sc).order_by(sc.c.id.desc())
    if kind is not None:
        stmt = stmt.where(sc.c.kind == kind)
    df = _df(conn, stmt)
    for c in ("params", "results"):
        df[c] = [json.loads(v) if v else {} for v in df[c]]
    return df


def allocation_inputs(conn: Connection, scope: Scope, f: Filters) -> dict:
    """The collection-allocation simulator's inputs for the intake of ``f.month`` (lab roles only): the month's
    worked cases with their model features (no personal data), every option with its full monthly capacity, the
    rules."""
    from . import collections as dc
    from .features import case_frame
    if scope.role not in LAB_ROLES:
        return {"cases": pd.DataFrame(), "options": pd.DataFrame(), "rules": pd.DataFrame()}
    cases = case_frame(conn, f.month, f.month)
    options = dc.capacity(conn, f.month)
    options = options[options["channel"] != "write_off"].reset_index(drop=True)
    drop = ["status", "recovered_amount", "recovered_in_horizon", "mature", "cured", "recovery_ratio"]
    return {"cases": cases.drop(columns=[c for c in drop if c in cases.columns]), "options": options,
            "rules": dc.allocation_rules(conn)}


def model_monitor(conn: Connection, scope: Scope) -> dict:
    """Every current model name with its registered models and their monitoring rows (lab roles only).

    Returns {name: {"models": {slot: {"card": dict, "rows": DataFrame(month, metric, feature, value)}},
    "card": …, "rows": …}} where slot is "production" (the champion in use), "validated" (the champion's
    validated fit) or "challenger"; the top-level card and rows are the production champion's (the validated
    one's when no production model is registered). A card carries the registry's windows (models.registry)."""
    if scope.role not in LAB_ROLES:
        return {}
    reg, mon = s.model_registry, s.model_monitor
    cols = [reg.c.id, reg.c.name, reg.c.version, reg.c.trained_at, reg.c.trained_by, reg.c.data_window, reg.c.metrics,
            reg.c.kind, reg.c.role, reg.c.horizon_months, reg.c.train_from, reg.c.train_to, reg.c.label_to,
            reg.c.gap_months, reg.c.valid_from, reg.c.valid_to, reg.c.valid_label_to, reg.c.monitor_from,
            reg.c.data_to]
    out: dict = {}
    for r in conn.execute(select(*cols).where(reg.c.active).order_by(reg.c.name, reg.c.id)).mappings():
        slot = "challenger" if r["role"] == "challenger" else r["kind"]
        rows = _df(conn, select(mon.c.month, mon.c.metric, mon.c.feature, mon.c.value)
                   .where(mon.c.model_id == r["id"]).order_by(mon.c.month))
        entry = out.setdefault(r["name"], {"models": {}})
        entry["models"][slot] = {"card": {**dict(r), "metrics": json.loads(r["metrics"] or "{}")}, "rows": rows}
    for entry in out.values():
        main = entry["models"].get("production") or entry["models"].get("validated") or next(iter(entry["models"].values()))
        entry.update(card=main["card"], rows=main["rows"])
    return out
