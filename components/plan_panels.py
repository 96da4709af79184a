"""Negotiated repayment plans (协商还款) on screen: a case's or customer's plans with their instalments (agency
workspace, Customer 360), the form an agency records one with, and the Collections page's plans view (made, active,
kept rate by entry bucket and agency). Agreeing, judging and scoping happen in ``data_access.plans``."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from data_access import collections as dc, plans as dp
from data_access.kpi import BUCKETS

from .charts import apply_theme, categorical_x
from .formatting import money, pct
from .i18n import t, translate
from .panels import empty_state
from .safe_text import md
from .session import engine, read, scope
from .tables import Col, table

STATUS_COLORS = {"kept": "#2a9d8f", "broken": "#d62f6f", "active": "#9ec3e6"}


def status_label(status, lang: str) -> str:
    return translate(f"plan.status.{status}", lang) if isinstance(status, str) else ""


def flag_label(status, lang: str) -> str:
    """The work list's word for a case's newest plan ('' without one)."""
    return translate(f"plan.flag.{status}", lang) if isinstance(status, str) and status in dp.STATUSES else ""


def _inst_label(status: str, paid: float, lang: str) -> str:
    if status == "pending" and paid and paid > 0:
        return translate("plan.inst.partial", lang)
    return translate(f"plan.inst.{status}", lang)


def _day(v) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(pd.Timestamp(v).date())


def _who(user: str) -> str:
    return t("plan.by.collector") if user == "collector" else md(user)


def plan_history(plans: pd.DataFrame, inst: pd.DataFrame, lang: str, key: str, with_case: bool = False,
                 none_key: str = "plan.none") -> None:
    """Each plan, newest first: who agreed it with whom and when, its status (a broken plan says the case is back in
    collection), and its instalments with what was paid on each."""
    if plans.empty:
        st.caption(t(none_key))
        return
    for p in plans.itertuples():
        head = t("plan.card", n=p.id, status=status_label(p.status, lang), count=int(p.instalments),
                 total=money(p.total_amount, lang), paid=money(p.paid_amount, lang), agreed=_day(p.start_on),
                 by=_who(p.agreed_by), party=t(f"plan.party.{p.debtor_party}"), grace=int(p.grace_days))
        st.markdown((f"{md(p.case_no)} · " if with_case else "") + head)
        mine = inst[inst["plan_id"] == p.id] if not inst.empty else inst
        if p.status == "broken" and pd.notna(p.broken_seq):
            missed = mine[mine["seq"] == p.broken_seq]
            st.warning(t("plan.broken_note", seq=int(p.broken_seq),
                         due_by=_day(missed["due_by"].iloc[0]) if not missed.empty else "",
                         closed=_day(p.closed_on)))
        elif p.status == "kept":
            st.caption(t("plan.kept_note", closed=_day(p.closed_on)))
        else:
            nxt = mine[mine["status"] == "pending"].head(1)
            if not nxt.empty:
                left = float(nxt["amount"].iloc[0]) - float(nxt["paid_amount"].iloc[0])
                st.caption(t("plan.active_note", due=_day(nxt["due_on"].iloc[0]), amount=money(left, lang)))
        if isinstance(p.note, str) and p.note.strip():
            st.caption(t("plan.note", note=md(p.note)))
        if mine.empty:
            continue
        shown = mine.assign(due_on=[_day(d) for d in mine["due_on"]], due_by=[_day(d) for d in mine["due_by"]],
                            covered_on=[_day(d) for d in mine["covered_on"]],
                            state=[_inst_label(s_, a, lang) for s_, a in zip(mine["status"], mine["paid_amount"])])
        table(shown, {"seq": Col("plan.seq", "count"), "due_on": Col("plan.due_on"), "due_by": Col("plan.due_by"),
                      "amount": Col("plan.amount", "money_yuan"), "paid_amount": Col("plan.paid", "money_yuan"),
                      "state": Col("plan.inst_status"), "covered_on": Col("plan.covered_on", missing="")},
              name=f"{key}_{p.id}", downloads=False, height="fit")


def case_plans(case_id: int, lang: str) -> pd.DataFrame:
    """The case's plans with their instalments drawn (agency workspace); returns the plans."""
    plans = read(dp.case_plans, case_id)
    inst = read(dp.plan_instalments, tuple(int(i) for i in plans["id"])) if not plans.empty else pd.DataFrame()
    plan_history(plans, inst, lang, key=f"case_plan_{case_id}")
    return plans


