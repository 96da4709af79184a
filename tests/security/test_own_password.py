"""A user changes their own password in the app (the sidebar's 修改密码): the current one must be right and the new
one typed twice and follow the rule; the change ends every session of the user, this one too, and the login form
then says so; a wrong current password is audited, and a few of them end the session, so a borrowed session cannot
guess the password without the login's back-off. On the code before, no page offered the change at all."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from data_access import admin, schema as s, sessions, users
from data_access.scope import scope_for_user
from components.auth import MAX_WRONG_CURRENT

from ..test_app import app_env, errors, logged_in, session_token  # noqa: F401 - app_env is a fixture

OLD, NEW = "Start@2026a", "Fresh@2026b"


@pytest.fixture()
def user(app_env):
    """A user of this test alone: the demo users' passwords stay as the other tests expect them."""
    name = f"pw{len(_rows(app_env, 'user_create', 'admin'))}"
    with app_env.begin() as conn:
        admin.add_user(conn, scope_for_user(conn, "admin"), name, OLD, "head_office")
    return name


def _rows(engine, action: str, username: str) -> list:
    with engine.connect() as conn:
        return conn.execute(select(s.audit_log.c.detail).where(s.audit_log.c.action == action,
                                                               s.audit_log.c.username == username)).scalars().all()


def _change(at, current: str, new: str, again: str | None = None):
    at.text_input(key="pw_current").input(current)
    at.text_input(key="pw_new").input(new)
    at.text_input(key="pw_again").input(new if again is None else again)
    next(b for b in at.button if b.label == "确认修改").click().run()
    return at


def _open(name: str):
    # a page switched to, as the other AppTest flows do: a rerun of the default page would skip the app's frame
    return logged_in(name, "pages/portfolio_risk.py")


def _on_login_form(at) -> bool:
    return not at.title and any(ti.key == "login_username" for ti in at.text_input)


def _password_is(engine, name: str, password: str) -> bool:
    with engine.connect() as conn:
        return users.verify_password(conn, name, password)


def test_own_password_change_ends_every_session_and_the_new_one_logs_in(app_env, user):
    other_tab = session_token(user)
    at = _change(_open(user), OLD, NEW)
    assert _on_login_form(at) and any("密码已修改" in x.value for x in at.success)
    assert _password_is(app_env, user, NEW) and not _password_is(app_env, user, OLD)
    assert _on_login_form(logged_in(user, token=other_tab))  # the other tab's session ended too
    assert len(_rows(app_env, "password_change", user)) == 1
    with app_env.connect() as conn:
        assert sessions.check(conn, other_tab) is None


@pytest.mark.parametrize("current,new,again,message", [
    (OLD, NEW, NEW + "x", "两次输入的新密码不一致"),
    (OLD, "short1", None, "密码至少8位"),
    (OLD, "onlyletters", None, "密码至少8位"),
    ("Wrong@2026", NEW, None, "当前密码不正确"),
])
def test_a_refused_change_says_why_and_changes_nothing(app_env, user, current, new, again, message):
    at = _change(_open(user), current, new, again)
    assert at.title, "still logged in"
    assert any(message in e for e in errors(at))
    assert _password_is(app_env, user, OLD)
    assert _rows(app_env, "password_change", user) == []


def test_wrong_current_passwords_are_audited_and_end_the_session(app_env, user):
    at = _open(user)
    for n in range(1, MAX_WRONG_CURRENT + 1):
        _change(at, f"Guess@{n}xyz", NEW)
        refused = [json.loads(d) for d in _rows(app_env, "password_change_refused", user)]
        assert refused[-1]["wrong_current"] == n
        assert at.title if n < MAX_WRONG_CURRENT else _on_login_form(at)
    token = at.session_state["session_token"] if "session_token" in at.session_state else None
    assert token is None
    assert _password_is(app_env, user, OLD)
