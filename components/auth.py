"""Login against the users table, with sessions kept on the server (``data_access.sessions``).

A password login opens a session: a random 256-bit token, kept by this Streamlit session and, for a refresh or a
new tab, in an HttpOnly, SameSite=Strict cookie that the server sets (``components.web``: the page hands the token
to the cookie route once; the route refuses a token it has seen before). The cookie carries nothing but the token.
Every script run checks the token against ``app_session``, so a logout, a password reset, a disabled account or a
changed role, scope or PII right ends the session in every tab at the next click, and idle and absolute timeouts
apply. A session resumed from the cookie is audited (``session_resume``) as a password login is (``login``).

The key under which tokens are kept is the install's own (``data_access.secret_key``: generated on the first
start, a weak or published one refused in every mode).
"""
from __future__ import annotations

import datetime as dt
import json

import streamlit as st

from data_access import config, secret_key, sessions, users
from data_access.login import attempt as login_attempt
from data_access.demo import ADMIN_PASSWORD, DEMO_PASSWORD, is_demo_bank
from data_access.scope import NOBODY, scope_for_user
from data_access.text import clean

from .i18n import t
from .session import connect, connect_or_raise, engine

TOKEN = "session_token"  # st.session_state key of this Streamlit session's login token
COOKIE_ROUTE = "api/session"  # components.web
LOGOUT_ROUTE = "api/logout"
CLIENT_HEADER = "X-Cockpit-Client"  # components.web


class CookieKeyRefused(RuntimeError):
    """The install's secret key is unusable (``secret_key.SecretRefused``); the message, in the user's language,
    says why and how to make one."""


def cookie_name() -> str:
    return config.setting("COCKPIT_COOKIE_NAME", "credit_cockpit")


def check_secret() -> None:
    """Raise ``CookieKeyRefused`` (translated) unless the install's secret key is usable."""
    try:
        secret_key.secret()
    except secret_key.SecretRefused as exc:
        raise CookieKeyRefused(t("secret.refused", source=exc.source, why=t(f"secret.why.{exc.reason}"),
                                 how=secret_key.HOW_TO_COMMAND)) from exc


@st.cache_data(ttl=30, show_spinner=False)
def _demo_bank(url: str) -> bool:
    with connect_or_raise() as conn:
        return is_demo_bank(conn)


def demo_mode() -> bool:
    """Demo mode (``demo.is_demo_bank``): the setting when there is one, otherwise the database's mark."""
    explicit = config.demo_setting()
    return explicit if explicit is not None else _demo_bank(config.database_url())


def _client() -> dict:
    """What the server tells of the browser: its address (``serve.py``'s middleware puts the connection's peer, or
    behind a trusted proxy the address the proxy saw, in X-Cockpit-Client; Streamlit's own ip_address otherwise)
    and user agent."""
    try:
        ctx = st.context
        addr = ctx.headers.get(CLIENT_HEADER) or ctx.ip_address
        return {"addr": clean(addr, 64) or None, "agent": clean(ctx.headers.get("User-Agent"), 256) or None}
    except Exception:  # noqa: BLE001 - no browser behind this run (AppTest, bare mode)
        return {"addr": None, "agent": None}


def _cookie_token() -> str | None:
    """The token in the login cookie, when it looks like one (anything else, however malformed, is no login)."""
    try:
        value = st.context.cookies.get(cookie_name())
    except Exception:  # noqa: BLE001 - no browser behind this run
        return None
    return value if sessions.well_formed(value) else None


def _forget() -> None:
    for k in (TOKEN, "scope", "username", "name"):
        st.session_state.pop(k, None)


def login() -> bool:
    """True when this run belongs to an open session (this Streamlit session's token, or the cookie's on a refresh or
    a new tab); otherwise show the login form (True once it succeeds)."""
    ss = st.session_state
    token, resumed = ss.get(TOKEN), False
    if not token and not ss.get("logout"):
        token, resumed = _cookie_token(), True
        if token and token == ss.get("dead_cookie"):
            token = None  # already found ended in this browser session: no lookup on every keystroke
    if token:
        client = _client()
        with engine().begin() as conn:
            sess = sessions.check(conn, token)
            if sess and resumed:
                users.audit(conn, sess.username, "session_resume",
                            detail={"session": sess.id, "client": client["addr"], "agent": client["agent"]})
            sc = scope_for_user(conn, sess.username) if sess else NOBODY
        if sess and sc is not NOBODY:
            ss[TOKEN], ss["username"], ss["name"], ss["scope"] = token, sess.username, sess.display_name, sc
            if not sess.cookie_set:  # handed over again on each run until the route took it (a refresh can cut a fetch)
                _cookie_script(COOKIE_ROUTE, token)
            return True
        ended = ss.get(TOKEN) is not None
        if resumed:
            ss["dead_cookie"] = token
        _forget()
        if ended:
            ss["logout"] = True  # the cookie is dead on the server; have the browser drop it too
            st.session_state["session_ended"] = True
    if ss.pop("logout", None):
        _cookie_script(LOGOUT_ROUTE, "")
    with connect():  # a database outage shows its panel now, not after the password has been typed
        pass
    box = st.empty()
    with box.container():
        ok = _login_form()
    if ok:
        box.empty()
        _cookie_script(COOKIE_ROUTE, ss[TOKEN])  # outside the emptied form, so that it stays to run
    return ok


