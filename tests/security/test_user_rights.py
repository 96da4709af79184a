"""Finding 8, users' rights on PostgreSQL: the app's role could ``UPDATE app_user`` (make itself admin, give itself
PII) and rewrite ``user_branch`` outside any audited path. Now it may only read them; every change of a user goes
through migration 0027's SECURITY DEFINER functions, which check the acting admin and write the audit row in the
same transaction. On the code before, the direct UPDATEs below went through.

The database is set up as deploy/postgres_roles.sql says: an owner role runs the migrations and owns the schema (so
the functions run as a role that is not a superuser), an app role gets the file's grants; the tests connect as the
app role. Role names carry a random suffix: roles are cluster-wide, the databases are not."""
from __future__ import annotations

import json
import os
import uuid

import bcrypt
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from data_access import admin, audit_chain, login, schema as s, sessions, throttle, users
from data_access.scope import Scope, scope_for_user
from data_access.users import UserError

from ..conftest import BACKENDS, PG_URL, _new_database

ROLES_SQL = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "postgres_roles.sql")
ADMIN = Scope(username="admin", role="admin")
PASSWORD = "Rights@2026x"


def _statements(path: str, names: dict[str, str]) -> tuple[list[str], list[str]]:
    """The file's statements, its role and database names replaced, split where it says that the rest is run by
    the owner after the first upgrade: (as the superuser, as the owner)."""
    before, after, part = [], [], None
    part = before
    buf = ""
    for line in open(path, encoding="utf-8"):
        if line.startswith("-- run the rest as cockpit_owner"):
            part = after
        if line.startswith("--") or not line.strip():
            continue
        buf += line
        if line.rstrip().endswith(";"):
            stmt = buf.strip().rstrip(";")
            for old, new in names.items():
                stmt = stmt.replace(old, new)
            part.append(stmt)
            buf = ""
    return before, after


@pytest.fixture(scope="module", params=["postgresql"])
def pg(request, tmp_path_factory):
    """(owner engine, app engine) on a fresh demo bank set up by deploy/postgres_roles.sql; PostgreSQL only (the test
    ids say so, as the other backend-parametrised tests' do)."""
    if request.param not in BACKENDS:
        pytest.skip("PostgreSQL only: COCKPIT_TEST_PG_URL is not set")
    from data_access import demo
    from data_access.engine import make_engine
    from data_access.migrate import upgrade
    url, drop = _new_database("postgresql", tmp_path_factory)
    suffix = uuid.uuid4().hex[:8]
    owner_role, app_role = f"cockpit_owner_{suffix}", f"cockpit_app_{suffix}"
    database = make_url(url).database
    names = {"cockpit_owner": owner_role, "cockpit_app": app_role, "DATABASE cockpit": f'DATABASE "{database}"',
             ":owner_password": "NULL", ":app_password": "NULL"}
    as_superuser, as_owner = _statements(ROLES_SQL, names)
    assert any("app_user_change_password" in x for x in as_owner)  # the file grants the functions
    su = create_engine(url)
    with su.begin() as conn:
        for stmt in as_superuser:
            conn.execute(text(stmt))
    owner = make_engine(make_url(url).set(username=owner_role, password=None).render_as_string(hide_password=False))
    app = create_engine(make_url(url).set(username=app_role, password=None))
    try:
        upgrade(owner)  # the schema, and the functions, are the owner's
        demo.generate(owner, size="tiny", seed=8, progress=False)
        with owner.begin() as conn:
            for stmt in as_owner:
                conn.execute(text(stmt))
        with su.connect() as conn:
            functions = dict(conn.execute(text(
                "SELECT p.proname, pg_get_userbyid(p.proowner) FROM pg_proc p "
                "WHERE p.proname LIKE 'app_user_%' AND p.prosecdef")).all())
        assert set(functions) >= {"app_user_create", "app_user_update", "app_user_reset_password",
                                  "app_user_set_active", "app_user_unlock", "app_user_change_password"}
        assert set(functions.values()) == {owner_role}  # SECURITY DEFINER as the schema's owner, not a superuser
        yield owner, app
    finally:
        app.dispose()
        owner.dispose()
        su.dispose()
        drop()
        with create_engine(PG_URL, isolation_level="AUTOCOMMIT").connect() as conn:
            for role in (app_role, owner_role):
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))


def _uid(conn, name: str) -> int:
    return conn.execute(select(s.app_user.c.id).where(s.app_user.c.username == name)).scalar_one()


