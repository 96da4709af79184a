"""客户经理 Manager behaviour: team workload and quality against the 200-customer target, trajectories on the map,
check-in authenticity alerts with their evidence, the capability rating with its reasons, the staffing what-if."""
import datetime as dt

import pandas as pd
import streamlit as st

from components import manager_charts as mc, navigation, pii
from components.manager_panels import alert_day_drill, evidence
from components.filters import filter_bar
from components.formatting import month_label, pct
from components.i18n import current_lang, t
from components.map_layers import legend_html
from components.panels import empty_state
from components.safe_text import md
from components.session import read
from components.tables import Col, table
from data_access import managers as dm
from models.capability import WEIGHTS, CapabilityScore, inputs_from_team, stability

navigation.guard("managers")
lang = current_lang()
st.title(t("page.managers"))
f = filter_bar(("month", "branch"))
if f is None:
    empty_state("db.empty")
    st.stop()
model = CapabilityScore()
team = read(dm.team, f.month, f.branch_id)
if team.empty:
    empty_state()
    st.stop()
X = inputs_from_team(team)
team = team.assign(score=model.score(X), rating=model.rating(X), **{f"in_{c}": X[c] for c in X.columns})

tabs = st.tabs([t("mgr.tab.team"), t("mgr.tab.trajectory"), t("mgr.tab.alerts"), t("mgr.tab.rating"),
                t("mgr.tab.whatif")])

with tabs[0]:
    c = st.columns(5)
    per = team["customers"].mean()
    c[0].metric(t("mgr.managers"), f"{len(team):,}")
    c[1].metric(t("mgr.avg_customers"), f"{per:,.0f}", help=t("mgr.target_help", n=dm.TARGET_CUSTOMERS))
    c[2].metric(t("mgr.at_target"), pct((team["customers"] >= dm.TARGET_CUSTOMERS).mean(), 0))
    c[3].metric(t("mgr.coverage_90d"), pct(team["visited_90d"].sum() / max(1.0, team["customers"].sum()), 1),
                help=t("mgr.coverage_help"))
    c[4].metric(t("mgr.on_time"), pct(team["tasks_on_time_3m"].sum() / max(1.0, team["tasks_due_3m"].sum()), 1))
    a, b = st.columns([1.5, 1])
    a.plotly_chart(mc.workload_chart(team, dm.TARGET_CUSTOMERS, lang), key="mgr_workload")
    b.plotly_chart(mc.sources_chart(read(dm.new_customer_sources, f.month, 12, f.branch_id), lang), key="mgr_sources")
    shown = team.assign(balance_per=team["balance"], npl_ratio=X["npl_ratio"], vintage=X["origination_ever30_rate"],
                        coverage=X["visit_coverage"], on_time=X["task_on_time_rate"], renewal=X["renewal_rate"],
                        recovery=team["case_recovered"] / team["case_overdue"].where(team["case_overdue"] > 0),
                        visits_week=team["visits_3m"] / 13, check_ins_week=team["check_ins_3m"] / 13,
                        new_3m=team["new_customers_3m"])
    find = st.text_input(t("mgr.find"), key="mgr_find", placeholder=t("mgr.find_hint"))
    if find.strip():
        shown = shown[shown["name"].str.contains(find.strip(), regex=False) |
                      shown["branch"].str.contains(find.strip(), regex=False)]
    st.caption(t("mgr.team_rows", n=len(shown), total=len(team)))
    # first what a leader compares managers by (rating and what it rests on: workload, quality, diligence,
    # alerts), within the page's width at 1600 px; the other figures under "more"; the downloads hold all
    table(shown, {"name": Col("col.manager"), "branch": Col("league.branch"), "rating": Col("mgr.rating"),
                  "score": Col("mgr.score", "num2"), "customers": Col("mgr.customers", "count"),
                  "balance_per": Col("mgr.balance_wan", "money_wan"), "npl_ratio": Col("mgr.npl_ratio", "rate"),
                  "coverage": Col("mgr.coverage", "rate"), "on_time": Col("mgr.on_time_rate", "rate"),
                  "flags_high_3m": Col("mgr.flags_high", "count")},
          name=f"managers_{f.month}",
          more={"vintage": Col("mgr.vintage", "rate"), "visits_week": Col("mgr.visits_week", "num2"),
                "check_ins_week": Col("mgr.check_ins_week", "num2"), "new_3m": Col("mgr.new_3m", "count"),
                "renewal": Col("mgr.renewal", "rate"), "recovery": Col("mgr.recovery", "rate")})
    st.caption(t("mgr.team_note"))

