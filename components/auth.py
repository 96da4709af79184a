"""Login with streamlit-authenticator against the users table, with lock-out and audit.

The library checks the bcrypt hashes and keeps the signed re-login cookie (so
a browser refresh keeps the user logged in); this module feeds it the users
table and the install's own secret key (``data_access.secret_key``: generated on
the first start, a weak or published one refused in every mode), locks an
account for a while after repeated failures and writes every login to the
audit log.
"""
from __future__ import annotations

import datetime as dt

import jwt
import streamlit as st
import streamlit_authenticator as stauth

from data_access import config, secret_key, users
from data_access.demo import is_demo_bank
from data_access.text import clean
from data_access.demo import ADMIN_PASSWORD, DEMO_PASSWORD
from data_access.scope import NOBODY, scope_for_user

from .i18n import t
from .session import connect, connect_or_raise, engine

class CookieKeyRefused(RuntimeError):
    """The install's secret key is unusable (``secret_key.SecretRefused``); the message, in the user's language,
    says why and how to make one."""


def cookie_settings() -> tuple[str, str, float]:
    """(cookie name, key, expiry days) from configuration; the key is the install's own (``secret_key``)."""
    name = config.setting("COCKPIT_COOKIE_NAME", "credit_cockpit")
    days = float(config.setting("COCKPIT_COOKIE_DAYS", "1"))
    try:
        key = secret_key.secret().decode()
    except secret_key.SecretRefused as exc:
        raise CookieKeyRefused(t("secret.refused", source=exc.source, why=t(f"secret.why.{exc.reason}"),
                                 how=secret_key.HOW_TO_COMMAND)) from exc
    return name, key, days


@st.cache_data(ttl=30, show_spinner=False)
def _demo_bank(url: str) -> bool:
    with connect_or_raise() as conn:
        return is_demo_bank(conn)


def demo_mode() -> bool:
    """Demo mode (``demo.is_demo_bank``): the setting when there is one, otherwise the database's mark."""
    explicit = config.demo_setting()
    return explicit if explicit is not None else _demo_bank(config.database_url())


@st.cache_data(ttl=20, show_spinner=False)
def _credentials(url: str) -> dict:
    with connect_or_raise() as conn:
        return users.credentials(conn)


def authenticator() -> stauth.Authenticate:
    name, key, days = cookie_settings()
    return stauth.Authenticate(_credentials(config.database_url()), name, key, days, auto_hash=False)


def _after_login(username: str) -> None:
    with engine().begin() as conn:
        st.session_state["scope"] = scope_for_user(conn, username)


def login(auth: stauth.Authenticate) -> bool:
    """Show the login form unless already logged in (session or cookie). True when logged in."""
    ss = st.session_state
    if not ss.get("authentication_status"):
        token = auth.cookie_controller.get_cookie()
        if token:
            try:
                auth.authentication_controller.login(token=token)
            except Exception:  # noqa: BLE001 - a cookie of a disabled user: fall through to the form
                ss["authentication_status"] = None
    if ss.get("authentication_status") and ss.get("username"):
        with connect() as conn:
            ss["scope"] = scope_for_user(conn, ss["username"])
        if ss["scope"] is NOBODY:  # disabled since the cookie was issued
            ss["authentication_status"] = None
            return False
        return True
    if ss.get("logout"):
        _write_cookie(None)
    box = st.empty()
    with box.container():
        ok = _login_form(auth)
    if ok:
        box.empty()
        _write_cookie(st.session_state["username"])
    return ok


def _write_cookie(username: str | None) -> None:
    """Write (or, for None, delete) the signed re-login cookie in the browser.

    The token is the one streamlit-authenticator's cookie model reads back on a refresh (HS256 JWT of
    username and expiry). It is written by a script in the page itself: the library's cookie component
    lives in an iframe that a rerun can remove before it has run, which loses the login on refresh.
    """
    name, key, days = cookie_settings()
    if username is None:
        js = f"document.cookie = '{name}=; path=/; max-age=0; SameSite=Strict';"
    else:
        exp = (dt.datetime.now() + dt.timedelta(days=days)).timestamp()
        token = jwt.encode({"username": username, "exp_date": exp}, key, algorithm="HS256")
        js = f"document.cookie = '{name}={token}; path=/; max-age={int(days * 86400)}; SameSite=Strict';"
    st.html(f"<script>{js}</script>", unsafe_allow_javascript=True)


def _login_form(auth: stauth.Authenticate) -> bool:
    left, mid, right = st.columns([1, 1.6, 1])
    with mid:
        st.markdown(f"### :material/account_balance: {t('app.title')}")
        st.caption(t("login.intro"))
        with st.form("login", clear_on_submit=False):
            st.subheader(t("login.title"))
            username = clean(st.text_input(t("login.username"), key="login_username"), 64).lower()
            password = st.text_input(t("login.password"), type="password", key="login_password")
            submitted = st.form_submit_button(t("login.submit"), type="primary", width="stretch")
        if submitted and username:
            with engine().begin() as conn:
                until = users.locked_until(conn, username)
            if until:
                st.error(t("login.locked", until=until.strftime("%H:%M")))
            else:
                ok = bool(auth.authentication_controller.login(username, password))
                with engine().begin() as conn:
                    users.record_login(conn, username, ok)
                if ok:
                    st.session_state["logout"] = None
                    _after_login(username)
                    return True
                st.session_state["authentication_status"] = None
                st.error(t("login.failed"))
        if demo_mode():
            with st.expander(t("login.demo_users"), expanded=True):
                st.markdown(t("login.demo_hint", pw=f"`{DEMO_PASSWORD}`", admin_pw=f"`{ADMIN_PASSWORD}`"))
                st.markdown("`hq_wang` 总行(可见敏感信息) · `hq_li` 总行 · `branch01`…`branch12` 支行行长 · "
                            "`strategy_chen` 策略 · `agency1`…`agency6` 委外机构 · `admin` 管理员")
    return False


def _do_logout(auth: stauth.Authenticate) -> None:
    username = st.session_state.get("username")
    auth.authentication_controller.logout()
    with engine().begin() as conn:
        users.audit(conn, username or "?", "logout")
    for k in ("scope", "username", "name", "roles"):
        st.session_state.pop(k, None)
    st.session_state["authentication_status"] = None
    st.session_state["logout"] = True  # the login run that follows deletes the cookie in the browser


def logout_button(auth: stauth.Authenticate) -> None:
    st.sidebar.button(t("login.logout"), key="logout_btn", width="stretch", on_click=_do_logout, args=(auth,))


def now() -> dt.datetime:
    return dt.datetime.now()
