"""Today's attention list and the colouring of the branch league table."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from data_access import queries

from .formatting import pct
from .i18n import t
from .safe_text import html_text
from .session import read

NPL_JUMP_PP = 0.20        # a branch whose NPL ratio rose by more than this many points in a month
TASKS_OVERDUE_MIN = 20    # a branch with at least this many overdue post-loan tasks
CLUSTER_MIN = 3           # a village with at least this many loans newly overdue this month


def attention_items(league: pd.DataFrame, hotspots: pd.DataFrame) -> list[tuple[str, str]]:
    """(severity, text) items, most serious first: NPL jumps, overdue clusters, overdue tasks."""
    items: list[tuple[str, str]] = []
    for r in league.sort_values("npl_change_pp", ascending=False).itertuples():
        if not math.isnan(r.npl_change_pp) and r.npl_change_pp > NPL_JUMP_PP:
            items.append(("bad", t("attention.npl_jump", branch=r.branch, pp=r.npl_change_pp, ratio=pct(r.npl_ratio))))
    for r in hotspots.head(8).itertuples():
        items.append(("bad", t("attention.village_cluster", township=r.township, village=r.village,
                               n=int(r.new_overdue_loans))))
    for r in league.sort_values("tasks_overdue", ascending=False).itertuples():
        if r.tasks_overdue >= TASKS_OVERDUE_MIN:
            items.append(("warn", t("attention.tasks_overdue", branch=r.branch, n=int(r.tasks_overdue))))
    return items


def attention_list(f: queries.Filters, league: pd.DataFrame) -> None:
    hotspots = read(queries.village_hotspots, f.month, CLUSTER_MIN, f.branch_id)
    items = attention_items(league if f.branch_id is None else league[league["branch_id"] == f.branch_id], hotspots)
    if not items:
        st.success(t("attention.none"))
        return
    st.markdown('<div class="attention-grid">' + "".join(
        f'<div class="attention-item {"warn" if sev == "warn" else ""}">{html_text(text)}</div>'
        for sev, text in items[:12]) + "</div>", unsafe_allow_html=True)


def league_style(shown: pd.DataFrame):
    """Colour NPL ratio and its change: red when high or rising, green when falling."""
    npl_col, chg_col = t("league.npl_ratio"), t("league.npl_change")
    median = shown[npl_col].median() if len(shown) else 0

    def npl_colour(v):
        if pd.isna(v):
            return ""
        return "background-color: #fde2e1" if v > median * 1.25 else ("background-color: #e3f4e8" if v < median * 0.8 else "")

    def chg_colour(v):
        if pd.isna(v):
            return ""
        return "color: #d73027; font-weight: 600" if v > 0.05 else ("color: #1a9850" if v < -0.05 else "")

    return shown.style.map(npl_colour, subset=[npl_col]).map(chg_colour, subset=[chg_col])
