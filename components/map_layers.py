"""Offline pydeck maps of the grid: polygons coloured by a metric, labels, outlets — no basemap, no CDN.

``grid_deck`` is pure (frames in, ``pdk.Deck`` out) and unit-tested; the page only renders it.
"""
from __future__ import annotations

import json
import math
import urllib.parse
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pydeck as pdk
from pydeck.types import String

from data_access.grid import bounds

from .formatting import count, money, pct
from .i18n import translate
from .safe_text import html_text
from .theme import FONT_STACK


@dataclass(frozen=True)
class MetricSpec:
    key: str
    kind: str          # count | money | rate | category
    palette: str       # blue | green | red | category
    good_when_high: bool | None = True


METRICS: dict[str, MetricSpec] = {m.key: m for m in (
    MetricSpec("households", "count", "blue"),
    MetricSpec("credit_coverage", "rate", "green"),
    MetricSpec("usage_rate", "rate", "green"),
    MetricSpec("balance", "money", "blue"),
    MetricSpec("balance_per_household", "money", "blue"),
    MetricSpec("npl_ratio", "rate", "red", False),
    MetricSpec("overdue_ratio", "rate", "red", False),
    MetricSpec("deposits", "money", "blue"),
    MetricSpec("ebank_rate", "rate", "green"),
    MetricSpec("third_pay_rate", "rate", "green"),
    MetricSpec("ss_card_rate", "rate", "green"),
    MetricSpec("credit_village_grade", "category", "category"),
    MetricSpec("whole_village_credit", "category", "category"),
    MetricSpec("open_warnings", "count", "red", False),
)}
PALETTES = {
    "blue": [(222, 235, 247), (158, 202, 225), (107, 174, 214), (49, 130, 189), (8, 81, 156)],
    "green": [(229, 245, 224), (161, 217, 155), (116, 196, 118), (49, 163, 84), (0, 109, 44)],
    "red": [(254, 229, 217), (252, 174, 145), (251, 106, 74), (222, 45, 38), (165, 15, 21)],
}
CATEGORY_COLOURS = {
    "credit_village_grade": {"AAA": (0, 109, 44), "AA": (65, 171, 93), "A": (161, 217, 155), None: (210, 210, 210)},
    "whole_village_credit": {"done": (49, 130, 189), "in_progress": (158, 202, 225), "not_started": (230, 230, 230),
                             None: (210, 210, 210)},
}
NO_DATA = (225, 225, 225)
# An inline map style (a data: URL, so nothing is fetched) with one background layer and no sources: without a
# style Streamlit falls back to a Carto basemap from the internet, which a bank intranet cannot reach.
OFFLINE_STYLE = "data:application/json;charset=utf-8," + urllib.parse.quote(json.dumps(
    {"version": 8, "sources": {},
     "layers": [{"id": "background", "type": "background", "paint": {"background-color": "#f4f6f8"}}]}))


def short_name(name: str) -> str:
    """Map label of a grid: 顾庄村委会 → 顾庄村, 旧州社区居委会 → 旧州社区 (tables keep the full name)."""
    for long, short in (("村民委员会", "村"), ("社区居民委员会", "社区"), ("社区居委会", "社区"), ("村委会", "村"),
                        ("居委会", "社区")):
        if name.endswith(long):
            return name[: -len(long)] + short
    return name


def format_value(value, kind: str, lang: str) -> str:
    if kind == "money":
        return money(value, lang)
    if kind == "rate":
        return pct(value, 1)
    if kind == "count":
        return count(value)
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def category_label(metric: str, value, lang: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return translate("map.none", lang)
    if metric == "whole_village_credit":
        return translate(f"map.wvc.{value}", lang)
    return str(value)


def classify(values: pd.Series, n: int = 5) -> tuple[np.ndarray, list[float]]:
    """Quantile classes 0..n-1 of ``values`` (NaN → -1) and the class edges, for a readable legend."""
    v = values.astype(float)
    ok = v.dropna()
    if ok.empty:
        return np.full(len(v), -1), []
    edges = sorted(set(np.quantile(ok, np.linspace(0, 1, n + 1)).round(10)))
    if len(edges) < 2:
        return np.where(v.notna(), 0, -1), [edges[0], edges[0]]
    cls = np.searchsorted(edges[1:-1], v.fillna(ok.min()), side="right")
    return np.where(v.notna(), cls, -1), edges


def colours(df: pd.DataFrame, metric: str, lang: str) -> tuple[list[tuple], list[tuple[str, tuple]]]:
    """(fill colour per row, legend entries (label, colour)) for ``metric``."""
    spec = METRICS[metric]
    if spec.kind == "category":
        table = CATEGORY_COLOURS[metric]
        vals = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else v for v in df[metric]]
        fills = [table.get(v, NO_DATA) for v in vals]
        legend = [(category_label(metric, k, lang), c) for k, c in table.items()]
        return fills, legend
    cls, edges = classify(df[metric])
    pal = PALETTES[spec.palette]
    k = max(1, len(edges) - 1)
    steps = [pal[min(len(pal) - 1, round(i * (len(pal) - 1) / max(1, k - 1)))] for i in range(k)]
    fills = [steps[c] if c >= 0 else NO_DATA for c in cls]
    legend = [(f"{format_value(edges[i], spec.kind, lang)} – {format_value(edges[i + 1], spec.kind, lang)}", steps[i])
              for i in range(len(edges) - 1)]
    return fills, legend


