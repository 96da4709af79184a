"""Reference distributions kept with a registered model, and the population stability index against them.

At training, :func:`reference` records the deciles of the score and of every numeric input, and the shares of
every categorical input, over the training rows; the monitor later compares each month with that reference
(:func:`psi_against`) without reading the training months again. PSI = Σ (a − e) · ln(a / e) over the bins, with
empty bins floored at 1e-6 (the usual convention; thresholds 0.10 / 0.25 in ``models.monitor``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

FLOOR = 1e-6


def numeric_bins(values, bins: int = 10) -> dict | None:
    """Decile edges of ``values`` (open-ended outer bins) and the share of values in each; None when constant or
    empty (nothing to compare against)."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").astype(float)
    v = v[np.isfinite(v)]
    if len(v) == 0 or v.nunique() < 2:
        return None
    edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    share = np.histogram(v, edges)[0] / len(v)
    return {"type": "numeric", "edges": [float(e) for e in edges[1:-1]], "share": [float(x) for x in share]}


def category_bins(values) -> dict | None:
    v = pd.Series(values).astype(str)
    if len(v) == 0:
        return None
    share = v.value_counts(normalize=True).sort_index()
    return {"type": "category", "levels": [str(k) for k in share.index], "share": [float(x) for x in share]}


def actual_shares(ref: dict, values) -> np.ndarray:
    """Shares of ``values`` in the bins of ``ref`` (a category not seen in training counts in an extra bin)."""
    if ref["type"] == "numeric":
        v = pd.to_numeric(pd.Series(values), errors="coerce").astype(float)
        v = v[np.isfinite(v)].to_numpy()
        edges = np.concatenate([[-np.inf], ref["edges"], [np.inf]])
        counts = np.histogram(v, edges)[0]
        return counts / max(1, len(v))
    v = pd.Series(values).astype(str)
    counts = v.value_counts()
    known = [int(counts.get(k, 0)) for k in ref["levels"]]
    other = int(len(v) - sum(known))
    return np.array(known + [other]) / max(1, len(v))


def psi_against(ref: dict | None, values) -> float | None:
    """PSI of ``values`` against a reference from :func:`numeric_bins` / :func:`category_bins`."""
    if ref is None or len(values) == 0:
        return None
    e = np.asarray(ref["share"], dtype=float)
    a = actual_shares(ref, values)
    if ref["type"] == "category":
        e = np.append(e, 0.0)
    e, a = np.clip(e, FLOOR, None), np.clip(a, FLOOR, None)
    return float(np.sum((a - e) * np.log(a / e)))


def reference(score, X: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict:
    """The training reference of a model: its score's deciles and every input's bins."""
    inputs = {c: numeric_bins(X[c]) for c in numeric}
    inputs.update({c: category_bins(X[c]) for c in categorical})
    return {"score": numeric_bins(score), "inputs": {k: v for k, v in inputs.items() if v is not None}}
