"""五级分类偏离 classification deviation: the ratio trend (Overview, Portfolio risk) and the deviation tab."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access import base, classification as cls, deviation as dv, kpi

from .charts import _x, apply_theme
from .formatting import count_with_unit, money, pct
from .i18n import t, translate
from .kpi_cards import Kpi, kpi_row
from .risk_charts import class_names
from .session import products, read
from .tables import Col, table


def overdue_npl_chart(ov: pd.DataFrame, lang: str) -> go.Figure:
    """Lines: 逾期90天以上 ÷ 不良 and 逾期60天以上 ÷ 不良, in %, with the 100 % line examiners read against."""
    fig = go.Figure()
    x = _x(ov)
    for col, key, colour in (("overdue90_npl", "dev.ratio90", "#d73027"), ("overdue60_npl", "dev.ratio60", "#fc8d59")):
        fig.add_scatter(x=x, y=ov[col] * 100, name=translate(key, lang), mode="lines+markers",
                        line=dict(color=colour, width=2.2), hovertemplate="%{y:.1f}%")
    # the line examiners read against, as a legend entry (an annotation sat on the curves, which hover near it)
    fig.add_scatter(x=x, y=[100] * len(ov), name=translate("dev.line100", lang), mode="lines",
                    line=dict(color="#6b7280", width=1.5, dash="dash"), hoverinfo="skip")
    values = pd.concat([ov["overdue90_npl"], ov["overdue60_npl"]]).astype(float).dropna() * 100
    lo = min(80.0, float(values.min()) - 10) if len(values) else 0.0
    hi = max(120.0, float(values.max()) + 10) if len(values) else 150.0
    fig.update_yaxes(title_text=translate("dev.axis", lang), range=[max(0.0, lo), hi], ticksuffix="%", tickformat=".0f")
    return apply_theme(fig, translate("dev.ratio_chart", lang), lang)


def ratio_cards(ov: pd.DataFrame, month: str, prev: str | None = None, ago: str | None = None) -> list[Kpi]:
    """The two ratio cards for ``month``, changes in pp against ``prev`` and ``ago``; ``ov`` (a month column)
    carries the ratios (:func:`data_access.deviation.add_overdue_ratios`). A rise is bad."""
    ov = ov.set_index("month")
    cur = ov.loc[month]
    out = []
    for col, key in (("overdue90_npl", "dev.ratio90"), ("overdue60_npl", "dev.ratio60")):
        mom, yoy = (kpi.change_pp(cur[col], ov.loc[m, col]) if m in ov.index else None for m in (prev, ago))
        out.append(Kpi(t(key), pct(cur[col], 1), mom, yoy, "pp", False, t("dev.help.ratio")))
    return out


def reason_label(codes, lang: str) -> str:
    """The rules that set a floor, in words."""
    return ("、" if lang == "zh" else "; ").join(translate(f"cls.reason.{c}", lang) for c in codes)


def _with_ratios(dev: pd.DataFrame, ratios: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """Every branch (or product) with a balance: its two ratios and its deviations (0 when none), worst ratio
    first."""
    out = ratios.merge(dev.drop(columns=["name"]), on="key", how="left").merge(
        names[["id", "name"]].rename(columns={"id": "key"}), on="key", how="left")
    out[["loans", "balance", "npl_understated", "worst_gap"]] = \
        out[["loans", "balance", "npl_understated", "worst_gap"]].fillna(0)
    return out.sort_values(["overdue90_npl", "balance"], ascending=False, na_position="last")


def deviation_tab(f, ov: pd.DataFrame, lang: str) -> None:
    """The Portfolio risk tab: ratio trend, the deviating loans by branch, product, manager and rule, the list."""
    trend = read(dv.deviation_trend, f)
    now = trend[trend["month"] == f.month]
    loans = int(now["loans"].sum())
    bal = float(now["balance"].sum())
    kpi_row([Kpi(t("dev.loans"), count_with_unit(loans, t("dev.unit")), None, None, "rel", False, t("dev.help.loans")),
             Kpi(t("dev.balance"), money(bal, lang), None, None, "rel", False, t("dev.help.loans")),
             *ratio_cards(ov, f.month)], per_row=4)
    st.plotly_chart(overdue_npl_chart(ov, lang), key="dev_ratio_chart")
    st.caption(t("dev.help.source"))
    class_of = class_names(lang)
    cols = {"name": Col("dev.col.name"), "loans": Col("dev.loans", "count"), "balance": Col("dev.balance", "money_wan"),
            "npl_understated": Col("dev.col.npl_understated", "money_wan"), "worst_gap": Col("dev.col.gap", "count")}
    ratio_cols = {"overdue90_npl": Col("dev.ratio90", "rate"), "overdue60_npl": Col("dev.ratio60", "rate")}
    a, b = st.columns(2)
    # by branch and product: every one with a balance, its two ratios beside its deviating loans
    for col, by, key, names_of in ((a, "branch_id", "dev.by_branch", lambda: read(base.branches)),
                                   (b, "product_id", "dev.by_product", products)):
        with col:
            st.subheader(t(key))
            both = _with_ratios(read(dv.deviation_summary, f, by), read(dv.overdue_npl_by, f, by), names_of())
            table(both, {"name": cols["name"], **ratio_cols, **{k: v for k, v in cols.items() if k != "name"}},
                  name=f"class_deviation_{by[:-3]}_{f.month}", height="fit")
    if loans == 0:
        st.info(t("dev.none"))
        return
    a, b = st.columns(2)
    with a:
        st.subheader(t("dev.by_manager"))
        mgr = read(dv.deviation_summary, f, "manager_id")
        table(mgr.assign(name=mgr["name"].fillna(t("dev.no_manager"))), cols, name=f"class_deviation_manager_{f.month}",
              height=360)
        st.subheader(t("dev.by_reason"))
        why = read(dv.deviation_reasons, f)
        table(why.assign(reason=[t(f"cls.reason.{r}") for r in why["reason"]]),
              {"reason": Col("dev.col.reason"), "loans": Col("dev.loans", "count"),
               "balance": Col("dev.balance", "money_wan")}, name=f"class_deviation_reason_{f.month}", height="fit")
    st.subheader(t("dev.list"))
    rows = read(dv.deviation_loans, f)
    if rows.empty:
        st.caption(t("risk.rows_not_permitted"))
        return
    rows = rows.assign(bank_class=[class_of[c] for c in rows["bank_class"]],
                       floor_class=[class_of[c] for c in rows["floor_class"]],
                       reasons=[reason_label(cls.reason_codes(m), lang) for m in rows["floor_reasons"]])
    table(rows, {"loan_no": Col("col.loan_no"), "customer_no": Col("hh.customer_no"), "branch": Col("league.branch"),
                 "product": Col("col.product"), "manager": Col("dev.col.manager"), "dpd": Col("hh.max_dpd", "count"),
                 "balance": Col("col.balance", "money_wan"), "bank_class": Col("dev.col.bank_class"),
                 "floor_class": Col("dev.col.floor_class"), "reasons": Col("dev.col.reason")},
          name=f"class_deviation_loans_{f.month}", height=360)
    st.caption(t("dev.help.list"))
