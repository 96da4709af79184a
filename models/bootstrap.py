"""First start: train and register the models a fresh demo bank does not have yet (the early-warning batch with its
tasks, the application scorecard, the propensity-to-pay model) and compute their monitoring figures, so that every
page has them. Does nothing for a
model already registered; the admin page and the CLI retrain on demand.

    .venv/bin/python -m models.bootstrap
"""
from __future__ import annotations

import sys

from sqlalchemy import select

from data_access import schema as s
from data_access.engine import DatabaseUnavailable, get_engine


def missing(engine) -> list[str]:
    with engine.connect() as conn:
        have = set(conn.execute(select(s.model_registry.c.name).where(s.model_registry.c.active)).scalars())
    return [m for m in ("behaviour_pd", "application_scorecard", "propensity_to_pay") if m not in have]


def main() -> int:
    try:
        engine = get_engine()
        todo = missing(engine)
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not todo:
        from .train_scorecard import ensure_scored
        if ensure_scored(engine):
            print("applications scored for the approval simulator")
        print("models ready")
        return 0
    from . import allocation, postloan_batch, train_scorecard
    for name in todo:
        print(f"training {name} (first start) …", flush=True)
        try:
            if name == "behaviour_pd":
                postloan_batch.run(engine, trained_by="bootstrap")
            elif name == "application_scorecard":
                train_scorecard.run(engine, trained_by="bootstrap")
            else:
                with engine.connect() as conn:
                    last = conn.execute(select(s.collection_case.c.entry_month).order_by(
                        s.collection_case.c.entry_month.desc()).limit(1)).scalar()
                if last:
                    allocation.train(engine, last, "bootstrap")
        except ValueError as exc:  # an empty or too-young bank: the pages say a model is missing
            print(f"skipped {name}: {exc}")
    from . import monitor
    print("model monitoring figures …", flush=True)
    monitor.run(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
