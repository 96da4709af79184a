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


def model_missing(message_key: str) -> None:
    """A model the page needs is not registered: on a first start it is being trained in the background (say so),
    otherwise the message says how it comes about."""
    from models.bootstrap import training_now
    if training_now():
        st.info(t("models.training"), icon=":material/hourglass_top:")
    else:
        st.info(t(message_key))
