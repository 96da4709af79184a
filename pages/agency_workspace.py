"""委外工作台 Agency workspace: the agency's own cases (masked) and its anonymised ranking."""
import streamlit as st

from components import navigation
from components.formatting import pct
from components.i18n import t
from components.panels import empty_state
from components.session import read
from components.shell import scope_label
from components.tables import Col, table
from data_access import queries

navigation.guard("agency")
st.title(t("agency.title"))
st.caption(t("agency.caption", agency=scope_label()))

league = read(queries.agency_league)
me = league[league["is_me"]]
if not me.empty:
    r = me.iloc[0]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(t("agency.recovery"), pct(r["recovery_rate"], 1))
    c2.metric(t("agency.kept_rate"), pct(r["kept_rate"], 1))
    c3.metric(t("agency.rank"), f"{int(r['rank'])} / {len(league)}")
    c4.metric(t("agency.complaints"), int(r["complaints"]))

st.subheader(t("agency.cases"))
cases = read(queries.collection_cases, "open")
if cases.empty:
    empty_state()
else:
    table(cases, {"case_no": Col("agency.case_no"), "entry_month": Col("filter.month"),
                  "entry_bucket": Col("agency.bucket", "count"), "overdue_at_entry": Col("agency.overdue", "money_wan"),
                  "name": Col("agency.name"), "phone": Col("agency.phone"), "address": Col("agency.address")},
          name="agency_cases", downloads=False)
