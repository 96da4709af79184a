"""Charts of the collections page: allocation by bucket and channel, recovery by entry bucket over time, the funnel,
channel economics, case ageing, the litigation pipeline and write-off recoveries. Pure builders (frame → figure)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from data_access.kpi import BUCKETS, ENTRY_BUCKET_GROUPS, ratio

from .charts import apply_theme, categorical_x, log_ticks
from .i18n import code_label, translate
from .theme import BUCKET_COLORS, SERIES

CHANNEL_ORDER = ("pending", "ai_voice", "sms", "phone", "field", "agency", "mediation", "litigation", "write_off")
CHANNEL_COLORS = dict(zip(CHANNEL_ORDER, ["#9ca3af", "#1f5fa8", "#7fb3e6", "#2a9d8f", "#e8793a", "#9c6ade",
                                          "#c9a227", "#d62f6f", "#5c7080"]))
GROUP_COLORS = {"M1": BUCKET_COLORS[1], "M2": BUCKET_COLORS[2], "M1+M2": "#1f5fa8", "M3+": BUCKET_COLORS[4]}


def channel_label(code: str, lang: str) -> str:
    """Channel names; 'pending' is a case not yet allocated (not the tasks' 'pending')."""
    return translate("coll.pending_channel", lang) if code == "pending" else code_label(code, lang)


def bucket_label(b: int) -> str:
    return BUCKETS[int(b)]


def allocation_chart(board: pd.DataFrame, lang: str) -> go.Figure:
    """Cases of one entry month by entry bucket (x) and channel (stacked colours), pending shown grey."""
    fig = go.Figure()
    buckets = [1, 2, 3, 4]
    for ch in CHANNEL_ORDER:
        d = board[board["channel"] == ch].set_index("entry_bucket").reindex(buckets)
        if d["cases"].fillna(0).sum() == 0:
            continue
        fig.add_bar(x=[bucket_label(b) for b in buckets], y=d["cases"].fillna(0), name=channel_label(ch, lang),
                    marker_color=CHANNEL_COLORS[ch], hovertemplate="%{x}: %{y:,.0f}")
    fig.update_layout(barmode="stack", hovermode="closest")
    fig.update_yaxes(title_text=translate("coll.cases_axis", lang), rangemode="tozero")
    fig = apply_theme(fig, translate("coll.alloc_chart", lang), lang)
    categorical_x(fig)
    return fig


def recovery_groups_by_month(by_month_bucket: pd.DataFrame) -> pd.DataFrame:
    """entry_month × (M1, M2, M1+M2, M3+) recovery rates from performance rows by entry_month and entry_bucket."""
    rows = []
    for month, g in by_month_bucket.groupby("entry_month"):
        for name, buckets in ENTRY_BUCKET_GROUPS.items():
            sel = g[g["entry_bucket"].isin(buckets)]
            rows.append({"entry_month": month, "group": name,
                         "recovery_rate": ratio(float(sel["recovered_amount"].sum()), float(sel["overdue_at_entry"].sum()))})
    return pd.DataFrame(rows, columns=["entry_month", "group", "recovery_rate"])


def recovery_trend_chart(groups: pd.DataFrame, lang: str) -> go.Figure:
    """Recovery rate by entry month for M1, M2, M1+M2 and M3+ (%), the newest cohorts still maturing."""
    fig = go.Figure()
    for name in ENTRY_BUCKET_GROUPS:
        d = groups[groups["group"] == name]
        fig.add_scatter(x=pd.to_datetime(d["entry_month"] + "-01"), y=d["recovery_rate"] * 100, mode="lines+markers",
                        name=translate("coll.entry_group", lang, group=name), line=dict(color=GROUP_COLORS[name], width=2.2,
                                                                                   dash="dot" if name == "M1+M2" else None),
                        hovertemplate="%{y:.1f}%")
    fig.update_yaxes(title_text=translate("coll.recovery_pct", lang), ticksuffix="%", rangemode="tozero")
    fig = apply_theme(fig, translate("coll.recovery_trend", lang), lang)
    months = sorted(groups["entry_month"].unique())
    if len(months) > 3:  # the newest cohorts are still being collected: mark them, don't hide them
        x0 = pd.Timestamp(months[-3] + "-01") - pd.Timedelta(days=15)
        fig.add_vrect(x0=x0, x1=pd.Timestamp(months[-1] + "-01") + pd.Timedelta(days=15), fillcolor="#9ca3af",
                      opacity=0.12, line_width=0, annotation_text=translate("coll.maturing", lang),
                      annotation_position="top left", annotation_font_size=11)
    return fig


def funnel_chart(row: pd.Series, channel: str, lang: str) -> go.Figure:
    """Assigned → contacted → promised → paid as promised, for one channel, with each stage's share of assigned.
    Each stage is a subset of the one before (a promise needs a contact, a kept promise a promise)."""
    stages = ["cases", "contacted_cases", "promised_cases", "kept_cases"]
    fig = go.Figure(go.Funnel(y=[translate(f"coll.stage.{s}", lang) for s in stages],
                              x=[float(row.get(s, 0) or 0) for s in stages], textinfo="value+percent initial",
                              marker=dict(color=[CHANNEL_COLORS.get(channel, SERIES[0])] * 4),
                              connector=dict(line=dict(color="#d1d5db")), name=channel_label(channel, lang)))
    fig = apply_theme(fig, translate("coll.funnel_title", lang, channel=channel_label(channel, lang)), lang, height=330)
    categorical_x(fig, legend=False)
    return fig


def channel_economics_chart(by_channel: pd.DataFrame, lang: str) -> go.Figure:
    """Per channel: recovery rate (bars, %) and cost per 100 元 recovered (line, 元, right axis)."""
    d = by_channel[by_channel["cases"] > 0]
    names = [channel_label(c, lang) for c in d["channel"]]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=names, y=d["recovery_rate"] * 100, name=translate("coll.recovery_pct", lang),
                marker_color=[CHANNEL_COLORS.get(c, SERIES[0]) for c in d["channel"]], hovertemplate="%{y:.1f}%",
                secondary_y=False)
    # a channel that recovered nothing (核销 after write-off) has no cost per 100 元: a gap, not a point off the chart
    cost = [v * 100 if v is not None and 0 < v < float("inf") else None for v in d["cost_per_yuan"]]
    fig.add_scatter(x=names, y=cost, name=translate("coll.cost_per_100", lang), mode="markers+lines",
                    line=dict(color="#111827", width=1.5), marker=dict(size=9), connectgaps=False,
                    hovertemplate="%{y:,.2f} " + translate("unit.yuan", lang), secondary_y=True)
    fig.update_yaxes(title_text=translate("coll.recovery_pct", lang), ticksuffix="%", tickformat=".0f", rangemode="tozero",
                     secondary_y=False)
    # costs span three orders of magnitude (SMS to litigation): a log axis keeps every channel readable
    fig.update_yaxes(title_text=translate("coll.cost_per_100_log", lang), type="log", secondary_y=True, showgrid=False,
                     **log_ticks(cost))
    fig = apply_theme(fig, translate("coll.channel_chart", lang), lang)
    categorical_x(fig)
    return fig


