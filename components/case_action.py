"""The form a collector or agency records a contact with (validated, checked against the conduct rules, scoped and
audited in ``data_access.collections.record_action``): when, whom, how, how long, the recording, the result."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from data_access.collections import RESULTS, ActionError, audit_denial, audit_refusal, record_action
from data_access.conduct import CHANNEL_WAY, PARTIES, WAYS

from .i18n import code_label, current_lang, t
from .safe_text import t_md
from .session import engine, scope


def action_form(case_id: int, detail: dict) -> None:
    lang = current_lang()
    with st.form(f"case_action_{case_id}", clear_on_submit=True):
        st.markdown(f"**{t('agency.record')}**")
        c1, c2, c3 = st.columns(3)
        action_on = c1.date_input(t("agency.action_on"), value=dt.date.today(), key="ca_date")
        at = c2.time_input(t("conduct.contact_time"), value=None, step=60, key="ca_time", help=t("conduct.time_help"))
        way_default = CHANNEL_WAY.get(detail.get("channel"), "call")
        way = c3.selectbox(t("conduct.way"), WAYS, index=WAYS.index(way_default), key="ca_way",
                           format_func=lambda w: t(f"conduct.way.{w}"))
        c4, c5, c6 = st.columns(3)
        party = c4.selectbox(t("conduct.party"), PARTIES, key="ca_party", format_func=lambda p: t(f"conduct.party.{p}"),
                             help=t("conduct.party_help"))
        minutes = c5.number_input(t("conduct.duration_min"), min_value=0.0, max_value=600.0, value=None, step=1.0,
                                  key="ca_duration")
        recording = c6.text_input(t("conduct.recording_ref"), key="ca_recording", max_chars=64,
                                  help=t("conduct.recording_help"))
        consented = st.checkbox(t("conduct.consented"), key="ca_consent", help=t("conduct.consent_help"))
        c7, c8, c9 = st.columns(3)
        result = c7.selectbox(t("col.result"), RESULTS, format_func=lambda r: code_label(r, lang), key="ca_result")
        promise_date = c8.date_input(t("agency.promise_date"), value=None, key="ca_pdate", help=t("agency.promise_help"))
        promise_amount = c9.number_input(t("agency.promise_amount"), min_value=0.0, value=None, step=100.0,
                                         key="ca_pamount", help=t("agency.promise_help"))
        note = st.text_area(t("agency.note"), key="ca_note", max_chars=256, height=80)
        if st.form_submit_button(t("agency.save"), type="primary"):
            if at is None or action_on is None:
                st.error(t("action.err_time"))
                return
            try:
                with engine().begin() as conn:
                    record_action(conn, scope(), case_id, result, dt.datetime.combine(action_on, at), promise_date,
                                  promise_amount, note, party=party, way=way,
                                  duration_s=None if minutes is None else round(minutes * 60),
                                  recording_ref=recording, consented=consented)
            except ActionError as exc:
                if exc.denied:
                    with engine().begin() as conn:
                        audit_denial(conn, scope(), case_id)
                elif exc.rule:
                    with engine().begin() as conn:
                        audit_refusal(conn, scope(), case_id, exc.rule)
                st.error(t(exc.key, **exc.values))
            else:
                st.cache_data.clear()
                st.success(t_md("agency.saved", case_no=detail["case_no"]))
