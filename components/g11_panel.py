"""The G11 asset-quality report on the Portfolio-risk page: one download button (components.downloads), so the
workbook is built only when it is clicked, and building it writes the audit row."""
from __future__ import annotations

import streamlit as st

from components import downloads
from components.i18n import t
from components.session import engine, scope
from data_access import g11

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def g11_section(month: str) -> None:
    st.subheader(t("g11.title"))
    st.caption(t("g11.intro"))
    eng, sc = engine(), scope()

    def build() -> bytes:  # runs at the click, off the page's run: everything it needs is captured here
        with eng.connect() as conn:
            return g11.build(conn, sc, month, sc.username or "?")

    downloads.offer(t("g11.download"), build, file_name=f"G11_{month}.xlsx", mime=XLSX, key=f"g11_dl_{month}",
                    what=f"g11_{month}", filters={"month": month})
