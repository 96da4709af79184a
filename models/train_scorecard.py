"""Train, validate and register the application scorecard on the bank's applications with known outcomes.

    .venv/bin/python -m models.train_scorecard

Out-of-time validation: the newest VALID_MONTHS application months with known outcomes are held out. The registry
entry carries AUC, KS, Gini and the PSI of the score between the training and validation months, and the German
Credit check of the same code (mean of ten 70/30 splits).
"""
from __future__ import annotations

import datetime as dt
import json
import pickle
import sys

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, insert, select

from data_access import marts, schema as s
from data_access.bulk import bulk_insert
from data_access.features import APPLICATION_CATEGORICAL, APPLICATION_FEATURES, application_frame
from data_access.queries import shift_month

from .behaviour_pd import discrimination
from .scorecard import ApplicationScorecard, german_credit_validation

MODEL_NAME = "application_scorecard"
VALID_MONTHS = 6


def psi(expected, actual, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected``, on the deciles of ``expected``."""
    expected, actual = np.asarray(expected, float), np.asarray(actual, float)
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    e = np.histogram(expected, edges)[0] / len(expected)
    a = np.histogram(actual, edges)[0] / max(1, len(actual))
    e, a = np.clip(e, 1e-6, None), np.clip(a, 1e-6, None)
    return float(np.sum((a - e) * np.log(a / e)))


def run(engine: Engine, trained_by: str = "batch") -> dict:
    with engine.connect() as conn:
        apps = application_frame(conn)
        last = conn.execute(select(func.max(s.loan_snapshot.c.month))).scalar()
    # only months whose 12 months on book are fully observed: later ones know their bads but not yet their goods
    apps = apps[apps["month"] <= shift_month(last, -12)] if last else apps.iloc[0:0]
    months = sorted(apps["month"].unique())
    if len(months) < VALID_MONTHS + 6 or apps["bad"].nunique() < 2:
        raise ValueError("too few applications with known outcomes to train the scorecard.")
    valid_months = months[-VALID_MONTHS:]
    train, valid = apps[~apps["month"].isin(valid_months)], apps[apps["month"].isin(valid_months)]
    model = ApplicationScorecard(categorical=APPLICATION_CATEGORICAL).fit(train[APPLICATION_FEATURES], train["bad"])
    p_valid = model.predict_proba(valid[APPLICATION_FEATURES])[:, 1]
    metrics = discrimination(valid["bad"], p_valid)
    german = german_credit_validation()
    metrics.update({
        "train_rows": int(len(train)), "valid_rows": int(len(valid)), "valid_months": f"{valid_months[0]}..{valid_months[-1]}",
        "bad_rate_train": float(train["bad"].mean()), "bad_rate_valid": float(valid["bad"].mean()),
        "psi": psi(model.points(train[APPLICATION_FEATURES]), model.points(valid[APPLICATION_FEATURES])),
        "iv": {k: round(float(v), 4) for k, v in model.iv_.items()}, "variables": model.selected_,
        "scaling": {"base_score": model.base_score, "base_odds": model.base_odds, "pdo": model.pdo},
        # the approval simulator's backtest: what the model, trained without them, expected of the held-out
        # months' approved applicants, against what they then did
        "approval_backtest": {"months": f"{valid_months[0]}..{valid_months[-1]}", "applications": int(len(valid)),
                              "predicted": float(p_valid.mean()), "realised": float(valid["bad"].mean())},
        "german_credit": {"auc": float(german["auc"].mean()), "ks": float(german["ks"].mean()),
                          "gini": float(german["gini"].mean()), "splits": int(len(german))},
    })
    # the registered model learns from every known outcome; the figures above are from the held-out months
    final = ApplicationScorecard(categorical=APPLICATION_CATEGORICAL).fit(apps[APPLICATION_FEATURES], apps["bad"])
    now = dt.datetime.now().replace(microsecond=0)
    with engine.begin() as conn:
        reg = s.model_registry
        version = (conn.execute(select(func.max(reg.c.version)).where(reg.c.name == MODEL_NAME)).scalar() or 0) + 1
        conn.execute(reg.update().where(reg.c.name == MODEL_NAME).values(active=False))
        model_id = conn.execute(insert(reg).values(
            name=MODEL_NAME, version=version, trained_at=now, trained_by=trained_by,
            data_window=f"{months[0]}..{months[-1]}", metrics=json.dumps(metrics), artifact=pickle.dumps(final),
            active=True).returning(reg.c.id)).scalar_one()
        scored = score_applications(conn, model_id, final)
    return {"scored": scored, "model_id": model_id, "version": version, **{k: metrics[k] for k in ("auc", "ks", "gini", "psi")},
            "german_credit": metrics["german_credit"], "table": final.table()}


def main(argv: list[str] | None = None) -> int:
    from data_access.engine import DatabaseUnavailable, get_engine
    try:
        out = run(get_engine())
    except (DatabaseUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    g = out["german_credit"]
    print(f"application scorecard v{out['version']} registered: out-of-time AUC {out['auc']:.3f}, KS {out['ks']:.3f}, "
          f"PSI {out['psi']:.3f}; German Credit (10 splits) AUC {g['auc']:.3f}, KS {g['ks']:.3f}")
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(out["table"].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def score_applications(conn, model_id: int, model: ApplicationScorecard) -> int:
    """Score every application (approved or not) with ``model`` into ``application_score`` and rebuild the
    approval mart, inside the caller's transaction; returns the applications scored. Rejected applicants get the
    model's PD too: that is the simulator's reject inference (their outcome was never observed)."""
    apps = application_frame(conn, known_only=False)
    conn.execute(s.application_score.delete())
    if not apps.empty:
        X = apps[APPLICATION_FEATURES]
        bulk_insert(conn, s.application_score, pd.DataFrame({
            "application_id": apps["id"].astype(int), "model_id": model_id,
            "score": np.round(model.points(X)).astype(int), "pd": model.predict_proba(X)[:, 1]}))
    marts.refresh_approval(conn)
    marts.stamp(conn, "application_scores", int(len(apps)))  # new scores: the pages' caches must not serve old ones
    return int(len(apps))


def ensure_scored(engine: Engine) -> int:
    """Score the applications the active scorecard has not scored yet (new ones from an import, or a database
    from before the approval simulator) — all of them again, so one model scores the whole population; returns the
    applications scored (0 when nothing was missing or there is no scorecard)."""
    reg = s.model_registry
    with engine.connect() as conn:
        row = conn.execute(select(reg.c.id, reg.c.artifact).where(reg.c.name == MODEL_NAME, reg.c.active)).first()
        if row is None:
            return 0
        have = conn.execute(select(func.count()).select_from(s.application_score)
                            .where(s.application_score.c.model_id == row.id)).scalar()
        total = conn.execute(select(func.count()).select_from(s.application)).scalar()
    if have == total:
        return 0
    with engine.begin() as conn:
        return score_applications(conn, row.id, pickle.loads(row.artifact))
