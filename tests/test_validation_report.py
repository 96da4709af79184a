"""Validation report (#17 item 8): built from the registry alone, its figures trace to it, in both languages and
as a PDF; the bootstrap interval checked on hand-made examples."""
from __future__ import annotations

import io
import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.behaviour_pd import ks_statistic
from models.validation import (bootstrap_intervals, bootstrap_samples, calibration_deciles, discrimination_point,
                               evidence)


# ---------------------------------------------------------------- bootstrap by hand
def test_bootstrap_distribution_of_a_two_by_two_sample_matches_its_enumeration():
    """Bads score 0.9 and 0.3, goods 0.5 and 0.1: AUC 3/4. Resampling each class to its own size gives 4 × 4
    equally likely samples: both bads 0.9 → AUC 1 (4 of 16); both 0.3 → 0, 1 or 1/2 by the goods (1, 1, 2 of 16);
    one of each → 1/2, 1 or 3/4 (2, 2, 4 of 16). So P(AUC = 1) = 7/16, P(0) = 1/16, P(1/2) = 4/16, P(3/4) = 4/16,
    mean 3/4; the 25th percentile is 1/2 and the 75th is 1."""
    y, p = [1, 1, 0, 0], [0.9, 0.3, 0.5, 0.1]
    exact = {}
    for b in itertools.product([0.9, 0.3], repeat=2):
        for g in itertools.product([0.5, 0.1], repeat=2):
            auc = np.mean([1.0 if bi > gi else 0.5 if bi == gi else 0.0 for bi in b for gi in g])
            exact[auc] = exact.get(auc, 0) + 1 / 16
    assert exact == {1.0: 7 / 16, 0.0: 1 / 16, 0.5: 4 / 16, 0.75: 4 / 16}
    draws = bootstrap_samples(y, p, n_boot=40000, seed=3)["auc"]
    for value, prob in exact.items():
        assert (draws == value).mean() == pytest.approx(prob, abs=0.01), value
    assert draws.mean() == pytest.approx(0.75, abs=0.01)
    ci = bootstrap_intervals(y, p, n_boot=40000, level=0.5, seed=3)
    assert ci["auc"] == [0.75, 0.5, 1.0] and ci["gini"] == [0.5, 0.0, 1.0]