def _rings(geometry: str) -> list:
    geom = json.loads(geometry)
    return geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]


def view_for(df: pd.DataFrame, width_px: int = 800, height_px: int = 620) -> pdk.ViewState:
    """A view that fits the polygons in a map of about ``width_px`` × ``height_px``: web-mercator zoom z shows
    512 · 2^z pixels per 360° of longitude, and a degree of latitude is about 1.2 of longitude here."""
    x0, y0, x1, y1 = bounds(df["geometry"].dropna().tolist())
    lon_span, lat_span = max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)
    fit = min(0.9 * width_px * 360 / (512 * lon_span), 0.9 * height_px * 360 / (512 * lat_span * 1.22))
    zoom = max(4.0, min(15.0, math.log2(fit)))
    return pdk.ViewState(longitude=(x0 + x1) / 2, latitude=(y0 + y1) / 2, zoom=zoom, pitch=0, bearing=0)


TIP_FIELDS = ("tip1", "tip2", "tip3", "tip4")
TIP_MAX_PX = 280  # a tooltip's widest; longer lines wrap
# deck.gl sets its tooltip's top-left corner at the pointer, so a grid near the map's right or bottom edge had its
# tooltip cut off there. The tooltip's root stays an invisible anchor at the pointer; the box inside it is moved
# by each object's own offsets (``tip_x``, ``tip_y``: to the pointer's left for an object in the map's right half,
# above it for one in the lower half), so that at the map's first view every box opens towards the map's middle.
TIP_GAP = "12px"
TIP_BEFORE = f"calc(-100% - {TIP_GAP})"
TOOLTIP_STYLE = {"backgroundColor": "transparent", "padding": "0", "color": "white"}  # the root: an anchor only
TIP_BOX = (f"transform:translate({{tip_x}},{{tip_y}});max-width:{TIP_MAX_PX}px;width:max-content;"
           "white-space:normal;overflow-wrap:anywhere;background:#1f2937;color:white;padding:7px 10px;"
           f"border-radius:4px;font-size:12px;line-height:1.45;font-family:{FONT_STACK}")


def tooltip(lines_html: str) -> dict:
    """A deck tooltip whose box opens towards the map's middle (see :data:`TIP_BOX`): ``lines_html`` is the
    cockpit's own template (``{field}`` placeholders, filled in and HTML-escaped by Streamlit)."""
    return {"html": f'<div style="{TIP_BOX}">{lines_html}</div>', "style": TOOLTIP_STYLE}


def tip_offsets(lon: float, lat: float, view: pdk.ViewState) -> dict[str, str]:
    """``tip_x`` / ``tip_y`` for an object at (lon, lat) under the map's first ``view``: its tooltip to the left of
    the pointer when the object is right of the middle, above it when below."""
    right = lon is not None and float(lon) > view.longitude
    low = lat is not None and float(lat) < view.latitude
    return {"tip_x": TIP_BEFORE if right else TIP_GAP, "tip_y": TIP_BEFORE if low else TIP_GAP}


def tip_lines(metric: str, value: str, r, lang: str, who: str) -> dict[str, str]:
    """A grid's tooltip as plain-text lines (no markup): the chosen measure first, then the fixed figures except the
    one already shown, then who is responsible (the manager of a village, the branch of a larger grid)."""
    fixed = [("households", count(r["households"])), ("balance", money(r["balance"], lang)),
             ("npl_ratio", pct(r["npl_ratio"])), ("credit_coverage", pct(r["credit_coverage"], 1))]
    parts = [f"{translate(f'metric.{m}', lang)}: {v}" for m, v in fixed if m != metric]
    lines = [f"{translate(f'metric.{metric}', lang)}: {value}", " · ".join(parts[:2]), " · ".join(parts[2:]),
             f"{translate('map.responsible', lang)}: {who}"]
    return dict(zip(TIP_FIELDS, lines))


