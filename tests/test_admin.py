"""Data admin: users and their scopes (last-admin rule), the audit viewer's filters, an audit log nobody can change
(the app, the app's PostgreSQL role, even the owner), the admin page, and a database that goes down and comes back."""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import uuid

import bcrypt
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from streamlit.testing.v1 import AppTest

from data_access import admin, schema as s
from data_access.scope import Scope, scope_for_user
from data_access.users import UserError

from .conftest import PG_URL
from .test_app import APP, app_env, errors, logged_in  # noqa: F401 - app_env is a fixture

ADMIN = Scope(username="admin", role="admin")


def _audit(engine, action, target):
    with engine.connect() as conn:
        return conn.execute(select(s.audit_log.c.username, s.audit_log.c.detail)
                            .where(s.audit_log.c.action == action, s.audit_log.c.target == target)
                            .order_by(s.audit_log.c.id.desc())).first()


def test_admin_creates_scopes_resets_and_disables_users(demo_engine):
    name = f"u{uuid.uuid4().hex[:8]}"
    with demo_engine.begin() as conn:
        branches, agencies = admin.scope_choices(conn, ADMIN)
        b1, b2 = list(branches)[:2]
        admin.add_user(conn, ADMIN, name.upper(), "Start2026x", "branch_leader", "新行长", [b1])
    with demo_engine.connect() as conn:
        sc = scope_for_user(conn, name)  # usernames are kept lower-case
        assert sc.role == "branch_leader" and sc.branch_ids == {b1}
    assert _audit(demo_engine, "user_create", name).username == "admin"
    with demo_engine.begin() as conn:
        admin.update_user(conn, ADMIN, name, "branch_leader", [b1, b2], can_see_pii=True)
    with demo_engine.connect() as conn:
        sc = scope_for_user(conn, name)
        assert sc.branch_ids == {b1, b2} and sc.pii
        table = admin.users_table(conn, ADMIN).set_index("username")
        assert table.loc[name, "branch_ids"] == sorted([b1, b2]) and table.loc[name, "branches"]
    with demo_engine.begin() as conn:
        admin.update_user(conn, ADMIN, name, "strategy", [b1], can_see_pii=True)  # strategy: no branches, no PII
        admin.reset_password(conn, ADMIN, name, "NewPass2026")
    with demo_engine.connect() as conn:
        sc = scope_for_user(conn, name)
        h = conn.execute(select(s.app_user.c.password_hash).where(s.app_user.c.username == name)).scalar()
        assert conn.execute(select(func.count()).select_from(s.user_branch).join(
            s.app_user, s.app_user.c.id == s.user_branch.c.user_id).where(s.app_user.c.username == name)).scalar() == 0
    assert sc.role == "strategy" and not sc.pii and bcrypt.checkpw(b"NewPass2026", h.encode())
    assert json.loads(_audit(demo_engine, "user_update", name).detail)["from"] == "branch_leader"
    with demo_engine.begin() as conn:
        admin.set_user_active(conn, ADMIN, name, False)
    with demo_engine.connect() as conn:
        assert scope_for_user(conn, name).role == "none"
    assert _audit(demo_engine, "user_disable", name)


@pytest.mark.parametrize("call, message", [
    (lambda c: admin.add_user(c, ADMIN, "x", "Start2026x", "head_office"), "3–32"),
    (lambda c: admin.add_user(c, ADMIN, "robert'); drop table--", "Start2026x", "head_office"), "3–32"),
    (lambda c: admin.add_user(c, ADMIN, "newbie", "short", "head_office"), "8 characters"),
    (lambda c: admin.add_user(c, ADMIN, "newbie", "longbutnodigits", "head_office"), "letters and digits"),
    (lambda c: admin.add_user(c, ADMIN, "hq_wang", "Start2026x", "head_office"), "already exists"),
    (lambda c: admin.add_user(c, ADMIN, "newbie", "Start2026x", "branch_leader"), "branch"),
    (lambda c: admin.add_user(c, ADMIN, "newbie", "Start2026x", "agency"), "agency"),
    (lambda c: admin.add_user(c, ADMIN, "newbie", "Start2026x", "king"), "role"),
    (lambda c: admin.update_user(c, ADMIN, "nobody_here", "strategy"), "no user"),
    (lambda c: admin.set_user_active(c, ADMIN, "admin", False), "your own"),
])
def test_bad_user_changes_are_refused_and_write_nothing(demo_engine, call, message):
    with demo_engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(s.app_user)).scalar()
    with pytest.raises(UserError, match=message), demo_engine.begin() as conn:
        call(conn)
    with demo_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.app_user)).scalar() == before


