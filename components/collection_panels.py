"""The two larger tabs of the collections page: allocation (board, pending cases, rules, capacity, the run) and
performance (KPI cards by entry bucket, trends, any breakdown, ageing)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from data_access import collections as dc, kpi
from data_access.queries import Filters, shift_month
from models import allocation

from . import collection_charts as cc
from .formatting import money, pct
from .i18n import t, value_label
from .safe_text import md
from .kpi_cards import Kpi, kpi_row
from .panels import empty_state
from .session import engine, read, scope
from .tables import Col, table


def allocation_tab(f: Filters, lang: str) -> None:
    pending = read(dc.pending_summary, f.branch_id)
    board = read(dc.allocation_board, f)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(t("coll.pending_cases"), f"{int(pending['cases'].sum()):,}" if not pending.empty else "0",
              help=t("coll.pending_help"))
    c2.metric(t("coll.pending_amount"), money(float(pending["overdue_at_entry"].sum()) if not pending.empty else 0, lang))
    today = read(dc.day_board, f.branch_id)
    latest = today["entry_date"].max() if not today.empty else None
    c3.metric(t("coll.today_cases", day=str(latest) if latest is not None else "—"), f"{int(today['cases'].sum()):,}",
              help=t("coll.today_help"))
    c4.metric(t("coll.month_cases"), f"{int(board['cases'].sum()):,}" if not board.empty else "0")
    if not today.empty:
        grid = today.pivot_table(index="entry_bucket", columns="channel", values="cases", aggfunc="sum", fill_value=0)
        grid = grid.reindex(columns=[c for c in cc.CHANNEL_ORDER if c in grid.columns])
        shown = grid.reset_index().assign(entry_bucket=lambda d: [cc.bucket_label(b) for b in d["entry_bucket"]])
        narrow, _ = st.columns([3 + len(grid.columns), max(1, 7 - len(grid.columns))])  # as wide as its channels need
        with narrow:
            st.markdown(f"**{t('coll.today_board', day=str(latest))}**")
            table(shown, {"entry_bucket": Col("coll.entry_bucket"),
                          **{c: Col(cc.channel_label(c, lang), "count", raw=True) for c in grid.columns}},
                  name=f"collection_today_{latest}", height="fit", downloads=False)

    # the rules table at the page's width below the chart: beside it the notes were cut off at 1600 px
    a, _ = st.columns([1, 1])
    b = st.container()
    with a:
        if board.empty:
            empty_state()
        else:
            st.plotly_chart(cc.allocation_chart(board, lang), key="coll_alloc")
    with b:
        st.markdown(f"**{t('coll.rules')}**")
        rules = read(dc.rules_board)
        shown = rules.assign(entry_bucket=[cc.bucket_label(x) for x in rules["entry_bucket"]],
                             channel=[cc.channel_label(x, lang) for x in rules["channel"]],
                             description=[value_label(x, lang) for x in rules["description"]])
        table(shown, {"entry_bucket": Col("coll.entry_bucket"), "priority": Col("coll.priority", "count"),
                      "channel": Col("coll.channel"), "min_amount": Col("coll.min_amount", "count"),
                      "description": Col("coll.rule_note")}, name="allocation_rules", height="fit", downloads=False)
        st.caption(t("coll.rules_help"))

    st.markdown(f"**{t('coll.capacity')}**")
    cap = read(dc.capacity_board, f.month)
    if not cap.empty:
        over = cap["used"] - cap["capacity"]
        shown = cap.assign(name=[cc.channel_label(n, lang) if ch != "agency" else n
                                 for n, ch in zip(cap["name"], cap["channel"])],
                           # numbers stay numbers (right-aligned); more assigned than the capacity is said in words
                           left=[None if pd.isna(c) else max(0, c - u) for c, u in zip(cap["capacity"], cap["used"])],
                           over=[t("coll.over_capacity", n=f"{int(o):,}") if pd.notna(o) and o > 0 else "" for o in over],
                           # a channel without commission has none to show, not 0.00 %
                           commission_rate=cap["commission_rate"].where(cap["commission_rate"].fillna(0) > 0))
        table(shown, {"name": Col("coll.option"), "capacity": Col("coll.capacity", "count", missing=t("coll.unlimited")),
                      "used": Col("coll.used", "count"), "left": Col("coll.left", "count"),
                      "over": Col("coll.capacity_state"), "cost_per_case": Col("coll.cost_per_case", "num2"),
                      "commission_rate": Col("coll.commission_rate", "rate")},
              name=f"collection_capacity_{f.month}", height="fit", downloads=False)

    if scope().role == "head_office":
        _run_panel(lang)
    _last_run(lang)


def _run_panel(lang: str) -> None:
    st.markdown(f"**{t('coll.run_title')}**")
    st.caption(t("coll.run_help"))
    if st.button(t("coll.run_button"), type="primary", key="coll_run"):
        with st.spinner(t("coll.running")):
            out = allocation.run(engine(), run_by=scope().username)
        st.cache_data.clear()
        # rerun so that the counts above show the allocated cases; the outcome survives in the session
        st.session_state["coll_run_out"] = out
        st.rerun()
    out = st.session_state.pop("coll_run_out", None)
    if out is not None and out["cases"] == 0:
        st.info(t("coll.run_nothing"))
    elif out is not None:
        st.success(t("coll.run_done", cases=out["cases"], assigned=out["assigned"], queued=out["queued"],
                     rec=money(out["expected_recovery"], lang), base=money(out["baseline_recovery"], lang)))


def _last_run(lang: str) -> None:
    runs = read(dc.allocation_runs, 10)
    if runs.empty:
        return
    st.markdown(f"**{t('coll.runs')}**")
    last = runs.iloc[0]
    a, b = st.columns([1.2, 1])
    with a:
        lines = read(dc.allocation_run_lines, int(last["id"]))
        if not lines.empty:
            st.plotly_chart(cc.run_compare_chart(lines, lang), key="coll_run_chart")
    with b:
        net = last["expected_recovery"] - last["expected_cost"]
        base = last["baseline_recovery"] - last["baseline_cost"]
        st.markdown(t("coll.run_card", id=int(last["id"]), at=str(last["run_at"])[:16], by=md(last["run_by"]),
                      cases=int(last["cases"]), assigned=int(last["assigned"]), queued=int(last["queued"]),
                      net=money(net, lang), base=money(base, lang),
                      gain=money(net - base, lang)))
        shown = runs.assign(net=runs["expected_recovery"] - runs["expected_cost"],
                            base=runs["baseline_recovery"] - runs["baseline_cost"])
        table(shown, {"id": Col("coll.run_id", "count"), "run_at": Col("coll.run_at"), "run_by": Col("coll.run_by"),
                      "cases": Col("coll.stage.cases", "count"), "queued": Col("coll.queued", "count"),
                      "net": Col("coll.net_wan", "money_wan"), "base": Col("coll.base_wan", "money_wan")},
              name="allocation_runs", height="fit")


def _window_kpis(f: Filters, window: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    now = read(dc.performance, f, ("entry_bucket",), window)
    prev = read(dc.performance, Filters(month=shift_month(f.month, -1), branch_id=f.branch_id), ("entry_bucket",), window)
    year = read(dc.performance, Filters(month=shift_month(f.month, -12), branch_id=f.branch_id), ("entry_bucket",), window)
    return now, prev, year


def _rate(df: pd.DataFrame, name: str, buckets=None) -> float:
    if buckets is not None:
        df = df[df["entry_bucket"].isin(buckets)]
    num, den = kpi.COLLECTION_RATES[name]
    return kpi.ratio(float(df[num].sum()), float(df[den].sum()))


def performance_tab(f: Filters, window: int, lang: str) -> None:
    now, prev, year = _window_kpis(f, window)
    if now.empty or now["cases"].sum() == 0:
        empty_state()
        return
    cards = []
    for name, buckets in kpi.ENTRY_BUCKET_GROUPS.items():
        v = [_rate(d, "recovery_rate", buckets) for d in (now, prev, year)]
        cards.append(Kpi(t("coll.recovery_of", group=name, n=window), pct(v[0], 1), kpi.change_pp(v[0], v[1]),
                         kpi.change_pp(v[0], v[2]), kind="pp", help=t("coll.recovery_help")))
    # write-off transfers are not in the recovery above: what came back on them, over the amount written off
    wo = [read(dc.write_offs, d, window) for d in (f, Filters(month=shift_month(f.month, -1), branch_id=f.branch_id),
                                                   Filters(month=shift_month(f.month, -12), branch_id=f.branch_id))]
    wr = [kpi.ratio(float(d["recovered_amount"].sum()), float(d["balance_at_entry"].sum())) for d in wo]
    cards.append(Kpi(t("coll.post_write_off", n=window), pct(wr[0], 1), kpi.change_pp(wr[0], wr[1]),
                     kpi.change_pp(wr[0], wr[2]), kind="pp", help=t("coll.post_write_off_help")))
    for name, good in (("cure_rate", True), ("roll_forward_rate", False), ("contact_rate", True),
                       ("promise_rate", True), ("kept_rate", True)):
        v = [_rate(d, name) for d in (now, prev, year)]
        cards.append(Kpi(t(f"coll.{name}"), pct(v[0], 1), kpi.change_pp(v[0], v[1]), kpi.change_pp(v[0], v[2]),
                         kind="pp", good_when_up=good, help=t(f"coll.help.{name}")))
    rec = [float(d["recovered_amount"].sum()) for d in (now, prev, year)]
    cards.append(Kpi(t("coll.recovered"), money(rec[0], lang), kpi.change(rec[0], rec[1]), kpi.change(rec[0], rec[2])))
    cpy = [_rate(d, "cost_per_yuan") for d in (now, prev, year)]
    cards.append(Kpi(t("coll.cost_per_100"), f"{cpy[0] * 100:,.2f} {t('unit.yuan')}" if cpy[0] == cpy[0] else "—",
                     kpi.change(cpy[0], cpy[1]), kpi.change(cpy[0], cpy[2]), good_when_up=False,
                     help=t("coll.help.cost_per_yuan")))
    comp = [float(d["complaints"].sum()) for d in (now, prev, year)]
    cards.append(Kpi(t("coll.complaints"), f"{int(comp[0]):,}", kpi.change(comp[0], comp[1]), kpi.change(comp[0], comp[2]),
                     good_when_up=False))
    kpi_row(cards, per_row=6)

    by_month = read(dc.performance, f, ("entry_month", "entry_bucket"), 24)
    a, b = st.columns([1.4, 1])
    with a:
        st.plotly_chart(cc.recovery_trend_chart(cc.recovery_groups_by_month(by_month), lang), key="coll_trend")
    with b:
        age = read(dc.ageing, f)
        if age.empty:
            empty_state()
        else:
            st.plotly_chart(cc.ageing_chart(age, lang), key="coll_ageing")

    st.subheader(t("coll.breakdown"))
    dims = ["entry_bucket", "channel", "branch_id", "agency_id", "entry_month"]
    dim = st.segmented_control(t("coll.by"), dims, default="entry_bucket", key="coll_dim",
                               format_func=lambda d: t(f"coll.dim.{d}")) or "entry_bucket"
    df = read(dc.performance, f, (dim,), window, channel="agency" if dim == "agency_id" else None)
    if df.empty:
        empty_state()
        return
    df = df.assign(key=_dim_labels(df, dim, lang), cost_per_100=df["cost_per_yuan"] * 100)
    table(df, {"key": Col(f"coll.dim.{dim}"), "cases": Col("coll.stage.cases", "count"),
               "overdue_at_entry": Col("coll.overdue_wan", "money_wan"), "recovered_amount": Col("coll.recovered_wan", "money_wan"),
               "recovery_rate": Col("coll.recovery_rate", "rate"), "cure_rate": Col("coll.cure_rate", "rate"),
               "roll_forward_rate": Col("coll.roll_forward_rate", "rate"), "contact_rate": Col("coll.contact_rate", "rate"),
               "promise_rate": Col("coll.promise_rate", "rate"), "kept_rate": Col("coll.kept_rate", "rate"),
               "cost_per_100": Col("coll.cost_per_100", "num2"), "open_cases": Col("coll.open_cases", "count"),
               "complaints": Col("coll.complaints", "count")},
          name=f"collection_by_{dim}_{f.month}", height="fit" if len(df) <= 30 else 500)


def _dim_labels(df: pd.DataFrame, dim: str, lang: str) -> list[str]:
    if dim == "entry_bucket":
        return [cc.bucket_label(b) for b in df[dim]]
    if dim == "channel":
        return [cc.channel_label(c, lang) for c in df[dim]]
    if dim in ("branch_id", "agency_id"):
        names = read(dc.names, "branch" if dim == "branch_id" else "agency")
        return [names.get(int(k), str(k)) for k in df[dim]]
    return list(df[dim])
