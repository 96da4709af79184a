"""委外工作台 Agency workspace: the agency's own cases (masked), its KPIs and anonymised ranking, recording actions,
and a watermarked work list — never a raw export."""
import datetime as dt

import pandas as pd
import streamlit as st

from components import downloads, navigation
from components.case_action import action_form
from components.conduct_panels import my_breaches
from components.formatting import money, pct
from components.i18n import code_label, current_lang, t
from components.panels import empty_state
from components.plan_panels import case_plans, flag_label, plan_form
from components.safe_text import md, t_md
from components.session import engine, read, scope
from components.shell import scope_label
from components.tables import Col, table
from components.worklist_pdf import build_worklist
from data_access import collections as dc, conduct_view as cv, users
from data_access.kpi import BUCKETS

navigation.guard("agency")
lang = current_lang()
st.title(t("agency.title"))
st.caption(t_md("agency.caption", agency=scope_label()))

k = read(dc.agency_kpis, 12)
league = read(cv.agency_ranking)
me = league[league["is_me"]]
if k:
    cols = st.columns(6)
    cols[0].metric(t("agency.recovery"), pct(k["recovery_rate"], 1), help=t("coll.recovery_help"))
    cols[1].metric(t("coll.contact_rate"), pct(k["contact_rate"], 1), help=t("coll.help.contact_rate"))
    cols[2].metric(t("agency.kept_rate"), pct(k["kept_rate"], 1), help=t("coll.help.kept_rate"))
    cols[3].metric(t("coll.recovered"), money(k["recovered_amount"], lang, digits=1))
    cols[4].metric(t("agency.rank"), f"{int(me.iloc[0]['rank'])} / {len(league)}" if not me.empty else "—")
    cols[5].metric(t("agency.complaints"), int(k["complaints"]), help=t("agency.breaches", n=int(k["compliance_breaches"])))

