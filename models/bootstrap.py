"""First start: train and register the models a fresh demo bank does not have yet (the early-warning batch with its
tasks, the application scorecard, the propensity-to-pay model) and compute their monitoring figures, so that every
page has them. Does nothing for a
model already registered; the admin page and the CLI retrain on demand.

    .venv/bin/python -m models.bootstrap            # train what is missing; a line per model
    .venv/bin/python -m models.bootstrap --check    # exit 0 when every model is there, 1 when some are missing

``./cockpit run`` starts it in the background once the marts exist and serves the app at once: the first page is
usable within a minute, and while a model trains the pages that need it say so (:func:`training_now`). Each model
registered gives the data a new version, so open pages show it on their next run.
"""
from __future__ import annotations

import os
import sys
import time

from sqlalchemy import select

from data_access import marts, schema as s
from data_access.config import PROJECT_ROOT
from data_access.engine import DatabaseUnavailable, get_engine
from data_access.progress import Steps

# while a first-start training runs: its process id (a marker of a process that died is ignored)
MARKER = PROJECT_ROOT / "data" / ".models_training"
MODELS = ("behaviour_pd", "application_scorecard", "propensity_to_pay")


def training_now() -> bool:
    """Whether a first-start training is running on this machine."""
    try:
        pid = int(MARKER.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def missing(engine) -> list[str]:
    with engine.connect() as conn:
        # a model registered before windows were kept (migration 0020) is retrained: the monitor cannot use it
        reg = s.model_registry
        have = set(conn.execute(select(reg.c.name).where(reg.c.active, reg.c.kind == "production",
                                                           reg.c.role == "champion",
                                                           reg.c.train_from.is_not(None))).scalars())
    return [m for m in MODELS if m not in have]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        engine = get_engine()
        todo = missing(engine)
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "--check" in argv:
        return 1 if todo else 0
    if not todo:
        from .train_scorecard import ensure_scored
        if ensure_scored(engine):
            print("applications scored for the approval simulator")
        print("models ready")
        return 0
    MARKER.parent.mkdir(parents=True, exist_ok=True)
    MARKER.write_text(str(os.getpid()))
    try:
        _train(engine, todo)
    finally:
        MARKER.unlink(missing_ok=True)
    return 0


def _train(engine, todo: list[str]) -> None:
    from . import allocation, postloan_batch, train_scorecard
    steps = Steps(len(todo) + 1, "models")
    for name in todo:
        steps.step(f"training {name} (first start)")
        started = time.perf_counter()
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
            print(f"models: skipped {name}: {exc}", flush=True)
            continue
        with engine.begin() as conn:  # open pages read the new model on their next run
            marts.stamp(conn, "models")
        print(f"models: {name} ready in {time.perf_counter() - started:.0f} s", flush=True)
    from . import monitor
    steps.step("monitoring figures")
    monitor.run(engine)
    with engine.begin() as conn:
        marts.stamp(conn, "models")
    steps.close("ready")


if __name__ == "__main__":
    sys.exit(main())
