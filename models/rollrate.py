"""Roll-rate (Markov) model of the loan book and the NPL projection under stress.

States: buckets M0…M4+ on the book, paid off and written off (absorbing, off the book). A month's transition
matrix P[k, j] is the share of bucket k's balance at t found in state j at t+1 (the migration mart); G[k, j] is how
the balance of those loans changed (amortisation), balance at t+1 over balance at t. The projection carries the
book's balance by bucket forward, b_{t+1}[j] = Σ_k b_t[k]·P[k, j]·G[k, j], and adds new business to M0 each
month. The NPL ratio comes from the same chain run over the five categories (正常 … 损失, paid off, written off,
from the class side of the migration mart), new business entering 正常: NPL is then 次级 + 可疑 + 损失 exactly as
defined, not a mapping from days past due (a cured loan stays substandard for a while).

Stress multiplies every worsening transition (k → k+1 … M4+) by ``stress``, taking the mass from staying and
curing, never from paying off or write-off, so that the book's size does not move with the stress and a higher
stress never projects a lower NPL (a property test). The band is the spread (10th–90th percentile) of projections
made with each of the recent months' own matrices instead of their pooled average.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ON_BOOK = 5   # M0 … M4+
STATES = 7    # + paid off (5), written off (6)


@dataclass(frozen=True)
class Matrices:
    P: np.ndarray   # 5 × 7 balance shares
    G: np.ndarray   # 5 × 7 balance growth of each transition (1 where no data)


def estimate(transitions: pd.DataFrame) -> Matrices:
    """Pooled matrices from migration rows (from_bucket, to_bucket, balance, balance_next), any number of months."""
    bal = np.zeros((ON_BOOK, STATES))
    nxt = np.zeros((ON_BOOK, STATES))
    for r in transitions.itertuples():
        if 0 <= r.from_bucket < ON_BOOK and 0 <= r.to_bucket < STATES:
            bal[int(r.from_bucket), int(r.to_bucket)] += float(r.balance)
            nxt[int(r.from_bucket), int(r.to_bucket)] += float(r.balance_next)
    rows = bal.sum(axis=1, keepdims=True)
    P = np.divide(bal, rows, out=np.zeros_like(bal), where=rows > 0)
    for k in range(ON_BOOK):  # a bucket never seen stays where it is
        if rows[k, 0] == 0:
            P[k, k] = 1.0
    G = np.divide(nxt, bal, out=np.ones_like(bal), where=bal > 0)
    G[:, ON_BOOK:] = 0.0  # off the book
    return Matrices(P, G)


def stressed(m: Matrices, stress: float) -> Matrices:
    """Worsening transitions × ``stress`` (≥ 0), the difference taken from staying and curing in proportion."""
    if stress < 0:
        raise ValueError("stress must be 0 or more.")
    P = m.P.copy()
    for k in range(ON_BOOK):
        worse = list(range(k + 1, ON_BOOK))
        keep = list(range(0, k + 1))  # stay or cure
        if not worse:
            continue
        w = P[k, worse].sum()
        room = P[k, keep].sum()
        target = min(w * stress, w + room)  # cannot move more than stays and cures hold
        delta = target - w
        if w > 0:
            P[k, worse] *= target / w
        if room > 0:
            P[k, keep] *= (room - delta) / room
    return Matrices(np.clip(P, 0, 1), m.G)


def project(book: np.ndarray, m: Matrices, months: int = 12, new_business: float = 0.0) -> np.ndarray:
    """Balance by bucket (months + 1) × 5, starting from ``book``; ``new_business`` 元 added to M0 each month."""
    out = np.zeros((months + 1, ON_BOOK))
    out[0] = book
    M = (m.P * m.G)[:, :ON_BOOK]
    for t in range(1, months + 1):
        out[t] = out[t - 1] @ M
        out[t, 0] += new_business
    return out


def npl_ratio(path: np.ndarray, npl_share: np.ndarray) -> np.ndarray:
    """NPL ratio along a path, with each bucket's share of 次级+ balance held at today's."""
    total = path.sum(axis=1)
    return np.divide(path @ npl_share, total, out=np.full(len(total), np.nan), where=total > 0)


@dataclass
class Projection:
    months: list[str]
    balance: np.ndarray      # (n + 1) × 5 central path
    npl: np.ndarray          # central NPL ratio path
    npl_low: np.ndarray      # 10th percentile
    npl_high: np.ndarray     # 90th percentile
    classes: np.ndarray | None = None  # (n + 1) × 5 balance by class 正常 … 损失 (the class chain), when it ran


NPL_CLASSES = np.array([0.0, 0.0, 1.0, 1.0, 1.0])  # 正常, 关注 | 次级, 可疑, 损失


def class_rows(class_transitions: pd.DataFrame) -> pd.DataFrame:
    """Class migrations (from_class 1–5, to_class 1–5, 6 paid off, 7 written off) as chain rows 0–4 / 0–6."""
    return class_transitions.assign(from_bucket=class_transitions["from_class"] - 1,
                                    to_bucket=class_transitions["to_class"] - 1)


def simulate(transitions: pd.DataFrame, book: pd.DataFrame, start: str, horizon: int = 12, stress: float = 1.0,
             new_business: float = 0.0, class_transitions: pd.DataFrame | None = None,
             book_classes: pd.DataFrame | None = None) -> Projection:
    """The NPL simulator. ``transitions``: bucket migrations (month, from_bucket, to_bucket, balance,
    balance_next); ``book``: balance by bucket at ``start``; ``class_transitions`` / ``book_classes``: the same by
    five-category class (class5, balance). ``horizon`` months, ``stress`` on worsening, ``new_business`` 元 a month.
    Without the class inputs the NPL ratio falls back to today's 次级+ share of each bucket (``book.npl_balance``)."""
    from data_access.queries import shift_month
    b = book.set_index("bucket").reindex(range(ON_BOOK)).fillna(0)
    bal = b["balance"].to_numpy(float)
    central = project(bal, stressed(estimate(transitions), stress), horizon, new_business)
    if class_transitions is not None and book_classes is not None and not class_transitions.empty:
        ct = class_rows(class_transitions)
        cb = book_classes.set_index("class5").reindex(range(1, 6)).fillna(0)["balance"].to_numpy(float)
        share, chain_rows, start_book = NPL_CLASSES, ct, cb
    else:
        share = np.divide(b["npl_balance"].to_numpy(float), bal, out=np.zeros(ON_BOOK), where=bal > 0)
        chain_rows, start_book = transitions, bal
    chain_path = project(start_book, stressed(estimate(chain_rows), stress), horizon, new_business)
    npl_path = npl_ratio(chain_path, share)
    paths = [npl_ratio(project(start_book, stressed(estimate(g), stress), horizon, new_business), share)
             for _, g in chain_rows.groupby("month")]
    paths = np.array(paths) if paths else np.array([npl_path])
    return Projection(months=[shift_month(start, k) for k in range(horizon + 1)], balance=central,
                      npl=npl_path, npl_low=np.nanpercentile(paths, 10, axis=0),
                      npl_high=np.nanpercentile(paths, 90, axis=0),
                      classes=chain_path if share is NPL_CLASSES else None)


def simulate_inputs(inputs: dict, start: str, horizon: int = 12, stress: float = 1.0, volume: float = 1.0) -> Projection:
    """:func:`simulate` on the frames of :func:`data_access.strategy.rollrate_inputs`; ``volume`` scales the
    recent monthly new business."""
    return simulate(inputs["transitions"], inputs["book"], start, horizon, stress, inputs["new_business"] * volume,
                    inputs.get("class_transitions"), inputs.get("book_classes"))
