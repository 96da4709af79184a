"""Every page as every role that sees it, in Chinese and English: nothing raw reaches the screen (issue #18).

The rules are in tests/rendered.py (None/nan/NaT/True/False, HTML tags, setting and module names, shell
commands, 'pp' and snake_case codes in Chinese, log or secondary axes without a tick format, multiselects
without a placeholder)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components.navigation import PAGES, pages_for
from data_access.scope import scope_for_user
from tests.rendered import findings
from tests.test_app import APP, ROLES_USERS, app_env, session_token  # noqa: F401 - the fixture

ROLE_OF = {u: r for r, u in ROLES_USERS.items()}
CASES = [(role, p.key, p.path) for role in ROLES_USERS for p in PAGES if role in p.roles]


def render(username: str, path: str, lang: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["session_token"] = session_token(username)  # a real server-side session, as a browser has
    at.session_state["lang"] = lang
    at.run()
    # the shell draws the running indicator on every run of app.py; AppTest's switch_page runs the page alone
    at.cockpit_running = _running(at, lang)
    if path != pages_for(ROLE_OF[username])[0].path:  # the role's first page is the one the login opens
        at.switch_page(path).run()
    return at


def _running(at: AppTest, lang: str) -> bool:
    from components.i18n import translate
    return any('data-test-script-state="running"' in m.value and translate("app.running", lang) in m.value
               for m in at.markdown)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("role,key,path", CASES, ids=[f"{r}-{k}" for r, k, _ in CASES])
def test_page_shows_nothing_raw(app_env, role, key, path, lang):  # noqa: F811
    from sqlalchemy import select
    from data_access.schema import app_user
    with app_env.connect() as conn:
        logins = set(conn.execute(select(app_user.c.username)).scalars())  # names people sign in with, not codes
    at = render(ROLES_USERS[role], path, lang)
    assert not at.exception, at.exception
    # a running page says so: Streamlit's own status widget is not drawn under client.toolbarMode "minimal"
    assert at.cockpit_running or _running(at, lang), "no running indicator"
    codes = key != "data_admin"  # the import format names tables and columns for the administrator who fills them
    if key == "data_admin":  # the audit log shows what users typed (a search for "NaN" is denied and logged as typed)
        import re
        from data_access.schema import audit_log
        with app_env.connect() as conn:
            typed = conn.execute(select(audit_log.c.target).where(audit_log.c.action == "view_denied")).scalars()
            logins |= {w for v in typed if v for w in re.findall(r"\w+", v)}
    found = findings(at, lang, logins, codes)
    if key == "customer_360":  # the empty search first, then a customer with loans, cases and actions
        from data_access.schema import collection_action, collection_case, customer
        with app_env.connect() as conn:
            sc = scope_for_user(conn, ROLES_USERS[role])
            no = conn.execute(select(customer.c.customer_no).join(collection_case,
                                                                  collection_case.c.customer_id == customer.c.id)
                              .join(collection_action, collection_action.c.case_id == collection_case.c.id)
                              .where(sc.row_clause(customer.c.branch_id)).limit(1)).scalar()
        at.text_input(key="c360_query").input(no).run()
        assert not at.exception, at.exception
        found += [f"[{no}] {x}" for x in findings(at, lang, logins, codes)]
    if key == "strategy_lab":  # its simulators run only in their open tab: open each one
        for label in [tab.label for tab in at.tabs][1:]:
            at.session_state["lab_tab"] = label
            at.run()
            assert not at.exception, (label, at.exception)
            found += [f"[{label}] {x}" for x in findings(at, lang, logins, codes)]
    assert found == [], f"{role} {key} {lang}:\n" + "\n".join(found)


def test_filters_are_drawn_anew_in_the_new_language_with_the_choice_kept(app_env):  # noqa: F811
    """After a language switch the open page kept 全部 and 2026年10月 in its filters (#18): Streamlit keeps a box's
    shown text with its key, so each language has its own widget, the choice carried over."""
    at = render("hq_wang", "pages/overview.py", "zh")
    month = at.selectbox(key="f_month")
    month.select_index(1).run()
    chosen = at.selectbox(key="f_month").value
    at.session_state["lang"] = "en"
    at.run()
    box = at.selectbox(key="f_month__en")
    assert box.value == chosen  # the same month, now drawn in English
    assert all("年" not in o for o in box.proto.options) and box.proto.options[1].split()[0].isalpha()
    branch = at.selectbox(key="f_branch__en")
    assert branch.proto.options[0] == "All" and branch.value is None
