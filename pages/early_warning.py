"""预警与贷后 Early warning and risk-driven post-loan work: signals, task monitoring, the model's justification."""
import streamlit as st

from components import navigation, pii, risk_charts as rc, task_results
from components.filters import filter_bar
from components.formatting import month_label, month_span, pct, validation_months
from components.i18n import code_label, current_lang, t
from components.panels import empty_state, model_missing
from components.safe_text import md
from components.session import read
from components.tables import Col, table
from data_access import queries

navigation.guard("early_warning")
lang = current_lang()
st.title(t("page.early_warning"))
f = filter_bar(("month", "branch"))
if f is None:
    empty_state("db.empty")
    st.stop()

trend = read(queries.warning_trend, f, 12)
a, b = st.columns([1.6, 1])
with a:
    if trend.empty:
        empty_state()
    else:
        st.plotly_chart(rc.signal_trend_chart(trend, lang), key="ew_trend")
with b:
    st.subheader(t("ew.by_severity"))
    month_rows = trend[trend["month"] == f.month]
    sev = month_rows.groupby("severity")[["raised", "still_open"]].sum().reindex(["high", "medium", "low"]).fillna(0)
    for level, row in sev.iterrows():
        st.metric(f"{code_label(level, lang)} · {month_label(f.month, lang)}", int(row["raised"]),
                  help=t("ew.still_open", n=int(row["still_open"])))

st.subheader(t("ew.tasks"))
tasks = read(queries.task_monitor, f.month)
if f.branch_id is not None:
    tasks = tasks[tasks["branch_id"] == f.branch_id]
table(tasks, {"branch": Col("league.branch"), "new_warnings": Col("ew.new_warnings", "count"),
              "open_warnings": Col("kpi.open_warnings", "count"), "tasks_due": Col("ew.tasks_due", "count"),
              "tasks_done_on_time": Col("ew.done_on_time", "count"), "on_time_rate": Col("ew.on_time_rate", "rate"),
              "tasks_overdue": Col("ew.overdue", "count"), "risk_tasks": Col("ew.risk_tasks", "count"),
              "risk_coverage_30d": Col("ew.coverage_30d", "rate"), "pending": Col("ew.pending", "count")},
      name=f"postloan_tasks_{f.month}", height="fit")

st.subheader(t("ew.by_manager"))
managers = read(queries.work_by_manager, f.month, f.branch_id)
if managers.empty:
    st.caption(t("risk.rows_not_permitted"))
else:
    table(managers, {"manager": Col("col.manager"), "branch": Col("league.branch"), "tasks": Col("ew.tasks_n", "count"),
                     "done_on_time": Col("ew.done_on_time", "count"), "pending": Col("ew.pending", "count"),
                     "overdue": Col("ew.overdue", "count"), "risk_tasks": Col("ew.risk_tasks_all", "count"),
                     "open_signals": Col("kpi.open_warnings", "count")}, name=f"work_by_manager_{f.month}", height=320)
    task_results.record_form(pii.gated_read("ew_pending_tasks", queries.pending_tasks, f.branch_id, 300)[0])

model = read(queries.model_summary, "behaviour_pd")
st.subheader(t("ew.model"))
if model is None:
    model_missing("ew.no_model")
else:
    m = model["metrics"]
    c1, c2 = st.columns([1.4, 1])
    c1.plotly_chart(rc.capture_chart(m, lang), key="ew_capture")
    with c2:
        st.markdown(t("ew.model_card", version=md(model["version"]), trained=str(model["trained_at"])[:16],
                      window=month_span(model["data_window"], lang), valid=validation_months(m, lang), auc=m["auc"], ks=m["ks"]))
        five = next(p for p in m["capture"] if abs(p["workload"] - 0.05) < 1e-9)
        st.success(t("ew.justification", risk_w=pct(five["workload"], 0), risk_c=pct(five["caught"], 0),
                     per_w=pct(m["periodic"]["workload"], 0), per_c=pct(m["periodic"]["caught"], 0)))

st.subheader(t("ew.open_signals"))
signals, purpose = pii.gated_read("ew_open_signals", queries.open_signals, f.branch_id, 300)
if signals.empty:
    st.caption(t("ew.no_open_signals"))
else:
    shown = signals.assign(signal_type=[code_label(x, lang) for x in signals["signal_type"]],
                           severity=[code_label(x, lang) for x in signals["severity"]])
    table(shown, {"raised_on": Col("col.date"), "customer_no": Col("hh.customer_no"), "name": Col("hh.name"),
                  "branch": Col("league.branch"), "signal_type": Col("col.type"), "severity": Col("col.severity"),
                  "detail": Col("col.detail")}, name=f"open_signals_{f.month}", height=400, purpose=purpose)