def test_bootstrap_interval_properties_and_point_figures():
    # perfectly separated: every resample separates too
    ci = bootstrap_intervals([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9], n_boot=500)
    assert ci["auc"] == [1.0, 1.0, 1.0] and ci["ks"] == [1.0, 1.0, 1.0]
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.2).astype(int)
    p = np.round(rng.random(2000) * 0.6 + 0.25 * y, 2)  # ties on purpose: they count half
    d = discrimination_point(y, p)
    assert d["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert d["ks"] == pytest.approx(ks_statistic(y, p), abs=1e-12)
    big = bootstrap_intervals(y, p, n_boot=800)
    small = bootstrap_intervals(y[:500], p[:500], n_boot=800)
    assert big["auc"][1] < big["auc"][0] < big["auc"][2]
    # a quarter of the sample: about twice the width (√4)
    ratio = (small["auc"][2] - small["auc"][1]) / (big["auc"][2] - big["auc"][1])
    assert 1.5 < ratio < 2.6, ratio
    # Hanley & McNeil (1982) standard error of the AUC: the 95 % interval is about ± 1.96 of it
    A, nb, ng = d["auc"], int(y.sum()), int(len(y) - y.sum())
    q1, q2 = A / (2 - A), 2 * A * A / (1 + A)
    se = np.sqrt((A * (1 - A) + (nb - 1) * (q1 - A * A) + (ng - 1) * (q2 - A * A)) / (nb * ng))
    assert (big["auc"][2] - big["auc"][1]) / (2 * 1.96 * se) == pytest.approx(1, abs=0.2)
    with pytest.raises(ValueError, match="both outcomes"):
        bootstrap_intervals([0, 0], [0.1, 0.2])


def test_calibration_deciles_by_hand():
    y = [0] * 9 + [1] + [0] * 5 + [1] * 5
    p = [0.05] * 10 + [0.5] * 10
    bands = calibration_deciles(y, p, bands=2)
    assert bands == [{"band": 1, "rows": 10, "predicted": 0.05, "observed": 0.1},
                     {"band": 2, "rows": 10, "predicted": 0.5, "observed": 0.5}]


# ---------------------------------------------------------------- the report from a registry entry
def registry_entry() -> dict:
    """What strategy.model_monitor returns for one name: a validated, a production and a challenger model."""
    rng = np.random.default_rng(1)
    y = (rng.random(600) < 0.1).astype(int)
    p = np.clip(rng.random(600) * 0.2 + 0.15 * y, 0.001, 0.999)
    ev = evidence(y, p, n_boot=300)
    windows = {"horizon_months": 12, "data_to": "2025-12"}
    validated = {"id": 41, "version": 3, "kind": "validated", "role": "champion", "trained_at": "2026-01-05 02:00:00",
                 "trained_by": "batch", "train_from": "2020-01", "train_to": "2022-06", "label_to": "2023-06",
                 "gap_months": 12, "valid_from": "2023-07", "valid_to": "2023-12", "valid_label_to": "2024-12",
                 "monitor_from": "2024-01", **windows,
                 "metrics": {"auc": ev["intervals"]["auc"][0], "ks": ev["intervals"]["ks"][0],
                             "gini": ev["intervals"]["gini"][0], "train_rows": 9000, "valid_rows": 600,
                             "bad_rate_train": 0.11, "bad_rate_valid": float(y.mean()), "psi": 0.012,
                             "evidence": ev, "german_credit": {"auc": 0.79, "ks": 0.47, "splits": 10}}}
    production = {**validated, "id": 42, "kind": "production", "train_to": "2024-12", "label_to": "2025-12",
                  "gap_months": None, "valid_from": None, "valid_to": None, "valid_label_to": None,
                  "monitor_from": "2025-01", "metrics": {**validated["metrics"], "validated_model_id": 41}}
    challenger = {**validated, "id": 43, "role": "challenger", "version": 1,
                  "metrics": {"auc": ev["intervals"]["auc"][0] + 0.004, "ks": 0.3, "train_rows": 9000}}
    rows = pd.DataFrame({"month": ["2025-06", "2025-06", "2025-06", "2025-07", "2025-07"],
                         "metric": ["psi", "input_psi", "input_psi", "psi", "input_psi"],
                         "feature": ["", "age", "annual_income", "", "annual_income"],
                         "value": [0.02, 0.01, 0.05, 0.031, 0.12]})
    empty = rows.iloc[0:0]
    return {"models": {"validated": {"card": validated, "rows": empty}, "production": {"card": production, "rows": rows},
                       "challenger": {"card": challenger, "rows": empty}}}


def text_of(blocks) -> str:
    out = []
    for b in blocks:
        out += [b[1]] if b[0] in ("h", "p") else [*b[1], *itertools.chain.from_iterable(b[2])]
    return "\n".join(map(str, out))


def test_report_figures_and_windows_trace_to_the_registry():
    from components.validation_report import build_pdf, document
    from models import validation_report as vr
    entry = registry_entry()
    report = vr.build("application_scorecard", entry)
    m = entry["models"]["validated"]["card"]["metrics"]
    assert [x["id"] for x in report["models"]] == [41, 42, 43]
    w = {x["slot"]: x for x in report["windows"]}
    assert (w["validated"]["train_from"], w["validated"]["train_to"], w["validated"]["valid_from"],
            w["validated"]["gap_months"], w["production"]["monitor_from"]) == ("2020-01", "2022-06", "2023-07", 12,
                                                                               "2025-01")
    auc = next(d for d in report["discrimination"] if d["slot"] == "validated" and d["metric"] == "auc")
    assert (auc["value"], auc["low"], auc["high"]) == tuple(m["evidence"]["intervals"]["auc"])
    assert report["sample"] == {"train_rows": 9000, "valid_rows": 600, "valid_events": m["evidence"]["events"],
                                "train_rate": 0.11, "valid_rate": m["evidence"]["observed"],
                                "valid_predicted": m["evidence"]["predicted"]}
    assert report["calibration"]["source"] == "validation" and len(report["calibration"]["bands"]) == 10
    # stability: the newest monitored month of the production model, inputs most shifted first
    assert report["stability"]["psi_latest"] == ("2025-07", 0.031)
    assert report["stability"]["inputs"] == [("annual_income", 0.12)]
    assert report["challenger"]["auc_gap"] == pytest.approx(0.004)
    th = report["thresholds"]
    assert th["auc_amber_line"] == pytest.approx(m["auc"] - 0.03) and th["psi_red"] == 0.25
    keys = [k for k, _ in report["limitations"]]
    assert "vr.limit.few_events" in keys and "vr.limit.production" in keys  # 60-odd bads, a refitted model
    for lang, word in (("zh", "验证月份"), ("en", "Validation months")):
        text = text_of(document(report, lang))
        assert word in text and "2020-01 – 2022-06" in text and "2023-07 – 2023-12" in text
        assert f"{auc['value']:.3f}" in text and f"{auc['low']:.3f} – {auc['high']:.3f}" in text
        assert "0.031" in text and "feat." not in text and "None" not in text and "vr." not in text
    from pypdf import PdfReader
    pdf = PdfReader(io.BytesIO(build_pdf(report, "zh")))
    pdf_text = "".join(page.extract_text() for page in pdf.pages)
    squeezed = pdf_text.replace("\x00", "").replace(" ", "").replace("\n", "")
    for must in ("模型验证报告", "2020-01–2022-06", f"{auc['low']:.3f}–{auc['high']:.3f}", "监控阈值", "挑战者"):
        assert must in squeezed, must


def test_a_model_registered_before_windows_and_evidence_still_gets_its_report():
    from components.validation_report import document
    from models import validation_report as vr
    old = {"card": {"id": 7, "version": 2, "trained_at": "2025-11-01 03:00:00", "trained_by": "bootstrap",
                    "data_window": "2021-01..2024-06", "metrics": {"auc": 0.85, "ks": 0.6, "valid_month": "2024-03"}},
           "rows": pd.DataFrame(columns=["month", "metric", "feature", "value"])}
    report = vr.build("behaviour_pd", old)
    w = report["windows"][0]
    assert (w["train_from"], w["train_to"], w["valid_from"], w["valid_to"]) == ("2021-01", "2024-06", "2024-03",
                                                                              "2024-03")
    assert [k for k, _ in report["limitations"]][:2] == ["vr.limit.behaviour_pd", "vr.limit.no_interval"]
    assert report["calibration"] is None and report["challenger"] is None
    text = text_of(document(report, "en"))
    assert "0.850" in text and "Gini" in text and "0.700" in text and "No challenger" in text


# ---------------------------------------------------------------- on the demo bank, every registered model
from tests.test_app import app_env, errors, logged_in  # noqa: E402,F401 - the app's fixture and helpers
from tests.security.served import served  # noqa: E402,F401 - a fixture


def test_the_report_opens_for_every_registered_model_and_traces_to_the_registry(app_env, served):  # noqa: F811
    import json
    from sqlalchemy import select
    from components.validation_report import document
    from data_access import schema as s, strategy
    from data_access.scope import scope_for_user
    from models import bootstrap, validation_report as vr
    assert bootstrap.main() == 0  # the three models a first start trains (those missing) and the monitor
    with app_env.connect() as conn:
        entries = strategy.model_monitor(conn, scope_for_user(conn, "strategy_chen"))
        registry = {r["id"]: r for r in conn.execute(select(s.model_registry).where(s.model_registry.c.active))
                    .mappings()}
    assert set(entries) == {"behaviour_pd", "application_scorecard", "propensity_to_pay"}
    for name, entry in entries.items():
        report = vr.build(name, entry)
        assert {m["id"] for m in report["models"]} == {r["id"] for r in registry.values() if r["name"] == name}
        for w, m in zip(report["windows"], report["models"]):
            row = registry[m["id"]]
            assert (w["train_from"], w["train_to"], w["valid_from"], w["monitor_from"]) == (
                row["train_from"], row["train_to"], row["valid_from"], row["monitor_from"]), (name, w)
        validated = next(r for r in registry.values() if r["name"] == name and r["kind"] == "validated"
                         and r["role"] == "champion")
        metrics = json.loads(validated["metrics"])
        auc = next(d for d in report["discrimination"] if d["slot"] == "validated" and d["metric"] == "auc")
        assert auc["value"] == metrics["auc"]
        text = text_of(document(report, "zh"))
        assert f"{validated['train_from']} – {validated['train_to']}" in text and f"{metrics['auc']:.3f}" in text
        if name == "application_scorecard":  # every trainer keeps the out-of-time sample's evidence now
            point, low, high = metrics["evidence"]["intervals"]["auc"]
            assert (auc["low"], auc["high"]) == (low, high) and point == pytest.approx(auc["value"], abs=1e-12)
            assert low <= auc["value"] <= high
            assert report["challenger"] is not None and report["calibration"]["source"] == "validation"
            assert report["sample"]["valid_rows"] == metrics["evidence"]["rows"] == metrics["valid_rows"]
    # the page: the report's expander and its PDF button for each model (English: the document test above)
    at = logged_in("strategy_chen", "pages/model_monitor.py")
    for name in entries:
        at.selectbox(key="mon_model").set_value(name).run()
        assert not at.exception and not errors(at)
        assert any(e.label == "模型验证报告" for e in at.expander), name
        assert any(b.proto.label == "验证报告（PDF）" for b in at.get("download_button")), name
    # the PDF of the last one: built only when clicked, audited with the registry entries it reports on, and
    # refused once the session has ended (components.downloads, as every export)
    (button,) = [b for b in at.get("download_button") if b.proto.label == "验证报告（PDF）"]
    assert served.stored() == {} and button.proto.deferred_file_id and not button.proto.url
    pdf = served.fetch(button)
    assert pdf.startswith(b"%PDF")
    with app_env.connect() as conn:
        row = conn.execute(select(s.audit_log).where(s.audit_log.c.target == f"validation_report:{name}")
                           .order_by(s.audit_log.c.id.desc())).mappings().first()
    detail = json.loads(row["detail"])
    assert row["username"] == "strategy_chen" and row["action"] == "export" and detail["bytes"] == len(pdf)
    assert set(detail["filters"]["models"]) == {r["id"] for r in registry.values() if r["name"] == name}
    from streamlit.runtime.media_file_manager import MediaFileStorageError
    from data_access import sessions
    with app_env.begin() as conn:
        sessions.end_token(conn, at.session_state["session_token"], "logout")
    with pytest.raises(MediaFileStorageError):
        served.fetch(button)
