"""Pieces of the manager-behaviour page: the drill from an authenticity alert to the manager's whole day, and the
alerts' evidence in the user's language."""
from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from data_access import managers as dm
from data_access.pii import purpose_scope

from . import manager_charts as mc
from .i18n import t, translate
from .safe_text import t_md
from .session import read, read_scoped, scope
from .tables import Col, table


# the evidence of each rule as data_access.authenticity writes it (in Chinese, stored with the flag), and its
# catalogue key: other languages get the same facts in their words
EVIDENCE = (
    (re.compile(r"^距客户住址 (?P<km>[\d.]+) 公里$"), "mgr.evd.far_from_home"),
    (re.compile(r"^与上一条相距 (?P<km>[\d.]+) 公里，间隔 (?P<min>\d+) 分钟（(?P<kmh>\d+) 公里/小时）$"),
     "mgr.evd.impossible_speed"),
    (re.compile(r"^(?P<n>\d+) 户在 (?P<min>\d+) 分钟内、(?P<m>\d+) 米内登记走访$"), "mgr.evd.same_spot"),
    (re.compile(r"^(?P<time>\d\d:\d\d) 记录$"), "mgr.evd.off_hours"),
    (re.compile(r"^走访未带定位$"), "mgr.evd.no_gps"),
)


def evidence(detail, lang: str) -> str:
    """An alert's evidence (one rule's, or a record's several joined by '；') in ``lang``; Chinese as stored."""
    if detail is None or (isinstance(detail, float) and detail != detail) or lang == "zh":
        return detail
    parts = []
    for part in str(detail).split("；"):
        for pattern, key in EVIDENCE:
            m = pattern.match(part.strip())
            if m:
                parts.append(translate(key, lang, **m.groupdict()))
                break
        else:
            parts.append(part)
    return "; ".join(parts)


def alert_day_drill(alerts: pd.DataFrame, shown: pd.DataFrame, lang: str) -> None:
    """Pick one of the listed alerts → that manager's day on the map and as a table, with the rules that fired."""
    picks = {i: f"{r.time} · {r.manager} · {r.rule} · {r.detail}" for i, r in enumerate(shown.head(200).itertuples())}
    pick = st.selectbox(t("mgr.drill"), list(picks), format_func=picks.get, key="mgr_alert_pick", index=None,
                        placeholder=t("mgr.drill_placeholder"))
    if pick is not None:
        hit = alerts.iloc[pick]
        day = pd.Timestamp(hit["event_at"]).date()
        # the day's visits name customers (in the map's tooltips): masked here, the trajectory tab has the gate
        day_ev = read_scoped(purpose_scope(scope(), "none"), dm.day_events, int(hit["manager_id"]), day, day)
        d1, d2 = st.columns([1.4, 1])
        with d1:
            if not day_ev.dropna(subset=["lon", "lat"]).empty:
                day_ev = day_ev.assign(flags=[evidence(x, lang) for x in day_ev["flags"]])
                st.plotly_chart(mc.trajectory_figure(day_ev, lang, read(dm.manager_grid, int(hit["manager_id"])),
                                                     width_px=560, height_px=420), key="mgr_alert_map",
                                config={"scrollZoom": True, "displaylogo": False})
        with d2:
            st.markdown(t_md("mgr.drill_title", manager=hit["manager"], day=str(day)))
            table(day_ev.assign(seq=range(1, len(day_ev) + 1),
                                time=pd.to_datetime(day_ev["event_at"]).dt.strftime("%H:%M"),
                                event_type=[t(f"mgr.ev.{x}") for x in day_ev["event_type"]],
                                flags=[evidence(x, lang) for x in day_ev["flags"]]),
                  {"seq": Col("mgr.seq", "count"), "time": Col("mgr.time"), "event_type": Col("col.type"),
                   "customer_no": Col("hh.customer_no"), "flags": Col("mgr.evidence")},
                  name=f"alert_day_{int(hit['manager_id'])}_{day}", height=380, downloads=False)

