"""User administration and the audit-log viewer, for admins only: every function takes the acting user's
``Scope`` and refuses anyone else; every change is written to the audit log in the same transaction.

The last active admin can neither be disabled nor lose the admin role, so the bank can always administer itself.

On PostgreSQL the app's role may not write ``app_user`` or ``user_branch`` (deploy/postgres_roles.sql): every change
of a user is one call of a SECURITY DEFINER function of migration 0027 (``users.call_definer``), which checks that the
actor is an enabled admin, makes the change, ends the sessions it must and writes the audit row, all in the caller's
transaction. The checks and their messages (``UserError``) stay here, before the call; on SQLite the same change is
written here.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, delete, func, insert, select, update

from . import schema as s, throttle
from .scope import ROLES, Scope
from .sessions import end_all
from .text import clean
from .users import (UserError, audit, call_definer, check_new_user, check_password_rule, check_set_active, create_user,
                    hash_password, set_active, through_definer)

USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_.-")


def _require_admin(actor: Scope) -> None:
    if actor.role != "admin":
        raise PermissionError("only administrators manage users and read the audit log.")


_check_password = check_password_rule
PII_ROLES = ("head_office", "branch_leader")  # the roles for which a PII right means anything (scope.ROW_ROLES)


def users_table(conn: Connection, actor: Scope) -> pd.DataFrame:
    """Every user: username, display_name, role, branches (names), branch_ids, agency, agency_id, can_see_pii,
    active, locked_until, created_at, last_login."""
    _require_admin(actor)
    u, ub, o, ag, a = s.app_user, s.user_branch, s.org_unit, s.agency, s.audit_log
    res = conn.execute(select(u.c.id, u.c.username, u.c.display_name, u.c.role, u.c.agency_id, ag.c.name.label("agency"),
                              u.c.can_see_pii, u.c.active, u.c.locked_until, u.c.created_at)
                       .select_from(u.outerjoin(ag, ag.c.id == u.c.agency_id)).order_by(u.c.role, u.c.username))
    df = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    branches = pd.DataFrame(conn.execute(select(ub.c.user_id, ub.c.branch_id, o.c.name)
                                         .join(o, o.c.id == ub.c.branch_id)).all(), columns=["id", "branch_id", "name"])
    names = branches.groupby("id")["name"].agg(lambda x: "、".join(sorted(x)))
    ids = branches.groupby("id")["branch_id"].agg(lambda x: sorted(int(i) for i in x))
    df["branches"] = df["id"].map(names).fillna("")
    df["branch_ids"] = [ids.get(i, []) for i in df["id"]]
    last = dict(conn.execute(select(a.c.username, func.max(a.c.at)).where(a.c.action == "login")
                             .group_by(a.c.username)).all())
    df["last_login"] = df["username"].map(last)
    return df.drop(columns=["id"])


def _admins(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(s.app_user)
                        .where(s.app_user.c.role == "admin", s.app_user.c.active.is_(True))).scalar_one()


def add_user(conn: Connection, actor: Scope, username: str, password: str, role: str, display_name: str | None = None,
             branch_ids: list[int] | None = None, agency_id: int | None = None, can_see_pii: bool = False) -> int:
    _require_admin(actor)
    username = (username or "").strip().lower()
    if not 3 <= len(username) <= 32 or not set(username) <= USERNAME_CHARS:
        raise UserError("a username has 3–32 lowercase letters, digits, '_', '.' or '-'.", "username")
    _check_password(password)
    display = clean(display_name, 32) or None
    branches = sorted(set(branch_ids or [])) if role == "branch_leader" else []
    agency = agency_id if role == "agency" else None
    pii = bool(can_see_pii) and role in PII_ROLES
    if through_definer(conn):  # PostgreSQL: the function checks the actor, writes the user and the audit row
        check_new_user(conn, username, password, role, branches, agency)
        return call_definer(conn, "app_user_create", actor=actor.username, username=username,
                            display_name=display or username, password_hash=hash_password(password), role=role,
                            branch_ids=branches, agency_id=agency, can_see_pii=pii)
    uid = create_user(conn, username, password, role, display, branches or None, agency, pii)
    audit(conn, actor.username, "user_create", target=username,
          detail={"role": role, "branches": branches, "agency_id": agency, "pii": pii})
    return uid


def update_user(conn: Connection, actor: Scope, username: str, role: str, branch_ids: list[int] | None = None,
                agency_id: int | None = None, can_see_pii: bool = False, display_name: str | None = None) -> None:
    """Set a user's role and scope (branches for a branch leader, the agency for an agency user)."""
    _require_admin(actor)
    u = conn.execute(select(s.app_user).where(s.app_user.c.username == username)).mappings().first()
    if u is None:
        raise UserError(f"no user named {username!r}.", "unknown")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}.", "role")
    if role == "branch_leader" and not branch_ids:
        raise UserError("a branch leader needs at least one branch.", "branch")
    if role == "agency" and agency_id is None:
        raise UserError("an agency user needs an agency.", "agency")
    if u["role"] == "admin" and role != "admin" and u["active"] and _admins(conn) <= 1:
        raise UserError("this is the last active admin; make another user admin first.", "last_admin")
    new_agency = agency_id if role == "agency" else None
    new_pii = bool(can_see_pii) and role in PII_ROLES
    new_branches = sorted(set(branch_ids or [])) if role == "branch_leader" else []
    if through_definer(conn):  # the function also ends the user's sessions when what they may see changed
        call_definer(conn, "app_user_update", actor=actor.username, username=username, role=role,
                     branch_ids=new_branches, agency_id=new_agency, can_see_pii=new_pii,
                     display_name=clean(display_name, 32) or None)
        return
    before_branches = sorted(conn.execute(select(s.user_branch.c.branch_id)
                                          .where(s.user_branch.c.user_id == u["id"])).scalars())
    conn.execute(update(s.app_user).where(s.app_user.c.id == u["id"]).values(
        role=role, agency_id=new_agency, can_see_pii=new_pii, display_name=clean(display_name, 32) or u["display_name"]))
    conn.execute(delete(s.user_branch).where(s.user_branch.c.user_id == u["id"]))
    if role == "branch_leader":
        conn.execute(insert(s.user_branch), [{"user_id": u["id"], "branch_id": b} for b in new_branches])
    if (u["role"], u["agency_id"], bool(u["can_see_pii"]), before_branches) != (role, new_agency, new_pii, new_branches):
        # what the user may see changed: every open session (all tabs, all browsers) ends now
        end_all(conn, username, "role")
    audit(conn, actor.username, "user_update", target=username,
          detail={"from": u["role"], "role": role, "branches": new_branches, "agency_id": new_agency, "pii": new_pii})


