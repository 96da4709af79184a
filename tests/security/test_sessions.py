"""Finding 2: sessions live on the server and can be ended. A token is 256 random bits, kept only as its HMAC; every
run checks it; logout, a password reset, disabling and any change of role, scope or PII right end all of the user's
sessions; idle and absolute timeouts; every session start audited. On the code before, the cookie was a stateless
JWT that stayed valid through all of these (the browser tests replay it; these check the rules one by one)."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select

from data_access import admin, schema as s, sessions, users
from data_access.scope import scope_for_user

from ..test_app import app_env, errors, logged_in, session_token  # noqa: F401 - app_env is a fixture

T0 = dt.datetime(2026, 12, 1, 9, 0)


@pytest.fixture(scope="module")
def bank(own_bank):
    return own_bank


def _open(conn, name="hq_li", now=T0):
    return sessions.start(conn, name, "10.0.0.7", "Firefox", now=now)


def test_token_is_random_256_bits_and_stored_only_as_its_hmac(bank):
    with bank.begin() as conn:
        token, sid = _open(conn)
        other, _ = _open(conn)
        row = conn.execute(select(s.app_session).where(s.app_session.c.id == sid)).mappings().one()
    assert len(token) == 43 and token != other
    assert token not in str(dict(row)) and row["token_hash"] != hashlib.sha256(token.encode()).hexdigest()
    assert row["token_hash"] == sessions.token_hash(token)
    assert (row["client_addr"], row["user_agent"], row["expires_at"]) == ("10.0.0.7", "Firefox", T0 + dt.timedelta(hours=12))


def test_idle_timeout_and_absolute_lifetime(bank, monkeypatch):
    with bank.begin() as conn:
        token, sid = _open(conn)
        # used every 25 minutes: alive until the 12 hours are up
        t = T0
        while t + dt.timedelta(minutes=25) < T0 + dt.timedelta(hours=12):
            t += dt.timedelta(minutes=25)
            assert sessions.check(conn, token, now=t) is not None, t
        assert sessions.check(conn, token, now=T0 + dt.timedelta(hours=12)) is None
        assert conn.execute(select(s.app_session.c.end_reason).where(s.app_session.c.id == sid)).scalar() == "expired"
        token, sid = _open(conn)
        assert sessions.check(conn, token, now=T0 + dt.timedelta(minutes=29, seconds=59)) is not None
        assert sessions.check(conn, token, now=T0 + dt.timedelta(minutes=60)) is None  # 30 min 1 s since last seen
        assert conn.execute(select(s.app_session.c.end_reason).where(s.app_session.c.id == sid)).scalar() == "idle"
        # once ended it stays ended, even back inside the window
        assert sessions.check(conn, token, now=T0 + dt.timedelta(minutes=1)) is None
    monkeypatch.setenv("COCKPIT_SESSION_IDLE_MINUTES", "5")
    monkeypatch.setenv("COCKPIT_SESSION_HOURS", "1")
    with bank.begin() as conn:
        token, _ = _open(conn)
        assert sessions.check(conn, token, now=T0 + dt.timedelta(minutes=6)) is None
        token, _ = _open(conn)
        for m in range(4, 60, 4):
            assert sessions.check(conn, token, now=T0 + dt.timedelta(minutes=m)) is not None
        assert sessions.check(conn, token, now=T0 + dt.timedelta(minutes=61)) is None
    with bank.begin() as conn:
        token, _ = _open(conn)
    monkeypatch.setenv("COCKPIT_SESSION_IDLE_MINUTES", "soon")
    with bank.begin() as conn, pytest.raises(Exception, match="COCKPIT_SESSION_IDLE_MINUTES must be a number"):
        sessions.check(conn, token, now=T0)


def _all_open(conn, name: str, n: int = 3) -> list[str]:
    return [sessions.start(conn, name)[0] for _ in range(n)]


CHANGES = ["password", "disable", "role", "scope", "pii", "logout_elsewhere"]


@pytest.mark.parametrize("change", CHANGES)
def test_changes_end_every_session_of_that_user_only(bank, change):
    user = f"branch{CHANGES.index(change) + 1:02d}"  # one user per change: the module's bank is shared
    with bank.begin() as conn:
        actor = scope_for_user(conn, "admin")
        mine = _all_open(conn, user)
        bystander = _all_open(conn, "branch12", 1)
        if change == "password":
            admin.reset_password(conn, actor, user, "Another@2026")
        elif change == "disable":
            admin.set_user_active(conn, actor, user, False)
        elif change == "role":
            admin.update_user(conn, actor, user, "head_office")
        elif change == "scope":
            own = scope_for_user(conn, user).branch_ids
            other = scope_for_user(conn, "branch12").branch_ids
            admin.update_user(conn, actor, user, "branch_leader", sorted(set(own) | set(other)), None, True)
        elif change == "pii":
            admin.update_user(conn, actor, user, "branch_leader", list(scope_for_user(conn, user).branch_ids),
                              None, False)
        else:
            sessions.end_all(conn, user, "logout")
        assert all(sessions.check(conn, tok) is None for tok in mine)
        assert sessions.check(conn, bystander[0]) is not None


def test_saving_a_user_unchanged_keeps_their_sessions(bank):
    with bank.begin() as conn:
        mine = _all_open(conn, "branch11", 1)
        sc = scope_for_user(conn, "branch11")
        admin.update_user(conn, scope_for_user(conn, "admin"), "branch11", "branch_leader", list(sc.branch_ids), None,
                          sc.can_see_pii)
        assert sessions.check(conn, mine[0]) is not None


def test_cookie_can_be_claimed_once_for_an_open_session(bank):
    with bank.begin() as conn:
        token, _ = _open(conn, now=dt.datetime.now())
        assert sessions.claim_cookie(conn, token) is not None
        assert sessions.claim_cookie(conn, token) is None  # replaying the hand-over plants nothing
        ended, _ = _open(conn, now=dt.datetime.now())
        sessions.end_token(conn, ended)
        assert sessions.claim_cookie(conn, ended) is None
        assert sessions.claim_cookie(conn, "x" * 43) is None and sessions.claim_cookie(conn, "<script>") is None


# ---------------------------------------------------------------- the app (AppTest)


def _audit_rows(engine, action: str, username: str) -> list:
    with engine.connect() as conn:
        return conn.execute(select(s.audit_log.c.detail).where(s.audit_log.c.action == action,
                                                               s.audit_log.c.username == username)
                            .order_by(s.audit_log.c.id)).scalars().all()


def _shows_login_form(at) -> bool:
    return not at.title and any(ti.key == "login_username" for ti in at.text_input)


def test_second_tab_after_logout_shows_the_login_form(app_env):
    """Two tabs of one login; after 退出登录 in one, the other's next run (here: a run carrying its token, which is
    what every run of a browser tab is; AppTest reruns a page without the app's frame) shows the login form and
    says why. The browser test clicks in the real second tab."""
    token = session_token("hq_li")
    one, two = logged_in("hq_li", token=token), logged_in("hq_li", token=token)
    assert one.title and two.title
    one.button(key="logout_btn").click().run()
    again = logged_in("hq_li", token=token)
    assert _shows_login_form(again)
    assert any("会话已结束" in i.value for i in again.info)


def test_role_change_ends_the_open_session(app_env):
    token = session_token("branch03")
    assert logged_in("branch03", token=token).title
    with app_env.connect() as conn:
        own = list(scope_for_user(conn, "branch03").branch_ids)
    with app_env.begin() as conn:
        admin.update_user(conn, scope_for_user(conn, "admin"), "branch03", "strategy")
    try:
        assert _shows_login_form(logged_in("branch03", token=token))
    finally:
        with app_env.begin() as conn:  # put it back for the other tests
            admin.update_user(conn, scope_for_user(conn, "admin"), "branch03", "branch_leader", own, None, True)


def test_password_login_opens_an_audited_session(app_env):
    from streamlit.testing.v1 import AppTest
    from ..test_app import APP
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_username").input("hq_li")
    at.text_input(key="login_password").input("Demo@2026")
    at.button[0].click().run()
    assert at.title and not errors(at)
    token = at.session_state["session_token"]
    with app_env.connect() as conn:
        row = conn.execute(select(s.app_session).where(s.app_session.c.token_hash == sessions.token_hash(token))).mappings().one()
    assert row["ended_at"] is None
    import json
    assert json.loads(_audit_rows(app_env, "login", "hq_li")[-1])["session"] == row["id"]


def test_password_check(app_env):
    with app_env.connect() as conn:
        assert users.verify_password(conn, "hq_li", "Demo@2026")
        assert not users.verify_password(conn, "hq_li", "demo@2026")
        assert not users.verify_password(conn, "nobody_here", "Demo@2026")
        assert not users.verify_password(conn, "hq_li", "")
