"""The G11 asset-quality report on the Portfolio-risk page: built only when asked for (one click), then offered for
download; building and downloading are both in the audit log. (components/downloads.py, being written for #15
as the one place for downloads, had not landed when this was written: move the offer there when it does.)"""
from __future__ import annotations

import streamlit as st

from components.i18n import t
from components.session import connect, engine, scope
from data_access import g11, users

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _audit(target: str, what: str, size: int) -> None:
    with engine().begin() as conn:
        users.audit(conn, scope().username or "?", "export", target=target, detail={"format": "xlsx", "step": what,
                                                                                     "bytes": size})


def g11_section(month: str) -> None:
    st.subheader(t("g11.title"))
    st.caption(t("g11.intro"))
    key = f"g11_{month}"
    if st.button(t("g11.build", month=month), key=f"g11_build_{month}"):
        try:
            with connect() as conn:
                data = g11.build(conn, scope(), month, scope().username or "?")
        except g11.ReportError:
            st.error(t("g11.no_month", month=month))
            return
        st.session_state[key] = data
        _audit(key, "built", len(data))
    data = st.session_state.get(key)
    if data:
        st.download_button(t("g11.download"), data, file_name=f"G11_{month}.xlsx", mime=XLSX, key=f"g11_dl_{month}",
                           on_click=_audit, args=(key, "downloaded", len(data)))
