"""模型登记 The model registry: every registered model with the windows of data it was built on, checked on write.

Two kinds of model are registered for each model name (``kind``):

* **validated** — fitted only on months before its validation window, with the out-of-time figures of that
  window in ``metrics`` (auc, ks, gini, …). This is the model a validator signs.
* **production** — the same specification refitted on every month with a known outcome; it scores the book.
  It has no out-of-time figures of its own (its ``metrics`` repeat the validated sibling's, with
  ``validated_model_id``), so its monitoring starts only with the months after its training data.

and two roles (``role``): the **champion** (the model in use) and a **challenger** (another method on the same
windows, validated only, shown beside the champion on the Model monitor page). ``active`` marks the current model
of each (name, kind, role).

Windows (months 'YYYY-MM'; an "observation month" is the month of the row the model scores — a loan's snapshot
month, an application's month, a collection case's entry month):

==================  ==================================================================================
``train_from``      first observation month of the training rows
``train_to``        last observation month of the training rows
``horizon_months``  months after an observation month that its label reads (behaviour 3, scorecard 12,
                    propensity ``cure_months``)
``label_to``        last month any training label reads = ``train_to`` + horizon
``gap_months``      observation months left out between ``train_to`` and ``valid_from`` (validated only)
``valid_from``      first observation month of the validation rows (validated only)
``valid_to``        last observation month of the validation rows (validated only)
``valid_label_to``  last month any validation label reads = ``valid_to`` + horizon (validated only)
``monitor_from``    first month the monitor may show: after ``valid_to`` (validated), after ``train_to``
                    (production)
``data_to``         the newest month of data when the model was trained; no label may read past it
==================  ==================================================================================

Rules checked by :func:`check_windows` before anything is written (a violation is a ``ValueError`` naming it):
from ≤ to; ``label_to`` is ``train_to`` + horizon; ``label_to`` ≤ ``data_to``; for a validated model the training
labels end before validation starts (``label_to`` < ``valid_from``, i.e. ``gap_months`` ≥ horizon — so no
delinquency, cure or default event is both a training label and a validation outcome) and ``valid_label_to`` ≤
``data_to``; ``monitor_from`` after the training (and validation) window.

The monitor (``models.monitor``) reads these windows: stability (PSI) for months ≥ ``monitor_from``, and
discrimination (AUC / KS) and calibration only for months that are also after ``label_to`` and whose own label
window has closed (month + horizon ≤ the newest data month). :func:`monitor_months` returns both lists.
"""
from __future__ import annotations

import datetime as dt
import json
import pickle
import re
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, func, insert, select

from data_access import schema as s

KINDS = ("validated", "production")
ROLES = ("champion", "challenger")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def month_index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def add_months(month: str, k: int) -> str:
    i = month_index(month) + k
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    return [add_months(first, k) for k in range(month_index(last) - month_index(first) + 1)]


@dataclass(frozen=True)
class Windows:
    """The windows of one registered model (see the module docstring)."""
    kind: str
    train_from: str
    train_to: str
    horizon_months: int
    data_to: str
    valid_from: str | None = None
    valid_to: str | None = None

    @property
    def label_to(self) -> str:
        return add_months(self.train_to, self.horizon_months)

    @property
    def gap_months(self) -> int | None:
        return None if self.valid_from is None else month_index(self.valid_from) - month_index(self.train_to) - 1

    @property
    def valid_label_to(self) -> str | None:
        return None if self.valid_to is None else add_months(self.valid_to, self.horizon_months)

    @property
    def monitor_from(self) -> str:
        return add_months(self.valid_to if self.kind == "validated" else self.train_to, 1)

    def columns(self) -> dict:
        """The registry columns of these windows."""
        return {**asdict(self), "label_to": self.label_to, "gap_months": self.gap_months,
                "valid_label_to": self.valid_label_to, "monitor_from": self.monitor_from}

    @classmethod
    def from_row(cls, row) -> "Windows | None":
        """The windows of a registry row (mapping), or None for a model registered before windows were kept."""
        m = dict(row)
        if not m.get("train_from") or m.get("horizon_months") is None:
            return None
        return cls(kind=m["kind"], train_from=m["train_from"], train_to=m["train_to"],
                   horizon_months=int(m["horizon_months"]), data_to=m["data_to"], valid_from=m.get("valid_from"),
                   valid_to=m.get("valid_to"))


