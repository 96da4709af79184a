"""The purpose gate every page uses for a list or view with personal data (data_access.pii decides and audits).

``gated_read(view, fn, ...)`` draws the purpose choice for that list (only for a user whose role may see PII),
reads ``fn`` with a scope that unmasks only for a chosen purpose, and writes the "view_pii" audit row naming the
customers shown, once per distinct showing in the session (a rerun that shows the same rows again is not a new
showing). Until a purpose is chosen the list is masked, for everyone. The choice lives in this session, per list.
"""
from __future__ import annotations

import streamlit as st

from data_access import pii

from .i18n import current_lang, t, translate
from .session import engine, read_scoped, scope

AUDITED = "pii_audited"  # session key: fingerprints of the showings already audited


def choose(view: str, key: str | None = None, where=None) -> str:
    """The purpose chosen for ``view`` in this session ("none" until one is, and always for a user without the
    right, who sees no choice)."""
    if not scope().pii:
        return "none"
    where = where or st.columns([1, 2])[0]  # a third of the width, just above its list
    lang = current_lang()  # bound now: the labels may be drawn again outside this run (AppTest does)
    return where.selectbox(t("c360.purpose"), pii.PURPOSES, key=key or f"pii_purpose_{view}",
                           help=t("c360.purpose_help"), format_func=lambda p: translate(f"c360.purpose.{p}", lang))


def record(view: str, purpose: str, customers) -> None:
    """Audit that ``view`` showed ``customers`` (customer numbers) unmasked for ``purpose`` (once per showing)."""
    if not pii.purpose_scope(scope(), purpose).pii:
        return
    customers = [str(c) for c in customers]
    done = st.session_state.setdefault(AUDITED, set())
    key = pii.shown_key(view, purpose, customers)
    if key in done:
        return
    with engine().begin() as conn:
        pii.audit_shown(conn, scope(), view, purpose, customers)
    done.add(key)


def gated_read(view: str, fn, *args, customer_column: str = "customer_no", key: str | None = None, where=None,
               **kwargs):
    """(frame, purpose): ``fn(conn, scope, *args)`` read for list ``view`` through the purpose gate."""
    purpose = choose(view, key, where)
    df = read_scoped(pii.purpose_scope(scope(), purpose), fn, *args, **kwargs)
    if purpose != "none" and not df.empty:
        record(view, purpose, df[customer_column].dropna().tolist())
    return df, purpose