def test_the_last_admin_stays(empty_engine):
    from data_access.users import create_user
    with empty_engine.begin() as conn:
        create_user(conn, "root", "Start2026x", "admin")
    other = Scope(username="root2", role="admin")  # acting as someone else, so that 'your own' does not apply
    for change in (lambda c: admin.set_user_active(c, other, "root", False),
                   lambda c: admin.update_user(c, other, "root", "head_office")):
        with pytest.raises(UserError, match="last active admin"), empty_engine.begin() as conn:
            change(conn)
    with empty_engine.begin() as conn:
        # by root: an actor that is not (yet) an enabled admin changes nobody (on PostgreSQL the database refuses it)
        admin.add_user(conn, Scope(username="root", role="admin"), "root2", "Start2026x", "admin")
        admin.update_user(conn, other, "root", "head_office")  # now there is another admin
    with empty_engine.connect() as conn:
        assert scope_for_user(conn, "root").role == "head_office"


@pytest.mark.parametrize("role", ["head_office", "branch_leader", "strategy", "agency", "none"])
def test_only_admins_administer(demo_engine, role):
    actor = Scope(username="hq_wang", role=role, branch_ids=frozenset({2}), agency_id=1)
    calls = [lambda c: admin.users_table(c, actor), lambda c: admin.audit_log(c, actor),
             lambda c: admin.audit_chain_state(c, actor), lambda c: admin.verify_audit_chain(c, actor),
             lambda c: admin.add_user(c, actor, "sneaky", "Start2026x", "admin"),
             lambda c: admin.update_user(c, actor, actor.username, "admin"),
             lambda c: admin.reset_password(c, actor, "admin", "Start2026x"),
             lambda c: admin.set_user_active(c, actor, "admin", False), lambda c: admin.freshness(c, actor)]
    for call in calls:
        with pytest.raises(PermissionError), demo_engine.begin() as conn:
            call(conn)
    with demo_engine.connect() as conn:
        assert scope_for_user(conn, "admin").role == "admin"


def test_audit_viewer_filters(empty_engine):
    from data_access.users import audit
    with empty_engine.begin() as conn:
        audit(conn, "ann", "view_customer", customer_id=7)
        audit(conn, "ann", "export", target="loans")
        audit(conn, "bob", "view_customer", customer_id=8)
        audit(conn, "old", "login")
    with empty_engine.connect() as conn:
        f = lambda **kw: admin.audit_log(conn, ADMIN, **kw)  # noqa: E731
        assert set(f(username="ann")["action"]) == {"view_customer", "export"}
        assert f(customer_id=8)["username"].tolist() == ["bob"]
        assert len(f(action="view_customer")) == 2
        # the database dates every row (migration 0019: no back-dated row can be written), so the window is the
        # rows' own day: both ends inclusive, the day before and the day after empty
        day = conn.execute(select(s.audit_log.c.at).where(s.audit_log.c.username == "old")).scalar().date()
        assert f(date_from=day, date_to=day)["username"].tolist() == ["old", "bob", "ann", "ann"]
        assert f(date_to=day - dt.timedelta(days=1)).empty and f(date_from=day + dt.timedelta(days=1)).empty
        assert f(username="ann' OR '1'='1").empty  # a filter is a value, never SQL
        assert "export" in admin.audit_actions(conn, ADMIN)


def test_audit_rows_cannot_be_changed_even_by_the_owner(demo_engine):
    with demo_engine.begin() as conn:
        from data_access.users import audit
        audit(conn, "keeper", "export", target="immutability")
    for stmt in ("UPDATE audit_log SET username = 'x' WHERE target = 'immutability'",
                 "DELETE FROM audit_log WHERE target = 'immutability'"):
        with pytest.raises(DBAPIError, match="append-only"), demo_engine.begin() as conn:
            conn.execute(text(stmt))
    assert _audit(demo_engine, "export", "immutability").username == "keeper"


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL grants")
def test_postgres_app_role_per_the_documented_grants(empty_engine):
    """deploy/postgres_roles.sql: the app's role reads and writes the app's tables, may add audit rows, and is
    refused any change to them by a permission error (before the trigger is even reached)."""
    if empty_engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    from data_access import audit_chain
    from data_access.users import audit
    role = f"cockpit_app_{uuid.uuid4().hex[:8]}"
    sql = open(os.path.join(os.path.dirname(__file__), "..", "deploy", "postgres_roles.sql")).read()
    grants = [line for line in sql.splitlines() if line.startswith(("GRANT", "REVOKE")) and "cockpit_app" in line
              and "DATABASE" not in line and "cockpit_owner" not in line]
    assert len(grants) >= 4
    with empty_engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        for g in grants:
            conn.execute(text(g.replace("cockpit_app", role)))
    url = make_url(empty_engine.url.render_as_string(hide_password=False)).set(username=role, password=None)
    app = create_engine(url)
    try:
        with app.begin() as conn:
            audit(conn, "app", "login")  # the app's own path: content columns only
            conn.execute(text("SELECT count(*) FROM customer")).scalar()
        for stmt in ("UPDATE audit_log SET username = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                     # id, time and hashes are the database's: the role may not even name them (#15, finding 8)
                     "INSERT INTO audit_log (at, username, action) VALUES ('2026-01-05', 'early', 'login')",
                     "INSERT INTO audit_log (id, username, action) VALUES (999, 'early', 'login')",
                     "INSERT INTO audit_log (username, action, row_hash) VALUES ('early', 'login', 'x')",
                     "SET session_replication_role = replica"):  # would skip every trigger
            with pytest.raises(DBAPIError, match="permission denied"), app.begin() as conn:
                conn.execute(text(stmt))
        for stmt in ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_chain",
                     "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change", "DROP TRIGGER audit_log_chain ON audit_log",
                     "ALTER TABLE audit_log DROP COLUMN row_hash"):
            with pytest.raises(DBAPIError, match="must be owner"), app.begin() as conn:
                conn.execute(text(stmt))
        with app.connect() as conn:
            assert audit_chain.verify(conn).ok
            at = conn.execute(select(s.audit_log.c.at).where(s.audit_log.c.username == "app")).scalar()
        assert abs(at - dt.datetime.now()) < dt.timedelta(minutes=1)
    finally:
        app.dispose()
        with empty_engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))


