"""The form a collector or agency records a contact attempt with (validated, scoped and audited in
``data_access.collections.record_action``)."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from data_access.collections import RESULTS, ActionError, audit_denial, record_action

from .i18n import code_label, current_lang, t
from .session import engine, scope


def action_form(case_id: int, detail: dict) -> None:
    lang = current_lang()
    with st.form(f"case_action_{case_id}", clear_on_submit=True):
        st.markdown(f"**{t('agency.record')}**")
        c1, c2 = st.columns(2)
        result = c1.selectbox(t("col.result"), RESULTS, format_func=lambda r: code_label(r, lang), key="ca_result")
        action_on = c2.date_input(t("agency.action_on"), value=dt.date.today(), key="ca_date")
        c3, c4 = st.columns(2)
        promise_date = c3.date_input(t("agency.promise_date"), value=None, key="ca_pdate", help=t("agency.promise_help"))
        promise_amount = c4.number_input(t("agency.promise_amount"), min_value=0.0, value=None, step=100.0,
                                         key="ca_pamount", help=t("agency.promise_help"))
        note = st.text_area(t("agency.note"), key="ca_note", max_chars=256, height=80)
        if st.form_submit_button(t("agency.save"), type="primary"):
            try:
                with engine().begin() as conn:
                    record_action(conn, scope(), case_id, result, action_on, promise_date, promise_amount, note)
            except ActionError as exc:
                if exc.denied:
                    with engine().begin() as conn:
                        audit_denial(conn, scope(), case_id)
                st.error(t(exc.key, **exc.values))
            else:
                st.cache_data.clear()
                st.success(t("agency.saved", case_no=detail["case_no"]))
