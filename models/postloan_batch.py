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
import pickle
import sys

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, insert, select

from data_access import marts, schema as s
from data_access.bulk import bulk_insert
from data_access.features import behaviour_frame
from data_access.queries import shift_month

from .behaviour_pd import BehaviourPD, capture_curve, discrimination

MODEL_NAME = "behaviour_pd"
ON_SITE_SHARE = 0.02
OFF_SITE_SHARE = 0.05
TRAIN_MONTHS = 6


def periodic_rule(frame: pd.DataFrame) -> pd.Series:
    """Which loans a periodic rule inspects next quarter: the annual inspection falls at 6 months on book and every
    12 months after, so the loans whose mob + 1..3 hits that schedule."""
    return frame["mob"].apply(lambda m: any(((m + k) % 12) == 6 for k in (1, 2, 3)))


def run(engine: Engine, month: str | None = None, trained_by: str = "batch") -> dict:
    """Train on the last TRAIN_MONTHS months with known outcomes, validate out of time, register, score
    ``month`` (default: the latest), create tasks. Returns a summary."""
    with engine.connect() as conn:
        months = conn.execute(select(s.dim_month.c.month).where(s.dim_month.c.month.in_(
            select(s.loan_snapshot.c.month).distinct())).order_by(s.dim_month.c.month)).scalars().all()
        if len(months) < TRAIN_MONTHS + 4:
            raise ValueError(f"the batch needs at least {TRAIN_MONTHS + 4} months of snapshots; got {len(months)}.")
        month = month or months[-1]
        valid_month = shift_month(month, -3)           # its 3-month outcome is fully observed by ``month``
        train_months = [shift_month(valid_month, -k) for k in range(1, TRAIN_MONTHS + 1)]
        train = pd.concat([behaviour_frame(conn, m) for m in train_months], ignore_index=True).dropna(subset=["bad_3m"])
        valid = behaviour_frame(conn, valid_month).dropna(subset=["bad_3m"])
        book = behaviour_frame(conn, month)
    model = BehaviourPD().fit(train, train["bad_3m"])
    v_score = model.predict_proba(valid)[:, 1]
    metrics = discrimination(valid["bad_3m"], v_score)
    periodic = periodic_rule(valid)
    metrics.update({
        "train_rows": int(len(train)), "train_bad_rate": float(train["bad_3m"].mean()), "valid_month": valid_month,
        "capture": capture_curve(valid["bad_3m"], v_score),
        "periodic": {"workload": float(periodic.mean()),
                     "caught": float(valid.loc[periodic, "bad_3m"].sum() / max(1, valid["bad_3m"].sum()))},
    })
    pd_now = model.predict_proba(book)[:, 1]
    now = dt.datetime.now().replace(microsecond=0)
    with engine.begin() as conn:
        version = (conn.execute(select(func.max(s.model_registry.c.version))
                                .where(s.model_registry.c.name == MODEL_NAME)).scalar() or 0) + 1
        conn.execute(s.model_registry.update().where(s.model_registry.c.name == MODEL_NAME).values(active=False))
        model_id = conn.execute(insert(s.model_registry).values(
            name=MODEL_NAME, version=version, trained_at=now, trained_by=trained_by,
            data_window=f"{train_months[-1]}..{train_months[0]}", metrics=json.dumps(metrics),
            artifact=pickle.dumps(model), active=True).returning(s.model_registry.c.id)).scalar_one()
        bulk_insert(conn, s.model_score, pd.DataFrame({"model_id": model_id, "month": month,
                                                       "loan_id": book["loan_id"], "score": np.round(pd_now, 6)}))
        tasks = _tasks(conn, book.assign(pd=pd_now), month)
        marts.refresh_in(conn)
    return {"model_id": model_id, "version": version, "month": month, "scored": int(len(book)), **tasks,
            "auc": metrics["auc"], "ks": metrics["ks"]}


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
