"""Challenger models: another method on the same inputs and the same windows as each champion, so that a
validator can see whether the champion still earns its place.

* beside the application scorecard (binned WOE logistic regression): gradient-boosted trees
  (:class:`TreeChallenger`) — more flexible, less explainable;
* beside the tree models (early-warning PD, propensity to pay): a plain logistic regression
  (:class:`LogisticChallenger`) — less flexible, fully explainable.

:func:`verdict` states why the champion stays or should be replaced, from the two validated AUCs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .behaviour_pd import TreeFrameClassifier, tree_frame

# a challenger must beat the champion by more than this AUC to be worth the change (and the re-validation)
MATERIAL_AUC = 0.01


class LogisticChallenger(TreeFrameClassifier):
    """Logistic regression on ``features``: numeric ones median-imputed and standardised, ``categorical`` ones
    one-hot encoded (a level unseen in training is all zeros)."""

    def __init__(self, features: tuple = (), categorical: tuple = (), C: float = 1.0):
        self.features = features
        self.categorical = categorical
        self.C = C

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.features if c not in X.columns]
        if missing:
            raise ValueError(f"X is missing feature columns {missing}.")
        df = X[list(self.features)].copy()
        for c in self.features:
            df[c] = df[c].astype(str) if c in self.categorical else pd.to_numeric(df[c], errors="coerce").astype(float)
        return df

    def fit(self, X: pd.DataFrame, y) -> "LogisticChallenger":
        y = np.asarray(y).astype(int)
        if len(np.unique(y)) < 2:
            raise ValueError("y must contain both classes (0 and 1).")
        numeric = [c for c in self.features if c not in self.categorical]
        pre = ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(self.categorical))])
        self.model_ = make_pipeline(pre, LogisticRegression(C=self.C, max_iter=2000))
        self.model_.fit(self._frame(X), y)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(self.features, dtype=object)
        return self


class TreeChallenger(TreeFrameClassifier):
    """Gradient-boosted trees on ``features`` (``categorical`` ones as categories)."""

    def __init__(self, features: tuple = (), categorical: tuple = (), max_iter: int = 200,
                 learning_rate: float = 0.05, max_depth: int = 3, random_state: int = 0):
        self.features = features
        self.categorical = categorical
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.random_state = random_state

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return tree_frame(X, list(self.features), list(self.categorical), getattr(self, "categories_", {}))

    def fit(self, X: pd.DataFrame, y) -> "TreeChallenger":
        y = np.asarray(y).astype(int)
        if len(np.unique(y)) < 2:
            raise ValueError("y must contain both classes (0 and 1).")
        self.categories_ = {c: sorted(X[c].astype(str).unique()) for c in self.categorical}
        self.model_ = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                                     max_depth=self.max_depth, random_state=self.random_state,
                                                     categorical_features="from_dtype")
        self.model_.fit(self._frame(X), y)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(self.features, dtype=object)
        return self


def verdict(champion_auc: float | None, challenger_auc: float | None) -> str:
    """Why the champion stays (or should go), from the validated out-of-time AUCs: 'keep_better' (the champion
    discriminates at least as well), 'keep_immaterial' (the challenger is better by no more than MATERIAL_AUC,
    not worth a change of model), 'replace' (the challenger is materially better), 'unknown'."""
    if champion_auc is None or challenger_auc is None or not np.isfinite([champion_auc, challenger_auc]).all():
        return "unknown"
    diff = challenger_auc - champion_auc
    if diff <= 0:
        return "keep_better"
    return "keep_immaterial" if diff <= MATERIAL_AUC else "replace"