def _audit_count(conn) -> int:
    return conn.execute(select(func.count()).select_from(s.audit_log)).scalar_one()


def _last_audit(conn):
    return conn.execute(select(s.audit_log.c.username, s.audit_log.c.action, s.audit_log.c.target,
                               s.audit_log.c.detail).order_by(s.audit_log.c.id.desc()).limit(1)).one()


# ---------------------------------------------------------------- (a) no direct write
@pytest.mark.parametrize("stmt", [
    "UPDATE app_user SET role = 'admin' WHERE username = 'branch02'",
    "UPDATE app_user SET can_see_pii = true WHERE username = 'hq_li'",
    "UPDATE app_user SET agency_id = 2 WHERE username = 'agency1'",
    "UPDATE app_user SET active = true WHERE username = 'branch02'",
    "UPDATE app_user SET password_hash = 'x' WHERE username = 'admin'",  # then log in as admin: not silently
    "UPDATE app_user SET display_name = 'x' WHERE username = 'admin'",
    "INSERT INTO app_user (username, display_name, password_hash, role, can_see_pii, active, failed_logins, "
    "created_at) VALUES ('mole', 'mole', 'x', 'admin', true, true, 0, now())",
    "DELETE FROM app_user WHERE username = 'strategy_chen'",
    "TRUNCATE user_branch",
    "INSERT INTO user_branch (user_id, branch_id) SELECT u.id, o.id FROM app_user u, org_unit o "
    "WHERE u.username = 'branch02' AND o.level = 'branch'",
    "UPDATE user_branch SET branch_id = branch_id",
    "DELETE FROM user_branch",
    "SELECT app_user_end_sessions(1, 'x')",  # the functions' helpers are not the app's to call
    "SELECT app_user_clear_backoff('admin')",
])
def test_the_app_role_cannot_write_users_rights_directly(pg, stmt):
    owner, app = pg
    with pytest.raises(DBAPIError, match="permission denied"), app.begin() as conn:
        conn.execute(text(stmt))
    with app.connect() as conn:
        sc = scope_for_user(conn, "branch02")
        assert sc.role == "branch_leader" and len(sc.branch_ids) == 1
        assert not scope_for_user(conn, "hq_li").can_see_pii


def test_the_direct_python_path_is_refused_as_the_app_role(pg):
    """users.create_user / set_active write the rows themselves (the CLI's bootstrap, run as the owner): as the app's
    role the database refuses them."""
    owner, app = pg
    with pytest.raises(DBAPIError, match="permission denied"), app.begin() as conn:
        users.create_user(conn, "mole", PASSWORD, "admin")
    with pytest.raises(DBAPIError, match="permission denied"), app.begin() as conn:
        users.set_active(conn, "strategy_chen", False)


# ---------------------------------------------------------------- (b) the admin path, audited in the same transaction
def test_admin_changes_as_the_app_role_each_write_one_audit_row(pg):
    owner, app = pg
    name = f"u{uuid.uuid4().hex[:6]}"
    with app.connect() as conn:
        branches, agencies = admin.scope_choices(conn, ADMIN)
    b1, b2 = list(branches)[:2]
    changes = [
        ("user_create", lambda c: admin.add_user(c, ADMIN, name, PASSWORD, "branch_leader", "新行长", [b1])),
        ("user_update", lambda c: admin.update_user(c, ADMIN, name, "branch_leader", [b2, b1, b2], None, True)),
        ("user_password_reset", lambda c: admin.reset_password(c, ADMIN, name, "Second@2026x")),
        ("user_unlock", lambda c: admin.unlock_user(c, ADMIN, name)),
        ("user_disable", lambda c: admin.set_user_active(c, ADMIN, name, False)),
        ("user_enable", lambda c: admin.set_user_active(c, ADMIN, name, True)),
        ("user_update", lambda c: admin.update_user(c, ADMIN, name, "agency", [b1], 1, True)),
    ]
    for action, change in changes:
        with app.begin() as conn:
            before = _audit_count(conn)
            change(conn)
            # written by the function, in this transaction: visible here before the commit, exactly one
            assert _audit_count(conn) == before + 1, action
            row = _last_audit(conn)
            assert (row.username, row.action, row.target) == ("admin", action, name)
    with app.connect() as conn:
        sc = scope_for_user(conn, name)
        assert (sc.role, sc.agency_id, sc.can_see_pii, sc.branch_ids) == ("agency", 1, False, frozenset())
        h = conn.execute(select(s.app_user.c.password_hash).where(s.app_user.c.username == name)).scalar()
        assert bcrypt.checkpw(b"Second@2026x", h.encode())
        rows = conn.execute(select(s.audit_log.c.action, s.audit_log.c.detail)
                            .where(s.audit_log.c.target == name).order_by(s.audit_log.c.id)).all()
        assert [r.action for r in rows] == [a for a, _ in changes]
        # what the function did, as stored: branches deduplicated and sorted, no PII for an agency user
        assert json.loads(rows[1].detail) == {"from": "branch_leader", "role": "branch_leader",
                                              "branches": sorted([b1, b2]), "agency_id": None, "pii": True}
        assert json.loads(rows[-1].detail) == {"from": "branch_leader", "role": "agency", "branches": [],
                                               "agency_id": 1, "pii": False}
        assert audit_chain.verify(conn).ok


