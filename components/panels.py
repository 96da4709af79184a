"""Empty-state, error and database-unavailable panels."""
from __future__ import annotations

import streamlit as st

from .i18n import t


def empty_state(message_key: str = "empty.no_match") -> None:
    st.info(t(message_key), icon=":material/search_off:")


def unavailable(reason: str) -> None:
    st.error(f"**{t('db.unavailable.title')}**\n\n{t('db.unavailable.body', reason=reason)}", icon=":material/cloud_off:")
    st.button(t("db.retry"), key="db_retry")


def error_panel(ref: str) -> None:
    st.error(t("error.generic", ref=ref), icon=":material/error:")
