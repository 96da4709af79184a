"""Charts of the portfolio-risk page: classification, DPD buckets, roll-rate trend and matrix, vintages."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from data_access.kpi import BUCKETS, CLASS5, CLASS5_EN

from .charts import apply_theme
from .i18n import translate
from .theme import BUCKET_COLORS, CLASS5_COLORS, SERIES

# closed states of the migration mart: buckets use 5 / 6, classes 6 / 7 (paid off / written off)
CLOSED = {("bucket", "zh"): {5: "结清", 6: "核销"}, ("bucket", "en"): {5: "Paid off", 6: "Written off"},
          ("class", "zh"): {6: "结清", 7: "核销"}, ("class", "en"): {6: "Paid off", 7: "Written off"}}


def class_names(lang: str) -> dict:
    return {"zh": CLASS5, "en": CLASS5_EN}[lang]


def distribution_chart(df: pd.DataFrame, key: str, lang: str) -> go.Figure:
    """Balance per five-category class (key='class5') or DPD bucket (key='bucket'), with shares.

    Split in two panels with their own scales: 正常 (or M0) holds ~95 % of the book, and on one scale it left
    关注 … 损失 as invisible slivers. Each panel's amounts are in 亿元 or 万元 as their size needs."""
    from plotly.subplots import make_subplots
    from .formatting import money_unit
    names = class_names(lang) if key == "class5" else BUCKETS
    colours = CLASS5_COLORS if key == "class5" else BUCKET_COLORS
    total = float(df["balance"].sum()) or 1.0
    d = df.set_index(key).reindex(list(names), fill_value=0).reset_index()
    first, rest = d.iloc[:1], d.iloc[1:]
    # room between the panels for the second one's ticks and axis title (at 0.12 the title touched the first bar)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.22, 0.78], horizontal_spacing=0.18)
    for col, part in ((1, first), (2, rest)):
        div, unit = money_unit(float(part["balance"].max() or 0) or 1e8)
        div, unit = (1e8, "unit.yi") if div == 1e8 else (1e4, "unit.wan")
        fig.add_bar(x=[names[k] for k in part[key]], y=part["balance"] / div, marker_color=[colours[k] for k in part[key]],
                    text=[f"{b / total:.2%}" for b in part["balance"]], textposition="outside", cliponaxis=False,
                    name=translate("risk.balance", lang), hovertemplate="%{y:,.2f} " + translate(unit, lang) +
                    "<extra></extra>", row=1, col=col)
        fig.update_yaxes(title_text=f"{translate('risk.balance', lang)}({translate(unit, lang)})", rangemode="tozero",
                         tickformat=",.0f" if float((part["balance"] / div).max() or 0) >= 10 else ",.1f",
                         row=1, col=col)
    fig = apply_theme(fig, translate("risk.class_chart" if key == "class5" else "risk.bucket_chart", lang), lang)
    fig.update_xaxes(tickformat=None, dtick=None, hoverformat=None)
    fig.update_layout(showlegend=False, hovermode="closest")
    return fig


def roll_trend_chart(rates: pd.DataFrame, lang: str) -> go.Figure:
    """Roll rate per bucket over months: rates has month (t+1 shown), bucket (0..3) and rate."""
    fig = go.Figure()
    for k in range(4):
        d = rates[rates["bucket"] == k]
        fig.add_scatter(x=pd.to_datetime(d["month"] + "-01"), y=d["rate"] * 100, mode="lines+markers",
                        name=f"{BUCKETS[k]}→{BUCKETS[k + 1]}", line=dict(color=BUCKET_COLORS[k + 1], width=2.2),
                        hovertemplate="%{y:.2f}%")
    fig.update_yaxes(title_text=translate("risk.roll_rate_pct", lang), ticksuffix="%", rangemode="tozero")
    return apply_theme(fig, translate("risk.roll_trend", lang), lang)


