"""模型监控 Model monitoring batch: for every active model, month by month, discrimination (AUC, KS) where the
outcome is known, stability of the score (PSI against the training window) and of each numeric input, and
calibration (predicted against observed by score decile). Written to ``model_monitor`` for the monitor page.

    .venv/bin/python -m models.monitor

Thresholds the page applies (and why): PSI 0.10 amber / 0.25 red (the industry's usual reading: a shift worth a
look / a population the model was not built for); AUC more than 0.03 below the validation figure amber, 0.05 red.
"""
from __future__ import annotations

import json
import pickle
import sys

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select

from data_access import schema as s
from data_access.bulk import bulk_insert
from data_access.features import APPLICATION_FEATURES, BEHAVIOUR_FEATURES, application_frame, behaviour_frame, case_frame
from data_access.queries import shift_month

from .behaviour_pd import discrimination
from .train_scorecard import psi

PSI_AMBER, PSI_RED = 0.10, 0.25
AUC_AMBER, AUC_RED = 0.03, 0.05
MONTHS = 6


def _rows(model_id: int, month: str, metric: str, value: float, feature: str = "") -> dict:
    return {"model_id": model_id, "month": month, "metric": metric, "feature": feature,
            "value": None if value is None or not np.isfinite(value) else float(value)}


def _calibration(model_id: int, month: str, p: np.ndarray, y: np.ndarray) -> list[dict]:
    """Mean predicted and observed bad rate in ten bands of the prediction."""
    out = []
    if len(p) < 20:
        return out
    bands = pd.qcut(pd.Series(p).rank(method="first"), 10, labels=False)
    for b in range(10):
        sel = (bands == b).to_numpy()
        out += [_rows(model_id, month, "calib_pred", p[sel].mean(), str(b + 1)),
                _rows(model_id, month, "calib_obs", y[sel].mean(), str(b + 1))]
    return out


def _month_rows(model_id: int, month: str, p: np.ndarray, y: np.ndarray | None, ref_p: np.ndarray,
                X: pd.DataFrame, ref_X: pd.DataFrame, numeric: list[str]) -> list[dict]:
    rows = [_rows(model_id, month, "rows", len(p)), _rows(model_id, month, "psi", psi(ref_p, p))]
    if y is not None and len(np.unique(y)) == 2:
        d = discrimination(y, p)
        rows += [_rows(model_id, month, "auc", d["auc"]), _rows(model_id, month, "ks", d["ks"]),
                 _rows(model_id, month, "bad_rate", float(np.mean(y)))]
    for c in numeric:
        a, e = pd.to_numeric(X[c], errors="coerce").dropna(), pd.to_numeric(ref_X[c], errors="coerce").dropna()
        if len(a) and len(e) and e.nunique() > 1:
            rows.append(_rows(model_id, month, "input_psi", psi(e, a), c))
    return rows


def monitor_behaviour(conn, model_id: int, model, last: str) -> list[dict]:
    """Early-warning model: the reference is its validation month; months whose 3-month outcome is known get
    AUC/KS, newer ones stability only."""
    rows = []
    ref = behaviour_frame(conn, shift_month(last, -3 - MONTHS))
    ref_p = model.predict_proba(ref)[:, 1]
    numeric = [c for c in BEHAVIOUR_FEATURES if c not in ("village_grade", "segment", "product_id", "guarantee_type")]
    for k in range(MONTHS, -1, -1):
        month = shift_month(last, -k)
        fr = behaviour_frame(conn, month)
        if fr.empty:
            continue
        p = model.predict_proba(fr)[:, 1]
        known = fr["bad_3m"].notna().to_numpy()
        y = fr["bad_3m"].to_numpy()[known] if known.any() else None
        rows += _month_rows(model_id, month, p, y if y is not None and len(y) == len(p) else None, ref_p, fr, ref, numeric)
        if y is not None and known.all():
            rows += _calibration(model_id, month, p, y.astype(int))
    return rows


