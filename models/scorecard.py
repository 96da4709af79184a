"""Application scorecard (申请评分卡): WOE binning (optbinning) + logistic regression, scaled to points.

The same class is fitted on the demo bank's applications and, as its proof on real data, on the UCI German Credit
set (``models.german_credit``: ten stratified 70/30 splits per seed, binning fitted on the training part only,
against optbinning's own defaults on the same splits). Points follow the usual scaling: ``base_score`` points at
odds (good:bad) ``base_odds``, and ``pdo`` more points each time the odds double.

What a validator checks, and where:

* **Signs.** optbinning's WOE is ln(share of goods / share of bads): higher is safer, so every coefficient of
  the regression (which predicts bad) must be negative. A variable whose coefficient comes out positive — a
  riskier bin would earn more points, typically through collinearity with a stronger variable — is dropped and
  the regression refitted, one variable at a time (the weakest by IV first); ``selection_`` and ``table()`` say
  so.
* **Enough data.** ``min_rows`` rows and ``min_per_class`` bads and goods, or a clear refusal.
* **Inputs.** ``models.scorecard_inputs``: a refusal names the column and the problem; rows scored neutral for a
  reason (unseen category, unexpected missing) are counted by ``input_report`` and warned about at predict.
* **scikit-learn semantics.** ``score(X, y)`` is the ROC AUC (what ``scoring="roc_auc"`` computes), so
  ``cross_val_score`` and ``GridSearchCV`` rank scorecards the way validators do; the points are ``points(X)``.
* **Regularisation.** ``C="cv"`` (default) picks the L2 strength by repeated stratified cross-validation
  (3 × 5 folds, log-loss) on the training data only, with each fold's WOE re-estimated from that fold's training
  rows; nothing outside the training data is seen. The penalty acts on the WOE columns divided by their standard
  deviation (coefficients are reported back on the WOE scale): on raw WOE a weak variable, whose WOE values
  spread little, is shrunk far harder than a strong one for the same penalty, so a strong penalty silently
  turned the weak variables off; standardised, every variable is shrunk alike.
* **Binning.** optbinning's own trend choice for numbers (``"auto"``: ascending, descending, peak or valley;
  ``"auto_asc_desc"`` forces a monotonic one), categories ordered by WOE with the categories rarer than
  ``cat_cutoff`` (5 % of the training rows) pooled into one bin (a category of 9 applicants has a WOE that is
  noise), no cap on the number of bins but optbinning's own (``max_n_bins`` sets one), every variable offered
  (``min_iv`` 0: a weak variable is shrunk by the regularisation rather than cut by a rule).
  ``models.german_credit`` compares this with optbinning's defaults on the same splits.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.utils.validation import check_is_fitted

from .scorecard_inputs import (ScorecardInputError, ScorecardInputWarning, as_frame, check_frame, check_target,
                               input_report)

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)

#: why a variable is not in the score (``selection_["status"]``), in the CLI's words
STATUS_TEXT = {"scored": "scored", "low_iv": "left out: information value below min_iv",
               "wrong_sign": "dropped: wrong sign (a riskier bin would get more points)"}


def _fit_lr(W, y, C: float) -> LogisticRegression:
    """L2 logistic regression on the WOE columns divided by their standard deviation (so that the penalty shrinks
    every variable alike), its coefficients then put back on the WOE scale: the fitted model takes WOE as it is."""
    sd = np.asarray(W, dtype=float).std(axis=0)
    sd[sd == 0] = 1.0  # a one-bin variable: WOE 0 everywhere, coefficient 0
    lr = LogisticRegression(C=C, max_iter=1000).fit(W / sd, y)  # a frame stays one: its names are checked at predict
    lr.coef_ = lr.coef_ / sd
    return lr


def _fold_woe(idx_tr: np.ndarray, y_tr: np.ndarray, idx_te: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WOE per column of bin indices, estimated on ``idx_tr`` / ``y_tr`` (half a row added to every cell so that a
    bin without bads or goods in the fold stays finite), applied to both parts."""
    W_tr, W_te = np.zeros(idx_tr.shape), np.zeros(idx_te.shape)
    bads, goods = y_tr.sum(), len(y_tr) - y_tr.sum()
    for j in range(idx_tr.shape[1]):
        k = int(max(idx_tr[:, j].max(), idx_te[:, j].max())) + 1
        b = np.bincount(idx_tr[:, j], weights=y_tr, minlength=k) + 0.5
        g = np.bincount(idx_tr[:, j], minlength=k) - b + 1.0
        woe = np.log((g / (goods + 0.5 * k)) / (b / (bads + 0.5 * k)))
        W_tr[:, j], W_te[:, j] = woe[idx_tr[:, j]], woe[idx_te[:, j]]
    return W_tr, W_te