def matrix_chart(matrix: pd.DataFrame, state: str, lang: str) -> go.Figure:
    """Heatmap of a row-normalised migration matrix (rows: state at t, columns: state at t+1)."""
    names = {**(class_names(lang) if state == "class" else BUCKETS), **CLOSED[(state, lang)]}
    z = matrix.fillna(0).to_numpy() * 100
    fig = go.Figure(go.Heatmap(z=z, x=[names.get(c, c) for c in matrix.columns], y=[names.get(r, r) for r in matrix.index],
                               colorscale="Reds", zmin=0, zmax=100, text=[[f"{v:.1f}%" for v in row] for row in z],
                               texttemplate="%{text}", colorbar=dict(title="%"), hovertemplate="%{y} → %{x}: %{text}"))
    fig.update_yaxes(autorange="reversed", title_text=translate("risk.from", lang))
    fig.update_xaxes(title_text=translate("risk.to", lang), side="top")
    title = translate("risk.class_matrix" if state == "class" else "risk.roll_matrix", lang)
    fig = apply_theme(fig, title, lang, height=380)
    fig.update_xaxes(tickformat=None, dtick=None, hoverformat=None)
    fig.update_layout(hovermode="closest", margin=dict(t=90))
    return fig


def vintage_chart(curves: pd.DataFrame, measure: str, lang: str, last: int = 12) -> go.Figure:
    """One line per disbursement cohort: share of the amount ever 30+ (or 90+) by months on book."""
    fig = go.Figure()
    for cohort in list(curves.index)[-last:]:
        row = curves.loc[cohort].dropna()
        fig.add_scatter(x=row.index, y=row.values * 100, mode="lines", name=cohort, hovertemplate="%{y:.2f}%")
    fig.update_xaxes(title_text=translate("risk.mob", lang))
    fig.update_yaxes(title_text=translate(f"risk.{measure}_pct", lang), ticksuffix="%", rangemode="tozero")
    fig = apply_theme(fig, translate(f"risk.vintage_{measure}", lang), lang, height=400)
    fig.update_xaxes(tickformat=None, dtick=3, hoverformat=None)
    fig.update_layout(legend=dict(orientation="v", y=1, x=1.02, yanchor="top", xanchor="left"), hovermode="closest")
    return fig


def signal_trend_chart(trend: pd.DataFrame, lang: str) -> go.Figure:
    """Stacked bars: warning signals raised per month by type."""
    from .i18n import code_label
    fig = go.Figure()
    pivot = trend.pivot_table(index="month", columns="signal_type", values="raised", aggfunc="sum", fill_value=0)
    for i, col in enumerate(pivot.columns):
        fig.add_bar(x=pd.to_datetime(pivot.index + "-01"), y=pivot[col], name=code_label(col, lang),
                    marker_color=SERIES[i % len(SERIES)])
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text=translate("ew.signals_count", lang))
    return apply_theme(fig, translate("ew.signal_trend", lang), lang, height=380)


def capture_chart(metrics: dict, lang: str) -> go.Figure:
    """Workload (share of loans inspected) against share of next-quarter defaults caught: model vs periodic rule."""
    cap = pd.DataFrame(metrics["capture"])
    fig = go.Figure()
    fig.add_scatter(x=[0] + list(cap["workload"] * 100), y=[0] + list(cap["caught"] * 100), mode="lines+markers",
                    name=translate("ew.risk_driven", lang), line=dict(color="#1f5fa8", width=2.5))
    per = metrics["periodic"]
    fig.add_scatter(x=[per["workload"] * 100], y=[per["caught"] * 100], mode="markers+text",
                    name=translate("ew.periodic", lang), marker=dict(size=14, color="#d73027", symbol="diamond"),
                    text=[translate("ew.periodic", lang)], textposition="top center")
    fig.add_scatter(x=[0, 100], y=[0, 100], mode="lines", name=translate("ew.random", lang),
                    line=dict(color="#9ca3af", dash="dot"))
    fig.update_xaxes(title_text=translate("ew.workload", lang), range=[0, 40], ticksuffix="%")
    fig.update_yaxes(title_text=translate("ew.caught", lang), range=[0, 100], ticksuffix="%")
    fig = apply_theme(fig, translate("ew.capture_title", lang), lang, height=400)
    fig.update_xaxes(tickformat=None, dtick=5, hoverformat=None)
    fig.update_layout(hovermode="closest")
    return fig