def _cookie_script(route: str, token: str) -> None:
    """Hand the token to the server's cookie route (``components.web``), which answers with the HttpOnly cookie;
    or ask it to delete the cookie. Where the app runs without that route (``streamlit run app.py``), the login
    still holds for this browser tab, a refresh asks for the password again."""
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    url = "/" + "/".join(p for p in (base, route) if p)
    st.html(f"<script>fetch({json.dumps(url)}, {{method: 'POST', credentials: 'same-origin', "
            f"headers: {{'Content-Type': 'text/plain'}}, body: {json.dumps(token)}}}).catch(() => null);</script>",
            unsafe_allow_javascript=True)


def _login_form() -> bool:
    left, mid, right = st.columns([1, 1.6, 1])
    with mid:
        st.markdown(f"### :material/account_balance: {t('app.title')}")
        st.caption(t("login.intro"))
        if st.session_state.pop("password_changed", None):
            st.success(t("account.changed"), icon=":material/key:")
        elif st.session_state.pop("session_ended", None):
            st.info(t("login.session_ended"), icon=":material/schedule:")
        with st.form("login", clear_on_submit=False):
            st.subheader(t("login.title"))
            username = clean(st.text_input(t("login.username"), key="login_username"), 64).lower()
            password = st.text_input(t("login.password"), type="password", key="login_password")
            submitted = st.form_submit_button(t("login.submit"), type="primary", width="stretch")
        if submitted and username:
            client = _client()
            with engine().begin() as conn:
                outcome = login_attempt(conn, username, password, client["addr"], client["agent"])
                sc = scope_for_user(conn, username) if outcome.ok else NOBODY
            if outcome.ok:
                ss = st.session_state
                ss.pop("logout", None)
                ss[TOKEN], ss["username"], ss["scope"] = outcome.token, username, sc
                ss["name"] = users.display_name(engine(), username)
                return True
            # one message for an unknown name, a wrong password and an attempt during a back-off delay
            st.error(t("login.failed"))
        if demo_mode():
            with st.expander(t("login.demo_users"), expanded=True):
                st.markdown(t("login.demo_hint", pw=f"`{DEMO_PASSWORD}`", admin_pw=f"`{ADMIN_PASSWORD}`"))
                st.markdown("`hq_wang` 总行(可见敏感信息) · `hq_li` 总行 · `branch01`…`branch12` 支行行长 · "
                            "`strategy_chen` 策略 · `agency1`…`agency6` 委外机构 · `admin` 管理员")
    return False


def _do_logout() -> None:
    ss = st.session_state
    username, token = ss.get("username"), ss.get(TOKEN)
    with engine().begin() as conn:
        sid = sessions.end_token(conn, token, "logout")
        users.audit(conn, username or "?", "logout", detail={"session": sid})
    _forget()
    ss["logout"] = True  # the login run that follows has the browser drop the cookie


def logout_button() -> None:
    st.sidebar.button(t("login.logout"), key="logout_btn", width="stretch", on_click=_do_logout)


MAX_WRONG_CURRENT = 3  # wrong current passwords in one session before it ends: guessing goes back to the login's back-off


def password_form() -> None:
    """The user's own password change (``users.change_password``), in a sidebar popover: the current password,
    the new one twice. It ends every session of the user, this one included: the login form then asks for the new
    password. A wrong current password is audited (``password_change_refused``); after MAX_WRONG_CURRENT of them
    the session ends, so that a borrowed session cannot guess the password without the login's back-off."""
    ss = st.session_state
    with st.sidebar.popover(t("account.change_password"), icon=":material/key:", width="stretch"):
        with st.form("own_password", clear_on_submit=True):
            current = st.text_input(t("account.current"), type="password", key="pw_current")
            new = st.text_input(t("account.new"), type="password", key="pw_new", help=t("users.reason.password"))
            again = st.text_input(t("account.again"), type="password", key="pw_again")
            submitted = st.form_submit_button(t("account.submit"), type="primary", width="stretch")
        if not submitted:
            return
        if new != again:
            st.error(t("account.mismatch"))
            return
        username = ss.get("username")
        try:
            with engine().begin() as conn:
                users.change_password(conn, username, current, new)
        except users.UserError as exc:
            if exc.key == "current_password":
                ss["pw_wrong"] = ss.get("pw_wrong", 0) + 1
                with engine().begin() as conn:
                    users.audit(conn, username, "password_change_refused", target=username,
                                detail={"wrong_current": ss["pw_wrong"]})
                    if ss["pw_wrong"] >= MAX_WRONG_CURRENT:
                        sessions.end_token(conn, ss.get(TOKEN), "password_guess")
                if ss["pw_wrong"] >= MAX_WRONG_CURRENT:
                    _forget()
                    ss["logout"], ss["session_ended"] = True, True
                    st.rerun()
            st.error(t(f"users.reason.{exc.key}") if exc.key else t("account.failed"))
            return
        _forget()  # change_password ended every session of the user, this one too
        ss["logout"], ss["password_changed"] = True, True
        st.rerun()


def now() -> dt.datetime:
    return dt.datetime.now()
