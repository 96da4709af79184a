"""The figures a validation report rests on, from one out-of-time sample (outcome ``y`` 0/1, model output ``p``):
discrimination with bootstrap intervals, calibration by decile, sample sizes.

Bootstrap: the **stratified percentile bootstrap** — the events and the non-events are each resampled with
replacement to their own count, so every resample holds both and the event rate stays that of the sample; the
interval is the (1 − level)/2 and (1 + level)/2 percentiles of the resampled statistic (Efron & Tibshirani, *An
Introduction to the Bootstrap*, 1993, ch. 13; stratified as in pROC's ``ci.auc``, Robin et al., BMC
Bioinformatics 12:77, 2011). AUC counts a tie as half a concordant pair (Mann–Whitney); KS is the largest gap
between the cumulative shares of events and non-events above a cut-off, as ``behaviour_pd.ks_statistic``; Gini is
2·AUC − 1.
"""
from __future__ import annotations

import numpy as np

N_BOOT = 1000
LEVEL = 0.95


def _groups(y: np.ndarray, p: np.ndarray):
    """Distinct output values in descending order: each row's group, events' and non-events' group ids."""
    values, inv = np.unique(-p, return_inverse=True)  # ascending in −p: the riskiest group first
    return len(values), inv[y == 1], inv[y == 0]


def _auc_ks(k: int, ev: np.ndarray, ne: np.ndarray) -> tuple[float, float]:
    """AUC and KS from the group ids of events ``ev`` and non-events ``ne`` (groups ordered riskiest first)."""
    b = np.bincount(ev, minlength=k) / len(ev)
    g = np.bincount(ne, minlength=k) / len(ne)
    g_below = 1.0 - np.cumsum(g)  # non-events in less risky groups
    auc = float(np.sum(b * (g_below + 0.5 * g)))
    ks = float(max(0.0, np.max(np.cumsum(b) - np.cumsum(g))))
    return auc, ks


def _check(y, p) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y).astype(int).ravel(), np.asarray(p, dtype=float).ravel()
    if len(y) != len(p):
        raise ValueError(f"{len(y)} outcomes for {len(p)} predictions.")
    if not set(np.unique(y)) <= {0, 1} or y.sum() == 0 or y.sum() == len(y):
        raise ValueError("the sample needs both outcomes (0 and 1) to measure discrimination.")
    if not np.isfinite(p).all():
        raise ValueError("the predictions hold missing or infinite values.")
    return y, p


def discrimination_point(y, p) -> dict:
    """AUC, KS and Gini of ``p`` against ``y`` (the same figures as ``behaviour_pd.discrimination``)."""
    y, p = _check(y, p)
    auc, ks = _auc_ks(*_groups(y, p))
    return {"auc": auc, "ks": ks, "gini": 2 * auc - 1}


def bootstrap_samples(y, p, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, np.ndarray]:
    """``n_boot`` stratified resamples' AUC, KS and Gini (arrays)."""
    y, p = _check(y, p)
    k, ev, ne = _groups(y, p)
    rng = np.random.default_rng(seed)
    auc, ks = np.empty(n_boot), np.empty(n_boot)
    for i in range(n_boot):
        auc[i], ks[i] = _auc_ks(k, ev[rng.integers(0, len(ev), len(ev))], ne[rng.integers(0, len(ne), len(ne))])
    return {"auc": auc, "ks": ks, "gini": 2 * auc - 1}


def bootstrap_intervals(y, p, n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0) -> dict:
    """Point figures and their stratified percentile bootstrap intervals:
    ``{"auc": [point, low, high], "ks": […], "gini": […], "n_boot": n, "level": level}``."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1; got {level}.")
    point = discrimination_point(y, p)
    draws = bootstrap_samples(y, p, n_boot, seed)
    lo, hi = (1 - level) / 2, (1 + level) / 2
    out = {m: [point[m], float(np.quantile(draws[m], lo)), float(np.quantile(draws[m], hi))] for m in point}
    return {**out, "n_boot": int(n_boot), "level": float(level)}


def calibration_deciles(y, p, bands: int = 10) -> list[dict]:
    """Rows ranked by ``p`` and cut into ``bands`` groups of (nearly) equal size, band 1 the lowest predicted:
    per band its rows, mean prediction and observed rate."""
    y, p = _check(y, p)
    order = np.argsort(p, kind="stable")
    out = []
    for i, part in enumerate(np.array_split(order, min(bands, len(p))), start=1):
        out.append({"band": i, "rows": int(len(part)), "predicted": float(p[part].mean()),
                    "observed": float(y[part].mean())})
    return out


def evidence(y, p, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """What the validation report needs from an out-of-time sample, small enough for the registry's metrics:
    rows, events, the mean prediction against the observed rate, intervals and calibration by decile."""
    y, p = _check(y, p)
    return {"rows": int(len(y)), "events": int(y.sum()), "predicted": float(p.mean()), "observed": float(y.mean()),
            "intervals": bootstrap_intervals(y, p, n_boot=n_boot, seed=seed),
            "calibration": calibration_deciles(y, p)}
