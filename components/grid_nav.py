"""Drill-down state of the grid map (county → township → village → households) and its breadcrumb."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access import grid

from .charts import apply_theme
from .filters import chosen
from .i18n import t
from .map_layers import METRICS, format_value
from .safe_text import md
from .session import read

KEY = "grid_path"


def path() -> list[dict]:
    return st.session_state.get(KEY, [])


def open_grid(code: str) -> None:
    """Drill into ``code`` (a child of the current level); refuses codes outside the user's scope."""
    crumb = read(grid.region_path, code)
    if crumb:
        st.session_state[KEY] = crumb


def go_up(depth: int) -> None:
    st.session_state[KEY] = path()[:depth]


def current(month: str) -> tuple[str, str | None, pd.DataFrame]:
    """(level shown, parent code, grids) for the current path; a single county opens directly."""
    p = path()
    if not p:
        counties = read(grid.grid, month, "county")
        if len(counties) != 1:
            return "county", None, counties
        p = [{"code": counties["code"].iloc[0], "name": counties["name"].iloc[0], "level": "county"}]
        # on landing, go down while a level holds a single grid: a branch leader whose branch covers one township
        # lands on its villages, not on a map, legend and ranking of one township
        while p[-1]["level"] in ("county", "township"):
            children = read(grid.grid, month, grid.child_level(p[-1]["level"]), p[-1]["code"])
            if len(children) != 1 or grid.child_level(p[-1]["level"]) == "village":
                break
            p = p + [{"code": children["code"].iloc[0], "name": children["name"].iloc[0],
                      "level": grid.child_level(p[-1]["level"])}]
        st.session_state[KEY] = p
    parent = p[-1]
    if parent["level"] == "county" and st.session_state.get("grid_all_villages"):
        return "village", parent["code"], read(grid.grid, month, "village", None, parent["code"])
    level = grid.child_level(parent["level"])
    if level is None:  # a village: its households are shown instead of a map
        return "household", parent["code"], pd.DataFrame()
    return level, parent["code"], read(grid.grid, month, level, parent["code"])


def breadcrumb() -> None:
    p = path()
    month = chosen("f_month")
    counties = read(grid.grid, month, "county") if month else None
    row = st.container(horizontal=True, gap="small", vertical_alignment="center")
    if counties is not None and len(counties) > 1:
        row.button(t("map.all_counties"), key="crumb_root", on_click=go_up, args=(0,), icon=":material/public:")
    for depth, node in enumerate(p, start=1):
        last = depth == len(p)
        if depth > 1 or (counties is not None and len(counties) > 1):
            row.markdown("›")
        row.button(md(node["name"]), key=f"crumb_{depth}", on_click=go_up, args=(depth,), disabled=last,
                   type="primary" if last else "secondary", icon=":material/location_on:" if last else None)


def comparison_chart(df: pd.DataFrame, metric: str, level: str, lang: str) -> go.Figure:
    """Horizontal bars of the metric for the grids of the level (top 25), best first."""
    spec = METRICS[metric]
    d = df[["name", metric]].dropna().sort_values(metric, ascending=True).tail(25)
    scale = 100 if spec.kind == "rate" else (1e4 if spec.kind == "money" else 1)
    unit = "%" if spec.kind == "rate" else (t("unit.wan") if spec.kind == "money" else "")
    fig = go.Figure(go.Bar(x=d[metric] / (1 / scale if spec.kind == "rate" else scale), y=d["name"], orientation="h",
                           marker_color="#d73027" if spec.palette == "red" else "#3182bd",
                           # labels beside the bars, level and legible (inside short bars they shrank and turned)
                           text=[format_value(v, spec.kind, lang) for v in d[metric]], textposition="outside",
                           textangle=0, cliponaxis=False,
                           name=t(f"metric.{metric}")))
    fig.update_xaxes(title_text=f"{t(f'metric.{metric}')}（{unit}）" if unit else t(f"metric.{metric}"))
    level_name = t(f"map.level.{level}")
    fig.update_yaxes(title_text=level_name[:1].upper() + level_name[1:])  # an axis title starts with a capital
    fig = apply_theme(fig, t("map.chart_title", metric=t(f"metric.{metric}"), level=t(f"map.level.{level}")), lang,
                      height=max(320, 22 * len(d) + 90))
    fig.update_xaxes(tickformat=None, dtick=None, hoverformat=None)
    fig.update_layout(showlegend=False, hovermode="closest")
    return fig