def customer_plans(customer_id: int, lang: str) -> None:
    """Every plan on a customer's cases (Customer 360)."""
    plans = read(dp.customer_plans, customer_id)
    inst = read(dp.plan_instalments, tuple(int(i) for i in plans["id"])) if not plans.empty else pd.DataFrame()
    plan_history(plans, inst, lang, key=f"c360_plan_{customer_id}", with_case=True, none_key="plan.customer_none")


# ---------------------------------------------------------------- the form
def plan_form(case_id: int, detail: dict, plans: pd.DataFrame, lang: str) -> None:
    """Record a plan on an open case without an active one: a count and a total split evenly from a first due date
    (monthly), then every instalment's date and amount editable (the count sets how many there are)."""
    if detail.get("status") != "open":
        st.caption(t("plan.closed_case"))
        return
    if not plans.empty and (plans["status"] == "active").any():
        st.caption(t("plan.has_active"))
        return
    cap = read(dp.plan_cap, case_id)
    with st.expander(t("plan.form_title"), expanded=False):
        st.caption(t("plan.form_help", cap=money(cap, lang), months=dp.max_months()))
        c1, c2, c3 = st.columns(3)
        today = dt.date.today()
        n = int(c1.number_input(t("plan.count"), min_value=1, max_value=dp.MAX_INSTALMENTS, value=3, step=1,
                                key=f"plan_n_{case_id}"))
        total = c2.number_input(t("plan.total"), min_value=0.0, max_value=float(max(cap, 0.0)),
                                value=float(min(detail.get("overdue_at_entry") or 0.0, cap)), step=100.0,
                                key=f"plan_total_{case_id}")
        first = c3.date_input(t("plan.first_due"), value=dp.add_months(today, 1), key=f"plan_first_{case_id}")
        c4, c5 = st.columns(2)
        agreed_on = c4.date_input(t("plan.agreed_on"), value=today, max_value=today, key=f"plan_agreed_{case_id}")
        party = c5.selectbox(t("plan.party"), dp.PARTIES, key=f"plan_party_{case_id}",
                             format_func=lambda x: t(f"plan.party.{x}"))
        rows = dp.equal_split(float(total or 0.0), n, first or dp.add_months(today, 1))
        st.markdown(f"**{t('plan.rows')}**")
        # one date and one amount per instalment, as widgets: an interactive grid (st.data_editor) carries the
        # table's own CSV download, and an agency gets no export control at all (issue #15, finding 10); the rows
        # restart from the split whenever the count, total or first date changes
        split = f"{n}_{total}_{first}"
        instalments = []
        for i, (due, amount) in enumerate(rows, start=1):
            r0, r1, r2 = st.columns([0.4, 2, 2], vertical_alignment="center")
            r0.markdown(f"**{i}**")
            d = r1.date_input(f"{t('plan.due_on')} {i}", value=due, key=f"plan_due_{case_id}_{i}_{split}",
                              label_visibility="visible" if i == 1 else "collapsed")
            a = r2.number_input(f"{t('plan.amount')} {i}", min_value=0.0, value=float(amount), step=100.0,
                                format="%.2f", key=f"plan_amount_{case_id}_{i}_{split}",
                                label_visibility="visible" if i == 1 else "collapsed")
            instalments.append((d, None if a is None else float(a)))
        st.caption(t("plan.rows_total", total=money(sum(a or 0.0 for _, a in instalments), lang)))
        note = st.text_input(t("plan.note_label"), key=f"plan_note_{case_id}", max_chars=dp.MAX_NOTE)
        if st.button(t("plan.submit"), type="primary", key=f"plan_submit_{case_id}"):
            try:
                with engine().begin() as conn:
                    dp.propose(conn, scope(), case_id, instalments, party, note, agreed_on=agreed_on)
            except dp.PlanError as exc:
                if exc.denied:
                    with engine().begin() as conn:
                        dp.audit_denial(conn, scope(), case_id)
                st.error(t(exc.key, **exc.values))
            else:
                st.cache_data.clear()
                st.success(t("plan.saved", case_no=md(detail["case_no"]), n=len(instalments),
                             total=money(sum(a for _, a in instalments), lang)))


