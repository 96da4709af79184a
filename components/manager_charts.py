"""Charts and the trajectory map of the manager-behaviour page. Pure builders (frame → figure)."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from models.capability import RATINGS, WEIGHTS

from .charts import apply_theme, categorical_x, inert_data_text
from .i18n import translate
from .map_layers import _rings, short_name
from .theme import BAD, FONT_STACK, GOOD, PRIMARY, SERIES

EVENT_COLOURS = {"visit": (31, 95, 168), "check_in": (42, 157, 143), "marketing": (201, 162, 39), "task": (156, 106, 222)}
SEVERITY_COLOURS = {"high": (215, 48, 39), "medium": (251, 140, 0), "low": (253, 216, 53)}
RATING_COLOURS = {"A": GOOD, "B": "#66bd63", "C": "#fdae61", "D": BAD}


def workload_chart(team: pd.DataFrame, target: int, lang: str) -> go.Figure:
    """Customers per manager against the target: one bar per manager for a small team; for a large one (a whole
    bank's 300 managers made 300 unreadable bars) the distribution — managers per band of 20 customers, the bands
    at or over the target in the primary colour — with the target marked above the bars."""
    if len(team) <= 40:
        d = team.sort_values("customers", ascending=False)
        fig = go.Figure(go.Bar(x=d["name"], y=d["customers"], marker_color=[PRIMARY if c >= target else "#9ecae1"
                                                                            for c in d["customers"]],
                               name=translate("mgr.customers", lang), hovertemplate="%{x}: %{y:,.0f}<extra></extra>"))
        fig.add_hline(y=target, line_dash="dash", line_color=BAD)
        # the target's label above the plot, not over the bars it crosses
        fig.add_annotation(x=1, xref="paper", y=1.02, yref="paper", text=translate("mgr.target_line", lang, n=target),
                           showarrow=False, font=dict(color=BAD, size=11), xanchor="right", yanchor="bottom")
        fig.update_yaxes(title_text=translate("mgr.customers_axis", lang), rangemode="tozero")
        fig = apply_theme(fig, translate("mgr.workload_chart", lang), lang)
        categorical_x(fig, legend=False)
        fig.update_xaxes(tickangle=-45)
        return fig
    width = 20
    bands = (team["customers"].fillna(0) // width * width).astype(int)
    counts = bands.value_counts().sort_index()
    full = range(int(counts.index.min()), int(counts.index.max()) + width, width)
    counts = counts.reindex(full, fill_value=0)
    fig = go.Figure(go.Bar(x=[b + width / 2 for b in counts.index], y=counts.values, width=width * 0.92,
                           marker_color=[PRIMARY if b >= target else "#9ecae1" for b in counts.index],
                           customdata=[f"{b:,}–{b + width - 1:,}" for b in counts.index],
                           name=translate("mgr.managers", lang),
                           hovertemplate="%{customdata}: %{y:,.0f}<extra></extra>"))
    fig.add_vline(x=target, line_dash="dash", line_color=BAD)
    fig.add_annotation(x=target, y=1.02, yref="paper", text=translate("mgr.target_line", lang, n=target),
                       showarrow=False, font=dict(color=BAD, size=11), xanchor="left", yanchor="bottom")
    fig.update_yaxes(title_text=translate("mgr.managers_axis", lang), rangemode="tozero", tickformat=",d")
    fig = apply_theme(fig, translate("mgr.workload_dist", lang), lang)
    categorical_x(fig, legend=False)
    fig.update_xaxes(title_text=translate("mgr.customers_axis", lang), tickformat=",d")
    return fig


def contributions_chart(contrib: pd.Series, lang: str) -> go.Figure:
    """One manager's score as a waterfall: each part's points out of its maximum ("16.7/20" over the bar; a
    second tick line for the maximum was printed as '<br>' once the theme made tick labels plain text), then the
    total (out of 100)."""
    parts = list(WEIGHTS)
    vals = [float(contrib[p]) for p in parts]
    labels = [translate(f"mgr.part.{p}", lang) for p in parts] + [translate("mgr.total", lang)]
    fig = go.Figure(go.Waterfall(x=labels, y=vals + [sum(vals)],
                                 measure=["relative"] * len(parts) + ["total"],
                                 text=[f"{v:.1f}/{WEIGHTS[p]:.0f}" for v, p in zip(vals, parts)] + [f"{sum(vals):.1f}"],
                                 textposition="outside",
                                 increasing=dict(marker=dict(color=PRIMARY)), totals=dict(marker=dict(color=SERIES[1])),
                                 connector=dict(line=dict(color="#d1d5db")), name=translate("mgr.points", lang)))
    for cut, grade in RATINGS[:-1]:
        fig.add_hline(y=cut, line_dash="dot", line_color="#9ca3af", annotation_text=grade, annotation_position="right")
    fig.update_yaxes(title_text=translate("mgr.points_axis", lang), range=[0, 105])
    fig = apply_theme(fig, translate("mgr.contrib_chart", lang), lang, height=340)
    categorical_x(fig, legend=False)
    return fig


def rating_chart(ratings: pd.DataFrame, lang: str) -> go.Figure:
    """Managers per rating, by month (stacked): how the team's distribution moves."""
    fig = go.Figure()
    for grade in ("A", "B", "C", "D"):
        d = ratings[ratings["rating"] == grade].groupby("month").size().reindex(sorted(ratings["month"].unique()),
                                                                                 fill_value=0)
        fig.add_bar(x=pd.to_datetime(pd.Series(d.index) + "-01"), y=d.values, name=grade,
                    marker_color=RATING_COLOURS[grade], hovertemplate=f"{grade}: %{{y}}")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text=translate("mgr.managers_axis", lang), rangemode="tozero")
    fig = apply_theme(fig, translate("mgr.rating_chart", lang), lang, height=320)
    fig.update_xaxes(dtick="M1")
    return fig