def reset_password(conn: Connection, actor: Scope, username: str, password: str) -> None:
    """A new password set by the admin (given to the user out of band); unlocks the account."""
    _require_admin(actor)
    _check_password(password)
    if conn.execute(select(s.app_user.c.id).where(s.app_user.c.username == username)).first() is None:
        raise UserError(f"no user named {username!r}.", "unknown")
    if through_definer(conn):  # sets the hash, ends the sessions, clears the back-off, audits
        call_definer(conn, "app_user_reset_password", actor=actor.username, username=username,
                     password_hash=hash_password(password))
        return
    conn.execute(update(s.app_user).where(s.app_user.c.username == username).values(
        password_hash=hash_password(password), failed_logins=0, locked_until=None))
    end_all(conn, username, "password")
    throttle.unlock(conn, username)
    audit(conn, actor.username, "user_password_reset", target=username)


def unlock_user(conn: Connection, actor: Scope, username: str) -> int:
    """Clear the login back-off of ``username`` from every client (``throttle``); returns how many counters."""
    _require_admin(actor)
    if through_definer(conn):
        return call_definer(conn, "app_user_unlock", actor=actor.username, username=username)
    n = throttle.unlock(conn, username)
    audit(conn, actor.username, "user_unlock", target=username, detail={"counters": n})
    return n


def set_user_active(conn: Connection, actor: Scope, username: str, active: bool) -> None:
    """Disable or enable an account (the last active admin stays)."""
    _require_admin(actor)
    if not active and username == actor.username:
        raise UserError("you cannot disable your own account.", "self")
    if through_definer(conn):  # disabling ends the user's sessions there too
        check_set_active(conn, username, active)
        call_definer(conn, "app_user_set_active", actor=actor.username, username=username, active=bool(active))
        return
    set_active(conn, username, active)
    audit(conn, actor.username, "user_enable" if active else "user_disable", target=username)


# ---------------------------------------------------------------- audit log viewer
AUDIT_ACTIONS = ("login", "login_failed", "logout", "session_resume", "view_customer", "view_denied", "export", "import",
                 "refresh_marts", "postloan_batch", "complete_task", "allocation_run", "case_action",
                 "case_action_denied", "user_create", "user_update", "user_password_reset", "user_disable",
                 "user_enable", "user_unlock", "password_change", "password_change_refused", "audit_verify")


