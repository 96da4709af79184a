"""The batch post-loan run: train and register the early-warning model, score the book, create risk-driven tasks.

    .venv/bin/python -m models.postloan_batch [--month 2026-10]

Tasks are differentiated by risk instead of one periodic rule: the riskiest ON_SITE_SHARE of loans get an
on-site inspection due in 7 days, the next OFF_SITE_SHARE an off-site review due in 15 days, and the rest only
their annual inspection (年检, due in 30 days) in the month it falls due; the responsible manager is the loan's
manager.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from data_access import marts, schema as s
from data_access.bulk import bulk_insert
from data_access.features import BEHAVIOUR_FEATURES, BEHAVIOUR_HORIZON, behaviour_frame
from data_access.queries import shift_month

from .behaviour_pd import BehaviourPD, capture_curve, discrimination
from .challengers import LogisticChallenger
from .registry import Windows, month_range, register
from .stability import reference
from .validation import evidence

MODEL_NAME = "behaviour_pd"
ON_SITE_SHARE = 0.02
OFF_SITE_SHARE = 0.05
TRAIN_MONTHS = 6      # snapshot months each model learns from
VALID_MONTHS = 3      # snapshot months of the validated model's out-of-time check
MONITOR_MONTHS = 3    # mature months after validation kept for monitoring the validated model
CATEGORICAL = ["village_grade", "segment", "product_id", "guarantee_type"]
NUMERIC = [c for c in BEHAVIOUR_FEATURES if c not in CATEGORICAL]


def plan(month: str) -> tuple[Windows, Windows]:
    """The windows of the validated and the production model trained on data up to ``month``.

    The label of snapshot month t reads t+1..t+H (H = BEHAVIOUR_HORIZON). Production learns from the newest
    TRAIN_MONTHS mature months (t + H ≤ ``month``). The validated model keeps MONITOR_MONTHS mature months after
    its validation window, validates on the VALID_MONTHS before them, and trains on TRAIN_MONTHS ending H + 1
    months before validation starts: its last training label reads the month before the validation window, so no
    delinquency is both a training label and a validation outcome of the same loan (issue #17: with the training
    months right before validation, 64–72 % of the validation bads were the same event as a training label).
    """
    h = BEHAVIOUR_HORIZON
    mature_to = shift_month(month, -h)
    valid_to = shift_month(mature_to, -MONITOR_MONTHS)
    valid_from = shift_month(valid_to, -(VALID_MONTHS - 1))
    train_to = shift_month(valid_from, -(h + 1))
    validated = Windows("validated", shift_month(train_to, -(TRAIN_MONTHS - 1)), train_to, h, month, valid_from,
                        valid_to)
    production = Windows("production", shift_month(mature_to, -(TRAIN_MONTHS - 1)), mature_to, h, month)
    return validated, production


def label_overlap(train: pd.DataFrame, valid: pd.DataFrame) -> float:
    """Share of the validation bads whose loan also carries a bad training label (the same delinquency seen twice
    when the label windows overlap)."""
    bad_valid = set(valid.loc[valid["bad_3m"] == 1, "loan_id"])
    if not bad_valid:
        return 0.0
    return len(bad_valid & set(train.loc[train["bad_3m"] == 1, "loan_id"])) / len(bad_valid)


def periodic_rule(frame: pd.DataFrame) -> pd.Series:
    """Which loans a periodic rule inspects next quarter: the annual inspection falls at 6 months on book and every
    12 months after, so the loans whose mob + 1..3 hits that schedule."""
    return frame["mob"].apply(lambda m: any(((m + k) % 12) == 6 for k in (1, 2, 3)))


def run(engine: Engine, month: str | None = None, trained_by: str = "batch") -> dict:
    """Train the validated model (out-of-time check on its validation window), its logistic challenger on the same
    windows and the production model (the newest mature months); register all three with their windows; score
    ``month`` (default: the latest) with the production model and create tasks. Returns a summary."""
    with engine.connect() as conn:
        months = conn.execute(select(s.dim_month.c.month).where(s.dim_month.c.month.in_(
            select(s.loan_snapshot.c.month).distinct())).order_by(s.dim_month.c.month)).scalars().all()
        month = month or (months[-1] if months else None)
        validated, production = plan(month) if month else (None, None)
        if not months or validated.train_from < months[0] or month not in months:
            need = TRAIN_MONTHS + BEHAVIOUR_HORIZON + VALID_MONTHS + MONITOR_MONTHS + BEHAVIOUR_HORIZON
            raise ValueError(f"the batch needs at least {need} months of snapshots up to the month scored; "
                             f"got {len([m for m in months if not month or m <= month])}.")
        cache: dict[str, pd.DataFrame] = {}

        def frames(first: str, last: str) -> pd.DataFrame:
            for m in month_range(first, last):
                if m not in cache:
                    cache[m] = behaviour_frame(conn, m, as_of=month)
            return pd.concat([cache[m] for m in month_range(first, last)], ignore_index=True)

        train = frames(validated.train_from, validated.train_to).dropna(subset=["bad_3m"])
        valid = frames(validated.valid_from, validated.valid_to).dropna(subset=["bad_3m"])
        full = frames(production.train_from, production.train_to).dropna(subset=["bad_3m"])
        book = behaviour_frame(conn, month, as_of=month)
    model = BehaviourPD().fit(train, train["bad_3m"])
    v_score = model.predict_proba(valid)[:, 1]
    metrics = {**discrimination(valid["bad_3m"], v_score), "evidence": evidence(valid["bad_3m"], v_score)}
    periodic = periodic_rule(valid)
    metrics.update({
        "train_rows": int(len(train)), "train_bad_rate": float(train["bad_3m"].mean()),
        "valid_rows": int(len(valid)), "valid_bad_rate": float(valid["bad_3m"].mean()),
        "valid_months": f"{validated.valid_from}..{validated.valid_to}",
        "label_overlap": label_overlap(train, valid),
        "capture": capture_curve(valid["bad_3m"], v_score),
        "periodic": {"workload": float(periodic.mean()),
                     "caught": float(valid.loc[periodic, "bad_3m"].sum() / max(1, valid["bad_3m"].sum()))},
        "reference": reference(model.predict_proba(train)[:, 1], train, NUMERIC, CATEGORICAL),
    })
    challenger = LogisticChallenger(tuple(BEHAVIOUR_FEATURES), tuple(CATEGORICAL)).fit(train, train["bad_3m"])
    c_score = challenger.predict_proba(valid)[:, 1]
    c_metrics = {**discrimination(valid["bad_3m"], c_score), "evidence": evidence(valid["bad_3m"], c_score),
                 "train_rows": int(len(train)),
                 "valid_rows": int(len(valid)), "valid_months": metrics["valid_months"],
                 "reference": reference(challenger.predict_proba(train)[:, 1], train, NUMERIC, CATEGORICAL)}
    final = BehaviourPD().fit(full, full["bad_3m"])
    pd_now = final.predict_proba(book)[:, 1]
    p_metrics = {**{k: v for k, v in metrics.items() if k != "reference"},
                 "train_rows": int(len(full)), "train_bad_rate": float(full["bad_3m"].mean()),
                 "reference": reference(final.predict_proba(full)[:, 1], full, NUMERIC, CATEGORICAL)}
    with engine.begin() as conn:  # everything is computed: the write transaction only stores
        validated_id = register(conn, MODEL_NAME, validated, metrics, model, trained_by)
        register(conn, MODEL_NAME, validated, c_metrics, challenger, trained_by, role="challenger")
        p_metrics["validated_model_id"] = validated_id
        model_id = register(conn, MODEL_NAME, production, p_metrics, final, trained_by)
        version = conn.execute(select(s.model_registry.c.version).where(s.model_registry.c.id == model_id)).scalar()
        bulk_insert(conn, s.model_score, pd.DataFrame({"model_id": model_id, "month": month,
                                                       "loan_id": book["loan_id"], "score": np.round(pd_now, 6)}))
        tasks = _tasks(conn, book.assign(pd=pd_now), month)
        # only the marts that count tasks: the training above ran outside this transaction, and a full rebuild here
        # would hold SQLite's write lock long enough to keep a login waiting
        marts.refresh_task_months(conn, month)
    return {"model_id": model_id, "validated_model_id": validated_id, "version": version, "month": month,
            "scored": int(len(book)), **tasks, "auc": metrics["auc"], "ks": metrics["ks"]}


def _tasks(conn, scored: pd.DataFrame, month: str) -> dict:
    ranked = scored.sort_values("pd", ascending=False).reset_index(drop=True)
    n = len(ranked)
    n_on, n_off = int(round(ON_SITE_SHARE * n)), int(round(OFF_SITE_SHARE * n))
    ranked["task_type"] = np.where(ranked.index < n_on, "on_site", np.where(ranked.index < n_on + n_off, "off_site", None))
    # the low-risk rest keeps only its annual inspection (年检), due 30 days out, when its schedule falls this month
    annual = ranked["task_type"].isna() & ((ranked["mob"] % 12) == 6)
    ranked.loc[annual, "task_type"] = "annual"
    chosen = ranked[ranked["task_type"].notna()]
    # do not pile a second open risk task of the same kind on a loan
    open_tasks = set(map(tuple, conn.execute(select(s.postloan_task.c.loan_id, s.postloan_task.c.task_type)
                                             .where(s.postloan_task.c.status == "pending")).all()))
    chosen = chosen[[(lid, tt) not in open_tasks for lid, tt in zip(chosen["loan_id"], chosen["task_type"])]]
    y, m = int(month[:4]), int(month[5:7])
    created = (dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1))
    next_id = (conn.execute(select(func.max(s.postloan_task.c.id))).scalar() or 0) + 1
    rows = pd.DataFrame({
        "id": np.arange(next_id, next_id + len(chosen)), "loan_id": chosen["loan_id"].to_numpy(),
        "customer_id": chosen["customer_id"].to_numpy(), "manager_id": chosen["manager_id"].to_numpy(),
        "branch_id": chosen["branch_id"].to_numpy(), "task_type": chosen["task_type"].to_numpy(),
        "trigger": np.where(chosen["task_type"] == "annual", "periodic", "risk"),
        "risk_score": chosen["pd"].round(6).to_numpy(), "created_on": created, "month": month,
        "due_on": [created + dt.timedelta(days={"on_site": 7, "off_site": 15}.get(tt, 30)) for tt in chosen["task_type"]],
        "completed_on": None, "status": "pending", "result": None})
    bulk_insert(conn, s.postloan_task, rows)
    return {"on_site_tasks": int((rows["task_type"] == "on_site").sum()),
            "off_site_tasks": int((rows["task_type"] == "off_site").sum()),
            "annual_tasks": int((rows["task_type"] == "annual").sum())}


def main(argv: list[str] | None = None) -> int:
    from data_access.engine import DatabaseUnavailable, check_connection, get_engine
    p = argparse.ArgumentParser(prog="python -m models.postloan_batch", description=__doc__.splitlines()[0])
    p.add_argument("--month", help="month to score, YYYY-MM (default: the latest)")
    args = p.parse_args(argv)
    try:
        engine = get_engine()
        check_connection(engine)
        out = run(engine, args.month, trained_by="cli")
    except (DatabaseUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
