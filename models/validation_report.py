"""The validation report of one model name, assembled from the registry alone (what ``strategy.model_monitor``
returns for it): which models are registered, every window, the samples, discrimination with bootstrap
intervals, calibration, stability, the challenger, limitations and the monitoring thresholds.

Every figure is read, not recomputed: discrimination and sample sizes from the validated model's ``metrics``
(``metrics["evidence"]`` — ``models.validation.evidence`` of the out-of-time sample, written at training — for
the intervals and calibration by decile), stability from ``model_monitor`` rows. A model registered before the
evidence was kept has no interval; the report says so rather than invent one. Texts are locale keys
(``vr.*``); the page and the PDF (``components.validation_report``) render the same dict.
"""
from __future__ import annotations

import pandas as pd

SLOTS = ("validated", "production", "challenger")
WINDOW_FIELDS = ("train_from", "train_to", "horizon_months", "label_to", "gap_months", "valid_from", "valid_to",
                 "valid_label_to", "monitor_from", "data_to")
# the monitor's lights (models.monitor defines the same figures once its thresholds are constants there)
AUC_AMBER, AUC_RED = 0.03, 0.05
PSI_AMBER, PSI_RED = 0.10, 0.25
FEW_EVENTS = 100        # fewer validation events than this: the AUC interval is wide, say so
WIDE_INTERVAL = 0.10    # an AUC interval wider than this is a limitation of the evidence


def thresholds() -> dict:
    """The monitor's amber / red thresholds (its own constants when it has them)."""
    try:
        from . import monitor
        auc = (getattr(monitor, "AUC_AMBER", AUC_AMBER), getattr(monitor, "AUC_RED", AUC_RED))
        psi = (getattr(monitor, "PSI_AMBER", PSI_AMBER), getattr(monitor, "PSI_RED", PSI_RED))
    except ImportError:  # pragma: no cover - the monitor ships with the models
        auc, psi = (AUC_AMBER, AUC_RED), (PSI_AMBER, PSI_RED)
    return {"auc_amber": auc[0], "auc_red": auc[1], "psi_amber": psi[0], "psi_red": psi[1]}


def slots(entry: dict) -> dict:
    """{slot: {"card", "rows"}} of a model name: the registry's validated / production / challenger models, or
    (a registry from before windows were kept) its one active model as the production one."""
    if entry.get("models"):
        return {k: v for k, v in entry["models"].items() if k in SLOTS}
    return {"production": {"card": entry["card"], "rows": entry.get("rows")}}


def _verdict(champion_auc, challenger_auc) -> str | None:
    """The monitor's rule for whether the champion stays (``models.challengers.verdict``), when it ships."""
    try:
        from .challengers import verdict
    except ImportError:
        return None
    return verdict(champion_auc, challenger_auc)


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else None


def _sample(m: dict) -> dict:
    ev = m.get("evidence") or {}
    return {"train_rows": m.get("train_rows"), "valid_rows": ev.get("rows", m.get("valid_rows")),
            "valid_events": ev.get("events"),
            "train_rate": _num(m.get("bad_rate_train", m.get("train_bad_rate"))),
            "valid_rate": _num(ev.get("observed", m.get("bad_rate_valid"))),
            "valid_predicted": _num(ev.get("predicted"))}


def _discrimination(slot: str, m: dict) -> list[dict]:
    iv = (m.get("evidence") or {}).get("intervals") or {}
    out = []
    for metric in ("auc", "ks", "gini"):
        value = _num(m.get(metric))
        if value is None and metric == "gini" and _num(m.get("auc")) is not None:
            value = 2 * float(m["auc"]) - 1
        if value is None:
            continue
        ci = iv.get(metric)
        out.append({"slot": slot, "metric": metric, "value": value,
                    "low": float(ci[1]) if ci else None, "high": float(ci[2]) if ci else None,
                    "level": iv.get("level"), "n_boot": iv.get("n_boot")})
    return out


def _windows(slot: str, card: dict) -> dict:
    m = card.get("metrics") or {}
    w = {"slot": slot, **{f: card.get(f) for f in WINDOW_FIELDS}}
    if not w["train_from"] and card.get("data_window"):  # registered before windows were kept
        w["train_from"], _, w["train_to"] = str(card["data_window"]).partition("..")
    if not w["valid_from"] and not card.get("kind"):  # the same: its out-of-time months are in its metrics
        valid = m.get("valid_months") or m.get("valid_month")
        if valid:
            w["valid_from"], _, to = str(valid).partition("..")
            w["valid_to"] = to or w["valid_from"]
    return w


