"""Charts of the strategy lab: NPL projection with its band against the baseline, balance by bucket, the
inspection capture curve with the current rule and the proposed threshold."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from data_access.kpi import BUCKETS

from .charts import apply_theme
from .i18n import translate
from .theme import BAD, BUCKET_COLORS, NEUTRAL, PRIMARY


def npl_projection_chart(proposed, baseline, realised: pd.DataFrame, lang: str) -> go.Figure:
    """NPL ratio (%): realised history, baseline projection (stress 1), proposed projection with its 10–90 % band."""
    x = pd.to_datetime(pd.Series(proposed.months) + "-01")
    fig = go.Figure()
    fig.add_scatter(x=list(x) + list(x[::-1]), y=list(proposed.npl_high * 100) + list(proposed.npl_low[::-1] * 100),
                    fill="toself", fillcolor="rgba(215,48,39,0.12)", line=dict(width=0), hoverinfo="skip",
                    name=translate("lab.band", lang))
    if not realised.empty:
        fig.add_scatter(x=pd.to_datetime(realised["month"] + "-01"), y=realised["npl_balance"] / realised["balance"] * 100,
                        mode="lines+markers", line=dict(color="#111827", width=2), name=translate("lab.realised", lang),
                        hovertemplate="%{y:.2f}%")
    fig.add_scatter(x=x, y=baseline.npl * 100, mode="lines", line=dict(color=NEUTRAL, width=2, dash="dash"),
                    name=translate("lab.baseline", lang), hovertemplate="%{y:.2f}%")
    fig.add_scatter(x=x, y=proposed.npl * 100, mode="lines+markers", line=dict(color=BAD, width=2.5),
                    name=translate("lab.proposed", lang), hovertemplate="%{y:.2f}%")
    fig.update_yaxes(title_text=translate("lab.npl_pct", lang), ticksuffix="%", rangemode="tozero")
    fig = apply_theme(fig, translate("lab.npl_chart", lang), lang)
    fig.update_xaxes(dtick="M3")
    return fig


def bucket_path_chart(proposed, lang: str) -> go.Figure:
    """Projected balance by bucket (亿元), stacked, M0 … M4+."""
    x = pd.to_datetime(pd.Series(proposed.months) + "-01")
    fig = go.Figure()
    for k in range(5):
        fig.add_bar(x=x, y=proposed.balance[:, k] / 1e8, name=BUCKETS[k], marker_color=BUCKET_COLORS[k],
                    hovertemplate="%{y:,.2f} " + translate("unit.yi", lang))
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_yaxes(title_text=translate("lab.balance_yi", lang), rangemode="tozero")
    fig = apply_theme(fig, translate("lab.bucket_chart", lang), lang)
    fig.update_xaxes(dtick="M2")
    return fig


def capture_chart(capture: list[dict], periodic: dict, workload: float, caught: float, lang: str) -> go.Figure:
    """Share of next-quarter defaults caught (%) against the share of loans inspected (%): the model's curve, the
    periodic rule's point and the proposed threshold's point."""
    w = np.array([0.0] + [p["workload"] for p in capture]) * 100
    c = np.array([0.0] + [p["caught"] for p in capture]) * 100
    fig = go.Figure()
    fig.add_scatter(x=w, y=c, mode="lines+markers", line=dict(color=PRIMARY, width=2.2),
                    name=translate("lab.model_curve", lang), hovertemplate="%{x:.0f}% → %{y:.0f}%")
    fig.add_scatter(x=[periodic["workload"] * 100], y=[periodic["caught"] * 100], mode="markers",
                    marker=dict(size=13, color=NEUTRAL, symbol="square"), name=translate("lab.periodic", lang),
                    hovertemplate="%{x:.0f}% → %{y:.0f}%")
    fig.add_scatter(x=[workload * 100], y=[caught * 100], mode="markers", marker=dict(size=15, color=BAD, symbol="star"),
                    name=translate("lab.proposed", lang), hovertemplate="%{x:.1f}% → %{y:.0f}%")
    fig.update_yaxes(title_text=translate("lab.caught_pct", lang), ticksuffix="%", range=[0, 100])
    fig = apply_theme(fig, translate("lab.capture_chart", lang), lang)
    fig.update_xaxes(title_text=translate("lab.workload_pct", lang), ticksuffix="%", tickformat=None, dtick=None,
                     hoverformat=None, rangemode="tozero")
    # the x-axis title sits under the ticks: the legend goes below it
    fig.update_layout(hovermode="closest", legend=dict(y=-0.28), margin=dict(b=40))
    return fig


def tradeoff_chart(curve: pd.DataFrame, current: dict, proposed: dict, lang: str) -> go.Figure:
    """Expected bad rate (%) against approval rate (%) for every single cut-off on the scorecard, with the current
    policy's point and the proposal's."""
    fig = go.Figure()
    fig.add_scatter(x=curve["approval_rate"] * 100, y=curve["bad_rate"] * 100, mode="lines",
                    line=dict(color=PRIMARY, width=2.2), name=translate("appr.curve", lang),
                    customdata=curve["cutoff"], hovertemplate="≥%{customdata}: %{x:.1f}% → %{y:.2f}%<extra></extra>")
    fig.add_scatter(x=[current["approval_rate"] * 100], y=[current["bad_rate"] * 100], mode="markers",
                    marker=dict(size=13, color=NEUTRAL, symbol="square"), name=translate("appr.current_policy", lang),
                    hovertemplate="%{x:.1f}% → %{y:.2f}%<extra></extra>")
    fig.add_scatter(x=[proposed["approval_rate"] * 100], y=[proposed["bad_rate"] * 100], mode="markers",
                    marker=dict(size=15, color=BAD, symbol="star"), name=translate("lab.proposed", lang),
                    hovertemplate="%{x:.1f}% → %{y:.2f}%<extra></extra>")
    fig.update_yaxes(title_text=translate("appr.bad_rate_pct", lang), ticksuffix="%", rangemode="tozero")
    fig = apply_theme(fig, translate("appr.tradeoff_chart", lang), lang)
    fig.update_xaxes(title_text=translate("appr.approval_rate_pct", lang), ticksuffix="%", tickformat=None, dtick=None,
                     hoverformat=None, range=[0, 100])
    fig.update_layout(hovermode="closest", legend=dict(y=-0.28), margin=dict(b=40))
    return fig


SWAP_COLORS = {"kept": PRIMARY, "swap_in": "#2ca02c", "swap_out": BAD, "rejected": NEUTRAL}


def swap_chart(swap: pd.DataFrame, lang: str) -> go.Figure:
    """Applications per swap group (bars, left axis) and each group's expected bad rate (%, markers, right axis)."""
    from plotly.subplots import make_subplots
    labels = [translate(f"appr.swap_short.{g}", lang) for g in swap["group"]]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=labels, y=swap["applications"], marker_color=[SWAP_COLORS[g] for g in swap["group"]],
                name=translate("appr.applications", lang), hovertemplate="%{y:,} " + translate("unit.items", lang),
                showlegend=True)
    fig.add_scatter(x=labels, y=swap["expected_bad_rate"].astype(float) * 100, mode="markers",
                    marker=dict(size=12, color="#111827", symbol="diamond"), name=translate("appr.expected_bad", lang),
                    hovertemplate="%{y:.2f}%", secondary_y=True)
    fig.update_yaxes(title_text=translate("appr.applications_n", lang), secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text=translate("appr.bad_rate_pct", lang), ticksuffix="%", secondary_y=True,
                     rangemode="tozero", showgrid=False, tickformat=".1f")
    fig = apply_theme(fig, translate("appr.swap_chart", lang), lang)
    fig.update_xaxes(tickformat=None, dtick=None, hoverformat=None)
    fig.update_layout(hovermode="closest")
    return fig
