"""The frame around every page: page config, language switch, login gate, user badge, navigation."""
from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from . import auth, navigation
from .i18n import LANGUAGES, current_lang, t
from .safe_text import html_text
from .session import connect, guarded, scope
from .theme import CSS, running_css

FAVICON = Path(__file__).resolve().parent / "favicon.png"

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def configure() -> None:
    st.set_page_config(page_title="信贷管理驾驶舱 Credit Cockpit", page_icon=str(FAVICON), layout="wide",
                       initial_sidebar_state="expanded")
    st.markdown(CSS + running_css(t("app.running"), t("app.choose_files"), t("app.drop_hint")), unsafe_allow_html=True)


def language_switch() -> None:
    lang = current_lang()
    choice = st.sidebar.segmented_control(t("lang.label"), list(LANGUAGES), default=lang, key="lang_switch",
                                          format_func=LANGUAGES.get)
    if choice and choice != lang:
        st.session_state["lang"] = choice
        st.query_params["lang"] = choice
        st.rerun()
    st.session_state["lang"] = lang


def scope_label() -> str:
    sc = scope()
    role = t(f"role.{sc.role}")
    if sc.role == "branch_leader":
        from data_access import queries
        with connect() as conn:
            names = queries.branches(conn, sc)["name"].tolist()
        return f"{role} · {'、'.join(names)}"
    if sc.role == "agency":
        from sqlalchemy import select
        from data_access.schema import agency
        with connect() as conn:
            name = conn.execute(select(agency.c.name).where(agency.c.id == sc.agency_id)).scalar()
        return f"{role} · {name}"
    if sc.role in ("head_office", "strategy"):
        return f"{role} · {t('scope.whole_bank')}"
    return role


def user_badge() -> None:
    name = st.session_state.get("name") or scope().username
    st.sidebar.markdown(f'<div class="user-badge"><b>{html_text(name)}</b><br>{html_text(scope_label())}</div>',
                        unsafe_allow_html=True)


DEMO_BANNER_STYLE = ("background:#fff4d6;border:1px solid #e0b84a;color:#6b4e00;border-radius:6px;"
                     "padding:4px 12px;margin-bottom:8px;font-size:0.88rem")


def demo_banner() -> None:
    """演示模式, on every page and on the login form, whenever demo mode is on (``auth.demo_mode``)."""
    if auth.demo_mode():
        st.markdown(f'<div class="demo-banner" style="{DEMO_BANNER_STYLE}"><b>{html_text(t("demo.banner"))}</b> · '
                    f'{html_text(t("demo.banner_detail"))}</div>', unsafe_allow_html=True)


def run() -> None:
    """Log in, then build the role's navigation and run the chosen page."""
    configure()
    language_switch()
    try:
        auth.check_secret()
    except auth.CookieKeyRefused as exc:
        st.error(str(exc), icon=":material/lock:")
        st.stop()
    state: dict = {}

    def gate() -> None:
        demo_banner()
        state["ok"] = auth.login()
    guarded(gate)
    if not state.get("ok"):
        # a hidden one-page navigation keeps Streamlit from listing the pages/ folder to anonymous visitors
        st.navigation([st.Page(lambda: None, title=t("login.title"), url_path="login")], position="hidden")
        st.stop()
    page = navigation.build(scope().role)
    st.sidebar.caption(t("app.title"))
    user_badge()
    auth.password_form()
    auth.logout_button()
    guarded(page.run)