names = dict(zip(team["manager_id"], team["name"] + " · " + team["branch"]))


@st.fragment
def trajectory() -> None:
    """One manager's day or week: choosing another manager, day or span reruns this part only, not the team's
    tables and charts above it."""
    a, b, c3, c4 = st.columns([1.2, 1, 0.8, 1.1])
    # the manager with the most high alerts first: that is whom a branch leader wants to look at
    order = list(team.sort_values(["flags_high_3m", "customers"], ascending=False)["manager_id"])
    mid = a.selectbox(t("col.manager"), order, format_func=names.get, key="mgr_traj_manager")
    days = read(dm.active_days, int(mid), f.month)
    if not days:
        st.info(t("mgr.no_days", month=month_label(f.month, lang)))
    else:
        day = b.selectbox(t("col.date"), days, key="mgr_traj_day")
        span = c3.segmented_control(t("mgr.span"), ["day", "week"], default="day", key="mgr_traj_span",
                                    format_func=lambda x: t(f"mgr.span.{x}")) or "day"
        first = day if span == "day" else day - dt.timedelta(days=day.weekday())
        last = day if span == "day" else first + dt.timedelta(days=6)
        ev, purpose = pii.gated_read("mgr_trajectory", dm.day_events, int(mid), first, last, where=c4)
        ev = ev.assign(flags=[evidence(x, lang) for x in ev["flags"]])
        m1, m2 = st.columns([2.2, 1])
        with m1:
            if ev.dropna(subset=["lon", "lat"]).empty:
                empty_state()
            else:
                st.plotly_chart(mc.trajectory_figure(ev, lang, read(dm.manager_grid, int(mid))), key="mgr_traj_map",
                                config={"scrollZoom": True, "displaylogo": False})
        with m2:
            st.markdown(legend_html(t("mgr.legend"), mc.legend_items(lang)) +
                        legend_html(t("mgr.legend_ring"), mc.ring_items(lang)), unsafe_allow_html=True)
            st.caption(t("mgr.traj_note", n=len(ev), flagged=int((ev["worst"] != "").sum()) if not ev.empty else 0))
        if not ev.empty:
            shown = ev.assign(seq=range(1, len(ev) + 1), event_type=[t(f"mgr.ev.{x}") for x in ev["event_type"]],
                              time=pd.to_datetime(ev["event_at"]).dt.strftime("%m-%d %H:%M"),
                              gps=ev["lon"].notna().map({True: "✓", False: "✗"}),
                              worst=[t(f"mgr.sev.{x}") if x else "" for x in ev["worst"]])
            table(shown, {"seq": Col("mgr.seq", "count"), "time": Col("mgr.time"), "event_type": Col("col.type"),
                          "customer_no": Col("hh.customer_no"), "name": Col("hh.name"), "gps": Col("mgr.gps"),
                          "worst": Col("col.severity"), "flags": Col("mgr.evidence")},
                  name=f"trajectory_{mid}_{first}", downloads=False)


with tabs[1]:
    trajectory()

with tabs[2]:
    summary = read(dm.flag_summary, f.month, f.branch_id)
    if summary.empty:
        st.success(t("mgr.no_alerts"))
    else:
        cols = st.columns(3)
        for col, sev in zip(cols, ("high", "medium", "low")):
            d = summary[summary["severity"] == sev]
            col.metric(t(f"mgr.sev.{sev}"), f"{int(d['flags'].sum()):,}",
                       help=t("mgr.alert_managers", n=int(d["managers"].max()) if not d.empty else 0))
        st.caption(t("mgr.rules_note"))
        f1, f2 = st.columns(2)
        sev = f1.selectbox(t("col.severity"), [None, "high", "medium", "low"], key="mgr_alert_sev",
                           format_func=lambda x: t("filter.all") if x is None else t(f"mgr.sev.{x}"))
        rule = f2.selectbox(t("mgr.rule"), [None, "far_from_home", "impossible_speed", "same_spot", "off_hours", "no_gps"],
                            key="mgr_alert_rule", format_func=lambda x: t("filter.all") if x is None else t(f"mgr.rule.{x}"))
        alerts = read(dm.flag_list, f.month, f.branch_id, sev, rule, 500)
        if alerts.empty:
            empty_state()
        else:
            shown = alerts.assign(rule=[t(f"mgr.rule.{r}") for r in alerts["rule"]],
                                  detail=[evidence(x, lang) for x in alerts["detail"]],
                                  severity=[t(f"mgr.sev.{x}") for x in alerts["severity"]],
                                  time=pd.to_datetime(alerts["event_at"]).dt.strftime("%m-%d %H:%M"))
            table(shown, {"severity": Col("col.severity"), "rule": Col("mgr.rule"), "time": Col("mgr.time"),
                          "manager": Col("col.manager"), "branch": Col("league.branch"), "customer_no": Col("hh.customer_no"),
                          "detail": Col("mgr.evidence")}, name=f"checkin_alerts_{f.month}", height=420)
            alert_day_drill(alerts, shown, lang)

