"""Early-warning (behaviour) PD model: probability that a current or M1 loan reaches 30+ dpd within 3 months."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.utils.validation import check_is_fitted

from data_access.features import BEHAVIOUR_FEATURES

CATEGORICAL = ["village_grade", "segment", "product_id", "guarantee_type"]


def tree_frame(X: pd.DataFrame, features: list[str], categorical: list[str], categories: dict) -> pd.DataFrame:
    """The model frame of a tree model: ``features`` in order, ``categorical`` ones as pandas categories with the
    levels seen in training (``categories``; an unseen level becomes missing), the rest as floats."""
    missing = [c for c in features if c not in X.columns]
    if missing:
        raise ValueError(f"X is missing feature columns {missing}.")
    df = X[features].copy()
    for c in categorical:
        df[c] = pd.Categorical(df[c].astype(str), categories=categories.get(c))
    for c in df.columns.difference(categorical):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


class TreeFrameClassifier(ClassifierMixin, BaseEstimator):
    """Shared prediction of the models that read a frame through ``_frame`` into a fitted ``model_`` (the
    gradient-boosted models and the challengers)."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(self._frame(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class BehaviourPD(TreeFrameClassifier):
    """Gradient-boosted trees on loan behaviour (dpd history, warnings) and borrower facts.

    Parameters
    ----------
    max_iter : int, default=200
        Boosting rounds.
    learning_rate : float, default=0.06
        Shrinkage of each round.
    max_depth : int, default=4
        Depth of each tree; shallow trees keep the model stable month to month.
    random_state : int, default=0
        Seed, so that a retrain on the same data gives the same model.
    """

    def __init__(self, max_iter: int = 200, learning_rate: float = 0.06, max_depth: int = 4, random_state: int = 0):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.random_state = random_state

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return tree_frame(X, BEHAVIOUR_FEATURES, CATEGORICAL, getattr(self, "categories_", {}))

    def fit(self, X: pd.DataFrame, y) -> "BehaviourPD":
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1]; got {self.learning_rate}.")
        y = np.asarray(y).astype(int)
        if len(np.unique(y)) < 2:
            raise ValueError("y must contain both good (0) and bad (1) loans.")
        self.categories_ = {c: sorted(X[c].astype(str).unique()) for c in CATEGORICAL}
        df = self._frame(X)
        self.model_ = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                                     max_depth=self.max_depth, random_state=self.random_state,
                                                     categorical_features="from_dtype")
        self.model_.fit(df, y)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(BEHAVIOUR_FEATURES, dtype=object)
        return self


def ks_statistic(y, score) -> float:
    """Kolmogorov-Smirnov distance between the score distributions of bad and good."""
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.max(tpr - fpr))


def discrimination(y, score) -> dict:
    """AUC, Gini and KS of a score against outcomes."""
    auc = float(roc_auc_score(y, score))
    return {"auc": auc, "gini": 2 * auc - 1, "ks": ks_statistic(y, score)}


def capture_curve(y, score, workloads=(0.01, 0.02, 0.05, 0.10, 0.15, 0.20, 0.30)) -> list[dict]:
    """Share of bad loans caught when inspecting the riskiest ``w`` share of loans, for each workload ``w``."""
    y = np.asarray(y).astype(int)
    order = np.argsort(-np.asarray(score))
    total_bad = max(1, y.sum())
    out = []
    for w in workloads:
        k = max(1, int(round(w * len(y))))
        out.append({"workload": w, "caught": float(y[order[:k]].sum() / total_bad)})
    return out


def caught_at(capture: list[dict], workload: float) -> float:
    """Share of bad loans caught when inspecting the riskiest ``workload`` share, read off a validated capture
    curve (linear between its points, 0 at 0)."""
    w = [0.0] + [p["workload"] for p in capture]
    c = [0.0] + [p["caught"] for p in capture]
    return float(np.interp(workload, w, c))