# ---------------------------------------------------------------- the page
def test_admin_page_tabs_create_a_user_and_filter_the_audit(app_env):
    at = logged_in("admin", "pages/data_admin.py")
    assert not at.exception and not errors(at)
    assert [tab.label for tab in at.tabs] == ["数据导入", "数据新鲜度", "用户管理", "审计日志"]
    name = f"pg{uuid.uuid4().hex[:6]}"
    at.text_input(key="nu_name").input(name)
    at.text_input(key="nu_display").input("测试用户")
    at.selectbox(key="nu_role").set_value("strategy")
    at.text_input(key="nu_pw").input("Start2026x")
    at.button(key="FormSubmitter:user_new-创建用户").click().run()
    assert not at.exception and any(f"已创建用户 {name}" in x.value for x in at.success), errors(at)
    with app_env.connect() as conn:
        assert scope_for_user(conn, name).role == "strategy"
    at.selectbox(key="eu_name").set_value("admin").run()
    at.selectbox(key="eu_role_admin").set_value("head_office")
    at.button(key="FormSubmitter:user_edit-保存角色与权限范围").click().run()
    assert any("最后一个启用的系统管理员" in e for e in errors(at)), errors(at)  # refused, with the reason
    at.selectbox(key="audit_action").set_value("user_create").run()
    assert not at.exception and not errors(at)


@pytest.mark.parametrize("user", ["hq_wang", "strategy_chen", "agency1"])
def test_data_admin_page_is_for_admins_only(app_env, user):
    with app_env.connect() as conn:
        with pytest.raises(PermissionError):
            admin.users_table(conn, scope_for_user(conn, user))


# ---------------------------------------------------------------- database down and back
class Proxy:
    """A loopback TCP relay in front of PostgreSQL that can be cut (server gone, connections reset) and restored:
    the fault a database restart gives the app, without stopping the machine's server."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.socks, self.listener = target, [], None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]

    def start(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(32)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self) -> None:
        try:  # shutdown wakes the thread blocked in accept(); close alone would leave the port listening
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for sock in self.socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass
        self.socks.clear()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass


def test_database_restart_every_page_shows_the_panel_then_recovers(app_env):
    if app_env.dialect.name != "postgresql":
        pytest.skip("a server to stop: PostgreSQL")
    from components.navigation import pages_for
    from data_access.engine import get_engine
    url = make_url(app_env.url.render_as_string(hide_password=False))
    proxy = Proxy((url.host, url.port or 5432))
    proxy.start()
    good = os.environ["COCKPIT_DATABASE_URL"]
    os.environ["COCKPIT_DATABASE_URL"] = url.set(port=proxy.port).render_as_string(hide_password=False)
    get_engine.cache_clear()
    try:
        at = logged_in("hq_wang")
        assert not errors(at) and at.title
        proxy.stop()  # the server goes away: open connections reset, new ones refused
        from components.session import _data_version
        for spec in pages_for("head_office"):
            _data_version.clear()  # pages serve the cached version for 5 s; the outage outlasts that
            at.switch_page(spec.path).run()
            if spec.key == "customer_360":  # reads nothing until asked for a customer
                at.text_input(key="c360_query").input("张").run()
            assert not at.exception, (spec.path, at.exception[0].stack_trace if at.exception else "")
            assert any("数据库暂时无法连接" in e for e in errors(at)), (spec.path, errors(at))
        proxy.start()  # back: the same engine reconnects (pre-ping), no restart of the app
        for spec in pages_for("head_office"):
            at.switch_page(spec.path).run()
            assert not at.exception and not errors(at), (spec.path, errors(at))
    finally:
        proxy.stop()
        os.environ["COCKPIT_DATABASE_URL"] = good
        get_engine.cache_clear()


def test_audit_detail_reads_as_pairs_without_nulls():
    from components.admin_panels import readable_detail
    raw = '{"reason": "wrong", "failures": {"pair": 1, "user": 2}, "waits_until": null, "client": null, "note": ""}'
    assert readable_detail(raw) == "reason: wrong；failures: pair=1, user=2"
    assert readable_detail(None) == "" and readable_detail(float("nan")) == "" and readable_detail("not json {") == "not json {"
    assert readable_detail('["a", 1]') == "a, 1"
    assert readable_detail('{"masked": true, "unmasked": false}') == "masked: 是；unmasked: 否"
