"""Train, validate and register the application scorecard on the bank's applications with known outcomes.

    .venv/bin/python -m models.train_scorecard

Three models are registered with their windows (``models.registry``): the validated scorecard, trained on the
application months whose 12-month outcome closed before its validation window (VALID_MONTHS months, with
MONITOR_MONTHS mature months after it left for monitoring), with AUC, KS, Gini and the PSI of the PD between
training and validation and the German Credit check of the same code (mean of ten 70/30 splits); its
gradient-boosting challenger on the same windows; and the production scorecard refitted on every application
month with a known outcome, which scores the applications.
"""
from __future__ import annotations

import pickle
import sys

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from data_access import marts, schema as s
from data_access.bulk import bulk_insert
from data_access.features import APPLICATION_CATEGORICAL, APPLICATION_FEATURES, application_frame
from data_access.queries import shift_month

from .behaviour_pd import discrimination
from .challengers import TreeChallenger
from .registry import Windows, in_use, month_range, register
from .scorecard import ApplicationScorecard, german_credit_validation
from .stability import reference
from .validation import evidence

MODEL_NAME = "application_scorecard"
HORIZON = 12          # the label: ever 90+ within 12 months on book
VALID_MONTHS = 6      # application months of the validated model's out-of-time check
MONITOR_MONTHS = 6    # mature application months after validation kept for monitoring the validated model
MIN_TRAIN_MONTHS = 6
NUMERIC = [c for c in APPLICATION_FEATURES if c not in APPLICATION_CATEGORICAL]