counts = read(dc.count_cases, "open")
# the work list at the page's width (beside the ranking its address column wrapped every row into ten lines), the
# ranking and the agency's own breaches side by side below it
left = st.container()
right, below = st.columns([1, 1])
with left:
    st.subheader(t("agency.cases"))
    f1, f2 = st.columns([3, 1])
    bucket = f1.segmented_control(
        t("agency.bucket_filter"), sorted(counts["by_bucket"]), key="agency_bucket",
        format_func=lambda b: f"{BUCKETS.get(int(b), b)} · {counts['by_bucket'][b]:,}")
    total = counts["by_bucket"].get(bucket, 0) if bucket is not None else counts["total"]
    pages = max(1, -(-total // dc.WORKLIST_PAGE))
    # a page's cost stays flat however many cases the agency holds; the key follows the filter so it restarts at 1
    page = f2.selectbox(t("agency.page"), range(1, pages + 1), key=f"agency_page_{bucket}",
                        format_func=lambda p: f"{p} / {pages}")
    offset = (page - 1) * dc.WORKLIST_PAGE
    cases = read(dc.my_cases, "open", dc.WORKLIST_PAGE, offset, bucket)
    if cases.empty:
        empty_state("agency.no_cases")
    else:
        st.caption(t("agency.showing", a=f"{offset + 1:,}", b=f"{offset + len(cases):,}", n=f"{total:,}"))
        shown = cases.assign(entry_bucket=[BUCKETS.get(int(b), b) for b in cases["entry_bucket"]],
                             plan=[flag_label(x, lang) for x in cases["plan_status"]])
        table(shown, {"case_no": Col("agency.case_no"), "entry_date": Col("agency.entry_date"),
                      # in 元, as a collector counts it and the PDF list shows it (0.06 万元 read badly)
                      "entry_bucket": Col("agency.bucket"), "overdue_at_entry": Col("agency.overdue", "money_yuan"),
                      "name": Col("agency.name"), "phone": Col("agency.phone"), "address": Col("agency.address"),
                      "last_action_on": Col("agency.last_action"), "actions": Col("agency.actions", "count"),
                      "plan": Col("plan.tab", missing="")},
              name="agency_cases", downloads=False, height=420)
        when = dt.datetime.now().replace(second=0, microsecond=0)
        label, who = scope_label(), scope().username
        downloads.offer(t("agency.worklist_pdf"), lambda: build_worklist(cases, label, who, when),
                        file_name=f"worklist_{who}_{when:%Y%m%d%H%M}.pdf", mime="application/pdf",
                        key="agency_worklist", help=t("agency.worklist_help"), what="agency_worklist",
                        rows=len(cases), filters={"bucket": bucket, "page": page}, masked=True)
with right:
    st.subheader(t("agency.ranking"))
    # the other agencies are anonymised by the read (机构 A …): their letter in the user's language
    shown = league.assign(me=league["is_me"].map({True: "◀", False: ""}),
                          agency=[n if m or not str(n).startswith("机构 ") else t("agency.other", letter=chr(64 + int(r)))
                                  for n, m, r in zip(league["agency"], league["is_me"], league["rank"])])
    table(shown, {"rank": Col("coll.rank", "count"), "agency": Col("coll.agency"), "composite": Col("conduct.composite", "num2"),
                  "recovery_rate": Col("coll.recovery_rate", "rate"), "conduct_rate": Col("conduct.rate_per_100", "num2"),
                  "me": Col("agency.me", missing="")},
          name="agency_league", downloads=False, height="fit")
    st.caption(t("agency.ranking_note") + " " + t("conduct.league_short"))
with below:
    my_breaches(lang)



if not cases.empty:
    st.subheader(t("agency.case_work"))
    labels = {int(r.id): f"{r.case_no} · {BUCKETS.get(int(r.entry_bucket))} · {r.name} · {r.phone}" for r in cases.itertuples()}
    case_id = st.selectbox(t("agency.pick_case"), list(labels), format_func=labels.get, key="agency_case")
    detail = read(dc.case_detail, case_id)
    if detail is None:
        st.warning(t("action.err_case"))
    else:
        a, b = st.columns([1, 1.3])
        with a:
            text = {k: md(detail[k] or "—") for k in ("case_no", "loan_no", "product", "name", "phone", "address",
                                                       "id_number")}
            st.markdown(t("agency.case_card", case_no=text["case_no"], loan_no=text["loan_no"], product=text["product"],
                          bucket=BUCKETS.get(int(detail["entry_bucket"])), dpd=int(detail["entry_dpd"]),
                          overdue=money(detail["overdue_at_entry"], lang), date=str(detail["entry_date"]),
                          name=text["name"], phone=text["phone"], address=text["address"], id_tail=text["id_number"]))
            action_form(case_id, detail)
        with b:
            acts = read(dc.case_actions, case_id)
            if acts.empty:
                st.caption(t("agency.no_actions"))
            else:
                shown = acts.assign(when=[str(d) if pd.isna(c) else pd.Timestamp(c).strftime("%Y-%m-%d %H:%M")
                                          for d, c in zip(acts["action_on"], acts["contact_at"])],
                                    party=[t(f"conduct.party.{p}") if isinstance(p, str) else "" for p in acts["party"]],
                                    way=[t(f"conduct.way.{w}") if isinstance(w, str) else "" for w in acts["way"]],
                                    result=[code_label(r, lang) for r in acts["result"]],
                                    channel=[code_label(c, lang) for c in acts["channel"]],
                                    contacted=acts["contacted"].map({True: "✓", False: "", 1: "✓", 0: ""}),
                                    # a promise not yet due is neither kept nor broken
                                    promise_kept=[("✓" if k else "✗") if pd.notna(k) else
                                                  (t("agency.promise_open") if pd.notna(d) else "")
                                                  for k, d in zip(acts["promise_kept"], acts["promise_date"])],
                                    # demo history is recorded by 'agency' / 'system', not by a person: say so
                                    created_by=[t(f"agency.by_{x}") if x in ("agency", "system") else x
                                                for x in acts["created_by"]])
                table(shown, {"when": Col("conduct.contact_time"), "way": Col("conduct.way"),
                              "party": Col("conduct.party"), "contacted": Col("agency.contacted"),
                              "result": Col("col.result"), "promise_date": Col("agency.promise_date"),
                              "promise_amount": Col("agency.promise_amount", "money_yuan"),
                              "promise_kept": Col("agency.kept"),
                              "note": Col("agency.note"), "created_by": Col("agency.by")},
                      name="case_actions", downloads=False, height=360)
        st.markdown(f"**{t('plan.title')}**")
        plans = case_plans(case_id, lang)
        plan_form(case_id, detail, plans, lang)
