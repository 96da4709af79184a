"""Plotly chart builders with one theme; every chart has a title, axis units and a readable legend.

Builders are pure (frame in, figure out) so they are tested without a browser.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .i18n import translate
from .theme import BUCKET_COLORS, FONT_STACK, PRIMARY, SERIES

MONTH_TICK = {"zh": "%Y年%-m月", "en": "%b %Y"}


def apply_theme(fig: go.Figure, title: str, lang: str = "zh", height: int = 360) -> go.Figure:
    """The house style: title top-left, legend under the plot, quiet grid, Chinese-capable fonts."""
    fig.update_layout(
        title=dict(text=title, x=0.01, xanchor="left", y=0.97, font=dict(size=16)),
        font=dict(family=FONT_STACK, size=12, color="#1f2937"),
        height=height, margin=dict(l=10, r=10, t=48, b=10),
        legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="center", x=0.5, title_text=""),
        plot_bgcolor="white", paper_bgcolor="white", hovermode="x unified", colorway=SERIES,
    )
    # short ticks every six months keep three charts side by side legible; hover shows the full month
    fig.update_xaxes(showgrid=False, linecolor="#d1d5db", tickformat="%Y-%m", dtick="M6", tickangle=0,
                     hoverformat=MONTH_TICK.get(lang, "%Y-%m"))
    fig.update_yaxes(gridcolor="#eef0f3", zeroline=False)
    return fig


def categorical_x(fig: go.Figure, legend: bool = True) -> go.Figure:
    """Undo the theme's monthly time axis for a chart whose x axis holds categories; hover on the bar itself."""
    fig.update_xaxes(tickformat=None, dtick=None, hoverformat=None)
    fig.update_layout(hovermode="closest", showlegend=legend)
    return fig


def _x(df: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(df["month"] + "-01")


def balance_npl_chart(df: pd.DataFrame, lang: str) -> go.Figure:
    """Bars: loan balance in 亿元 (left axis); line: NPL ratio in % (right axis)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = _x(df)
    fig.add_bar(x=x, y=df["balance"] / 1e8, name=translate("chart.balance", lang), marker_color="#9ec3e6",
                hovertemplate="%{y:.2f}", secondary_y=False)
    fig.add_scatter(x=x, y=df["npl_ratio"] * 100, name=translate("chart.npl_ratio", lang), mode="lines+markers",
                    line=dict(color="#d73027", width=2.5), hovertemplate="%{y:.2f}%", secondary_y=True)
    small = float((df["balance"] / 1e8).max() or 0) < 10  # a branch's few 亿元 need a decimal on the ticks
    fig.update_yaxes(title_text=translate("chart.balance", lang), secondary_y=False, tickformat=".1f" if small else ",.0f")
    top = float((df["npl_ratio"] * 100).max() or 1) * 1.35
    fig.update_yaxes(title_text=translate("chart.npl_ratio", lang), secondary_y=True, showgrid=False,
                     range=[0, top], tickmode="auto", nticks=6, tickformat=".1f", ticksuffix="%")
    return apply_theme(fig, translate("chart.balance_npl.title", lang), lang)


def overdue_chart(df: pd.DataFrame, lang: str) -> go.Figure:
    """Lines: M1, M2 and M3+ balance as % of the loan balance."""
    fig = go.Figure()
    x = _x(df)
    for col, key, bucket in (("m1_ratio", "kpi.m1_ratio", 1), ("m2_ratio", "kpi.m2_ratio", 2),
                             ("m3p_ratio", "kpi.m3p_ratio", 3)):
        fig.add_scatter(x=x, y=df[col] * 100, name=translate(key, lang), mode="lines+markers",
                        line=dict(color=BUCKET_COLORS[bucket], width=2.2), hovertemplate="%{y:.2f}%")
    fig.update_yaxes(title_text=translate("chart.ratio_pct", lang), rangemode="tozero", ticksuffix="%",
                     tickformat=".1f")
    return apply_theme(fig, translate("chart.overdue.title", lang), lang)


def coverage_chart(df: pd.DataFrame, lang: str) -> go.Figure:
    """Lines: credit coverage and usage rate, in %."""
    fig = go.Figure()
    x = _x(df)
    fig.add_scatter(x=x, y=df["credit_coverage"] * 100, name=translate("kpi.coverage", lang), mode="lines+markers",
                    line=dict(color=PRIMARY, width=2.2), hovertemplate="%{y:.1f}%")
    fig.add_scatter(x=x, y=df["usage_rate"] * 100, name=translate("kpi.usage", lang), mode="lines+markers",
                    line=dict(color="#2a9d8f", width=2.2), hovertemplate="%{y:.1f}%")
    fig.update_yaxes(title_text=translate("chart.rate_pct", lang), range=[0, 100], ticksuffix="%")
    return apply_theme(fig, translate("chart.coverage.title", lang), lang)