def monitor_scorecard(conn, model_id: int, model, last: str) -> list[dict]:
    """Application scorecard: every application month (approved or not) for stability; fully observed approved
    ones for AUC/KS and calibration."""
    apps = application_frame(conn, known_only=False)
    if apps.empty:
        return []
    observed = shift_month(last, -12)
    months = sorted(apps["month"].unique())[-(MONTHS + 12):]
    ref = apps[apps["month"] <= shift_month(observed, -MONTHS)]
    ref = ref if not ref.empty else apps
    ref_p = model.predict_proba(ref[APPLICATION_FEATURES])[:, 1]
    numeric = ["age", "annual_income", "multi_lending_count", "deposit_balance", "household_size", "amount_requested"]
    known_all = application_frame(conn)
    rows = []
    for month in months:
        fr = apps[apps["month"] == month]
        p = model.predict_proba(fr[APPLICATION_FEATURES])[:, 1]
        y = None
        if month <= observed:
            known = known_all[known_all["month"] == month]
            if len(known) and known["bad"].nunique() == 2:
                pk = model.predict_proba(known[APPLICATION_FEATURES])[:, 1]
                d = discrimination(known["bad"], pk)
                rows += [_rows(model_id, month, "auc", d["auc"]), _rows(model_id, month, "ks", d["ks"]),
                         _rows(model_id, month, "bad_rate", float(known["bad"].mean()))]
                if month == observed:
                    rows += _calibration(model_id, month, pk, known["bad"].to_numpy())
        rows += _month_rows(model_id, month, p, y, ref_p, fr, ref, numeric)
    return rows


def monitor_propensity(conn, model_id: int, model, last: str) -> list[dict]:
    """Propensity to pay: cases by entry month, in the channel they went to; cure known three months on."""
    first = shift_month(last, -(MONTHS + 3))
    cases = case_frame(conn, first, last)
    if cases.empty:
        return []
    ref = cases[cases["entry_month"] <= shift_month(last, -MONTHS)]
    ref = ref if not ref.empty else cases
    ref_p = model.predict_proba(ref)[:, 1]
    numeric = ["entry_dpd", "overdue_at_entry", "balance_at_entry", "mob", "annual_income", "multi_lending_count"]
    rows = []
    for month in sorted(cases["entry_month"].unique()):
        fr = cases[cases["entry_month"] == month]
        p = model.predict_proba(fr)[:, 1]
        mature = month <= shift_month(last, -3)
        y = fr["cured"].to_numpy() if mature else None
        rows += _month_rows(model_id, month, p, y, ref_p, fr, ref, numeric)
        if mature and month == shift_month(last, -3):
            rows += _calibration(model_id, month, p, y)
    return rows


MONITORS = {"behaviour_pd": monitor_behaviour, "application_scorecard": monitor_scorecard,
            "propensity_to_pay": monitor_propensity}


def run(engine: Engine, only: str | None = None) -> dict[str, int]:
    """Recompute the monitoring figures of every active model (or ``only`` one); returns rows written per model."""
    reg = s.model_registry
    out = {}
    with engine.connect() as conn:
        last = conn.execute(select(s.loan_snapshot.c.month).order_by(s.loan_snapshot.c.month.desc()).limit(1)).scalar()
        active = conn.execute(select(reg.c.id, reg.c.name, reg.c.artifact).where(reg.c.active)).all()
        results = {}
        for model_id, name, artifact in active:
            if name not in MONITORS or (only and name != only) or artifact is None:
                continue
            results[model_id] = (name, MONITORS[name](conn, model_id, pickle.loads(artifact), last))
    with engine.begin() as conn:
        for model_id, (name, rows) in results.items():
            conn.execute(delete(s.model_monitor).where(s.model_monitor.c.model_id == model_id))
            if rows:
                bulk_insert(conn, s.model_monitor, pd.DataFrame(rows))
            out[name] = len(rows)
    return out


def main() -> int:
    from data_access.engine import DatabaseUnavailable, get_engine
    try:
        out = run(get_engine())
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
