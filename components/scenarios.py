"""Saved strategy-lab scenarios: save by name, compare side by side (table and chart against each one's current
policy), reopen one in its simulator, export one as a one-page PDF summary."""
from __future__ import annotations

from typing import Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access import strategy

from . import downloads
from .charts import apply_theme, categorical_x
from .i18n import current_lang, t
from .safe_text import t_md
from .scenario_pdf import build_summary, fmt
from .session import engine, read, scope
from .tables import Col, table
from .theme import NEUTRAL, PRIMARY

# per kind: the headline result, its current-policy counterpart, how both are shown
HEADLINE = {"npl_stress": ("npl_end", "baseline_npl_end", "rate", "lab.col_npl_end"),
            "inspection": ("caught", "periodic_caught", "rate", "lab.caught"),
            "collection": ("net", "rules_net", "money_wan", "lab.net_opt"),
            "approval": ("net_margin", "baseline_net_margin", "money_wan", "appr.net_margin")}


def save_box(kind: str, params: dict, results: dict) -> None:
    """A name field and a save button; the scenario keeps its parameters, headline results, user and time."""
    with st.form(f"save_{kind}", clear_on_submit=True):
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        name = c1.text_input(t("lab.scenario_name"), max_chars=64, key=f"name_{kind}")
        if c2.form_submit_button(t("lab.save")):
            try:
                with engine().begin() as conn:
                    strategy.save_scenario(conn, scope(), name, kind, params, results)
            except (ValueError, PermissionError) as exc:
                st.error(t_md("lab.save_error", reason=str(exc)))
            else:
                st.cache_data.clear()
                st.success(t_md("lab.saved", name=name.strip()))


def headline_chart(rows: pd.DataFrame, kind: str, lang: str) -> go.Figure:
    """Grouped bars per saved scenario: its proposal against the current policy it was compared with."""
    value, base, unit, label = HEADLINE[kind]
    scale = 1e4 if unit == "money_wan" else 100
    suffix = t("unit.wan") if unit == "money_wan" else "%"
    fig = go.Figure()
    fig.add_bar(x=rows["name"], y=rows[base].astype(float) / scale, name=t("lab.baseline"), marker_color=NEUTRAL,
                hovertemplate="%{y:,.2f}" + suffix)
    fig.add_bar(x=rows["name"], y=rows[value].astype(float) / scale, name=t("lab.proposed"), marker_color=PRIMARY,
                hovertemplate="%{y:,.2f}" + suffix)
    fig.update_yaxes(title_text=f"{t(label)}({suffix})")
    fig = apply_theme(fig, t("lab.compare_chart", what=t(label)), lang, height=320)
    fig.update_layout(barmode="group", bargap=0.5 if len(rows) < 3 else 0.2)
    return categorical_x(fig)


def _reopen(kind: str, values: dict, name: str) -> None:
    """Button callback, so it runs before the simulator's widgets are drawn: they then show the saved levers."""
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state[f"lab_reopened_{kind}"] = name


def compare(kind: str, columns: dict[str, tuple[str, str]], levers: Callable[[dict], dict] | None = None) -> None:
    """The kind's saved scenarios: a table, the side-by-side chart, and for the one picked a button that reopens it
    in the simulator (``levers`` maps its saved parameters to the simulator's widget keys) and its one-page PDF."""
    saved = read(strategy.scenarios, kind)
    reopened = st.session_state.pop(f"lab_reopened_{kind}", None)  # said in this simulator's tab, not the first
    if reopened:
        st.success(t_md("lab.reopened", name=reopened))
    if saved.empty:
        st.caption(t("lab.none_saved"))
        return
    lang = current_lang()
    rows = pd.DataFrame([{"id": r.id, "name": r.name, "created_by": r.created_by, "created_at": str(r.created_at)[:16],
                          **{k: {**r.params, **r.results}.get(k) for k in {*columns, *HEADLINE[kind][:2]}}}
                         for r in saved.itertuples()])
    st.markdown(f"**{t('lab.saved_title')}**")
    table(rows, {"name": Col("lab.scenario_name"), **{k: Col(v, kind_) for k, (v, kind_) in columns.items()},
                 "created_by": Col("lab.by"), "created_at": Col("lab.at")}, name=f"scenarios_{kind}", height="fit")
    chart_col, pdf_col = st.columns([2, 1], vertical_alignment="center")
    chart_col.plotly_chart(headline_chart(rows.iloc[::-1], kind, lang), key=f"compare_{kind}")
    with pdf_col:
        pick = st.selectbox(t("lab.pick_scenario"), rows["id"].tolist(), key=f"pdf_pick_{kind}",
                            format_func=lambda i: rows.set_index("id").loc[i, "name"])
        r = saved.set_index("id").loc[pick]
        if levers is not None:
            st.button(t("lab.reopen"), key=f"reopen_{kind}", on_click=_reopen, args=(kind, levers(r["params"]), r["name"]),
                      help=t("lab.reopen_help", month=r["params"].get("month", "—")))
        merged = {**r["params"], **r["results"]}
        value, base, unit, label = HEADLINE[kind]
        shown = [(t(lbl), fmt(merged.get(k), kd, lang)) for k, (lbl, kd) in columns.items()]
        bars = [(t("lab.baseline"), float(merged.get(base) or 0), fmt(merged.get(base), unit, lang)),
                (t("lab.proposed"), float(merged.get(value) or 0), fmt(merged.get(value), unit, lang))]
        title, meta = f"{t('page.strategy_lab')} · {t('lab.kind.' + kind)}", {
            "name": r["name"], "created_by": r["created_by"], "created_at": r["created_at"]}
        texts = (t(label), t("lab.pdf_footer"))  # translated here: the file is built off the page's run
        downloads.offer(t("lab.export_pdf"), lambda: build_summary(title, meta, shown, bars, *texts),
                        file_name=f"scenario_{pick}.pdf", mime="application/pdf", key=f"pdf_{kind}", type="primary",
                        what=f"scenario:{pick}", rows=1)
