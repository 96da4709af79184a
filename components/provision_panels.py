"""Loan-loss provisions on screen: the Portfolio-risk tab (both methods, by class and stage, the two ratios against
the regulatory ranges drawn as bands) and the NPL simulator's provision row under stress."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.charts import _x, apply_theme
from components.formatting import money, pct
from components.i18n import t, translate
from components.kpi_cards import Kpi, kpi_row
from components.panels import empty_state
from components.session import read
from components.tables import Col, table
from components.theme import NEUTRAL, PRIMARY
from data_access import kpi, provisions as pv

ECL_COLOUR = "#e76f51"


def ratio_band_chart(trend: pd.DataFrame, measure: str, band: tuple[float, float], lang: str) -> go.Figure:
    """Monthly 拨备覆盖率 (measure 'coverage') or 贷款拨备率 ('loan_ratio') of both methods, in %, over the regulatory
    range drawn as a band."""
    fig = go.Figure()
    x = _x(trend)
    fig.add_hrect(y0=band[0] * 100, y1=band[1] * 100, fillcolor=NEUTRAL, opacity=0.15, line_width=0)
    fig.add_scatter(x=[x.iloc[0], x.iloc[-1]], y=[band[0] * 100] * 2, mode="lines", line=dict(color=NEUTRAL, dash="dot"),
                    name=translate("prov.band", lang, lo=f"{band[0]:.1%}", hi=f"{band[1]:.1%}"), hoverinfo="skip")
    for method, colour in (("class", PRIMARY), ("ecl", ECL_COLOUR)):
        fig.add_scatter(x=x, y=trend[f"{method}_{measure}"] * 100, mode="lines+markers",
                        name=translate(f"prov.method.{method}", lang), line=dict(color=colour, width=2.2),
                        hovertemplate="%{y:.2f}%")
    fig.update_yaxes(title_text=translate("chart.rate_pct", lang), ticksuffix="%", rangemode="tozero")
    return apply_theme(fig, translate(f"prov.chart.{measure}", lang), lang, height=330)


def provisions_tab(f, lang: str) -> None:
    cfg = pv.settings()
    out = read(pv.provisions, f)
    tot = out["totals"]
    if not tot["loans"]:
        empty_state()
        return
    kpi_row([Kpi(t("prov.class_provision"), money(tot["class_provision"], lang), None, None, "rel", None),
             Kpi(t("prov.coverage_of", method=t("prov.short.class")), pct(tot["class_coverage"]), None, None, "pp", True,
                 t("prov.coverage_help", lo=f"{cfg.coverage_range[0]:.0%}", hi=f"{cfg.coverage_range[1]:.0%}")),
             Kpi(t("prov.loan_ratio_of", method=t("prov.short.class")), pct(tot["class_loan_ratio"]), None, None, "pp",
                 True, t("prov.loan_ratio_help", lo=f"{cfg.loan_range[0]:.1%}", hi=f"{cfg.loan_range[1]:.1%}")),
             Kpi(t("prov.ecl"), money(tot["ecl"], lang), None, None, "rel", None),
             Kpi(t("prov.coverage_of", method=t("prov.short.ecl")), pct(tot["ecl_coverage"]), None, None, "pp", True),
             Kpi(t("prov.loan_ratio_of", method=t("prov.short.ecl")), pct(tot["ecl_loan_ratio"]), None, None, "pp",
                 True)], per_row=6)
    trend = read(pv.provision_trend, f, 13)
    if not trend.empty:
        a, b = st.columns(2)
        a.plotly_chart(ratio_band_chart(trend, "coverage", cfg.coverage_range, lang), key="prov_coverage")
        b.plotly_chart(ratio_band_chart(trend, "loan_ratio", cfg.loan_range, lang), key="prov_loan_ratio")
    # one above the other: side by side the English headers pushed the amounts out of view
    with st.container():
        st.markdown(f"**{t('prov.by_class')}**")
        names = kpi.CLASS5 if lang == "zh" else kpi.CLASS5_EN
        by_class = out["by_class"].assign(name=lambda d: [names[c] for c in d["class5"]])
        table(by_class, {"name": Col("risk.class5"), "balance": Col("league.balance", "money_wan"),
                         "rate": Col("prov.rate", "rate"), "provision": Col("prov.provision_wan", "money_wan")},
              name=f"provisions_by_class_{f.month}", height="fit")
    with st.container():
        st.markdown(f"**{t('prov.by_stage')}**")
        pds = tot["pd"]
        stage = out["by_stage"].assign(name=lambda d: [t(f"prov.stage.{s}") for s in d["stage"]],
                                       pd=[pds.loc[1, "pd_12m"], pds.loc[2, "pd_lifetime"], 1.0])
        table(stage, {"name": Col("prov.stage"), "balance": Col("league.balance", "money_wan"),
                      "pd": Col("prov.pd", "rate"), "ecl": Col("prov.ecl_wan", "money_wan"),
                      "coverage": Col("prov.stage_coverage", "rate")},
              name=f"provisions_by_stage_{f.month}", height="fit")
    st.caption(t("prov.pd_note", pd12=pct(pds.loc[1, "pd_12m"]), life1=pct(pds.loc[1, "pd_lifetime"]),
                 life2=pct(pds.loc[2, "pd_lifetime"]), lgd=f"{cfg.lgd:.0%}"))
    st.markdown(t("prov.help", rates=" / ".join(f"{r:.0%}" for r in cfg.rates), lgd=f"{cfg.lgd:.0%}",
                  cov=f"{cfg.coverage_range[0]:.0%}–{cfg.coverage_range[1]:.0%}",
                  loan=f"{cfg.loan_range[0]:.1%}–{cfg.loan_range[1]:.1%}"))


def provision_stress_row(prop, base, horizon: int, lang: str) -> None:
    """Under the simulated stress, at the horizon: the provision the class rates call for, and both ratios and the
    top-up to the ranges' lower bounds if the provision stock stayed at today's (the class method on today's book)."""
    cfg = pv.settings()
    today = pv.stressed_provisions(prop.classes[0], cfg)
    end, end_base = pv.stressed_provisions(prop.classes[-1], cfg), pv.stressed_provisions(base.classes[-1], cfg)
    stock = today["provision"]
    coverage = kpi.provision_coverage(stock, end["npl"])
    loan_ratio = kpi.loan_provision_ratio(stock, end["loans"])
    top_up = max(0.0, cfg.coverage_range[0] * end["npl"] - stock, cfg.loan_range[0] * end["loans"] - stock)
    k = st.columns(4)
    k[0].metric(t("prov.stress_need", n=horizon), money(end["provision"], lang),
                help=t("prov.stress_need_help", base=money(end_base["provision"], lang), now=money(stock, lang)))
    k[1].metric(t("prov.stress_coverage", n=horizon), pct(coverage),
                help=t("prov.stress_ratio_help", lo=f"{cfg.coverage_range[0]:.0%}", hi=f"{cfg.coverage_range[1]:.0%}",
                       now=pct(today["coverage"])))
    k[2].metric(t("prov.stress_loan_ratio", n=horizon), pct(loan_ratio),
                help=t("prov.stress_ratio_help", lo=f"{cfg.loan_range[0]:.1%}", hi=f"{cfg.loan_range[1]:.1%}",
                       now=pct(today["loan_ratio"])))
    k[3].metric(t("prov.stress_top_up", n=horizon), money(top_up, lang), help=t("prov.stress_top_up_help"))