def audit_log(conn: Connection, actor: Scope, username: str | None = None, action: str | None = None,
              customer_id: int | None = None, date_from: dt.date | None = None, date_to: dt.date | None = None,
              limit: int = 5000) -> pd.DataFrame:
    """Audit entries, newest first, filtered by user (exact), action, customer and date range (inclusive)."""
    _require_admin(actor)
    a = s.audit_log
    stmt = select(a.c.id, a.c.at, a.c.username, a.c.action, a.c.customer_id, a.c.target, a.c.detail)
    if username:
        stmt = stmt.where(a.c.username == clean(username, 64))
    if action:
        stmt = stmt.where(a.c.action == action)
    if customer_id is not None:
        if not 0 <= int(customer_id) < 2**31:  # no such id; PostgreSQL would refuse the comparison itself
            return pd.DataFrame(columns=["id", "at", "username", "action", "customer_id", "target", "detail"])
        stmt = stmt.where(a.c.customer_id == int(customer_id))
    if date_from:
        stmt = stmt.where(a.c.at >= dt.datetime.combine(date_from, dt.time()))
    if date_to:
        stmt = stmt.where(a.c.at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time()))
    res = conn.execute(stmt.order_by(a.c.id.desc()).limit(limit))
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def audit_actions(conn: Connection, actor: Scope) -> list[str]:
    """Actions that occur in the log, and the known ones, for the filter."""
    _require_admin(actor)
    seen = set(conn.execute(select(s.audit_log.c.action).distinct()).scalars())
    return sorted(seen | set(AUDIT_ACTIONS))


def audit_chain_state(conn: Connection, actor: Scope) -> dict | None:
    """The last recorded check of the audit log's hash chain (``audit_chain.last``), None if never checked."""
    _require_admin(actor)
    from . import audit_chain
    return audit_chain.last(conn)


def verify_audit_chain(conn: Connection, actor: Scope):
    """Walk the whole chain now and record the result under the acting admin (``audit_chain.verify`` / ``record``);
    returns the ``Verification``. ``conn`` is a writing transaction: the result is an audit entry."""
    _require_admin(actor)
    from . import audit_chain
    result = audit_chain.verify(conn)
    audit_chain.record(conn, result, actor.username)
    return result


def freshness(conn: Connection, actor: Scope) -> pd.DataFrame:
    """Per imported table: rows now, the last import's time and rows; plus the data version and last refresh as
    attrs (``version``, ``refresh``)."""
    _require_admin(actor)
    from .extract_format import TABLES
    status = {r.key: r for r in conn.execute(select(s.data_status)).all()}
    rows = []
    for t in TABLES:
        st_ = status.get(f"table:{t}")
        rows.append({"table": t, "rows": conn.execute(select(func.count()).select_from(s.metadata.tables[t])).scalar(),
                     "last_import": st_.updated_at if st_ else None, "last_import_rows": st_.row_count if st_ else None})
    df = pd.DataFrame(rows)
    df.attrs["version"] = status["data_version"].value if "data_version" in status else None
    df.attrs["refresh"] = status["refresh"].updated_at if "refresh" in status else None
    df.attrs["import"] = status["import"].updated_at if "import" in status else None
    return df


def scope_choices(conn: Connection, actor: Scope) -> tuple[dict[int, str], dict[int, str]]:
    """What a user's scope can be set to: {branch id: name}, {agency id: name}."""
    _require_admin(actor)
    o, ag = s.org_unit, s.agency
    branches = dict(conn.execute(select(o.c.id, o.c.name).where(o.c.level == "branch").order_by(o.c.id)).all())
    agencies = dict(conn.execute(select(ag.c.id, ag.c.name).order_by(ag.c.id)).all())
    return branches, agencies


def audit_customer_id(conn: Connection, actor: Scope, text: str) -> int | None:
    """The customer an audit search means: a customer number (C0324…) or the internal number audit rows record;
    None when there is no such customer. Only the id is read: the audit search shows no customer data."""
    _require_admin(actor)
    text = clean(text, 32)  # PostgreSQL refuses NUL in a parameter; a customer number is short
    if not text:
        return None
    c = s.customer
    if text.isascii() and text.isdigit():
        if len(text) > 10 or int(text) > 2**31 - 1:  # past the id column's 32-bit integer: no such customer
            return None
        return int(text) if conn.execute(select(c.c.id).where(c.c.id == int(text))).first() else None
    return conn.execute(select(c.c.id).where(c.c.customer_no == text.upper())).scalar()