def ageing_chart(ageing: pd.DataFrame, lang: str) -> go.Figure:
    """Open cases by age band (x) and entry bucket (stacked)."""
    bands = list(dict.fromkeys(ageing["band"]))
    fig = go.Figure()
    for b in (1, 2, 3, 4):
        d = ageing[ageing["entry_bucket"] == b].set_index("band").reindex(bands)
        fig.add_bar(x=[translate(k, lang) for k in bands], y=d["open_cases"].fillna(0),
                    name=translate("coll.entry_group", lang, group=bucket_label(b)), marker_color=BUCKET_COLORS[b],
                    hovertemplate="%{x}: %{y:,.0f}")
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_yaxes(title_text=translate("coll.open_cases_axis", lang), rangemode="tozero")
    fig = apply_theme(fig, translate("coll.ageing_chart", lang), lang)
    categorical_x(fig)
    return fig


def litigation_chart(pipe: pd.DataFrame, lang: str) -> go.Figure:
    """Litigation cases per stage (bars) with the balance sued for (万元, hover)."""
    fig = go.Figure(go.Bar(x=[code_label(f"legal_{s}", lang) for s in pipe["legal_stage"]], y=pipe["cases"],
                           marker_color=SERIES[6], customdata=pipe["balance_at_entry"] / 1e4,
                           text=[f"{v / 1e4:,.1f}" for v in pipe["balance_at_entry"]], textposition="outside",
                           name=translate("coll.cases_axis", lang),
                           hovertemplate="%{x}: %{y:,.0f} · %{customdata:,.1f} " + translate("unit.wan", lang)))
    fig.update_yaxes(title_text=translate("coll.cases_axis", lang), rangemode="tozero")
    fig = apply_theme(fig, translate("coll.litigation_chart", lang), lang, height=330)
    fig.update_xaxes(title_text=translate("coll.stage_axis", lang), tickformat=None, dtick=None, hoverformat=None)
    fig.update_layout(showlegend=False, hovermode="closest")
    return fig


