"""客户经理能力评分 The customer-manager capability score and rating (A/B/C/D): transparent, additive, monotone.

Five parts, each a sub-score between 0 and 1 from fixed anchors (not from ranking managers against each other, so
that a manager's score does not move because a colleague's did, and month to month it moves only with their own
figures), weighted into 0–100 points:

=========  ======  ============================================================================================
part       weight  sub-score (linear between the anchors, clipped to 0–1) and why
=========  ======  ============================================================================================
workload   20      customers managed, 60 → 0, 200 → 1: the bank's target is 200 customers per manager (up from
                   120); more is not rewarded beyond the target, so that quality is not traded for volume.
quality    30      ½ NPL ratio of the managed balance, 5 % → 0, 0 % → 1; ½ origination quality: share of the
                   amount they disbursed 7–24 months ago that was ever 30+ days past due, 10 % → 0, 0 % → 1.
                   The largest weight: a grid manager's first duty is a sound book.
effort     20      ½ visit coverage: managed customers visited in 90 days, 0 → 0, 50 % → 1; ½ post-loan tasks
                   done on time in 3 months, 50 % → 0, 100 % → 1 (no task due counts as on time).
growth     15      ½ new customers a month (3-month average), 0 → 0, 5 → 1; ½ renewal rate (续贷率) of loans
                   paid off in 12 months, 0 → 0, 60 % → 1.
conduct    15      check-in authenticity flags per 100 events in 3 months, weighted high 3 / medium 2 / low 1,
                   10 → 0, 0 → 1. Conduct cannot be bought with volume.
=========  ======  ============================================================================================

Rating: A ≥ 80, B ≥ 65, C ≥ 50, D below. Every input enters in one direction only, so a manager better on every
figure never scores lower (tested); the three-month windows keep the rating steady month to month (the stability
on the demo bank is reported on the page).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

WEIGHTS = {"workload": 20.0, "quality": 30.0, "effort": 20.0, "growth": 15.0, "conduct": 15.0}
# sub-score: (input column, value scoring 0, value scoring 1); halves where a part has two
PARTS = {
    "workload": [("customers", 60.0, 200.0)],
    "quality": [("npl_ratio", 0.05, 0.0), ("origination_ever30_rate", 0.10, 0.0)],
    "effort": [("visit_coverage", 0.0, 0.5), ("task_on_time_rate", 0.5, 1.0)],
    "growth": [("new_per_month", 0.0, 5.0), ("renewal_rate", 0.0, 0.6)],
    "conduct": [("flags_per_100", 10.0, 0.0)],
}
RATINGS = ((80.0, "A"), (65.0, "B"), (50.0, "C"), (-np.inf, "D"))
INPUTS = sorted({col for part in PARTS.values() for col, _, _ in part})
# when an input cannot be computed (no balance, nothing disbursed, nothing matured): the neutral value used
NEUTRAL = {"npl_ratio": 0.0, "origination_ever30_rate": 0.0, "task_on_time_rate": 1.0, "renewal_rate": 0.3,
           "visit_coverage": 0.0, "flags_per_100": 0.0, "new_per_month": 0.0, "customers": 0.0}


def inputs_from_team(team: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs from the team figures of :func:`data_access.managers.team`."""
    t = team
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "customers": t["customers"].astype(float),
            "npl_ratio": t["npl_balance"].astype(float) / t["balance"].astype(float).where(t["balance"] > 0),
            "origination_ever30_rate": t["originated_ever30_amount"].astype(float)
            / t["originated_amount"].astype(float).where(t["originated_amount"] > 0),
            "visit_coverage": t["visited_90d"].astype(float) / t["customers"].astype(float).where(t["customers"] > 0),
            "task_on_time_rate": t["tasks_on_time_3m"].astype(float) / t["tasks_due_3m"].astype(float).where(t["tasks_due_3m"] > 0),
            "new_per_month": t["new_customers_3m"].astype(float) / 3.0,
            "renewal_rate": t["renewed_12m"].astype(float) / t["matured_12m"].astype(float).where(t["matured_12m"] > 0),
            "flags_per_100": 100 * (3 * t["flags_high_3m"] + 2 * t["flags_medium_3m"] + t["flags_low_3m"]).astype(float)
            / t["events_3m"].astype(float).where(t["events_3m"] > 0),
        }, index=t.index)
    return out.fillna(NEUTRAL)


class CapabilityScore:
    """Additive capability score. ``score(X)`` → 0–100, ``rating(X)`` → A–D, ``contributions(X)`` → points per part.

    ``X`` holds the INPUTS columns (see :func:`inputs_from_team`). There is nothing to fit: the anchors and
    weights are the bank's policy, documented above, not estimated.
    """

    weights = WEIGHTS
    parts = PARTS

    @staticmethod
    def _sub(values: pd.Series, zero: float, one: float) -> pd.Series:
        return ((values.astype(float) - zero) / (one - zero)).clip(0.0, 1.0)

    def subscores(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in INPUTS if c not in X.columns]
        if missing:
            raise ValueError(f"X is missing input columns {missing}.")
        X = X.fillna(NEUTRAL)
        return pd.DataFrame({part: sum(self._sub(X[col], z, o) for col, z, o in spec) / len(spec)
                             for part, spec in PARTS.items()}, index=X.index)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Points each part contributes (weight × sub-score); they add up to the score."""
        sub = self.subscores(X)
        return sub * pd.Series(WEIGHTS)

    def score(self, X: pd.DataFrame) -> pd.Series:
        return self.contributions(X).sum(axis=1).round(1)

    @staticmethod
    def grade(score: float) -> str:
        return next(g for cut, g in RATINGS if score >= cut)

    def rating(self, X: pd.DataFrame) -> pd.Series:
        return self.score(X).map(self.grade)


def stability(ratings: pd.DataFrame) -> dict:
    """Month-to-month stability of ratings (columns: manager_id, month, rating): share of managers whose rating is
    unchanged, and share that moved more than one grade, between consecutive months."""
    r = ratings.sort_values(["manager_id", "month"])
    order = {"A": 0, "B": 1, "C": 2, "D": 3}
    g = r["rating"].map(order)
    prev = g.groupby(r["manager_id"]).shift()
    ok = prev.notna()
    if not ok.any():
        return {"pairs": 0, "unchanged": float("nan"), "moved_two_or_more": float("nan")}
    diff = (g[ok] - prev[ok]).abs()
    return {"pairs": int(ok.sum()), "unchanged": float((diff == 0).mean()), "moved_two_or_more": float((diff >= 2).mean())}
