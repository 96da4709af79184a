"""The Collections page's conduct tab (breaches of the conduct rules by rule, agency, way and month with the cases
behind them), the agency league on recovery and conduct, and an agency's own breaches in its workspace."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_access import collections as dc, conduct, conduct_view as cv
from data_access.kpi import BUCKETS

from .charts import apply_theme, categorical_x
from .i18n import t, translate
from .panels import empty_state
from .session import read
from .tables import Col, table

RULE_COLORS = dict(zip(conduct.RULES, ["#5b3fa8", "#d62f6f", "#e8793a", "#c9a227", "#5c7080"]))


def rule_label(rule: str, lang: str) -> str:
    return translate(f"conduct.rule.{rule}", lang)


def breaches_by_month_chart(by: pd.DataFrame, lang: str) -> go.Figure:
    """Breaches a month (bars stacked by rule)."""
    fig = go.Figure()
    months = sorted(by["month"].unique())
    for rule in conduct.RULES:
        d = by[by["rule"] == rule].set_index("month").reindex(months)
        if d["breaches"].fillna(0).sum() == 0:
            continue
        fig.add_bar(x=months, y=d["breaches"].fillna(0), name=rule_label(rule, lang), marker_color=RULE_COLORS[rule],
                    hovertemplate="%{x}: %{y:,.0f}")
    fig.update_layout(barmode="stack", hovermode="closest")
    fig.update_xaxes(type="category")  # months as written (2026-05), not a date axis in English
    fig.update_yaxes(title_text=translate("conduct.breaches_axis", lang), rangemode="tozero")
    fig = apply_theme(fig, translate("conduct.chart_title", lang), lang)
    categorical_x(fig)
    return fig


def _limits_caption() -> None:
    lim = conduct.limits()
    st.caption(t("conduct.limits_note", start=lim.quiet_start.strftime("%H:%M"), end=lim.quiet_end.strftime("%H:%M"),
                 cap=lim.max_attempts_per_day, n=lim.third_party_after, years=lim.retention_years))


def conduct_tab(f, window: int, lang: str) -> None:
    _limits_caption()
    by = read(cv.breaches, f, ("month", "rule", "agency_id", "way"), window)
    if by.empty:
        st.success(t("conduct.none"))
        return
    agencies = read(dc.names, "agency")
    bank = t("conduct.bank_staff")
    c = st.columns(4)
    c[0].metric(t("conduct.total"), f"{int(by['breaches'].sum()):,}")
    per_case = read(cv.breaches, f, (), window)
    c[1].metric(t("conduct.cases"), f"{int(per_case['cases'].iloc[0]):,}", help=t("conduct.cases_help"))
    c[2].metric(t("conduct.agencies"), f"{by.loc[by['agency_id'] > 0, 'agency_id'].nunique():,}")
    c[3].metric(t("conduct.by_bank"), f"{int(by.loc[by['agency_id'] == 0, 'breaches'].sum()):,}")
    a, b = st.columns([1.3, 1])
    with a:
        st.plotly_chart(breaches_by_month_chart(by.groupby(["month", "rule"], as_index=False)["breaches"].sum(), lang),
                        key="conduct_by_month")
    with b:
        pivot = by.pivot_table(index="agency_id", columns="rule", values="breaches", aggfunc="sum", fill_value=0)
        pivot = pivot.reindex(columns=[r for r in conduct.RULES if r in pivot.columns])
        pivot["total"] = pivot.sum(axis=1)
        pivot = pivot.sort_values("total", ascending=False).reset_index()
        pivot["agency"] = [agencies.get(int(i), bank) if i else bank for i in pivot["agency_id"]]
        cols = {"agency": Col("coll.agency")}
        cols |= {r: Col(rule_label(r, lang), "count", raw=True) for r in conduct.RULES if r in pivot.columns}
        cols["total"] = Col("conduct.total", "count")
        st.markdown(f"**{t('conduct.by_agency')}**")
        table(pivot, cols, name=f"conduct_by_agency_{f.month}", height="fit")
        ways = by.groupby("way", as_index=False)["breaches"].sum().sort_values("breaches", ascending=False)
        ways["way_label"] = [t(f"conduct.way.{w}") for w in ways["way"]]
        st.markdown(f"**{t('conduct.by_way')}**")
        table(ways, {"way_label": Col("conduct.way"), "breaches": Col("conduct.total", "count")},
              name=f"conduct_by_way_{f.month}", height="fit")
    st.subheader(t("conduct.cases_behind"))
    f1, f2, f3, f4 = st.columns(4)
    rule = f1.selectbox(t("conduct.rule"), [None, *[r for r in conduct.RULES if r in set(by["rule"])]],
                        format_func=lambda r: t("conduct.all") if r is None else rule_label(r, lang), key="conduct_rule")
    ag_ids = sorted(int(i) for i in by["agency_id"].unique())
    agency_id = f2.selectbox(t("coll.agency"), [None, *ag_ids], key="conduct_agency",
                             format_func=lambda i: t("conduct.all") if i is None else (agencies.get(i, bank) if i else bank))
    way = f3.selectbox(t("conduct.way"), [None, *sorted(by["way"].unique())], key="conduct_way",
                       format_func=lambda w: t("conduct.all") if w is None else t(f"conduct.way.{w}"))
    month = f4.selectbox(t("conduct.month"), [None, *sorted(by["month"].unique(), reverse=True)], key="conduct_month",
                         format_func=lambda m: t("conduct.all") if m is None else m)
    rows = read(cv.breach_cases, f, window, rule, agency_id, way, month)
    _breach_table(rows, lang, agencies, name=f"conduct_cases_{f.month}")


def _breach_table(rows: pd.DataFrame, lang: str, agencies: dict | None = None, name: str = "conduct_cases",
                  downloads: bool = True) -> None:
    if rows.empty:
        empty_state()
        return
    bank = t("conduct.bank_staff")
    shown = rows.assign(
        entry_bucket=[BUCKETS.get(int(b), b) for b in rows["entry_bucket"]],
        contact_at=[pd.Timestamp(x).strftime("%Y-%m-%d %H:%M") for x in rows["contact_at"]],
        party=[t(f"conduct.party.{p}") if isinstance(p, str) else "" for p in rows["party"]],
        way=[t(f"conduct.way.{w}") for w in rows["way"]],
        rule=[rule_label(r, lang) for r in rows["rule"]],
        measure=[_measure(r, v) for r, v in zip(rows["rule"], rows["value"])],
        source=[t(f"conduct.source.{x}") for x in rows["source"]],
        agency=[(agencies or {}).get(int(i), bank) if i else bank for i in rows["agency_id"]])
    cols = {"case_no": Col("agency.case_no"), "entry_bucket": Col("agency.bucket"), "contact_at": Col("conduct.contact_time"),
            "party": Col("conduct.party"), "way": Col("conduct.way"), "rule": Col("conduct.rule"),
            "measure": Col("conduct.measure")}
    if agencies is not None:
        cols["agency"] = Col("coll.agency")
    cols["source"] = Col("conduct.source")
    st.caption(t("conduct.rows_note", n=f"{len(rows):,}"))
    table(shown, cols, name=name, height=360, downloads=downloads)


def _measure(rule: str, value) -> str:
    if value is None or pd.isna(value):
        return ""
    if rule == "quiet_hours":
        h = int(value)
        return f"{h:02d}:{round((value - h) * 60):02d}"
    if rule == "daily_attempts":
        return t("conduct.measure.nth", n=int(value))
    if rule == "third_party_early":
        return t("conduct.measure.fails", n=int(value))
    return ""


def league_tab(f, window: int) -> None:
    board = read(cv.league, f, window)
    if board.empty:
        empty_state()
        return
    w = conduct.limits().recovery_weight
    st.caption(t("conduct.league_note", w=f"{w:.0%}", c=f"{1 - w:.0%}"))
    table(board, {"rank": Col("coll.rank", "count"), "agency": Col("coll.agency"),
                  "composite": Col("conduct.composite", "num2"), "recovery_score": Col("conduct.recovery_score", "num2"),
                  "conduct_score": Col("conduct.conduct_score", "num2"), "cases": Col("coll.stage.cases", "count"),
                  "recovery_rate": Col("coll.recovery_rate", "rate"), "cure_rate": Col("coll.cure_rate", "rate"),
                  "kept_rate": Col("coll.kept_rate", "rate"), "recovered_amount": Col("coll.recovered_wan", "money_wan"),
                  "conduct_breaches": Col("conduct.total", "count"), "complaints": Col("coll.complaints", "count"),
                  "conduct_rate": Col("conduct.rate_per_100", "num2")},
          # the contract's terms are not what the agencies are ranked by: under the table, beside each agency
          more={"commission_rate": Col("coll.commission_rate", "rate"),
                "commission": Col("coll.commission_wan", "money_wan"), "monthly_capacity": Col("coll.capacity", "count")},
          name=f"agency_league_{f.month}", height="fit")


def my_breaches(lang: str) -> None:
    """An agency's own breaches of the last 12 months (its workspace)."""
    by = read(cv.agency_breaches, 12)
    st.subheader(t("conduct.my_title"))
    _limits_caption()
    if by.empty:
        st.success(t("conduct.my_none"))
        return
    st.markdown(" · ".join(f"{rule_label(r, lang)} **{int(n):,}**" for r, n in zip(by["rule"], by["breaches"])))
    _breach_table(read(cv.agency_breach_cases, 12), lang, name="agency_breaches", downloads=False)
