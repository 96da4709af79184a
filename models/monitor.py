"""模型监控 Model monitoring batch: for every current registered model (validated and production champions, and
the challengers), month by month and only on months the model never saw — the windows come from the registry
(``models.registry``; a month inside a model's training or validation window is never written):

* stability from ``monitor_from`` on: PSI of the score and of every input (numeric inputs by training deciles,
  categorical ones by level) against the model's *training window*, whose distributions were stored with the
  model at training;
* discrimination (AUC, KS, bad / cure rate) and calibration (predicted against observed by decile of the
  prediction) on the mature months among them: the month's own label window has closed and lies after every
  training label.

Written to ``model_monitor`` for the monitor page.

    .venv/bin/python -m models.monitor

Lights (:func:`lights`) and their reference: AUC is compared with the **validation figure** — the out-of-time
AUC of the validated champion on its validation window, recorded in the registry — amber when it is more than
AUC_AMBER (0.03) below it, red beyond AUC_RED (0.05); PSI amber from 0.10, red from 0.25 (the industry's usual
reading: a shift worth a look / a population the model was not built for). These are the bank's model-risk
settings, not a regulatory figure.
"""
from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select

from data_access import schema as s
from data_access.bulk import bulk_insert
from data_access.features import APPLICATION_FEATURES, application_frame, behaviour_frame, case_frame

from .behaviour_pd import discrimination
from .registry import Windows, monitor_months
from .stability import psi_against

PSI_AMBER, PSI_RED = 0.10, 0.25
AUC_AMBER, AUC_RED = 0.03, 0.05


def _rows(model_id: int, month: str, metric: str, value: float | None, feature: str = "") -> dict:
    return {"model_id": model_id, "month": month, "metric": metric, "feature": feature,
            "value": None if value is None or not np.isfinite(value) else float(value)}


def _calibration(model_id: int, month: str, p: np.ndarray, y: np.ndarray) -> list[dict]:
    """Mean predicted and observed rate in ten bands of the prediction."""
    out = []
    if len(p) < 20:
        return out
    bands = pd.qcut(pd.Series(p).rank(method="first"), 10, labels=False).to_numpy()
    for b in range(10):
        sel = bands == b
        out += [_rows(model_id, month, "calib_pred", p[sel].mean(), str(b + 1)),
                _rows(model_id, month, "calib_obs", y[sel].mean(), str(b + 1))]
    return out


# a family's data by month: (every row the model scores that month, the labelled rows, their labels)
MonthData = Callable[[str], tuple[pd.DataFrame, pd.DataFrame, np.ndarray]]


def monitor_model(model_id: int, model, windows: Windows, metrics: dict, data: MonthData, last: str) -> list[dict]:
    """The monitoring rows of one registered model, up to ``last`` (see the module docstring)."""
    stability, perf = monitor_months(windows, last)
    ref = metrics.get("reference") or {}
    rows: list[dict] = []
    for month in stability:
        X, XL, y = data(month)
        if X.empty:
            continue
        p = model.predict_proba(X)[:, 1]
        rows += [_rows(model_id, month, "rows", len(p)), _rows(model_id, month, "psi", psi_against(ref.get("score"), p))]
        for c, r in (ref.get("inputs") or {}).items():
            if c in X.columns:
                rows.append(_rows(model_id, month, "input_psi", psi_against(r, X[c]), c))
        if month in perf and len(XL) and len(np.unique(y)) == 2:
            pl = model.predict_proba(XL)[:, 1]
            d = discrimination(y, pl)
            rows += [_rows(model_id, month, "auc", d["auc"]), _rows(model_id, month, "ks", d["ks"]),
                     _rows(model_id, month, "bad_rate", float(np.mean(y)))]
            rows += _calibration(model_id, month, pl, y.astype(int))
    return rows


def behaviour_data(conn, last: str) -> MonthData:
    cache: dict[str, pd.DataFrame] = {}

    def data(month: str):
        if month not in cache:
            cache[month] = behaviour_frame(conn, month, as_of=last)
        fr = cache[month]
        if fr.empty:
            return fr, fr, np.array([])
        known = fr[fr["bad_3m"].notna()]
        return fr, known, known["bad_3m"].to_numpy().astype(int)
    return data


def scorecard_data(conn, last: str) -> MonthData:
    """Every application of the month (approved or not) for stability; approved ones with a known outcome for
    discrimination."""
    apps = application_frame(conn, known_only=False)
    known = application_frame(conn)

    def data(month: str):
        fr = apps[apps["month"] == month]
        kn = known[known["month"] == month]
        return fr[APPLICATION_FEATURES], kn[APPLICATION_FEATURES], kn["bad"].to_numpy().astype(int)
    return data


