"""The data-admin page's user panel: every user with role and scope; create, change role and scope, reset the
password, disable or enable — each change audited, refusals explained in the user's language."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from data_access import admin
from data_access.scope import ROLES
from data_access.users import UserError

from .i18n import current_lang, t, translate
from .safe_text import md, t_md
from .session import connect, engine, scope
from .tables import Col, table


def _apply(action, ok_key: str, **fmt) -> None:
    """Run one user change in a transaction; say what happened, never raise."""
    try:
        with engine().begin() as conn:
            action(conn)
    except (UserError, PermissionError) as exc:
        key = getattr(exc, "key", None)
        st.error(t("users.error", reason=t(f"users.reason.{key}") if key else md(exc)))
    else:
        st.success(t_md(ok_key, **fmt))


def users_panel() -> None:
    with connect() as conn:
        df = admin.users_table(conn, scope())
        branches, agencies = admin.scope_choices(conn, scope())
    shown = df.assign(role=[t(f"role.{r}") for r in df["role"]], last_login=df["last_login"].astype(str).str.slice(0, 16)
                      .replace({"None": "", "NaT": ""}),
                      active=[t("users.active") if a else t("users.disabled") for a in df["active"]],
                      can_see_pii=[t("users.yes") if p else "" for p in df["can_see_pii"]])
    table(shown, {c: Col(f"users.col.{c}") for c in ("username", "display_name", "role", "branches", "agency",
                                                     "can_see_pii", "active", "last_login")},
          name="users", height=min(460, 38 + 35 * len(shown)), downloads=False)
    left, right = st.columns(2)
    with left, st.form("user_new", clear_on_submit=True):
        st.markdown(f"**{t('users.new')}**")
        name = st.text_input(t("users.col.username"), max_chars=32, key="nu_name")
        display = st.text_input(t("users.col.display_name"), max_chars=32, key="nu_display")
        role = st.selectbox(t("users.col.role"), ROLES, key="nu_role",
                            format_func=lambda r, lang=current_lang(): translate(f"role.{r}", lang))
        br = st.multiselect(t("users.branches"), list(branches), format_func=branches.get, key="nu_branches",
                            placeholder=t("common.choose"))
        ag = st.selectbox(t("users.agency"), [None, *agencies], format_func=lambda a: agencies.get(a, "—"), key="nu_agency")
        pii = st.checkbox(t("users.pii"), key="nu_pii", help=t("users.pii_help"))
        pw = st.text_input(t("users.password"), type="password", key="nu_pw", help=t("users.password_help"))
        if st.form_submit_button(t("users.create"), type="primary"):
            _apply(lambda c: admin.add_user(c, scope(), name, pw, role, display, br, ag, pii), "users.created",
                   name=name.strip().lower())
    with right:
        st.markdown(f"**{t('users.edit')}**")
        who = st.selectbox(t("users.col.username"), df["username"].tolist(), key="eu_name")
        row = df.set_index("username").loc[who]
        with st.form("user_edit"):
            role = st.selectbox(t("users.col.role"), ROLES, index=ROLES.index(row["role"]),
                                format_func=lambda r, lang=current_lang(): translate(f"role.{r}", lang),
                                key=f"eu_role_{who}")
            br = st.multiselect(t("users.branches"), list(branches), default=[b for b in row["branch_ids"] if b in branches],
                                format_func=branches.get, key=f"eu_branches_{who}", placeholder=t("common.choose"))
            agency_keys = [None, *agencies]
            current = None if pd.isna(row["agency_id"]) else int(row["agency_id"])
            ag = st.selectbox(t("users.agency"), agency_keys, index=agency_keys.index(current) if current in agency_keys else 0,
                              format_func=lambda a: agencies.get(a, "—"), key=f"eu_agency_{who}")
            pii = st.checkbox(t("users.pii"), value=bool(row["can_see_pii"]), key=f"eu_pii_{who}")
            if st.form_submit_button(t("users.save")):
                _apply(lambda c: admin.update_user(c, scope(), who, role, br, ag, pii), "users.saved", name=who)
        with st.form("user_password", clear_on_submit=True):
            pw = st.text_input(t("users.new_password"), type="password", key="eu_pw", help=t("users.password_help"))
            if st.form_submit_button(t("users.reset")):
                _apply(lambda c: admin.reset_password(c, scope(), who, pw), "users.reset_done", name=who)
        if st.button(t("users.unlock"), key="eu_unlock", help=t("users.unlock_help")):
            _apply(lambda c: admin.unlock_user(c, scope(), who), "users.unlock_done", name=who)
        if row["active"]:
            if st.button(t("users.disable"), key="eu_disable"):
                _apply(lambda c: admin.set_user_active(c, scope(), who, False), "users.disabled_done", name=who)
        elif st.button(t("users.enable"), key="eu_enable"):
            _apply(lambda c: admin.set_user_active(c, scope(), who, True), "users.enabled_done", name=who)