def check_windows(w: Windows) -> None:
    """Refuse windows a validator would not sign (rules in the module docstring)."""
    if w.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {w.kind!r}.")
    for name in ("train_from", "train_to", "data_to") + (("valid_from", "valid_to") if w.kind == "validated" else ()):
        v = getattr(w, name)
        if not isinstance(v, str) or not _MONTH.match(v):
            raise ValueError(f"{name} must be a month YYYY-MM; got {v!r}.")
    if not isinstance(w.horizon_months, int) or w.horizon_months < 1:
        raise ValueError(f"horizon_months must be a whole number of months ≥ 1; got {w.horizon_months!r}.")
    if w.train_from > w.train_to:
        raise ValueError(f"training window {w.train_from}..{w.train_to} ends before it starts.")
    if w.label_to > w.data_to:
        raise ValueError(f"training labels read up to {w.label_to}, after the newest data month {w.data_to}.")
    if w.kind == "production":
        if w.valid_from is not None or w.valid_to is not None:
            raise ValueError("a production model has no validation window of its own (its validated sibling has).")
        return
    if w.valid_from > w.valid_to:
        raise ValueError(f"validation window {w.valid_from}..{w.valid_to} ends before it starts.")
    if w.label_to >= w.valid_from:
        raise ValueError(f"training labels read up to {w.label_to}, inside the validation window starting "
                         f"{w.valid_from}: a gap of at least {w.horizon_months} months is needed "
                         f"(got {w.gap_months}).")
    if w.valid_label_to > w.data_to:
        raise ValueError(f"validation labels read up to {w.valid_label_to}, after the newest data month {w.data_to}.")


def monitor_months(w: Windows, last: str) -> tuple[list[str], list[str]]:
    """(months to show stability for, months to show discrimination and calibration for), up to ``last``:
    never a month inside the training (or validation) window, and discrimination only where the month's own
    label window lies after every training label and has closed by ``last``."""
    if w.monitor_from > last:
        return [], []
    stability = month_range(w.monitor_from, last)
    mature_to = add_months(last, -w.horizon_months)
    perf = [m for m in stability if m > w.label_to and m <= mature_to]
    return stability, perf


def register(conn: Connection, name: str, windows: Windows, metrics: dict, model, trained_by: str,
             role: str = "champion") -> int:
    """Check the windows, deactivate the previous model of the same (name, kind, role), insert this one active
    with its windows, metrics (JSON) and pickled artefact; returns its id. Runs in the caller's transaction."""
    check_windows(windows)
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}; got {role!r}.")
    reg = s.model_registry
    version = (conn.execute(select(func.max(reg.c.version)).where(reg.c.name == name, reg.c.kind == windows.kind,
                                                                   reg.c.role == role)).scalar() or 0) + 1
    conn.execute(reg.update().where(reg.c.name == name, reg.c.kind == windows.kind, reg.c.role == role)
                 .values(active=False))
    cols = windows.columns()
    return conn.execute(insert(reg).values(
        name=name, version=version, role=role, trained_at=dt.datetime.now().replace(microsecond=0),
        trained_by=trained_by, data_window=f"{windows.train_from}..{windows.train_to}", metrics=json.dumps(metrics),
        artifact=pickle.dumps(model), active=True,
        **{k: cols[k] for k in ("kind", "train_from", "train_to", "horizon_months", "label_to", "gap_months",
                                "valid_from", "valid_to", "valid_label_to", "monitor_from", "data_to")})
        .returning(reg.c.id)).scalar_one()


def in_use(name: str):
    """The WHERE clause of the model that scores for ``name``: the active production champion."""
    reg = s.model_registry
    return (reg.c.name == name) & reg.c.active.is_(True) & (reg.c.kind == "production") & (reg.c.role == "champion")


WINDOW_COLUMNS = ("kind", "role", "train_from", "train_to", "horizon_months", "label_to", "gap_months", "valid_from",
                  "valid_to", "valid_label_to", "monitor_from", "data_to")