def write_off_chart(wo: pd.DataFrame, lang: str) -> go.Figure:
    """Amount written off per month (bars, 万元) and the share recovered since (line, %)."""
    x = pd.to_datetime(wo["entry_month"] + "-01")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=x, y=wo["balance_at_entry"] / 1e4, name=translate("coll.written_off_wan", lang), marker_color="#5c7080",
                hovertemplate="%{y:,.1f} " + translate("unit.wan", lang), secondary_y=False)
    fig.add_scatter(x=x, y=wo["recovery_rate"] * 100, name=translate("coll.wo_recovered_pct", lang), mode="lines+markers",
                    line=dict(color=SERIES[1], width=2), hovertemplate="%{y:.1f}%", secondary_y=True)
    fig.update_yaxes(title_text=translate("coll.written_off_wan", lang), rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text=translate("coll.wo_recovered_pct", lang), ticksuffix="%", tickformat=".1f",
                     rangemode="tozero", secondary_y=True, showgrid=False)
    return apply_theme(fig, translate("coll.write_off_chart", lang), lang, height=330)


def run_compare_chart(lines: pd.DataFrame, lang: str, title_key: str = "coll.run_chart",
                      labels: dict[str, str] | None = None) -> go.Figure:
    """Expected net recovery (万元) per channel, optimised vs the rules alone (an allocation run, or a lab
    scenario against its baseline with ``title_key`` / ``labels``)."""
    labels = labels or {"rules": "coll.method.rules", "optimised": "coll.method.optimised"}
    d = lines.assign(net=lines["expected_recovery"] - lines["expected_cost"])
    g = d.groupby(["method", "channel"], as_index=False)[["cases", "net"]].sum()
    fig = go.Figure()
    for method, colour in (("rules", "#9ca3af"), ("optimised", "#1f5fa8")):
        m = g[g["method"] == method].set_index("channel").reindex([c for c in CHANNEL_ORDER if c in set(g["channel"])])
        fig.add_bar(x=[channel_label(c, lang) for c in m.index], y=m["net"].fillna(0) / 1e4, marker_color=colour,
                    name=translate(labels[method], lang), customdata=m["cases"].fillna(0),
                    hovertemplate="%{x}: %{y:,.2f} " + translate("unit.wan", lang) + " · %{customdata:,.0f}")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=translate("coll.net_wan", lang), rangemode="tozero")
    fig = apply_theme(fig, translate(title_key, lang), lang, height=330)
    categorical_x(fig)
    return fig