def propensity_data(conn, last: str, cure_months: int) -> MonthData:
    """Worked cases by entry month in the channel they went to; cure within ``cure_months`` where mature."""
    cases = case_frame(conn, "0000-01", last, cure_months=cure_months, as_of=last)

    def data(month: str):
        fr = cases[cases["entry_month"] == month] if not cases.empty else cases
        if fr.empty:
            return fr, fr, np.array([])
        mature = fr[fr["mature"]]
        return fr, mature, mature["cured"].to_numpy().astype(int)
    return data


def _data_for(name: str, conn, last: str, windows: Windows) -> MonthData | None:
    if name == "behaviour_pd":
        return behaviour_data(conn, last)
    if name == "application_scorecard":
        return scorecard_data(conn, last)
    if name == "propensity_to_pay":
        return propensity_data(conn, last, windows.horizon_months)
    return None


def run(engine: Engine, only: str | None = None) -> dict[str, int]:
    """Recompute the monitoring figures of every current model (or of ``only`` one name); returns rows written per
    name. Models registered without windows get no rows (the first start retrains them)."""
    reg = s.model_registry
    out: dict[str, int] = {}
    with engine.connect() as conn:
        last = conn.execute(select(s.loan_snapshot.c.month).order_by(s.loan_snapshot.c.month.desc()).limit(1)).scalar()
        current = conn.execute(select(reg).where(reg.c.active)).mappings().all()
        results, data_by = {}, {}
        for row in current:
            name = row["name"]
            w = Windows.from_row(row)
            if (only and name != only) or row["artifact"] is None or not last:
                continue
            if w is None:
                results[row["id"]] = (name, [])
                continue
            key = (name, w.horizon_months)
            if key not in data_by:
                data_by[key] = _data_for(name, conn, last, w)
            if data_by[key] is None:
                continue
            rows = monitor_model(row["id"], pickle.loads(row["artifact"]), w, json.loads(row["metrics"] or "{}"),
                                 data_by[key], last)
            results[row["id"]] = (name, rows)
    with engine.begin() as conn:
        for model_id, (name, rows) in results.items():
            conn.execute(delete(s.model_monitor).where(s.model_monitor.c.model_id == model_id))
            if rows:
                bulk_insert(conn, s.model_monitor, pd.DataFrame(rows))
            out[name] = out.get(name, 0) + len(rows)
    return out


def _colour(value: float | None, amber: float, red: float) -> str | None:
    if value is None or not np.isfinite(value):
        return None
    return "red" if value >= red else "amber" if value >= amber else "green"


def lights(rows: pd.DataFrame, valid_auc: float | None, psi_rows: pd.DataFrame | None = None) -> dict:
    """The monitor's lights from monitoring rows (month, metric, feature, value): ``auc`` for the newest month with
    an AUC against the validation figure ``valid_auc`` (drop ≥ AUC_AMBER amber, ≥ AUC_RED red), ``psi`` for the
    newest score PSI and ``input`` for the most shifted input that month (from ``psi_rows``, default ``rows``).
    Each is {"month", "value", "colour"} (plus "drop" / "feature"), or None when there is nothing to judge."""
    psi_rows = rows if psi_rows is None else psi_rows
    out: dict = {"auc": None, "psi": None, "input": None}
    auc = rows[rows["metric"] == "auc"].dropna(subset=["value"]).sort_values("month")
    if len(auc):
        month, value = auc["month"].iloc[-1], float(auc["value"].iloc[-1])
        drop = None if valid_auc is None else valid_auc - value
        out["auc"] = {"month": month, "value": value, "drop": drop,
                      "colour": _colour(drop, AUC_AMBER, AUC_RED) if drop is not None else None}
    p = psi_rows[psi_rows["metric"] == "psi"].dropna(subset=["value"]).sort_values("month")
    if len(p):
        out["psi"] = {"month": p["month"].iloc[-1], "value": float(p["value"].iloc[-1]),
                      "colour": _colour(float(p["value"].iloc[-1]), PSI_AMBER, PSI_RED)}
    inp = psi_rows[psi_rows["metric"] == "input_psi"].dropna(subset=["value"])
    if len(inp):
        newest = inp[inp["month"] == inp["month"].max()].sort_values("value", ascending=False).iloc[0]
        out["input"] = {"month": newest["month"], "feature": newest["feature"], "value": float(newest["value"]),
                        "colour": _colour(float(newest["value"]), PSI_AMBER, PSI_RED)}
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
