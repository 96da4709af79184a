"""客户360 Customer 360: search, then one customer's whole picture, with purpose-gated PII and a PDF report."""
import streamlit as st

from components import customer_view as cv
from components import downloads, navigation, pii
from components.i18n import current_lang, t, value_label
from components.panels import empty_state
from components.plan_panels import customer_plans
from components.post_loan_report import build_report
from components.safe_text import md
from components.session import read_scoped, scope
from data_access import pii as dpii, queries
from data_access.kpi import BUCKETS

navigation.guard("customer_360")
lang = current_lang()
st.title(t("page.customer_360"))

# one purpose for the page: it unmasks the search's hits and the profile, each showing audited (components.pii)
purpose = pii.choose("c360", key="c360_purpose")
q = st.text_input(t("c360.search"), key="c360_query", value=st.query_params.get("customer", ""))
if q:
    hits = read_scoped(dpii.purpose_scope(scope(), purpose), queries.search_customers, q)
    if hits.empty:
        st.warning(t("c360.not_found"))
        cv.open_customer(q, None, "none")  # audited as a denied attempt
    elif len(hits) > 1:
        st.caption(t("c360.pick_hit", n=len(hits)))
        pii.record("c360_search", purpose, hits["customer_no"])
        ev = st.dataframe(hits[["customer_no", "name", "phone", "village"]].fillna("—"), hide_index=True, on_select="rerun",
                          selection_mode="single-row", key="c360_hits", height=min(38 + 35 * len(hits), 300),
                          column_config={"customer_no": t("hh.customer_no"), "name": t("hh.name"),
                                         "phone": t("hh.phone"), "village": t("c360.field.village")})
        if ev and ev.selection.rows:
            st.session_state["c360_customer_id"] = int(hits["id"].iloc[ev.selection.rows[0]])
    else:
        st.session_state["c360_customer_id"] = int(hits["id"].iloc[0])

cid = st.session_state.get("c360_customer_id")
if cid is None:
    if not q:  # with a hit list on screen, its caption already says what to do
        empty_state("c360.empty")
    st.stop()
parts = cv.open_customer(None, cid, purpose)
if parts is None:
    st.warning(t("c360.not_found"))
    st.stop()
p = parts["profile"]
st.subheader(f"{md(p['name'])} · {md(p['customer_no'])}")
st.caption(" · ".join(md(p[k]) for k in ("id_number", "phone", "address")))
masked = not cv.viewing_scope(purpose).pii
downloads.offer(t("c360.report"), lambda: build_report(parts, scope().username, masked=masked),
                file_name=f"post_loan_report_{p['customer_no']}.pdf", mime="application/pdf", key="c360_report",
                what=f"post_loan_report:{p['customer_no']}", rows=1, customer_id=int(p["id"]), masked=masked,
                purpose=None if masked else purpose, customers=None if masked else [int(p["id"])], type="primary")

tabs = st.tabs([t("c360.profile"), t("c360.credit"), t("c360.risk"), t("c360.work"), t("c360.manager")])
with tabs[0]:
    a, b = st.columns([1.4, 1])
    with a:
        cv.facts_table(cv.fact_rows(p))
    with b:
        deck = cv.home_map(p, parts["village_geometry"])
        if deck is not None:
            st.caption(t("c360.location"))
            st.pydeck_chart(deck, height=260)
    st.markdown(f"**{t('c360.members')}**")
    members = parts["members"].assign(occupation=[value_label(o, lang) for o in parts["members"]["occupation"]])
    cv.frame(members, {"name": "col.name", "relation": "col.relation", "birth_year": "col.birth_year",
                                "occupation": "col.occupation"}, codes=("relation",), kinds={"birth_year": "text"})
    st.markdown(f"**{t('c360.tags')}**")
    tags = parts["tags"].assign(tag=[value_label(x, lang) for x in parts["tags"]["tag"]])
    st.markdown(" ".join(f":blue-badge[{md(tag)}]" for tag in tags.loc[tags["tag_type"] == "fact", "tag"]) or "—")
    st.markdown(" ".join(f":red-badge[**{md(tag)}**]" for tag in tags.loc[tags["tag_type"] == "risk", "tag"]) or "—")