def sources_chart(src: pd.DataFrame, lang: str) -> go.Figure:
    """New customers by source and month (stacked bars)."""
    fig = go.Figure()
    for i, source in enumerate(("walk_in", "whole_village", "referral", "online", "event")):
        d = src[src["source"] == source]
        fig.add_bar(x=pd.to_datetime(d["month"] + "-01"), y=d["customers"], name=translate(f"mgr.src.{source}", lang),
                    marker_color=SERIES[i], hovertemplate="%{y:,.0f}")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text=translate("mgr.new_axis", lang), rangemode="tozero")
    fig = apply_theme(fig, translate("mgr.sources_chart", lang), lang, height=320)
    fig.update_xaxes(dtick="M2")
    return fig


MARKER_PX = 20  # an event's marker, in pixels: numbers inside, set off from each other by at least this much


def spread_markers(lon: list[float], lat: list[float], width_px: int = 700, height_px: int = 560,
                   lat_scale: float = 1.22) -> tuple[list[float], list[float]]:
    """Marker positions that do not cover each other at the map's first zoom: the day's records are fitted into
    ``width_px`` × ``height_px`` as the map is, and a record closer than a marker's width to one already placed (a
    household visited twice, a check-in at its door, two visits next door) is set off around it, on a growing
    circle, until it is clear. The first record at a spot keeps its true place."""
    if not lon:
        return [], []
    lon_span = max(max(lon) - min(lon), 0.004)
    lat_span = max(max(lat) - min(lat), 0.004)
    # degrees of longitude per pixel once both spans fit (a degree of latitude is ``lat_scale`` of longitude)
    per_px = max(lon_span / (0.85 * width_px), lat_span * lat_scale / (0.85 * height_px))
    gap = MARKER_PX * 1.1 * per_px
    placed: list[tuple[float, float]] = []
    for x, y in zip(lon, lat):
        # distances in longitude degrees: latitude scaled by lat_scale
        px, py, k = x, y, 0
        while any((px - a) ** 2 + ((py - b) * lat_scale) ** 2 < gap ** 2 for a, b in placed) and k < 60:
            k += 1
            ring = 1 + k // 6
            ang = k * math.pi / 3 + ring * 0.5
            px, py = x + gap * ring * math.cos(ang), y + gap * ring * math.sin(ang) / lat_scale
        placed.append((px, py))
    return [p[0] for p in placed], [p[1] for p in placed]


def _rgb(c: tuple) -> str:
    return f"rgb({c[0]},{c[1]},{c[2]})"