# ---------------------------------------------------------------- Collections: the plans view
def plans_chart(df: pd.DataFrame, labels: list[str], title_key: str, lang: str) -> go.Figure:
    """Plans a group by status (stacked bars, 件) and the kept rate (line, %, right axis), for ordered groups (entry
    buckets)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for status in ("kept", "broken", "active"):
        fig.add_bar(x=labels, y=df[status], name=status_label(status, lang), marker_color=STATUS_COLORS[status],
                    hovertemplate="%{x}: %{y:,.0f}", secondary_y=False)
    rate = [None if pd.isna(v) else v * 100 for v in df["kept_rate"]]
    fig.add_scatter(x=labels, y=rate, name=translate("plan.kept_rate", lang), mode="lines+markers",
                    line=dict(color="#1f2937", width=2), marker=dict(size=8, color="#1f2937"),
                    hovertemplate="%{x}: %{y:.1f}%", secondary_y=True)
    fig.update_xaxes(type="category")
    fig.update_yaxes(title_text=translate("plan.count_axis", lang), rangemode="tozero", tickformat=",.0f",
                     secondary_y=False)
    fig.update_yaxes(title_text=translate("plan.rate_axis", lang), range=[0, 105], ticksuffix="%", tickformat=".0f",
                     showgrid=False, secondary_y=True)
    fig = apply_theme(fig, translate(title_key, lang), lang)
    fig.update_layout(barmode="stack", legend_traceorder="normal")  # the legend in the bars' order, not upside down
    return categorical_x(fig)


def agency_plans_chart(df: pd.DataFrame, labels: list[str], lang: str) -> go.Figure:
    """Plans per agency by status, as horizontal stacked bars (agencies' long names read along the axis), each
    bar ending in its kept rate."""
    fig = go.Figure()
    rate = [translate("plan.rate_label", lang, rate="—" if pd.isna(v) else f"{v * 100:.1f}%") for v in df["kept_rate"]]
    for status in ("kept", "broken", "active"):
        fig.add_bar(y=labels, x=df[status], name=status_label(status, lang), orientation="h",
                    marker_color=STATUS_COLORS[status], hovertemplate="%{y}: %{x:,.0f}",
                    text=rate if status == "active" else None, textposition="outside" if status == "active" else None,
                    cliponaxis=False)
    top = float((df["kept"] + df["broken"] + df["active"]).max() or 1)
    fig.update_xaxes(title_text=translate("plan.count_axis", lang), range=[0, top * 1.35], tickformat=",.0f")
    fig.update_yaxes(type="category", autorange="reversed")
    fig = apply_theme(fig, translate("plan.chart_agency", lang), lang, height=120 + 48 * max(len(labels), 3))
    fig.update_layout(barmode="stack", legend_traceorder="normal", hovermode="closest",
                      legend_y=-0.3)  # below the count axis's title
    fig.update_xaxes(tickformat=",.0f", dtick=None, hoverformat=None)  # a count axis, not the theme's months
    return fig


def plans_tab(f, window: int, lang: str) -> None:
    st.caption(t("plan.intro", grace=dp.grace_days()))
    total = read(dp.summary, f.month, window, None, f.branch_id)
    st.caption(t("plan.window_note", n=window, month=f.month))
    if total.empty or int(total["plans"].iloc[0]) == 0:
        empty_state("plan.empty")
        return
    row = total.iloc[0]
    c = st.columns(5)
    c[0].metric(t("plan.made"), f"{int(row['plans']):,}")
    c[1].metric(t("plan.active"), f"{int(row['active']):,}")
    c[2].metric(t("plan.kept"), f"{int(row['kept']):,}")
    c[3].metric(t("plan.broken"), f"{int(row['broken']):,}")
    c[4].metric(t("plan.kept_rate"), pct(row["kept_rate"], 1), help=t("plan.kept_rate_help"))
    by_bucket = read(dp.summary, f.month, window, "entry_bucket", f.branch_id)
    by_agency = read(dp.summary, f.month, window, "agency_id", f.branch_id)
    agencies = read(dc.names, "agency")
    bank = t("conduct.bank_staff")
    by_bucket = by_bucket.assign(group=[BUCKETS.get(int(b), str(b)) for b in by_bucket["entry_bucket"]])
    by_agency = by_agency.assign(group=[agencies.get(int(i), bank) if i else bank for i in by_agency["agency_id"]])
    cols = {"group": None, "plans": Col("plan.plans", "count"), "active": Col("plan.active", "count"),
            "kept": Col("plan.kept", "count"), "broken": Col("plan.broken", "count"),
            "kept_rate": Col("plan.kept_rate", "rate"), "total_amount": Col("plan.amount_wan", "money_wan"),
            "paid_amount": Col("plan.paid_wan", "money_wan")}
    a, b = st.columns(2)
    with a:
        st.plotly_chart(plans_chart(by_bucket, list(by_bucket["group"]), "plan.chart_bucket", lang),
                        key="plan_by_bucket")
        table(by_bucket, {**cols, "group": Col("plan.bucket")}, name=f"plans_by_bucket_{f.month}", height="fit")
    with b:
        st.plotly_chart(agency_plans_chart(by_agency, list(by_agency["group"]), lang),
                        key="plan_by_agency")
        table(by_agency, {**cols, "group": Col("plan.agency")}, name=f"plans_by_agency_{f.month}", height="fit")
