"""Users and the audit log: creation, disabling, the password check, append-only audit entries. (A login attempt as
a whole, with its back-off and session, is ``login.attempt``.)"""
from __future__ import annotations

import datetime as dt
import json

import bcrypt
from sqlalchemy import Connection, func, insert, select, text, update

from . import schema as s
from .scope import ROLES


class UserError(ValueError):
    """A user operation that cannot be done; the message is for the person asking (English, for the CLI), ``key``
    names it for the UI's translation (``users.reason.<key>``)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def check_new_user(conn: Connection, username: str, password: str, role: str, branch_ids: list[int] | None,
                   agency_id: int | None) -> None:
    """Why a user cannot be created (``UserError``), before anything is written."""
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}; got {role!r}.", "role")
    if len(password) < 8:
        raise UserError("password must have at least 8 characters.", "password")
    if conn.execute(select(s.app_user.c.id).where(s.app_user.c.username == username)).first():
        raise UserError(f"user {username!r} already exists.", "exists")
    if role == "branch_leader" and not branch_ids:
        raise UserError("a branch leader needs at least one branch (--branch ID).", "branch")
    if role == "agency" and agency_id is None:
        raise UserError("an agency user needs an agency (--agency ID).", "agency")


def create_user(conn: Connection, username: str, password: str, role: str, display_name: str | None = None,
                branch_ids: list[int] | None = None, agency_id: int | None = None, can_see_pii: bool = False) -> int:
    """Create a user directly (the CLI's bootstrap, the demo bank, SQLite; on PostgreSQL this needs the schema's
    owner: the app's role creates users through ``admin.add_user``); returns its id."""
    check_new_user(conn, username, password, role, branch_ids, agency_id)
    uid = conn.execute(insert(s.app_user).values(
        username=username, display_name=display_name or username, password_hash=hash_password(password), role=role,
        agency_id=agency_id, can_see_pii=can_see_pii, active=True, failed_logins=0,
        created_at=dt.datetime.now()).returning(s.app_user.c.id)).scalar_one()
    for b in branch_ids or []:
        conn.execute(insert(s.user_branch).values(user_id=uid, branch_id=b))
    return uid


def check_set_active(conn: Connection, username: str, active: bool) -> None:
    """Why a user cannot be enabled or disabled (``UserError``): unknown, or the last active admin."""
    u = conn.execute(select(s.app_user).where(s.app_user.c.username == username)).mappings().first()
    if u is None:
        raise UserError(f"no user named {username!r}.", "unknown")
    if not active and u["role"] == "admin":
        admins = conn.execute(select(func.count()).select_from(s.app_user)
                              .where(s.app_user.c.role == "admin", s.app_user.c.active.is_(True))).scalar_one()
        if admins <= 1:
            raise UserError("this is the last active admin; create another admin first.", "last_admin")


def set_active(conn: Connection, username: str, active: bool) -> None:
    """Enable or disable a user directly (the CLI; SQLite); the last active admin cannot be disabled."""
    check_set_active(conn, username, active)
    conn.execute(update(s.app_user).where(s.app_user.c.username == username).values(active=active))
    if not active:
        from .sessions import end_all
        end_all(conn, username, "disabled")


def check_password_rule(password: str) -> None:
    """The bank's usual rule for a password set in the app: 8+ characters with letters and digits."""
    if len(password or "") < 8 or not any(c.isdigit() for c in password) or not any(c.isalpha() for c in password):
        raise UserError("the password needs at least 8 characters, letters and digits.", "password")


# ---------------------------------------------------------------- privileged changes on PostgreSQL
def through_definer(conn: Connection) -> bool:
    """Whether a privileged change of a user (role, scope, PII right, password, enabled, back-off) goes through the
    database's SECURITY DEFINER functions (migration 0027): on PostgreSQL, where the app's role may not write
    ``app_user`` or ``user_branch`` itself and the function writes the audit row in the same transaction. On SQLite
    the Python code writes the rows and the audit entry (one file: its owner can do anything either way)."""
    return conn.dialect.name == "postgresql"


def call_definer(conn: Connection, function: str, **args):
    """``SELECT function(p_<name> => :name, …)``; returns its result. ``function`` is one of migration 0027's names,
    never user input; lists are integer arrays, numbers integers (cast, so that the driver's choice of integer size
    cannot miss the function's signature)."""
    def arg(k, v):
        kind = "integer[]" if isinstance(v, list) else "boolean" if isinstance(v, bool) else \
            "integer" if isinstance(v, int) else None
        return f"p_{k} => " + (f"CAST(:{k} AS {kind})" if kind else f":{k}")
    named = ", ".join(arg(k, v) for k, v in args.items())
    return conn.execute(text(f"SELECT {function}({named})"), args).scalar()


def change_password(conn: Connection, username: str, current: str, new: str) -> None:
    """The user's own password change: the current password must be right and the new one follow the rule; every
    session of the user ends (all tabs: log in again with the new one); audited as ``password_change``."""
    if not verify_password(conn, username, current):
        raise UserError("the current password is not right.", "current_password")
    check_password_rule(new)
    if through_definer(conn):
        call_definer(conn, "app_user_change_password", username=username, password_hash=hash_password(new))
        return
    conn.execute(update(s.app_user).where(s.app_user.c.username == username).values(password_hash=hash_password(new)))
    from .sessions import end_all
    end_all(conn, username, "password")
    audit(conn, username, "password_change", target=username)


# a bcrypt hash of a random string, checked when the user does not exist, so an unknown name takes as long as a
# wrong password
_NO_USER_HASH = bcrypt.hashpw(b"no such user", bcrypt.gensalt()).decode()


def verify_password(conn: Connection, username: str, password: str) -> bool:
    """Whether ``password`` is the active user ``username``'s (bcrypt); the same work for an unknown name."""
    stored = conn.execute(select(s.app_user.c.password_hash).where(s.app_user.c.username == username,
                                                                  s.app_user.c.active.is_(True))).scalar()
    try:
        ok = bcrypt.checkpw((password or "").encode("utf-8"), (stored or _NO_USER_HASH).encode("utf-8"))
    except ValueError:  # a stored value that is not a bcrypt hash: no login
        return False
    return ok and stored is not None


def display_name(engine_or_conn, username: str) -> str:
    stmt = select(s.app_user.c.display_name).where(s.app_user.c.username == username)
    if isinstance(engine_or_conn, Connection):
        return engine_or_conn.execute(stmt).scalar() or username
    with engine_or_conn.connect() as conn:
        return conn.execute(stmt).scalar() or username


def audit(conn: Connection, username: str, action: str, customer_id: int | None = None, target: str | None = None,
          detail: dict | None = None) -> None:
    """Append one audit entry. The app offers no way to edit or delete them. Only the content columns are sent:
    the database assigns ``id`` and ``at``; the hash chain (``audit_chain``) is computed by PostgreSQL's trigger, or
    on SQLite here, in the same transaction, after the INSERT has taken SQLite's write lock. O(1): the previous
    row is found by the primary key."""
    from .text import clean
    # typed values (a login name, a search) reach the log as they were typed: cut to the columns' sizes
    values = {"username": clean(username, 32) or "?", "action": action, "customer_id": customer_id,
              "target": clean(target, 128) if target else None,
              "detail": json.dumps(detail, ensure_ascii=False) if detail else None}
    if conn.dialect.name == "postgresql":
        conn.execute(insert(s.audit_log).values(**values))
        return
    from .audit_chain import seal
    id_, at = conn.execute(insert(s.audit_log).values(**values).returning(s.audit_log.c.id, s.audit_log.c.at)).one()
    seal(conn, id_, at, values)