def test_a_change_and_its_audit_row_roll_back_together(pg):
    owner, app = pg
    with app.connect() as conn:
        before = _audit_count(conn)
    with pytest.raises(RuntimeError), app.begin() as conn:
        admin.update_user(conn, ADMIN, "strategy_chen", "head_office", can_see_pii=True)
        raise RuntimeError("the page fails after the change")
    with app.connect() as conn:
        assert scope_for_user(conn, "strategy_chen").role == "strategy" and _audit_count(conn) == before


def test_a_change_of_rights_ends_the_users_sessions_as_the_app_role(pg):
    owner, app = pg
    with app.begin() as conn:
        token, _ = sessions.start(conn, "branch03")
        other, _ = sessions.start(conn, "branch04")
        own = sorted(scope_for_user(conn, "branch03").branch_ids)
    with app.begin() as conn:
        admin.update_user(conn, ADMIN, "branch03", "branch_leader", own, None, False)  # PII taken away
    with app.begin() as conn:
        assert sessions.check(conn, token) is None and sessions.check(conn, other) is not None
        assert conn.execute(select(s.app_session.c.end_reason).where(s.app_session.c.ended_at.is_not(None),
                                                                     s.app_session.c.user_id == _uid(conn, "branch03"))
                            ).scalar() == "role"


def test_the_python_checks_still_answer_first(pg):
    """Refusals keep their messages (UserError keys): they are decided before the function is called."""
    owner, app = pg
    for call, key in ((lambda c: admin.add_user(c, ADMIN, "hq_wang", PASSWORD, "head_office"), "exists"),
                      (lambda c: admin.update_user(c, ADMIN, "nobody_here", "strategy"), "unknown"),
                      (lambda c: admin.reset_password(c, ADMIN, "nobody_here", PASSWORD), "unknown"),
                      (lambda c: admin.update_user(c, ADMIN, "hq_li", "branch_leader"), "branch"),
                      (lambda c: admin.set_user_active(c, ADMIN, "admin", False), "self")):
        with pytest.raises(UserError) as err, app.begin() as conn:
            call(conn)
        assert err.value.key == key


# ---------------------------------------------------------------- (c) not an enabled admin: refused, nothing written
FORGED = {  # a compromised app calling the functions in the name of someone who is not an enabled admin
    "create": "SELECT app_user_create(p_actor => :actor, p_username => 'mole', p_display_name => 'mole', "
              "p_password_hash => 'x', p_role => 'admin', p_branch_ids => '{}', p_agency_id => NULL, "
              "p_can_see_pii => true)",
    "update": "SELECT app_user_update(p_actor => :actor, p_username => :actor, p_role => 'admin', "
              "p_branch_ids => '{}', p_agency_id => NULL, p_can_see_pii => true, p_display_name => NULL)",
    "pii": "SELECT app_user_update(p_actor => :actor, p_username => 'branch05', p_role => 'branch_leader', "
           "p_branch_ids => ARRAY(SELECT id FROM org_unit WHERE level = 'branch'), p_agency_id => NULL, "
           "p_can_see_pii => true, p_display_name => NULL)",
    "reset_password": "SELECT app_user_reset_password(p_actor => :actor, p_username => 'admin', p_password_hash => 'x')",
    "disable": "SELECT app_user_set_active(p_actor => :actor, p_username => 'admin', p_active => false)",
    "unlock": "SELECT app_user_unlock(p_actor => :actor, p_username => 'admin')",
}


