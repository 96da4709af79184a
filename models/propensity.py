"""Propensity to pay (cure) of a collection case in each channel, and the expected recovery that follows from it.

The demo bank's history assigned channels by a random mix within each entry bucket, so the channel's effect on
cure is learnt without the selection bias a rule-based history would carry; on a real bank's history, where the
rules chose the channel, the same model needs the usual caution (or a period of randomised allocation).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from data_access.features import CASE_FEATURES

from .behaviour_pd import TreeFrameClassifier, tree_frame

CATEGORICAL = ["village_grade", "segment", "product_id", "guarantee_type", "option"]
FEATURES = CASE_FEATURES + ["option"]


class PropensityToPay(TreeFrameClassifier):
    """P(case cures | case and borrower facts, channel or agency ``option``), gradient-boosted trees.

    Besides the classifier, ``fit`` learns from the same cases the mean recovery ratio (recovered / overdue at
    entry) of cured and of uncured cases per entry bucket, so that ``expected_recovery`` turns a probability into
    元.

    Parameters
    ----------
    max_iter : int, default=150
    learning_rate : float, default=0.06
    max_depth : int, default=3
    random_state : int, default=0
    """

    def __init__(self, max_iter: int = 150, learning_rate: float = 0.06, max_depth: int = 3, random_state: int = 0):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.random_state = random_state

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return tree_frame(X, FEATURES, CATEGORICAL, self.categories_)

    def fit(self, X: pd.DataFrame, y) -> "PropensityToPay":
        y = np.asarray(y).astype(int)
        if len(np.unique(y)) < 2:
            raise ValueError("y must contain both cured (1) and uncured (0) cases.")
        self.categories_ = {c: sorted(X[c].astype(str).unique()) for c in CATEGORICAL}
        self.model_ = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                                     max_depth=self.max_depth, random_state=self.random_state,
                                                     categorical_features="from_dtype")
        self.model_.fit(self._frame(X), y)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(FEATURES, dtype=object)
        ratio = X["recovery_ratio"].astype(float) if "recovery_ratio" in X else pd.Series(y, index=X.index, dtype=float)
        frame = pd.DataFrame({"bucket": X["entry_bucket"].astype(int).to_numpy(), "cured": y, "ratio": ratio.to_numpy()})
        table = frame.groupby(["bucket", "cured"])["ratio"].mean().unstack()
        overall = frame.groupby("cured")["ratio"].mean()
        self.recovery_if_cured_ = {int(b): float(table.get(1, pd.Series()).get(b, overall.get(1, 1.0))) for b in table.index}
        self.recovery_if_not_ = {int(b): float(table.get(0, pd.Series()).get(b, overall.get(0, 0.0))) for b in table.index}
        return self

    def proba_by_option(self, X: pd.DataFrame, options: list[str]) -> np.ndarray:
        """P(cure) of every case (rows) in every option (columns): one prediction per option, not per pair."""
        out = np.empty((len(X), len(options)))
        for j, opt in enumerate(options):
            out[:, j] = self.predict_proba(X.assign(option=opt))[:, 1]
        return out

    def expected_recovery(self, X: pd.DataFrame, p_cure: np.ndarray) -> np.ndarray:
        """Expected 元 recovered: overdue × (p × mean ratio if cured + (1 − p) × mean ratio if not), by bucket."""
        check_is_fitted(self, "model_")
        b = X["entry_bucket"].astype(int).to_numpy()
        rc = np.array([self.recovery_if_cured_.get(int(k), 1.0) for k in b])
        rn = np.array([self.recovery_if_not_.get(int(k), 0.0) for k in b])
        over = X["overdue_at_entry"].astype(float).to_numpy()
        p = np.asarray(p_cure, dtype=float)
        if p.ndim == 2:
            return over[:, None] * (p * rc[:, None] + (1 - p) * rn[:, None])
        return over * (p * rc + (1 - p) * rn)