def psi(expected, actual, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected``, on the deciles of ``expected``."""
    from .stability import numeric_bins, psi_against
    return psi_against(numeric_bins(expected, bins), actual)


def plan(first: str, last: str) -> tuple[Windows, Windows]:
    """The windows of the validated and the production scorecard on applications from ``first`` with data up to
    ``last``. An application month's label reads the 12 months after it, so the newest mature month is
    ``last`` − 12. Production learns from every mature month; the validated model keeps MONITOR_MONTHS mature
    months after its validation window, validates on the VALID_MONTHS before them and trains on the months whose
    labels close before validation starts (a 12-month gap: no month's outcome is read by both)."""
    mature_to = shift_month(last, -HORIZON)
    valid_to = shift_month(mature_to, -MONITOR_MONTHS)
    valid_from = shift_month(valid_to, -(VALID_MONTHS - 1))
    train_to = shift_month(valid_from, -(HORIZON + 1))
    return (Windows("validated", first, train_to, HORIZON, last, valid_from, valid_to),
            Windows("production", first, mature_to, HORIZON, last))


def run(engine: Engine, trained_by: str = "batch") -> dict:
    with engine.connect() as conn:
        apps = application_frame(conn)
        last = conn.execute(select(func.max(s.loan_snapshot.c.month))).scalar()
    if not last or apps.empty:
        raise ValueError("too few applications with known outcomes to train the scorecard.")
    validated, production = plan(str(apps["month"].min()), last)
    # only months whose 12 months on book are fully observed: later ones know their bads but not yet their goods
    apps = apps[apps["month"] <= production.train_to]
    train = apps[apps["month"].between(validated.train_from, validated.train_to)]
    valid = apps[apps["month"].between(validated.valid_from, validated.valid_to)]
    if (len(month_range(validated.train_from, validated.train_to)) < MIN_TRAIN_MONTHS
            or train["bad"].nunique() < 2 or valid["bad"].nunique() < 2):
        raise ValueError("too few applications with known outcomes to train the scorecard.")
    model = ApplicationScorecard(categorical=APPLICATION_CATEGORICAL).fit(train[APPLICATION_FEATURES], train["bad"])
    p_valid = model.predict_proba(valid[APPLICATION_FEATURES])[:, 1]
    p_train = model.predict_proba(train[APPLICATION_FEATURES])[:, 1]
    metrics = {**discrimination(valid["bad"], p_valid), "evidence": evidence(valid["bad"], p_valid)}
    german = german_credit_validation()
    metrics.update({
        "train_rows": int(len(train)), "valid_rows": int(len(valid)),
        "valid_months": f"{validated.valid_from}..{validated.valid_to}",
        "bad_rate_train": float(train["bad"].mean()), "bad_rate_valid": float(valid["bad"].mean()),
        "psi": psi(model.points(train[APPLICATION_FEATURES]), model.points(valid[APPLICATION_FEATURES])),
        "iv": {k: round(float(v), 4) for k, v in model.iv_.items()}, "variables": model.selected_,
        "scaling": {"base_score": model.base_score, "base_odds": model.base_odds, "pdo": model.pdo},
        # the approval simulator's backtest: what the model, trained without them, expected of the held-out
        # months' approved applicants, against what they then did
        "approval_backtest": {"months": f"{validated.valid_from}..{validated.valid_to}",
                              "applications": int(len(valid)), "predicted": float(p_valid.mean()),
                              "realised": float(valid["bad"].mean())},
        "german_credit": {"auc": float(german["auc"].mean()), "ks": float(german["ks"].mean()),
                          "gini": float(german["gini"].mean()), "splits": int(len(german))},
        "reference": reference(p_train, train, NUMERIC, APPLICATION_CATEGORICAL),
    })
    challenger = TreeChallenger(tuple(APPLICATION_FEATURES), tuple(APPLICATION_CATEGORICAL)).fit(
        train[APPLICATION_FEATURES], train["bad"])
    c_valid = challenger.predict_proba(valid[APPLICATION_FEATURES])[:, 1]
    c_metrics = {**discrimination(valid["bad"], c_valid), "evidence": evidence(valid["bad"], c_valid), "train_rows": int(len(train)), "valid_rows": int(len(valid)),
                 "valid_months": metrics["valid_months"],
                 "reference": reference(challenger.predict_proba(train[APPLICATION_FEATURES])[:, 1], train, NUMERIC,
                                        APPLICATION_CATEGORICAL)}
    # the production model learns from every known outcome; its figures are the validated sibling's
    final = ApplicationScorecard(categorical=APPLICATION_CATEGORICAL).fit(apps[APPLICATION_FEATURES], apps["bad"])
    p_metrics = {**{k: v for k, v in metrics.items() if k != "reference"}, "train_rows": int(len(apps)),
                 "reference": reference(final.predict_proba(apps[APPLICATION_FEATURES])[:, 1], apps, NUMERIC,
                                        APPLICATION_CATEGORICAL)}
    with engine.connect() as conn:
        scores = application_scores(conn, final)
    # everything is computed: the write transaction only stores (a login waits for SQLite's write lock)
    with engine.begin() as conn:
        validated_id = register(conn, MODEL_NAME, validated, metrics, model, trained_by)
        register(conn, MODEL_NAME, validated, c_metrics, challenger, trained_by, role="challenger")
        p_metrics["validated_model_id"] = validated_id
        model_id = register(conn, MODEL_NAME, production, p_metrics, final, trained_by)
        version = conn.execute(select(s.model_registry.c.version).where(s.model_registry.c.id == model_id)).scalar()
        scored = store_scores(conn, model_id, scores)
    return {"scored": scored, "model_id": model_id, "validated_model_id": validated_id, "version": version,
            **{k: metrics[k] for k in ("auc", "ks", "gini", "psi")}, "german_credit": metrics["german_credit"],
            "table": final.table()}


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


def application_scores(conn, model: ApplicationScorecard) -> pd.DataFrame:
    """Every application (approved or not) scored with ``model``: application_id, score (points) and pd. Rejected
    applicants get the model's PD too: that is the simulator's reject inference (their outcome was never observed)."""
    apps = application_frame(conn, known_only=False)
    if apps.empty:
        return pd.DataFrame(columns=["application_id", "score", "pd"])
    X = apps[APPLICATION_FEATURES]
    return pd.DataFrame({"application_id": apps["id"].astype(int), "score": np.round(model.points(X)).astype(int),
                         "pd": model.predict_proba(X)[:, 1]})


def store_scores(conn, model_id: int, scores: pd.DataFrame) -> int:
    """Replace ``application_score`` with ``scores`` (from :func:`application_scores`) and rebuild the approval
    mart, inside the caller's transaction; returns the applications scored."""
    conn.execute(s.application_score.delete())
    if not scores.empty:
        bulk_insert(conn, s.application_score, scores.assign(model_id=model_id)[
            ["application_id", "model_id", "score", "pd"]])
    marts.refresh_approval(conn)
    marts.stamp(conn, "application_scores", int(len(scores)))  # new scores: the pages' caches must not serve old ones
    return int(len(scores))


def ensure_scored(engine: Engine) -> int:
    """Score the applications the active scorecard has not scored yet (new ones from an import, or a database
    from before the approval simulator) — all of them again, so one model scores the whole population; returns the
    applications scored (0 when nothing was missing or there is no scorecard)."""
    reg = s.model_registry
    with engine.connect() as conn:
        row = conn.execute(select(reg.c.id, reg.c.artifact).where(in_use(MODEL_NAME))).first()
        if row is None:
            return 0
        have = conn.execute(select(func.count()).select_from(s.application_score)
                            .where(s.application_score.c.model_id == row.id)).scalar()
        total = conn.execute(select(func.count()).select_from(s.application)).scalar()
    if have == total:
        return 0
    with engine.connect() as conn:
        scores = application_scores(conn, pickle.loads(row.artifact))
    with engine.begin() as conn:
        return store_scores(conn, row.id, scores)