def trajectory_figure(ev: pd.DataFrame, lang: str, grid: pd.DataFrame | None = None, width_px: int = 700,
                      height_px: int = 560) -> go.Figure:
    """The day's events as a numbered path, coloured by type, ringed when a rule fired; a grey line from each
    visit to the visited household's home (a long line is the 'far from home' evidence); the manager's own villages
    behind. Drawn by plotly on plain longitude / latitude axes at true proportions: the map has no basemap, and
    deck.gl's WebGL needed 3–5 s to compile its layers' shaders on a desktop without a graphics card (headless
    Chromium, a bank's virtual desktop) before anything showed."""
    # numbered in the order of the day's records, the same numbers as the table (records without GPS included)
    pts = ev.assign(seq=range(1, len(ev) + 1)).dropna(subset=["lon", "lat"]).reset_index(drop=True)
    lat_mid = float(pts["lat"].astype(float).mean()) if not pts.empty else 33.9
    lat_scale = 1 / max(math.cos(math.radians(lat_mid)), 0.2)
    xs, ys = spread_markers(pts["lon"].astype(float).tolist(), pts["lat"].astype(float).tolist(), width_px,
                            height_px, lat_scale)
    fig = go.Figure()
    if grid is not None and not grid.empty:
        for _, r in grid.iterrows():
            if not r["geometry"]:
                continue
            gx, gy = [], []
            for poly in _rings(r["geometry"]):
                gx += [p[0] for p in poly[0]] + [None]
                gy += [p[1] for p in poly[0]] + [None]
            fig.add_scatter(x=gx, y=gy, mode="lines", fill="toself", fillcolor="rgba(225,236,247,0.65)",
                            line=dict(color="rgb(150,170,200)", width=1), hoveron="fills", name=r["name"],
                            hovertemplate=f"<b>%{{fullData.name}}</b><br>{translate('mgr.own_grid', lang)}"
                                          "<extra></extra>")
        named = grid[grid["centroid_lon"].notna()]
        fig.add_scatter(x=named["centroid_lon"], y=named["centroid_lat"], mode="text",
                        text=[short_name(n) for n in named["name"]], textfont=dict(color="rgb(90,110,140)", size=12),
                        hoverinfo="skip", name=translate("mgr.own_grid", lang))
    homes = [(x, y, float(r["home_lon"]), float(r["home_lat"])) for x, y, (_, r) in zip(xs, ys, pts.iterrows())
             if r["event_type"] == "visit" and pd.notna(r["home_lon"])]
    if homes:
        hx = [v for x, _, hx_, _ in homes for v in (x, hx_, None)]
        hy = [v for _, y, _, hy_ in homes for v in (y, hy_, None)]
        fig.add_scatter(x=hx, y=hy, mode="lines", line=dict(color="rgb(150,150,150)", width=1.5), hoverinfo="skip",
                        name=translate("mgr.home", lang))
        fig.add_scatter(x=[h[2] for h in homes], y=[h[3] for h in homes], mode="markers",
                        marker=dict(size=7, color="white", line=dict(color="rgb(90,90,90)", width=1)),
                        name=translate("mgr.home", lang), hovertemplate="%{fullData.name}<extra></extra>")
    if xs:
        fig.add_scatter(x=xs, y=ys, mode="lines", line=dict(color="rgba(80,80,80,0.65)", width=2), hoverinfo="skip",
                        name=translate("mgr.path", lang))
        data, templates = [], []
        for _, r in pts.iterrows():
            kind = translate(f"mgr.ev.{r['event_type']}", lang)
            who = (f"{r['customer_no']} {r['name'] if pd.notna(r['name']) else ''}".strip()
                   if pd.notna(r["customer_no"]) and r["customer_no"] else "")
            flags = f"⚠ {r['flags']}" if pd.notna(r["flags"]) and r["flags"] else ""
            data.append([f"{int(r['seq'])}. {kind}", f"{pd.Timestamp(r['event_at']):%m-%d %H:%M}", who, flags])
            # the lines this record has, no blank ones; values come in through customdata, shown as text
            templates.append("<b>%{customdata[0]}</b><br>%{customdata[1]}" + ("<br>%{customdata[2]}" if who else "")
                             + ("<br>%{customdata[3]}" if flags else "") + "<extra></extra>")
        fig.add_scatter(x=xs, y=ys, mode="markers+text", text=[str(int(s)) for s in pts["seq"]],
                        textfont=dict(color="white", size=10, family=FONT_STACK), textposition="middle center",
                        marker=dict(size=MARKER_PX, opacity=1,
                                    color=[_rgb(EVENT_COLOURS.get(t, (120, 120, 120))) for t in pts["event_type"]],
                                    line=dict(color=[_rgb(SEVERITY_COLOURS.get(w, (255, 255, 255))) for w in pts["worst"]],
                                              width=[4 if w else 1 for w in pts["worst"]])),
                        customdata=data, hovertemplate=templates, name=translate("mgr.legend", lang))
        all_x = xs + [h[2] for h in homes]
        all_y = ys + [h[3] for h in homes]
        pad_x = max(max(all_x) - min(all_x), 0.004) * 0.08
        pad_y = max(max(all_y) - min(all_y), 0.004) * 0.08
        fig.update_xaxes(range=[min(all_x) - pad_x, max(all_x) + pad_x])
        fig.update_yaxes(range=[min(all_y) - pad_y, max(all_y) + pad_y])
    inert_data_text(fig)
    # true proportions: a degree of latitude drawn ``lat_scale`` times as long as a degree of longitude
    fig.update_xaxes(visible=False, constrain="range")
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=lat_scale, constrain="range")
    fig.update_layout(height=height_px, margin=dict(l=0, r=0, t=0, b=0), showlegend=False, hovermode="closest",
                      dragmode="pan", plot_bgcolor="#f4f6f8", paper_bgcolor="#f4f6f8",
                      font=dict(family=FONT_STACK, size=12, color="#1f2937"),
                      hoverlabel=dict(bgcolor="#1f2937", font=dict(color="white", family=FONT_STACK, size=12),
                                      align="left"))
    return fig


def legend_items(lang: str) -> list[tuple[str, tuple]]:
    """What a point's fill says (the record's type), and the map's other marks."""
    return ([(translate(f"mgr.ev.{k}", lang), c) for k, c in EVENT_COLOURS.items() if k != "task"]
            + [(translate("mgr.home", lang), (255, 255, 255)), (translate("mgr.own_grid", lang), (225, 236, 247))])


def ring_items(lang: str) -> list[tuple[str, tuple]]:
    """What a point's ring says (the worst rule that fired on it): a legend of its own, not mixed with the types."""
    return [(translate(f"mgr.sev.{k}", lang), c) for k, c in SEVERITY_COLOURS.items()]
