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


# trace fields whose strings come from data (names of branches, villages, agencies, products, customers) and that
# plotly draws through its pseudo-HTML: a branch named '<a href="http://…">核验</a>' would be a link in the legend,
# a tick label or a hover box. Templates (hovertemplate, texttemplate) are the cockpit's own and keep their tags.
DATA_TEXT_FIELDS = ("x", "y", "text", "hovertext", "labels", "parents", "ids", "name", "customdata",
                    "legendgroup", "legendgrouptitle")


def _inert(value):
    """``value`` with every '<' and '>' of its strings written as entities, which plotly shows as the characters
    (it splits tags before decoding entities, so '&lt;a&gt;' is never a tag); idempotent, numbers untouched."""
    if isinstance(value, str):
        return value.replace("<", "&lt;").replace(">", "&gt;") if ("<" in value or ">" in value) else value
    if isinstance(value, (list, tuple)):
        out = [_inert(v) for v in value]
        return out if any(a is not b for a, b in zip(out, value)) else value
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "OUS":  # numpy arrays of strings or objects
        return [_inert(v) for v in value.tolist()]
    return value


def inert_data_text(fig: go.Figure) -> go.Figure:
    """Data strings in every trace and in category tick labels shown as text, never as plotly markup."""
    for trace in fig.data:
        for field in DATA_TEXT_FIELDS:
            if field not in trace:
                continue
            value = trace[field]
            if field == "legendgrouptitle":
                if value is not None and value.text:
                    value.text = _inert(value.text)
                continue
            if value is None:
                continue
            new = _inert(value)
            if new is not value:
                trace[field] = new
    for name in fig.layout:
        if name.startswith(("xaxis", "yaxis")) and fig.layout[name].ticktext:
            fig.layout[name].ticktext = _inert(fig.layout[name].ticktext)
    return fig


def apply_theme(fig: go.Figure, title: str, lang: str = "zh", height: int = 360) -> go.Figure:
    """The house style: title top-left, legend under the plot, quiet grid, Chinese-capable fonts; data text inert
    (:func:`inert_data_text`)."""
    inert_data_text(fig)
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
    return tidy_value_axes(fig)


def tidy_value_axes(fig: go.Figure) -> go.Figure:
    """Value axes get the house number format unless a builder chose one: thousands separators, no SI suffixes
    ('30k'), one decimal on percent axes ('6.37% / 5.1%' became '6.4% / 5.1%'). A log axis needs ticks of its own
    (:func:`log_ticks`); without them plotly labels it with raw floats such as '31.09284'."""
    for name in fig.layout:
        if not name.startswith("yaxis"):
            continue
        axis = fig.layout[name]
        if axis.overlaying and axis.tickmode in (None, "sync") and not axis.tickvals:
            # a right-hand axis synced to the left one's gridlines gets uneven values ('0.8% / 1.7% / 2.5%'):
            # it has no gridlines of its own, so it takes round steps instead
            axis.tickmode, axis.nticks = "auto", axis.nticks or 6
        if axis.tickformat or axis.ticktext or axis.type in ("log", "category", "date"):
            continue
        axis.tickformat = ".1f" if axis.ticksuffix == "%" else ",~r"
    return fig


def log_ticks(values) -> dict:
    """tickvals / ticktext for a log axis over ``values``: 1-2-5 steps per decade, written as plain numbers."""
    import math
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v)) and float(v) > 0]
    if not vals:
        return {}
    lo, hi = min(vals), max(vals)
    ticks = [m * 10 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo / 2.5 <= m * 10 ** e <= hi * 2.5]
    return {"tickvals": ticks, "ticktext": [f"{v:,.2f}".rstrip("0").rstrip(".") if v < 1 else f"{v:,.0f}" for v in ticks]}


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
