"""Charts of the model monitor: discrimination by month with its alert lines, score stability, calibration."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .charts import apply_theme
from .i18n import translate
from .theme import BAD, PRIMARY, SERIES

AMBER = "#fb8c00"


def discrimination_chart(series: dict[str, pd.DataFrame], valid_auc: float | None, lang: str) -> go.Figure:
    """AUC by month of each model in ``series`` (label → monitoring rows; solid for the first, the champion),
    KS of the first; the validation AUC and the amber / red lines 0.03 / 0.05 below it, dotted."""
    fig = go.Figure()
    for i, (label, rows) in enumerate(series.items()):
        d = rows[rows["metric"] == "auc"]
        fig.add_scatter(x=pd.to_datetime(d["month"] + "-01"), y=d["value"], mode="lines+markers",
                        name=f"AUC · {label}", line=dict(color=SERIES[i % len(SERIES)] if i else PRIMARY, width=2.2,
                                                         dash="solid" if i == 0 else "dash"),
                        hovertemplate="%{y:.3f}")
        if i == 0:
            k = rows[rows["metric"] == "ks"]
            fig.add_scatter(x=pd.to_datetime(k["month"] + "-01"), y=k["value"], mode="lines+markers",
                            name=f"KS · {label}", line=dict(color=SERIES[1], width=1.6), hovertemplate="%{y:.3f}")
    if valid_auc:
        fig.add_hline(y=valid_auc, line_dash="dash", line_color="#6b7280",
                      annotation_text=translate("mon.valid_line", lang) + f" {valid_auc:.2f}",
                      annotation_position="top right")
        for drop, colour, key, where in ((0.03, AMBER, "mon.amber", "top left"), (0.05, BAD, "mon.red", "bottom right")):
            fig.add_hline(y=valid_auc - drop, line_dash="dot", line_color=colour,
                          annotation_text=translate(key, lang) + f" {valid_auc - drop:.2f}", annotation_position=where)
    fig.update_yaxes(title_text=translate("mon.value", lang), range=[0, 1])
    fig = apply_theme(fig, translate("mon.disc_chart", lang), lang, height=340)
    fig.update_xaxes(dtick="M1")
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return fig


def psi_chart(rows: pd.DataFrame, lang: str) -> go.Figure:
    """Score PSI by month against the training window, coloured by the 0.10 / 0.25 thresholds."""
    d = rows[rows["metric"] == "psi"]
    colours = [BAD if v >= 0.25 else AMBER if v >= 0.10 else "#1a9850" for v in d["value"].fillna(0)]
    fig = go.Figure(go.Bar(x=pd.to_datetime(d["month"] + "-01"), y=d["value"], marker_color=colours,
                           name="PSI", hovertemplate="%{y:.3f}"))
    fig.add_hline(y=0.10, line_dash="dot", line_color=AMBER, annotation_text=translate("mon.amber", lang) + " 0.10")
    fig.add_hline(y=0.25, line_dash="dot", line_color=BAD, annotation_text=translate("mon.red", lang) + " 0.25")
    fig.update_yaxes(title_text="PSI", rangemode="tozero")
    fig = apply_theme(fig, translate("mon.psi_chart", lang), lang, height=320)
    fig.update_layout(showlegend=False)
    fig.update_xaxes(dtick="M3")
    return fig


def calibration_chart(rows: pd.DataFrame, lang: str) -> go.Figure:
    """Predicted against observed rate by score decile (%), with the diagonal of perfect calibration."""
    pred = rows[rows["metric"] == "calib_pred"].set_index("feature")["value"]
    obs = rows[rows["metric"] == "calib_obs"].set_index("feature")["value"]
    bands = sorted(set(pred.index) & set(obs.index), key=int)
    x, y = pred.loc[bands] * 100, obs.loc[bands] * 100
    top = float(max(x.max(), y.max(), 1)) * 1.1
    fig = go.Figure()
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", line=dict(color="#9ca3af", dash="dash"),
                    name=translate("mon.perfect", lang), hoverinfo="skip")
    # the low-risk deciles sit almost on one spot near 0: label the first, the last and every third between
    # (each one's number is in its hover), so the labels do not print over each other
    shown = {bands[0], bands[-1], *bands[::3]} if bands else set()
    fig.add_scatter(x=x, y=y, mode="lines+markers+text", text=[b if b in shown else "" for b in bands],
                    textposition="top left", customdata=bands, line=dict(color=PRIMARY, width=2),
                    name=translate("mon.deciles", lang),
                    hovertemplate="%{customdata}: %{x:.2f}% → %{y:.2f}%<extra></extra>")
    fig.update_xaxes(title_text=translate("mon.predicted", lang), ticksuffix="%", tickformat=None, dtick=None,
                     hoverformat=None, range=[0, top])
    fig.update_yaxes(title_text=translate("mon.observed", lang), ticksuffix="%", range=[0, top])
    month = rows[rows["metric"] == "calib_pred"]["month"].max()
    fig = apply_theme(fig, translate("mon.calib_chart", lang, month=month), lang, height=320)
    fig.update_xaxes(tickformat=None, dtick=None, hoverformat=None)
    fig.update_layout(hovermode="closest", legend=dict(y=-0.28), margin=dict(b=40))
    return fig
