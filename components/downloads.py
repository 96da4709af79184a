"""The one place that offers a file for download. Nothing is built until the user clicks, and building it writes the
audit row (what, filters, rows, purpose) in the same step: no file exists, and so no /media address answers, for
a download nobody asked for, and every file served has its audit row.

Streamlit 1.67 takes a callable as ``st.download_button``'s ``data`` and runs it only when the button is clicked
(``MediaFileManager.add_deferred`` / ``execute_deferred``), on a worker thread outside the page's script run: so
the callable gets everything it needs (engine, user, rows) from the run that drew the button, and reads no session
state. At the click it checks the user again: a session that has ended (logout in another tab, a password reset,
timeout), a user disabled, or one whose role, branches or PII right changed since the page ran gets no file
(Streamlit shows the download as failed), and the refusal is audited.
"""
from __future__ import annotations

from typing import Callable

import streamlit as st

from data_access import sessions, users
from data_access.scope import scope_for_user

from .auth import TOKEN
from .session import engine, scope

# the filter bar's choices (components.filters), recorded with every export as the filters it was made under
FILTER_KEYS = {"f_month": "month", "f_branch": "branch_id", "f_township": "township", "f_village": "village",
               "f_product": "product_id", "f_segment": "segment"}


class ExportRefused(PermissionError):
    """The user's rights changed between drawing the button and clicking it."""


def current_filters() -> dict:
    """The filter bar's current choices (only those set)."""
    out = {}
    for key, name in FILTER_KEYS.items():
        v = st.session_state.get(key)
        if v is not None:
            out[name] = v if isinstance(v, (str, int, float, bool)) else str(v)
    return out


def offer(label: str, build: Callable[[], bytes], *, file_name: str, mime: str, what: str, key: str,
          rows: int | None = None, filters: dict | None = None, purpose: str | None = None,
          customer_id: int | None = None, customers: list | None = None, masked: bool | None = None,
          where=None, **button) -> None:
    """A download button for the file ``build()`` makes, built and audited only when clicked.

    ``what`` names the export in the audit log (its target); ``rows`` is how many records the file holds;
    ``filters`` adds to the filter bar's choices; ``purpose`` is the PII purpose the data was unmasked for;
    ``customers`` the customers named in it unmasked (ids or customer numbers). ``where``: the container to draw
    in (default: st)."""
    sc = scope()
    eng = engine()
    fmt = file_name.rsplit(".", 1)[-1].lower()
    detail = {"format": fmt, "file": file_name, "rows": rows, "filters": {**current_filters(), **(filters or {})}}
    if purpose is not None:
        detail["purpose"] = purpose
    if masked is not None:
        detail["masked"] = masked
    if customers:
        detail["customers"] = [c if isinstance(c, int) else str(c) for c in customers]

    token = st.session_state.get(TOKEN)

    def make() -> bytes:
        with eng.begin() as conn:
            session = sessions.check(conn, token)
            now = scope_for_user(conn, sc.username)
        reason = ("session ended" if session is None or session.username != sc.username
                  else "rights changed since the page was shown" if now != sc else None)
        if reason:
            with eng.begin() as conn:
                users.audit(conn, sc.username, "export_denied", customer_id=customer_id, target=what,
                            detail={**detail, "reason": reason})
            raise ExportRefused(what)
        data = build()
        with eng.begin() as conn:
            users.audit(conn, sc.username, "export", customer_id=customer_id, target=what,
                        detail={**detail, "bytes": len(data)})
        return data

    (where or st).download_button(label, make, file_name=file_name, mime=mime, key=key, on_click="ignore", **button)
