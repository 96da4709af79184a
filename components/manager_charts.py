"""Charts and the trajectory map of the manager-behaviour page. Pure builders (frame → figure / deck)."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import pydeck as pdk
from pydeck.types import String

from models.capability import RATINGS, WEIGHTS

from .charts import apply_theme, categorical_x
from .i18n import translate
from .map_layers import OFFLINE_STYLE, _rings, short_name
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
    """One manager's score as a waterfall: each part's points, then the total (out of 100)."""
    parts = list(WEIGHTS)
    vals = [float(contrib[p]) for p in parts]
    labels = [translate(f"mgr.part.{p}", lang) + f"<br>(/{WEIGHTS[p]:.0f})" for p in parts]
    fig = go.Figure(go.Waterfall(x=labels + [translate("mgr.total", lang)], y=vals + [sum(vals)],
                                 measure=["relative"] * len(parts) + ["total"],
                                 text=[f"{v:.1f}" for v in vals] + [f"{sum(vals):.1f}"], textposition="outside",
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


def trajectory_deck(ev: pd.DataFrame, lang: str, grid: pd.DataFrame | None = None, width_px: int = 700,
                    height_px: int = 560) -> pdk.Deck:
    """The day's events as a numbered path, coloured by type, ringed when a rule fired; a grey line from each
    visit to the visited household's home (a long line is the 'far from home' evidence)."""
    # numbered in the order of the day's records, the same numbers as the table (records without GPS included)
    pts = ev.assign(seq=range(1, len(ev) + 1)).dropna(subset=["lon", "lat"]).reset_index(drop=True)
    rows = []
    seen: dict[tuple, int] = {}
    for _, r in pts.iterrows():
        # records at one spot (a household visited twice, a check-in at the door) would hide each other's numbers:
        # each repeat is set off a little around the first, about 40 m apart
        spot = (round(float(r["lon"]), 4), round(float(r["lat"]), 4))
        k = seen[spot] = seen.get(spot, -1) + 1
        lon = float(r["lon"]) + (0.0004 * math.cos(k * 2.1) if k else 0.0)
        lat = float(r["lat"]) + (0.0004 * math.sin(k * 2.1) if k else 0.0)
        # plain-text lines: the tooltip template holds the line breaks (markup in a value is printed as text)
        tip = {"tip": f"{pd.Timestamp(r['event_at']):%m-%d %H:%M} · {translate(f'mgr.ev.{r.event_type}', lang)}",
               "tip2": f"{r['customer_no']} {r['name'] if pd.notna(r['name']) else ''}".strip()
               if pd.notna(r["customer_no"]) and r["customer_no"] else "",
               "tip3": f"⚠ {r['flags']}" if pd.notna(r["flags"]) and r["flags"] else ""}
        rows.append({"position": [lon, lat], "n": str(int(r["seq"])), **tip,
                     "name": translate(f"mgr.ev.{r.event_type}", lang),
                     "fill": [*EVENT_COLOURS.get(r["event_type"], (120, 120, 120)), 235],
                     "ring": [*SEVERITY_COLOURS.get(r["worst"], (255, 255, 255)), 255],
                     "ring_w": 4 if r["worst"] else 1})
    path = [{"path": [row["position"] for row in rows], "name": translate("mgr.path", lang), "tip": "", "tip2": "",
             "tip3": ""}]
    homes = [{"source": [float(r["lon"]), float(r["lat"])], "target": [float(r["home_lon"]), float(r["home_lat"])]}
             for _, r in pts.iterrows() if r["event_type"] == "visit" and pd.notna(r["home_lon"])]
    home_pts = [{"position": h["target"], "name": translate("mgr.home", lang), "tip": "", "tip2": "", "tip3": ""}
                for h in homes]
    background = []
    if grid is not None and not grid.empty:
        polys = [{"polygon": ring, "name": r["name"], "tip": translate("mgr.own_grid", lang), "tip2": "", "tip3": ""}
                 for _, r in grid.iterrows() if r["geometry"] for ring in _rings(r["geometry"])]
        names = [{"name": short_name(r["name"]), "position": [r["centroid_lon"], r["centroid_lat"]]}
                 for _, r in grid.iterrows() if r["centroid_lon"] is not None]
        background = [
            pdk.Layer("PolygonLayer", polys, id="grid", get_polygon="polygon", get_fill_color=[225, 236, 247, 160],
                      get_line_color=[150, 170, 200, 255], line_width_min_pixels=1, stroked=True, pickable=True),
            pdk.Layer("TextLayer", names, id="grid_names", get_position="position", get_text="name", get_size=12,
                      get_color=[90, 110, 140, 255], character_set=String("".join(sorted({c for n in names for c in n["name"]}))),
                      font_family=String(FONT_STACK), pickable=False)]
    chars = "".join(sorted(set("0123456789")))
    layers = background + [
        pdk.Layer("PathLayer", path, id="path", get_path="path", get_color=[80, 80, 80, 160], width_min_pixels=2,
                  get_width=3, pickable=False),
        pdk.Layer("LineLayer", homes, id="to_home", get_source_position="source", get_target_position="target",
                  get_color=[150, 150, 150, 200], get_width=1.5, pickable=False),
        pdk.Layer("ScatterplotLayer", home_pts, id="homes", get_position="position", get_radius=25,
                  radius_min_pixels=3, get_fill_color=[255, 255, 255, 255], get_line_color=[90, 90, 90, 255],
                  stroked=True, line_width_min_pixels=1, pickable=True),
        pdk.Layer("ScatterplotLayer", rows, id="events", get_position="position", get_radius=60, radius_min_pixels=7,
                  radius_max_pixels=14, get_fill_color="fill", get_line_color="ring", get_line_width="ring_w",
                  line_width_units=String("pixels"), stroked=True, pickable=True),
        pdk.Layer("TextLayer", rows, id="order", get_position="position", get_text="n", get_size=11,
                  get_color=[255, 255, 255, 255], character_set=String(chars), font_family=String(FONT_STACK),
                  font_weight=700, pickable=False),
    ]
    if rows:
        lons = [r["position"][0] for r in rows] + [h["target"][0] for h in homes]
        lats = [r["position"][1] for r in rows] + [h["target"][1] for h in homes]
        # fit both spans into the map's pixels (a degree of latitude ≈ 1.22 of longitude here)
        lon_span, lat_span = max(max(lons) - min(lons), 0.004), max(max(lats) - min(lats), 0.004)
        fit = min(0.85 * width_px * 360 / (512 * lon_span), 0.85 * height_px * 360 / (512 * lat_span * 1.22))
        zoom = max(7.0, min(16.0, math.log2(fit)))
        view = pdk.ViewState(longitude=(max(lons) + min(lons)) / 2, latitude=(max(lats) + min(lats)) / 2, zoom=zoom)
    else:
        view = pdk.ViewState(longitude=117.9, latitude=33.9, zoom=9)
    return pdk.Deck(layers=layers, initial_view_state=view, map_style=OFFLINE_STYLE, map_provider=None,
                    tooltip={"html": "<b>{name}</b><br/>{tip}<br/>{tip2}<br/>{tip3}",
                             "style": {"fontFamily": FONT_STACK, "fontSize": "12px", "backgroundColor": "#1f2937",
                                       "color": "white"}})


def legend_items(lang: str) -> list[tuple[str, tuple]]:
    """What a point's fill says (the record's type), and the map's other marks."""
    return ([(translate(f"mgr.ev.{k}", lang), c) for k, c in EVENT_COLOURS.items() if k != "task"]
            + [(translate("mgr.home", lang), (255, 255, 255)), (translate("mgr.own_grid", lang), (225, 236, 247))])


def ring_items(lang: str) -> list[tuple[str, tuple]]:
    """What a point's ring says (the worst rule that fired on it): a legend of its own, not mixed with the types."""
    return [(translate(f"mgr.sev.{k}", lang), c) for k, c in SEVERITY_COLOURS.items()]