with tabs[1]:
    st.markdown(f"**{t('c360.lines')}**")
    cv.frame(cv.with_values(parts["lines"], "product"), {"product": "col.product", "limit_amount": "col.limit", "used": "col.used",
                              "expires_on": "col.expires", "status": "col.status"}, codes=("status",),
             money_cols=("limit_amount", "used"))
    st.markdown(f"**{t('c360.loans')}**")
    cv.frame(cv.with_values(parts["loans"], "product"), {"loan_no": "col.loan_no", "product": "col.product", "amount": "col.amount",
                              "disbursed_on": "col.disbursed", "balance": "col.balance", "dpd": "c360.dpd",
                              "status": "col.status"}, codes=("status",), money_cols=("amount", "balance"))
    if not parts["snapshots"].empty:
        st.plotly_chart(cv.dpd_chart(parts["snapshots"], lang), key="c360_dpd")
    st.markdown(f"**{t('c360.repayments')}**")
    cv.frame(parts["repayments"].head(60), {"loan_no": "col.loan_no", "paid_on": "col.date", "principal": "col.principal",
                                            "interest": "col.interest", "collected": "col.collected"},
             kinds={"principal": "money_yuan", "interest": "money_yuan"})
with tabs[2]:
    st.markdown(f"**{t('c360.apps')}**")
    cv.frame(cv.with_values(parts["applications"], "product"), {"applied_on": "col.date", "product": "col.product", "score": "col.score",
                                     "decision": "col.decision"}, codes=("decision",))
    st.markdown(f"**{t('c360.behaviour')}**")
    if parts["behaviour_scores"].empty:
        st.caption(t("c360.no_behaviour"))
    else:
        # the behaviour model's output is a probability of default, shown as one (it read '0.0022' under 评分)
        cv.frame(parts["behaviour_scores"], {"month": "col.month", "score": "c360.pd"}, kinds={"score": "rate"})
    st.markdown(f"**{t('c360.warnings')}**")
    cv.frame(parts["warnings"], {"raised_on": "col.date", "signal_type": "col.type", "severity": "col.severity",
                                 "status": "col.status", "detail": "col.detail"}, codes=("signal_type", "severity", "status"))
with tabs[3]:
    st.markdown(f"**{t('c360.tasks')}**")
    cv.frame(parts["tasks"], {"created_on": "col.date", "task_type": "col.type", "trigger": "col.trigger",
                              "due_on": "col.due", "completed_on": "col.completed", "status": "col.status",
                              "result": "col.result", "manager": "col.manager"}, codes=("task_type", "trigger", "status"))
    st.markdown(f"**{t('c360.cases')}**")
    cases = parts["cases"].assign(entry_bucket=[BUCKETS.get(int(b), b) if b == b and b is not None else None
                                                for b in parts["cases"]["entry_bucket"]])
    cv.frame(cases, {"case_no": "col.case_no", "entry_month": "col.entry", "entry_bucket": "col.bucket",
                              "channel": "col.channel", "agency": "col.agency", "status": "col.status",
                              "overdue_at_entry": "col.overdue", "recovered_amount": "col.recovered"},
             codes=("channel", "status"), kinds={"overdue_at_entry": "money_yuan", "recovered_amount": "money_yuan"})
    st.markdown(f"**{t('c360.actions')}**")
    cv.frame(parts["actions"], {"action_on": "col.date", "channel": "col.channel", "contacted": "col.contacted",
                                "promise_amount": "col.promise", "promise_kept": "col.kept", "result": "col.result"},
             codes=("channel", "result"), kinds={"promise_amount": "money_yuan"})
    st.markdown(f"**{t('plan.title')}**")
    customer_plans(int(p["id"]), lang)
with tabs[4]:
    st.markdown(f"**{t('c360.visits')}**")
    cv.frame(parts["visits"], {"event_at": "col.time", "event_type": "col.event", "manager": "col.manager",
                               "distance_m": "col.distance"}, codes=("event_type",))