@pytest.mark.parametrize("actor", ["hq_wang", "nobody", "admin2_disabled", ""])
@pytest.mark.parametrize("what", list(FORGED))
def test_a_function_refuses_an_actor_who_is_not_an_enabled_admin(pg, what, actor):
    owner, app = pg
    if actor == "admin2_disabled":
        with app.begin() as conn:
            if conn.execute(select(s.app_user.c.id).where(s.app_user.c.username == actor)).first() is None:
                admin.add_user(conn, ADMIN, actor, PASSWORD, "admin")
                admin.set_user_active(conn, ADMIN, actor, False)
    with app.connect() as conn:
        before_audit = _audit_count(conn)
        before = conn.execute(select(s.app_user).order_by(s.app_user.c.id)).all()
        before_branches = conn.execute(select(s.user_branch).order_by(*s.user_branch.c)).all()
    with pytest.raises(DBAPIError, match="only an enabled administrator changes users"), app.begin() as conn:
        conn.execute(text(FORGED[what]), {"actor": actor})
    with app.connect() as conn:
        assert _audit_count(conn) == before_audit
        assert conn.execute(select(s.app_user).order_by(s.app_user.c.id)).all() == before
        assert conn.execute(select(s.user_branch).order_by(*s.user_branch.c)).all() == before_branches


def test_a_forged_admin_scope_in_python_is_refused_by_the_database(pg):
    """The Python check trusts the Scope it is given; the database checks the actor against app_user."""
    owner, app = pg
    forged = Scope(username="hq_wang", role="admin")
    with pytest.raises(DBAPIError, match="only an enabled administrator"), app.begin() as conn:
        admin.update_user(conn, forged, "hq_wang", "admin")
    with app.connect() as conn:
        assert scope_for_user(conn, "hq_wang").role == "head_office"


# ---------------------------------------------------------------- (d) what a user does themself still works
def test_login_bookkeeping_and_own_password_change_as_the_app_role(pg):
    owner, app = pg
    with app.begin() as conn:
        admin.reset_password(conn, ADMIN, "branch06", PASSWORD)
    with app.begin() as conn:  # a wrong password: counted (login_throttle) and audited
        assert not login.attempt(conn, "branch06", "wrong-password", "10.2.2.2", "pytest").ok
    with app.begin() as conn:
        assert throttle.state(conn, "branch06")[0] == 1
        ok = login.attempt(conn, "branch06", PASSWORD, "10.2.2.2", "pytest")
        assert ok.ok and sessions.check(conn, ok.token) is not None
    with pytest.raises(UserError) as err, app.begin() as conn:
        users.change_password(conn, "branch06", "not-the-password", "Third@2026x")
    assert err.value.key == "current_password"
    with app.begin() as conn:
        before = _audit_count(conn)
        users.change_password(conn, "branch06", PASSWORD, "Third@2026x")
        assert _audit_count(conn) == before + 1
        row = _last_audit(conn)
        assert (row.username, row.action, row.target) == ("branch06", "password_change", "branch06")
        assert sessions.check(conn, ok.token) is None  # every session of the user ends
    with app.begin() as conn:
        assert not login.attempt(conn, "branch06", PASSWORD, "10.2.2.3", "pytest").ok
        again = login.attempt(conn, "branch06", "Third@2026x", "10.2.2.3", "pytest")
        assert again.ok
        assert sessions.end_token(conn, again.token) is not None  # logout
        assert audit_chain.verify(conn).ok


def test_own_password_change_needs_an_enabled_account_in_the_database(pg):
    owner, app = pg
    with app.begin() as conn:
        admin.add_user(conn, ADMIN, "leaver", PASSWORD, "strategy")
        admin.set_user_active(conn, ADMIN, "leaver", False)
    with pytest.raises(DBAPIError, match="no enabled user"), app.begin() as conn:
        conn.execute(text("SELECT app_user_change_password(p_username => 'leaver', p_password_hash => 'x')"))


def test_own_password_change_on_every_backend(empty_engine):
    with empty_engine.begin() as conn:
        users.create_user(conn, "root", PASSWORD, "admin")
        token, _ = sessions.start(conn, "root")
    with pytest.raises(UserError) as err, empty_engine.begin() as conn:
        users.change_password(conn, "root", PASSWORD, "short")
    assert err.value.key == "password"
    with empty_engine.begin() as conn:
        users.change_password(conn, "root", PASSWORD, "Fourth@2026x")
        assert sessions.check(conn, token) is None
        assert _last_audit(conn).action == "password_change"
    with empty_engine.connect() as conn:
        assert users.verify_password(conn, "root", "Fourth@2026x") and not users.verify_password(conn, "root", PASSWORD)