class ApplicationScorecard(ClassifierMixin, BaseEstimator):
    """WOE-binned logistic regression scorecard.

    Parameters
    ----------
    categorical : list of str
        Columns binned as categories (others must be numbers).
    base_score, base_odds, pdo : float
        Scaling: ``base_score`` points at good:bad odds ``base_odds``; ``pdo`` points double the odds.
    min_iv : float, default 0.0
        Variables with a lower information value (on the training data) are left out.
    max_n_bins : int or None, default None
        At most this many bins per variable (None: optbinning's own limits, ``min_prebin_size`` 5 % of the rows).
    cat_cutoff : float or None, default 0.05
        Categories rarer than this share of the training rows are pooled into one bin (None: every category its
        own).
    C : float or "cv", default "cv"
        Inverse L2 strength of the logistic regression on the standardised WOE, or "cv": chosen from ``C_GRID``
        by inner cross-validation on the training data (see above).
    monotonic_trend : str, default "auto"
        optbinning's trend for numeric variables ("auto" lets the solver choose a peak or valley too).
    min_rows : int, default 100
    min_per_class : int, default 20
        Fewest bads and fewest goods to fit on: with fewer, the bins' bad rates are noise.
    """

    def __init__(self, categorical: list[str] | None = None, base_score: float = 600.0, base_odds: float = 50.0,
                 pdo: float = 20.0, min_iv: float = 0.0, max_n_bins: int | None = None, C="cv",
                 min_rows: int = 100, min_per_class: int = 20, monotonic_trend: str = "auto",
                 cat_cutoff: float | None = 0.05):
        self.categorical = categorical
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.min_iv = min_iv
        self.max_n_bins = max_n_bins
        self.C = C
        self.min_rows = min_rows
        self.min_per_class = min_per_class
        self.monotonic_trend = monotonic_trend
        self.cat_cutoff = cat_cutoff

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # good/bad only
        tags.input_tags.allow_nan = True           # missing values get their own bin
        tags.input_tags.categorical = True
        return tags

    # ---------------------------------------------------------------- fit
    def fit(self, X, y) -> "ApplicationScorecard":
        from optbinning import BinningProcess
        if self.pdo <= 0 or self.base_odds <= 0:
            raise ValueError("pdo and base_odds must be positive.")
        if not (self.C == "cv" or (isinstance(self.C, (int, float)) and self.C > 0)):
            raise ValueError(f"C must be a positive number or 'cv'; got {self.C!r}.")
        df = as_frame(X)
        cat = list(self.categorical or [])
        unknown = [c for c in cat if c not in df.columns]
        if unknown:
            raise ScorecardInputError(f"categorical column(s) {', '.join(map(repr, unknown))} are not in X.")
        names = list(df.columns)
        F = check_frame(df, names, set(cat), at_fit=True)
        y = check_target(y, len(F), self.min_rows, self.min_per_class)
        # numeric variables: the trend ``monotonic_trend`` (optbinning's "auto" by default); categories by WOE,
        # the rare ones pooled
        params = {n: ({"dtype": "categorical", "max_n_bins": self.max_n_bins, "cat_cutoff": self.cat_cutoff}
                      if n in cat else
                      {"dtype": "numerical", "monotonic_trend": self.monotonic_trend, "max_n_bins": self.max_n_bins})
                  for n in names}
        self.binning_ = BinningProcess(names, categorical_variables=cat, binning_fit_params=params,
                                       min_n_bins=2, selection_criteria={"iv": {"min": self.min_iv}})
        self.binning_.fit(F, y)
        summary = self.binning_.summary().set_index("name")
        self.iv_ = summary["iv"].astype(float).sort_values(ascending=False)
        candidates = [n for n in names if bool(summary.loc[n, "selected"])]
        if not candidates:
            raise ScorecardInputError(f"no variable reaches information value {self.min_iv}: "
                                      "nothing to build a scorecard on.")
        W_all = self.binning_.transform(F, metric="woe")
        status = {n: ("scored" if n in candidates else "low_iv") for n in names}
        selected = list(candidates)
        while True:
            self.C_ = self._choose_C(F, y, selected)
            self.lr_ = _fit_lr(W_all[selected], y, self.C_)
            coef = self.lr_.coef_[0]
            wrong = [n for n, c in zip(selected, coef) if c > 0]
            if not wrong:
                break
            drop = min(wrong, key=lambda n: self.iv_[n])  # the weakest wrong-signed variable first, then refit
            status[drop] = "wrong_sign"
            selected.remove(drop)
            if not selected:
                raise ScorecardInputError("every variable came out with the wrong sign: no scorecard can be built.")
        self.selected_ = selected
        coefs = dict(zip(selected, self.lr_.coef_[0]))
        self.selection_ = pd.DataFrame({"variable": names, "iv": [float(self.iv_[n]) for n in names],
                                        "status": [status[n] for n in names],
                                        "coefficient": [float(coefs[n]) if n in coefs else np.nan for n in names]})
        self.dropped_ = {n: s for n, s in status.items() if s == "wrong_sign"}
        self.kinds_ = {n: ("categorical" if n in cat else "numerical") for n in names}
        self.categories_ = {n: set(F[n].dropna().unique()) for n in cat}
        self.had_missing_ = {n: bool(F[n].isna().any()) for n in names}
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(names)
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.array(names, dtype=object)
        return self

    def _choose_C(self, F: pd.DataFrame, y: np.ndarray, selected: list[str]) -> float:
        """``C`` itself, or (``C="cv"``) the value of ``C_GRID`` with the lowest mean log-loss over 3 × 5
        stratified folds of the training data. In each fold the WOE of every bin is re-estimated from the fold's
        training rows only (the bins stay those of the whole training data): WOE values that had seen the
        held-out fold's outcomes would favour too little regularisation. Log-loss rather than AUC: it moves
        smoothly with C, where fold AUCs differ by noise."""
        if self.C != "cv":
            return float(self.C)
        idx = self.binning_.transform(F, metric="indices")[selected].to_numpy().astype(int)
        folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=3, random_state=0).split(idx, y)
        loss = np.zeros(len(C_GRID))
        for tr, te in folds:
            W_tr, W_te = _fold_woe(idx[tr], y[tr], idx[te])
            for k, C in enumerate(C_GRID):
                lr = _fit_lr(W_tr, y[tr], C)
                loss[k] += log_loss(y[te], lr.predict_proba(W_te)[:, 1], labels=[0, 1])
        return float(C_GRID[int(np.argmin(loss))])

    # ---------------------------------------------------------------- predict
    def _frame(self, X) -> pd.DataFrame:
        check_is_fitted(self, "lr_")
        names = list(self.kinds_)
        df = as_frame(X)
        if not isinstance(X, pd.DataFrame):
            if df.shape[1] != len(names):
                raise ScorecardInputError(f"X has {df.shape[1]} features, but ApplicationScorecard is expecting "
                                          f"{len(names)} features as input.")
            df.columns = names
        cat = {n for n, k in self.kinds_.items() if k == "categorical"}
        return check_frame(df, names, cat, at_fit=False)

    def input_report(self, X) -> pd.DataFrame:
        """Rows of X that would get neutral points for a reason, per column: ``unseen_category`` (a category the
        training data did not have) and ``missing_unseen`` (missing where training had no missing value)."""
        return input_report(self._frame(X), self.categories_, self.had_missing_)

    def _woe(self, X) -> pd.DataFrame:
        F = self._frame(X)
        report = input_report(F, self.categories_, self.had_missing_)
        for r in report.itertuples():
            what = ("categories not seen in training (" + r.examples + ")" if r.problem == "unseen_category"
                    else "missing values, which training never had")
            warnings.warn(f"column '{r.column}': {r.rows} row(s) hold {what}; they get neutral points (WOE 0).",
                          ScorecardInputWarning, stacklevel=3)
        return self.binning_.transform(F, metric="woe")[self.selected_]

    def predict_proba(self, X) -> np.ndarray:
        W = self._woe(X)
        return self.lr_.predict_proba(W)

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of bad (what scikit-learn's ranking metrics may use instead of ``predict_proba``)."""
        W = self._woe(X)
        return self.lr_.decision_function(W)

    def score(self, X, y, sample_weight=None) -> float:
        """ROC AUC of the probability of bad against ``y`` (0 good, 1 bad) — scikit-learn's ``roc_auc`` scoring.
        For the points of each applicant use ``points``."""
        y = check_target(y, len(as_frame(X)), 0, 1)
        return float(roc_auc_score(y, self.predict_proba(X)[:, 1], sample_weight=sample_weight))

    # ---------------------------------------------------------------- points
    @property
    def factor_(self) -> float:
        return self.pdo / np.log(2)

    @property
    def offset_(self) -> float:
        return self.base_score - self.factor_ * np.log(self.base_odds)

    def points(self, X) -> np.ndarray:
        """Points: offset + factor × ln(good:bad odds); higher is safer."""
        p_bad = np.clip(self.predict_proba(X)[:, 1], 1e-9, 1 - 1e-9)
        return self.offset_ + self.factor_ * np.log((1 - p_bad) / p_bad)

    def table(self) -> pd.DataFrame:
        """The scorecard: per variable and bin, count, event rate, WOE, IV and points (the intercept spread evenly
        over the variables, so that a score is the sum of one bin's points per variable). A variable dropped for a
        wrong sign is listed too, with no points and the reason in ``note``."""
        check_is_fitted(self, "lr_")
        coef = dict(zip(self.selected_, self.lr_.coef_[0]))
        n = len(self.selected_)
        rows = []
        for name in self.selected_ + list(self.dropped_):
            bt = self.binning_.get_binned_variable(name).binning_table.build(show_digits=4)
            bt = bt[~bt.index.astype(str).isin(["Totals"])]
            for _, r in bt.iterrows():
                if r["Count"] == 0:
                    continue
                woe = float(r["WoE"])
                if name in coef:  # score = offset − factor × log-odds(bad) = Σ over variables of this, one bin each
                    points = round(-self.factor_ * (coef[name] * woe + self.lr_.intercept_[0] / n) + self.offset_ / n, 1)
                else:
                    points = np.nan
                b = r["Bin"]
                label = ", ".join(map(str, list(b))) if not isinstance(b, str) and hasattr(b, "__len__") else str(b)
                rows.append({"variable": name, "bin": label, "count": int(r["Count"]),
                             "bad_rate": float(r["Event rate"]), "woe": woe, "iv": float(r["IV"]), "points": points,
                             "note": "" if name in coef else STATUS_TEXT[self.dropped_[name]]})
        return pd.DataFrame(rows)

    def __setstate__(self, state):
        """Models pickled before the input checks: their columns' kinds from ``categorical``, no category list
        (so no unseen-category count) and no variable dropped for its sign. Models pickled before rare categories
        were pooled pooled none (``cat_cutoff`` None)."""
        self.__dict__.update(state)
        self.__dict__.setdefault("cat_cutoff", None)
        if "lr_" in state and "kinds_" not in state:
            cat = set(self.categorical or [])
            names = list(self.binning_.variable_names)
            self.kinds_ = {n: ("categorical" if n in cat else "numerical") for n in names}
            self.categories_, self.had_missing_, self.dropped_ = {}, {n: True for n in names}, {}
            self.C_ = self.C


def __getattr__(name: str):
    """German Credit's loader and validation live in ``models.german_credit``; kept importable from here."""
    if name in ("german_credit", "german_credit_validation", "GERMAN_CATEGORICAL"):
        from . import german_credit
        return getattr(german_credit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ApplicationScorecard", "ScorecardInputError", "ScorecardInputWarning", "C_GRID", "STATUS_TEXT"]
