"""Customer 360 building blocks: purpose-gated unmasking, audited opening, the sections' tables and charts."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pydeck as pdk
import streamlit as st
from plotly.subplots import make_subplots

from data_access import pii, users
from data_access.text import clean
from data_access.customer360 import customer_360, resolve
from data_access.kpi import CLASS5, CLASS5_EN

from .charts import apply_theme
from .formatting import money
from .map_layers import OFFLINE_STYLE
from .i18n import code_label, current_lang, t, value_label
from .session import connect, engine, scope
from .tables import Col, fit_height, table

def viewing_scope(purpose: str):
    """The user's scope for this view: PII only when the role allows it AND a purpose was chosen (data_access.pii)."""
    return pii.purpose_scope(scope(), purpose)


def open_customer(customer_no: str | None, customer_id: int | None, purpose: str) -> dict | None:
    """Load a 360 in scope and audit it; an unknown or foreign customer is audited as denied and gives None."""
    sc = viewing_scope(purpose)
    with connect() as conn:
        cid = resolve(conn, sc, customer_no=customer_no, customer_id=customer_id)
        parts = customer_360(conn, sc, cid) if cid else None
    with engine().begin() as conn:
        if parts is None:
            users.audit(conn, scope().username, "view_denied", customer_id=None,
                        target=clean(str(customer_no or customer_id), 128), detail={"reason": "not found or not permitted"})
        else:
            users.audit(conn, scope().username, "view_customer", customer_id=cid, target=parts["profile"]["customer_no"],
                        detail={"purpose": purpose, "masked": not sc.pii})
    return parts


def with_values(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """``df`` with the stored Chinese values of ``cols`` (product names, occupations …) in the user's language."""
    lang = current_lang()
    return df.assign(**{c: [value_label(v, lang) for v in df[c]] for c in cols if c in df.columns})


def frame(df: pd.DataFrame, cols: dict[str, str], codes: tuple[str, ...] = (), money_cols: tuple[str, ...] = (),
          height: int | None = None, kinds: dict[str, str] | None = None) -> None:
    """A read-only table through the shared table helper: translated headers, coded values spelled out, money in
    万元, yes/no and missing values written out; a column's kind is taken from its values unless ``kinds`` says."""
    if df.empty:
        st.caption("—")
        return
    lang = current_lang()
    shown = df[list(cols)].copy()
    for c in codes:
        shown[c] = [code_label(v, lang) if v is not None and not (isinstance(v, float) and pd.isna(v)) else None
                    for v in shown[c]]
    spec = {}
    for c, key in cols.items():
        kind = (kinds or {}).get(c)
        if kind is None:
            values = shown[c].dropna()
            if c in money_cols:
                kind = "money_wan"
            elif len(values) and all(isinstance(v, (bool, np.bool_)) for v in values):
                kind = "bool"
            elif pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c]):
                whole = len(values) == 0 or bool((values.astype(float) % 1 == 0).all())
                kind = "count" if whole else "num2"
            else:
                kind = "text"
        spec[c] = Col(key, kind)
    table(shown, spec, name=f"c360_{'_'.join(cols)[:40]}", downloads=False,
          height=height or fit_height(len(shown), cap=8))


def dpd_chart(snaps: pd.DataFrame, lang: str) -> go.Figure:
    """Days past due per loan by month (lines) and the worst class of the month (bar colour band)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for loan_no, g in snaps.groupby("loan_no"):
        fig.add_scatter(x=pd.to_datetime(g["month"] + "-01"), y=g["dpd"], mode="lines+markers", name=loan_no,
                        secondary_y=False)
    worst = snaps.groupby("month")["class5"].max().reset_index()
    names = {"zh": CLASS5, "en": CLASS5_EN}[lang]
    fig.add_bar(x=pd.to_datetime(worst["month"] + "-01"), y=worst["class5"], name=t("c360.class"), opacity=0.25,
                marker_color="#fb8c00", customdata=[names[c] for c in worst["class5"]], secondary_y=True,
                hovertemplate="%{customdata}")
    top = float(snaps["dpd"].max() or 0)
    # whole days: a never-overdue customer's axis ran 0–1 in fractions of a day
    fig.update_yaxes(title_text=t("c360.dpd_axis"), secondary_y=False, range=[0, max(30.0, top * 1.1)],
                     tickformat=",d", rangemode="tozero")
    fig.update_yaxes(title_text=t("c360.class"), secondary_y=True, range=[0, 5.5], tickvals=[1, 2, 3, 4, 5],
                     ticktext=[names[i] for i in range(1, 6)], showgrid=False)
    return apply_theme(fig, t("c360.dpd_chart"), lang, height=320)


def home_map(profile: dict, village_geometry: str | None) -> pdk.Deck | None:
    """The home (red point; about a kilometre off when masked) inside its village's outline."""
    if profile.get("lon") is None:
        return None
    point = [{"position": [profile["lon"], profile["lat"]], "name": profile["village"]}]
    layers = []
    if village_geometry:
        geom = json.loads(village_geometry)
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        layers.append(pdk.Layer("PolygonLayer", [{"polygon": p_, "name": profile["village"]} for p_ in polys],
                                get_polygon="polygon", get_fill_color=[158, 202, 225, 120],
                                get_line_color=[49, 130, 189, 255], line_width_min_pixels=2, pickable=True))
    layers.append(pdk.Layer("ScatterplotLayer", point, get_position="position", get_radius=60, radius_min_pixels=7,
                            get_fill_color=[215, 48, 39, 230], get_line_color=[255, 255, 255], stroked=True,
                            line_width_min_pixels=2, pickable=True))
    return pdk.Deck(layers=layers,
                    initial_view_state=pdk.ViewState(longitude=profile["lon"], latitude=profile["lat"], zoom=12.5),
                    map_style=OFFLINE_STYLE, map_provider=None, tooltip={"text": "{name}"})


def fact_rows(p: dict) -> list[tuple[str, str]]:
    lang = current_lang()
    yes, no = t("c360.yes"), t("c360.no")
    return [(t("c360.field.segment"), t(f"segment.{p['segment']}")), (t("c360.field.village"), f"{p['township']}{p['village']}"),
            (t("c360.field.branch"), p["branch"]), (t("c360.field.manager"), f"{p.get('manager') or ''} {p.get('manager_phone') or ''}"),
            (t("c360.field.household"), str(p.get("household_size") or "")), (t("c360.field.income"), money(p["annual_income"], lang)),
            (t("c360.field.assets"), money(p["assets"], lang)), (t("c360.field.liabilities"), money(p["liabilities"], lang)),
            (t("c360.field.deposits"), money(p["deposit_balance"], lang)), (t("c360.field.multi"), str(p.get("multi_lending_count") or 0)),
            (t("c360.field.ebank"), yes if p["has_ebank"] else no), (t("c360.field.third"), yes if p["has_third_party_pay"] else no),
            (t("c360.field.sscard"), yes if p["has_social_security_card"] else no),
            (t("c360.field.credit_household"), yes if p["credit_household"] else no)]


def facts_table(rows: list[tuple[str, str]]) -> None:
    """Profile facts as a two-pair-per-row table (item, value, item, value)."""
    half = (len(rows) + 1) // 2
    left, right = rows[:half], rows[half:] + [("", "")] * (half - len(rows[half:]))
    df = pd.DataFrame({t("c360.item"): [k for k, _ in left], t("c360.value"): [v for _, v in left],
                       t("c360.item") + " ": [k for k, _ in right], t("c360.value") + " ": [v for _, v in right]})
    st.dataframe(df, hide_index=True, width="stretch", height=38 + 35 * len(df))

