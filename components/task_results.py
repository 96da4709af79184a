"""The form a branch records a post-loan inspection's result with (scoped and audited in data_access.tasks)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from data_access.tasks import RESULTS, TaskError, complete_task

from .i18n import code_label, current_lang, t
from .session import engine, scope


def record_form(pending: pd.DataFrame) -> None:
    if pending.empty:
        return
    lang = current_lang()
    labels = {r.id: f"{r.due_on} · {code_label(r.task_type, lang)} · {r.customer_no} {r.name} · {r.manager or ''}"
              for r in pending.itertuples()}
    with st.expander(t("ew.record")):
        with st.form("task_result", clear_on_submit=True):
            task_id = st.selectbox(t("ew.task"), list(labels), format_func=labels.get, key="tr_task")
            c1, c2 = st.columns(2)
            result = c1.selectbox(t("col.result"), RESULTS, key="tr_result")
            done_on = c2.date_input(t("col.completed"), value=dt.date.today(), key="tr_date")
            note = st.text_input(t("ew.note"), key="tr_note", max_chars=200)
            if st.form_submit_button(t("ew.save"), type="primary"):
                try:
                    with engine().begin() as conn:
                        complete_task(conn, scope(), int(task_id), result, done_on, note or None)
                except TaskError as exc:
                    st.error(str(exc))
                else:
                    st.cache_data.clear()
                    st.success(t("ew.saved"))