def _latest(rows: pd.DataFrame | None, metric: str):
    if rows is None or rows.empty:
        return None
    d = rows[(rows["metric"] == metric)].dropna(subset=["value"])
    if d.empty:
        return None
    last = d[d["month"] == d["month"].max()]
    return last


def build(name: str, entry: dict) -> dict:
    """The report of model ``name`` from its registry entry (see the module docstring for each part)."""
    sl = slots(entry)
    champion = sl.get("validated") or sl.get("production") or next(iter(sl.values()))
    cm = champion["card"].get("metrics") or {}
    models = [{"slot": k, "id": v["card"].get("id"), "version": v["card"].get("version"),
               "trained_at": str(v["card"].get("trained_at") or "")[:16], "trained_by": v["card"].get("trained_by")}
              for k, v in sl.items()]
    windows = [_windows(k, v["card"]) for k, v in sl.items()]
    discrimination = _discrimination("validated" if "validated" in sl else "production", cm)
    chall = sl.get("challenger")
    challenger = None
    if chall:
        chm = chall["card"].get("metrics") or {}
        challenger = {"figures": _discrimination("challenger", chm), "sample": _sample(chm),
                      "auc_gap": (_num(chm.get("auc")) - _num(cm.get("auc")))
                      if _num(chm.get("auc")) is not None and _num(cm.get("auc")) is not None else None,
                      "verdict": _verdict(_num(cm.get("auc")), _num(chm.get("auc")))}
        discrimination += challenger["figures"]
    # calibration: the out-of-time sample's deciles when recorded, else the newest monitored month's
    ev = cm.get("evidence") or {}
    monitor_rows = (sl.get("production") or champion).get("rows")
    calibration = None
    if ev.get("calibration"):
        calibration = {"source": "validation", "month": None, "bands": ev["calibration"]}
    else:
        for rows in (champion.get("rows"), monitor_rows):
            pred, obs = _latest(rows, "calib_pred"), _latest(rows, "calib_obs")
            if pred is not None and obs is not None:
                o = obs.set_index("feature")["value"]
                bands = [{"band": int(r.feature), "rows": None, "predicted": float(r.value),
                          "observed": float(o.get(r.feature))} for r in pred.itertuples() if r.feature in o.index]
                calibration = {"source": "monitor", "month": pred["month"].iloc[0],
                               "bands": sorted(bands, key=lambda b: b["band"])}
                break
    psi_latest = _latest(monitor_rows, "psi")
    inputs = _latest(monitor_rows, "input_psi")
    stability = {"psi_validation": _num(cm.get("psi")),
                 "psi_latest": (psi_latest["month"].iloc[0], float(psi_latest["value"].iloc[0]))
                 if psi_latest is not None else None,
                 "inputs_month": inputs["month"].iloc[0] if inputs is not None else None,
                 "inputs": [(r.feature, float(r.value)) for r in
                            inputs.sort_values("value", ascending=False).head(5).itertuples()]
                 if inputs is not None else []}
    th = thresholds()
    valid_auc = _num(cm.get("auc"))
    th.update({"valid_auc": valid_auc, "auc_amber_line": valid_auc - th["auc_amber"] if valid_auc else None,
               "auc_red_line": valid_auc - th["auc_red"] if valid_auc else None})
    limitations = [(f"vr.limit.{name}", {})]
    auc_ci = next((d for d in discrimination if d["slot"] != "challenger" and d["metric"] == "auc"), None)
    sample = _sample(cm)
    if auc_ci is None or auc_ci["low"] is None:
        limitations.append(("vr.limit.no_interval", {}))
    elif auc_ci["high"] - auc_ci["low"] > WIDE_INTERVAL:
        limitations.append(("vr.limit.wide", {"low": auc_ci["low"], "high": auc_ci["high"]}))
    if sample["valid_events"] is not None and sample["valid_events"] < FEW_EVENTS:
        limitations.append(("vr.limit.few_events", {"events": sample["valid_events"], "floor": FEW_EVENTS}))
    if "production" in sl:
        limitations.append(("vr.limit.production", {}))
    if monitor_rows is None or monitor_rows.empty or not (monitor_rows["metric"] == "auc").any():
        limitations.append(("vr.limit.no_monitoring", {}))
    return {"name": name, "models": models, "windows": windows, "sample": sample, "discrimination": discrimination,
            "calibration": calibration, "stability": stability, "challenger": challenger, "thresholds": th,
            "limitations": limitations, "german_credit": cm.get("german_credit")}
