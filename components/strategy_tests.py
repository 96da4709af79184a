"""The Strategy lab's champion/challenger tab: the tests, each arm's results with intervals, lift, significance and
months still needed, the simulator's prediction for the arms beside what they recovered, and promotion."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access import experiments as ex

from .charts import apply_theme
from .i18n import t, translate
from .panels import empty_state
from .session import engine, read, scope
from .tables import Col, table


def arm_label(arm: str) -> str:
    return t(f"test.arm.{arm}")


def lift_chart(res: pd.DataFrame, lang: str) -> go.Figure:
    """Each challenger's recovery-rate lift over the champion with its 95 % interval (percentage points)."""
    ch = res[res["role"] == "challenger"]
    fig = go.Figure()
    fig.add_scatter(x=[translate(f"test.arm.{a}", lang) for a in ch["arm"]], y=ch["lift"] * 100, mode="markers",
                    marker=dict(size=12, color="#1f5fa8"), name=translate("test.lift", lang),
                    error_y=dict(type="data", symmetric=False, array=(ch["lift_high"] - ch["lift"]) * 100,
                                 arrayminus=(ch["lift"] - ch["lift_low"]) * 100),
                    hovertemplate="%{x}: %{y:+.2f} " + translate("test.pp", lang))
    fig.add_hline(y=0, line_dash="dot", line_color="#9ca3af")
    fig.update_yaxes(title_text=translate("test.lift_axis", lang))
    return apply_theme(fig, translate("test.lift_chart", lang), lang, height=300)


def tests_tab(lang: str) -> None:
    st.caption(t("test.intro"))
    tests = read(ex.tests)
    if tests.empty:
        empty_state("test.none")
        return
    labels = {int(r.id): f"{r.name} · {r.first_month}–{r.last_month} · {t('test.status.' + r.status)}"
              for r in tests.itertuples()}
    test_id = st.selectbox(t("test.pick"), list(labels), format_func=labels.get, key="test_pick",
                           index=next((i for i, r in enumerate(tests.itertuples()) if r.status != "running"), 0))
    row = tests.set_index("id").loc[test_id]
    arms = row["arms"]
    months = _months(row["first_month"], row["last_month"])
    st.markdown(t("test.card", champion=arm_label(arms[0]), challengers="、".join(arm_label(a) for a in arms[1:]),
                  shares=" / ".join(f"{float(x):.0%}" for x in row["shares"].split(",")), seed=int(row["seed"]),
                  measure=t(f"test.measure.{row['measure']}"), matures=str(row["matures_on"]),
                  by=row["created_by"]))
    cases = read(ex.arm_cases, test_id)
    if cases.empty:
        st.info(t("test.no_cases"))
        return
    res = ex.results(cases, arms, int(row["seed"]), months, row["measure"])
    shown = res.assign(arm=[arm_label(a) for a in res["arm"]],
                       lift_ci=[_ci(r) for r in res.itertuples()],
                       cure_ci=[_ci(r, "cure_") for r in res.itertuples()],
                       verdict=[_verdict(r) for r in res.itertuples()])
    table(shown, {"arm": Col("test.arm"), "cases": Col("coll.stage.cases", "count"),
                  "overdue": Col("test.overdue_wan", "money_wan"), "recovered": Col("coll.recovered_wan", "money_wan"),
                  "cost": Col("coll.cost_wan", "money_wan"), "net": Col("test.net_wan", "money_wan"),
                  "recovery_rate": Col("coll.recovery_rate", "rate"), "cure_rate": Col("coll.cure_rate", "rate"),
                  "cost_per_100": Col("coll.cost_per_100", "num2"), "lift_ci": Col("test.lift_ci"),
                  "cure_ci": Col("test.cure_ci"),
                  "verdict": Col("test.verdict")}, name=f"strategy_test_{test_id}", height="fit")
    a, b = st.columns([1, 1])
    with a:
        if (res["role"] == "challenger").any() and res["lift"].notna().any():
            st.plotly_chart(lift_chart(res, lang), key="test_lift")
    with b:
        pred = read(ex.predicted, test_id)
        if not pred.empty:
            st.markdown(f"**{t('test.predicted_title')}**")
            p = pred.assign(arm=[arm_label(x) for x in pred["arm"]], gap=pred["predicted"] / pred["realised"] - 1)
            table(p, {"arm": Col("test.arm"), "cases": Col("coll.stage.cases", "count"),
                      "predicted": Col("test.predicted_wan", "money_wan"), "realised": Col("test.realised_wan", "money_wan"),
                      "gap": Col("test.gap", "change")}, name=f"strategy_test_pred_{test_id}", height="fit", downloads=False)
            st.caption(t("test.predicted_note"))
    if row["status"] == "promoted":
        st.success(t("test.promoted", arm=arm_label(row["promoted_arm"]), by=row["promoted_by"], at=str(row["promoted_at"])))
    elif scope().role == "head_office":
        with st.form(f"promote_{test_id}"):
            arm = st.selectbox(t("test.promote_arm"), arms[1:] + arms[:1], format_func=arm_label, key="test_promote_arm")
            if st.form_submit_button(t("test.promote"), help=t("test.promote_help")):
                try:
                    with engine().begin() as conn:
                        ex.promote(conn, scope(), test_id, arm)
                except ex.ExperimentError as exc:
                    st.error(t(exc.key))
                else:
                    st.cache_data.clear()
                    st.success(t("test.promoted_now", arm=arm_label(arm)))


def _months(first: str, last: str) -> int:
    return (int(last[:4]) * 12 + int(last[5:])) - (int(first[:4]) * 12 + int(first[5:])) + 1


def _ci(r, prefix: str = "") -> str:
    name = prefix + "lift" if prefix else "lift"
    est = getattr(r, name, float("nan"))
    if r.role == "champion" or pd.isna(est):
        return t("test.baseline") if r.role == "champion" else "—"
    low, high = getattr(r, (prefix or "lift_") + "low"), getattr(r, (prefix or "lift_") + "high")
    return f"{est * 100:+.2f} {t('test.pp')} ({low * 100:+.2f} … {high * 100:+.2f})"


def _verdict(r) -> str:
    if r.role == "champion":
        return ""
    if pd.isna(getattr(r, "significant", float("nan"))):
        return "—"
    if r.significant:
        return t("test.significant_up") if r.lift > 0 else t("test.significant_down")
    if not math.isfinite(r.months_needed):
        return t("test.no_difference")
    return t("test.more_months", n=int(r.months_needed))


__all__ = ["tests_tab", "lift_chart"]
