"""Input checks of the application scorecard: every refusal names the column and the problem.

At fit: a column empty in every row, an infinite value, text in a numeric column, an outcome not coded 0 (good) /
1 (bad) — German Credit's original 1 = good / 2 = bad is the classic — too few rows or too few bads or goods.
At predict: the same column checks (a feed that lost a column must not score everyone as neutral), and what is
scored but worth knowing — a category the model never saw and a missing value in a column that never had one in
training both get neutral points (WOE 0) — is counted per column by ``input_report`` and raised as a
``ScorecardInputWarning``, never silent.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import DataConversionWarning


class ScorecardInputError(ValueError):
    """Bad input to the scorecard; the message names the column and the problem."""


class ScorecardInputWarning(UserWarning):
    """Scored, but some rows got neutral points for a reason the caller should see (unseen category, missing)."""


def _examples(values, k: int = 3) -> str:
    """The first ``k`` distinct values as a user reads them: numbers bare (1, 2), text quoted ('abc')."""
    shown = []
    for v in values:
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            t = f"{int(v)}" if float(v).is_integer() else f"{float(v):g}"
        else:
            t = repr(str(v))
        if t not in shown:
            shown.append(t)
    return ", ".join(shown[:k])


def as_frame(X) -> pd.DataFrame:
    """A DataFrame with string column names (a NumPy array gets x0, x1, … as scikit-learn's checks pass them)."""
    if hasattr(X, "tocsr") or hasattr(X, "sparse"):
        raise ScorecardInputError("sparse input is not supported: pass a DataFrame or a dense array.")
    if isinstance(X, pd.DataFrame):
        df = X.copy()
        df.columns = [str(c) for c in df.columns]
    else:
        arr = np.asarray(X, dtype=object if getattr(X, "dtype", None) is None else None)
        if arr.ndim != 2:
            raise ScorecardInputError(f"X must be a table (rows × columns); got an array of {arr.ndim} dimension(s). "
                                      "Reshape your data (one row per applicant).")
        if np.iscomplexobj(arr):
            raise ScorecardInputError("Complex data not supported: X must hold numbers or categories.")
        df = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    if df.shape[1] == 0:
        raise ScorecardInputError(f"X has 0 feature(s) (shape={df.shape}) while a minimum of 1 is required.")
    if df.shape[0] == 0:
        raise ScorecardInputError("X has no rows.")
    return df


def numeric_column(name: str, col: pd.Series) -> pd.Series:
    """``col`` as floats, or a ScorecardInputError naming ``name`` for text or an infinite value in it."""
    if pd.api.types.is_bool_dtype(col):
        col = col.astype(float)
    if not pd.api.types.is_numeric_dtype(col):
        num = pd.to_numeric(col, errors="coerce")
        text = col[num.isna() & col.notna()]
        text = text[text.astype(str).str.strip() != ""]
        if len(text):
            raise ScorecardInputError(f"column '{name}' should hold numbers but {len(text)} row(s) hold text "
                                      f"(e.g. {_examples(text)}).")
        col = num
    col = col.astype(float)
    inf = np.isinf(col.to_numpy())
    if inf.any():
        raise ScorecardInputError(f"column '{name}' has {int(inf.sum())} infinite value(s) (±inf); "
                                  "a scorecard bins finite numbers only — set them missing or cap them.")
    return col


def check_frame(X, names: list[str], categorical: set[str], at_fit: bool) -> pd.DataFrame:
    """X with the model's columns in order, numbers as floats and categories as text; refuses a missing column,
    a column empty in every row (of more than one row at predict: one applicant may lack one fact), text in a
    number and infinities."""
    df = as_frame(X)
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise ScorecardInputError(f"X is missing column(s) {', '.join(map(repr, missing))}.")
    out = {}
    for n in names:
        col = df[n]
        if col.isna().all() and (at_fit or len(df) > 1):
            raise ScorecardInputError(f"column '{n}' is empty in all {len(df)} rows"
                                      + (" (nothing to learn from)." if at_fit else
                                         " (a lost column would score every row as neutral)."))
        if n in categorical:
            out[n] = col.astype(object).map(lambda v: np.nan if pd.isna(v) else str(v))
        else:
            out[n] = numeric_column(n, col)
    return pd.DataFrame(out, index=df.index)


def check_target(y, n_rows: int, min_rows: int, min_per_class: int) -> np.ndarray:
    """y as 0/1 integers, or a ScorecardInputError saying what is wrong with it (coding, size, classes)."""
    if y is None:
        raise ScorecardInputError("the scorecard requires y to be passed, but the target y is None.")
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected; it is raveled.",
                      DataConversionWarning, stacklevel=3)
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ScorecardInputError("y must be one column of outcomes.")
    if len(arr) != n_rows:
        raise ScorecardInputError(f"y has {len(arr)} outcomes for {n_rows} rows of X.")
    s = pd.Series(arr)
    if s.isna().any():
        raise ScorecardInputError(f"y is missing in {int(s.isna().sum())} row(s); every row needs an outcome.")
    if pd.api.types.is_bool_dtype(s):
        s = s.astype(int)
    num = pd.to_numeric(s, errors="coerce")
    values = sorted(set(s.astype(str))) if num.isna().any() else sorted(set(num.tolist()))
    if num.isna().any() or not set(values) <= {0, 1}:
        if not num.isna().any() and (num != num.round()).any():
            kind = "continuous values"
        elif len(values) > 2:
            kind = "more than two classes (Only binary classification is supported)"
        else:
            kind = "other codes"
        hint = " (German Credit's original coding 1 = good, 2 = bad: use y == 2)" if set(values) == {1, 2} else ""
        raise ScorecardInputError(f"y must be coded 0 = good, 1 = bad; got {kind}: {_examples(values, 5)}{hint}.")
    y01 = num.astype(int).to_numpy()
    bads, goods = int(y01.sum()), int(len(y01) - y01.sum())
    if min(bads, goods) == 0:
        raise ScorecardInputError(f"y holds one class only ({goods} good, {bads} bad): a scorecard needs both "
                                  "good (0) and bad (1) outcomes.")
    if n_rows < min_rows:
        raise ScorecardInputError(f"{n_rows} rows are too few to fit a scorecard (at least {min_rows}).")
    if min(bads, goods) < min_per_class:
        raise ScorecardInputError(f"{bads} bad and {goods} good outcomes: a scorecard needs at least "
                                  f"{min_per_class} of each (the binning's bad rates would be noise).")
    return y01


def input_report(W: pd.DataFrame, categories: dict[str, set], had_missing: dict[str, bool]) -> pd.DataFrame:
    """Per column and problem, the rows scored with neutral points for a reason: ``unseen_category`` (a
    category not in the training data) and ``missing_unseen`` (missing where training had no missing value)."""
    rows = []
    for n, seen in categories.items():
        col = W[n]
        new = col[col.notna() & ~col.isin(seen)]
        if len(new):
            rows.append({"column": n, "problem": "unseen_category", "rows": int(len(new)), "examples": _examples(new)})
    for n, had in had_missing.items():
        k = int(W[n].isna().sum())
        if k and not had:
            rows.append({"column": n, "problem": "missing_unseen", "rows": k, "examples": ""})
    return pd.DataFrame(rows, columns=["column", "problem", "rows", "examples"])