with tabs[3]:
    a, b = st.columns([1, 1.3])
    with a:
        ranked = team.sort_values("score", ascending=False)
        mid = st.selectbox(t("col.manager"), list(ranked["manager_id"]), format_func=names.get, key="mgr_rating_manager")
        row = team.set_index("manager_id").loc[mid]
        contrib = model.contributions(X.loc[team["manager_id"] == mid]).iloc[0]
        st.markdown(t("mgr.rating_card", name=md(row["name"]), rating=md(row["rating"]), score=f"{row['score']:.1f}"))
        st.plotly_chart(mc.contributions_chart(contrib, lang), key="mgr_contrib")
    with b:
        lost = {p: WEIGHTS[p] - contrib[p] for p in WEIGHTS}
        worst = sorted(lost, key=lost.get, reverse=True)[:2]
        st.markdown(t("mgr.reasons", a=t(f"mgr.part.{worst[0]}"), la=f"{lost[worst[0]]:.1f}",
                      b=t(f"mgr.part.{worst[1]}"), lb=f"{lost[worst[1]]:.1f}"))
        facts = pd.DataFrame({"input": [t(f"mgr.in.{k}") for k in X.columns],
                              "value": [X.loc[team["manager_id"] == mid, k].iloc[0] for k in X.columns]})
        facts["value"] = [f"{v:,.0f}" if k in ("customers",) else (f"{v:.1f}" if k in ("new_per_month", "flags_per_100")
                                                                   else pct(v, 1)) for k, v in zip(X.columns, facts["value"])]
        table(facts, {"input": Col("mgr.input"), "value": Col("mgr.value")}, name=f"rating_inputs_{mid}",
              height="fit", downloads=False)
        st.caption(t("mgr.model_note"))
    months = [m for m in read(dm.months_with_activity_in_scope) if m <= f.month][-6:]
    hist = []
    for m in months:
        tm = read(dm.team, m, f.branch_id)
        if not tm.empty:
            hist.append(pd.DataFrame({"manager_id": tm["manager_id"], "month": m,
                                      "rating": model.rating(inputs_from_team(tm)).to_numpy()}))
    if hist:
        h = pd.concat(hist, ignore_index=True)
        c1, c2 = st.columns([1.5, 1])
        c1.plotly_chart(mc.rating_chart(h, lang), key="mgr_rating_hist")
        stab = stability(h)
        c2.metric(t("mgr.stable"), pct(stab["unchanged"], 0), help=t("mgr.stable_help", pairs=stab["pairs"]))
        c2.metric(t("mgr.jumps"), pct(stab["moved_two_or_more"], 1))

with tabs[4]:
    n = st.slider(t("mgr.per_manager"), 120, 250, dm.TARGET_CUSTOMERS, 10, key="mgr_whatif_n")
    wl = read(dm.workload, f.month)
    if f.branch_id is not None:
        wl = wl[wl["branch_id"] == f.branch_id]
    if wl.empty:
        empty_state()
    else:
        res = dm.managers_needed(wl, n)
        c = st.columns(3)
        c[0].metric(t("mgr.now"), f"{int(res['managers'].sum()):,}")
        c[1].metric(t("mgr.needed", n=n), f"{int(res['needed'].sum()):,}",
                    delta=f"{int(res['gap'].sum()):+,}", delta_color="inverse")
        c[2].metric(t("mgr.tasks_each"), f"{res['tasks_per_month'].sum() / max(1, res['needed'].sum()):.1f}")
        table(res, {"branch": Col("league.branch"), "customers": Col("mgr.customers", "count"),
                    "managers": Col("mgr.now", "count"), "needed": Col("mgr.needed_col", "count"),
                    "gap": Col("mgr.gap", "count"), "tasks_per_month": Col("mgr.tasks_month", "num2"),
                    "tasks_per_manager": Col("mgr.tasks_per_manager", "num2")},
              name=f"staffing_{n}_{f.month}", height="fit" if len(res) <= 25 else 500)
        st.caption(t("mgr.whatif_note"))