def grid_deck(df: pd.DataFrame, metric: str, lang: str, outlets: pd.DataFrame | None = None,
              outline: str | None = None) -> tuple[pdk.Deck, list[tuple[str, tuple]]]:
    """The map of one level's grids coloured by ``metric``, with labels and outlets; returns (deck, legend)."""
    spec = METRICS[metric]
    fills, legend = colours(df, metric, lang)
    view = view_for(df)
    rows = []
    for (_, r), fill in zip(df.iterrows(), fills):
        if not r["geometry"]:
            continue
        value = (category_label(metric, r[metric], lang) if spec.kind == "category"
                 else format_value(r[metric], spec.kind, lang))
        who = r.get("manager") or r.get("branch") or "—"
        lines = tip_lines(metric, value, r, lang, who)
        for poly in _rings(r["geometry"]):
            # each part's own middle places its tooltip (a township's far-off exclave opens its own way)
            outer = poly[0]
            mid = (sum(p[0] for p in outer) / len(outer), sum(p[1] for p in outer) / len(outer))
            rows.append({"code": r["code"], "name": r["name"], "polygon": poly, "fill": [*fill, 200], **lines,
                         **tip_offsets(*mid, view)})
    layers = [pdk.Layer("PolygonLayer", rows, id="grids", get_polygon="polygon", get_fill_color="fill",
                        get_line_color=[255, 255, 255, 255], line_width_min_pixels=1.2, stroked=True, filled=True,
                        pickable=True, auto_highlight=True, highlight_color=[255, 200, 0, 120])]
    if outline:
        layers.append(pdk.Layer("PolygonLayer", [{"polygon": p} for p in _rings(outline)], id="outline",
                                get_polygon="polygon", filled=False, stroked=True, get_line_color=[60, 60, 60, 255],
                                line_width_min_pixels=2.5, pickable=False))
    if outlets is not None and not outlets.empty and df["centroid_lon"].notna().any():
        # only the outlets within the grids shown (with a margin): others floated outside the outline
        lon, lat = df["centroid_lon"].astype(float), df["centroid_lat"].astype(float)
        pad = max(lon.max() - lon.min(), lat.max() - lat.min(), 0.02) * 0.15
        outlets = outlets[outlets["lon"].between(lon.min() - pad, lon.max() + pad)
                          & outlets["lat"].between(lat.min() - pad, lat.max() + pad)]
    if outlets is not None and not outlets.empty:
        pts = [{"name": f"{translate('map.outlet', lang)}: {o['name']}", "position": [o["lon"], o["lat"]],
                **dict(zip(TIP_FIELDS, [o["branch"]] + [""] * (len(TIP_FIELDS) - 1))),
                **tip_offsets(o["lon"], o["lat"], view)} for _, o in outlets.iterrows()]
        layers.append(pdk.Layer("ScatterplotLayer", pts, id="outlets", get_position="position", get_radius=260,
                                radius_min_pixels=5, radius_max_pixels=12, get_fill_color=[217, 72, 1, 230],
                                get_line_color=[255, 255, 255], stroked=True, line_width_min_pixels=1.5,
                                pickable=True))
    # names drawn last, over the outlets' dots; past about 80 grids the names cover the map: then the tooltip
    # alone names a grid
    labels = [] if len(df) > 80 else [{"name": short_name(r["name"]), "position": [r["centroid_lon"], r["centroid_lat"]]}
                                      for _, r in df.iterrows() if r["centroid_lon"] is not None]
    # Chinese labels: the glyph atlas must hold every character used, hence an explicit character set.
    # Plain strings would be read by pydeck as JavaScript expressions: String() keeps them literal.
    chars = "".join(sorted({ch for lab in labels for ch in lab["name"]}))
    layers.append(pdk.Layer("TextLayer", labels, id="labels", get_position="position", get_text="name",
                            get_size=11 if len(labels) > 60 else 13, get_color=[25, 25, 25, 255],
                            character_set=String(chars), font_family=String(FONT_STACK), font_weight=600,
                            font_settings={"sdf": True}, outline_width=4, outline_color=[255, 255, 255, 220],
                            get_text_anchor=String("middle"), get_alignment_baseline=String("bottom"),
                            get_pixel_offset=[0, -8],
                            pickable=False))
    deck = pdk.Deck(layers=layers, initial_view_state=view, map_style=OFFLINE_STYLE, map_provider=None,
                    # the lines live in the template (HTML inside a substituted value is printed as text), each in
                    # a block of its own: an empty one (an outlet has a single line) takes no height, a <br/> did
                    tooltip=tooltip("<b>{name}</b>" + "".join(f"<div>{{{f}}}</div>" for f in TIP_FIELDS)))
    return deck, legend


def legend_html(title: str, entries: list[tuple[str, tuple]]) -> str:
    items = "".join(f'<div style="display:flex;align-items:center;margin:2px 0;"><span style="display:inline-block;'
                    f'width:18px;height:12px;background:rgb{tuple(c)};border:1px solid #ccc;margin-right:6px"></span>'
                    f'<span style="font-size:0.82rem">{html_text(label)}</span></div>' for label, c in entries)
    return f'<div style="padding:6px 0"><div style="font-weight:600;font-size:0.88rem;margin-bottom:4px">{html_text(title)}</div>{items}</div>'

