"""PostgreSQL: users' roles, scopes, PII rights, passwords and enabled state change only through SECURITY DEFINER
functions that check the acting admin and write the audit row in the same transaction (issue 15, finding 8)

The app's role (deploy/postgres_roles.sql) keeps SELECT on app_user and user_branch but no INSERT, UPDATE or
DELETE: a compromised app process can no longer make itself admin or give itself PII outside the audited path. What
the app does to users goes through these functions (data_access/admin.py and users.change_password call them on
PostgreSQL; the checks and messages stay in Python, before the call):

=============================  =========================================================  =======================
function                       does                                                       audit action
=============================  =========================================================  =======================
app_user_create                a new user, its branches                                   user_create
app_user_update                role, branches, agency, PII right, display name; ends      user_update
                               the user's sessions when what they may see changed
app_user_reset_password        an admin's new password; clears the back-off; ends the     user_password_reset
                               user's sessions
app_user_set_active            enable / disable; disabling ends the user's sessions       user_enable / _disable
app_user_unlock                clears the login back-off of the user                      user_unlock
app_user_change_password       the user's own new password (the old one is checked by     password_change
                               the app); ends the user's sessions
=============================  =========================================================  =======================

Each admin function refuses (SQLSTATE 42501) unless the actor it is given is an enabled admin in app_user, and
refuses a change that would leave no enabled admin. They run as the role that ran this migration (the schema's
owner, cockpit_owner), with ``search_path = public, pg_temp`` so that no object a caller creates is picked up, and
no dynamic SQL; EXECUTE is revoked from PUBLIC. The database cannot know who sits at the keyboard: a compromised app
can still name a real admin as the actor, but then the change is in the hash-chained audit log under that name,
written by the same statement's transaction — there is no unaudited path left.

Times (created_at, a session's ended_at) are the database's clock in the zone of this migration's session, written
into the functions, as migration 0019 does for the audit log. SQLite: nothing (one file, whose owner can do
anything; the hash chain is what shows a change — README "Security").

If a role named cockpit_app exists (a deployment that ran deploy/postgres_roles.sql before this migration), it gets
the same grants as that file now gives, so that an upgrade needs no manual step.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01
"""
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

ROLES = ("head_office", "branch_leader", "strategy", "agency", "admin")  # data_access.scope.ROLES at this revision
PII_ROLES = ("head_office", "branch_leader")  # scope.ROW_ROLES: the roles for which a PII right means anything

FUNCTIONS = {  # name: argument types, for the grants, revokes and the downgrade
    "app_user_require_admin": "text",
    "app_user_scope_check": "text, integer[], integer, boolean",
    "app_user_end_sessions": "integer, text",
    "app_user_clear_backoff": "text",
    "app_user_create": "text, text, text, text, text, integer[], integer, boolean",
    "app_user_update": "text, text, text, integer[], integer, boolean, text",
    "app_user_reset_password": "text, text, text",
    "app_user_set_active": "text, text, boolean",
    "app_user_unlock": "text, text",
    "app_user_change_password": "text, text",
}
CALLED_BY_THE_APP = ("app_user_create", "app_user_update", "app_user_reset_password", "app_user_set_active",
                     "app_user_unlock", "app_user_change_password")

DEFINER = "LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp"

SQL = r"""
CREATE FUNCTION app_user_require_admin(p_actor text) RETURNS void {definer} AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM app_user WHERE username = p_actor AND role = 'admin' AND active) THEN
        RAISE EXCEPTION 'only an enabled administrator changes users: % is not one', quote_literal(coalesce(p_actor, ''))
            USING ERRCODE = '42501';
    END IF;
END $$;

-- the role and scope as they are stored: branches only for a branch leader, an agency only for an agency user, a
-- PII right only for the roles that see customer rows (data_access/admin.py normalises the same way before the call)
CREATE FUNCTION app_user_scope_check(p_role text, p_branch_ids integer[], p_agency_id integer, p_pii boolean)
RETURNS void {definer} AS $$
BEGIN
    IF p_role IS NULL OR p_role NOT IN ({roles}) THEN
        RAISE EXCEPTION 'no such role: %', quote_literal(coalesce(p_role, '')) USING ERRCODE = '22023';
    END IF;
    IF p_role = 'branch_leader' AND cardinality(coalesce(p_branch_ids, '{{}}')) = 0 THEN
        RAISE EXCEPTION 'a branch leader needs at least one branch' USING ERRCODE = '22023';
    END IF;
    IF p_role = 'agency' AND p_agency_id IS NULL THEN
        RAISE EXCEPTION 'an agency user needs an agency' USING ERRCODE = '22023';
    END IF;
END $$;

CREATE FUNCTION app_user_end_sessions(p_user_id integer, p_reason text) RETURNS void {definer} AS $$
BEGIN
    UPDATE app_session SET ended_at = clock_timestamp() AT TIME ZONE {zone}, end_reason = p_reason
     WHERE user_id = p_user_id AND ended_at IS NULL;
END $$;

-- data_access/throttle.py's keys of one account: user:<name> and pair:<client>|<name>, names cut to 64 characters
CREATE FUNCTION app_user_clear_backoff(p_username text) RETURNS integer {definer} AS $$
DECLARE
    u text := left(coalesce(p_username, '?'), 64);
    n integer;
BEGIN
    DELETE FROM login_throttle
     WHERE key = 'user:' || u
        OR key LIKE 'pair:%|' || replace(replace(replace(u, '\', '\\'), '%', '\%'), '_', '\_') ESCAPE '\';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE FUNCTION app_user_create(p_actor text, p_username text, p_display_name text, p_password_hash text, p_role text,
                                p_branch_ids integer[], p_agency_id integer, p_can_see_pii boolean)
RETURNS integer {definer} AS $$
DECLARE
    v_branches integer[] := CASE WHEN p_role = 'branch_leader'
                                 THEN ARRAY(SELECT DISTINCT b FROM unnest(p_branch_ids) b ORDER BY b) ELSE '{{}}' END;
    v_agency integer := CASE WHEN p_role = 'agency' THEN p_agency_id END;
    v_pii boolean := coalesce(p_can_see_pii, false) AND p_role IN ({pii_roles});
    v_id integer;
BEGIN
    PERFORM app_user_require_admin(p_actor);
    PERFORM app_user_scope_check(p_role, v_branches, v_agency, v_pii);
    INSERT INTO app_user (username, display_name, password_hash, role, agency_id, can_see_pii, active, failed_logins,
                          created_at)
    VALUES (p_username, coalesce(nullif(p_display_name, ''), p_username), p_password_hash, p_role, v_agency, v_pii,
            true, 0, clock_timestamp() AT TIME ZONE {zone})
    RETURNING id INTO v_id;
    INSERT INTO user_branch (user_id, branch_id) SELECT v_id, b FROM unnest(v_branches) b;
    INSERT INTO audit_log (username, action, target, detail)
    VALUES (p_actor, 'user_create', p_username,
            json_build_object('role', p_role, 'branches', to_json(v_branches), 'agency_id', v_agency,
                              'pii', v_pii)::text);
    RETURN v_id;
END $$;

CREATE FUNCTION app_user_update(p_actor text, p_username text, p_role text, p_branch_ids integer[],
                                p_agency_id integer, p_can_see_pii boolean, p_display_name text)
RETURNS void {definer} AS $$
DECLARE
    u app_user%ROWTYPE;
    v_before integer[];
    v_branches integer[] := CASE WHEN p_role = 'branch_leader'
                                 THEN ARRAY(SELECT DISTINCT b FROM unnest(p_branch_ids) b ORDER BY b) ELSE '{{}}' END;
    v_agency integer := CASE WHEN p_role = 'agency' THEN p_agency_id END;
    v_pii boolean := coalesce(p_can_see_pii, false) AND p_role IN ({pii_roles});
BEGIN
    PERFORM app_user_require_admin(p_actor);
    PERFORM app_user_scope_check(p_role, v_branches, v_agency, v_pii);
    SELECT * INTO u FROM app_user WHERE username = p_username FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no user named %', quote_literal(coalesce(p_username, '')) USING ERRCODE = '22023';
    END IF;
    v_before := ARRAY(SELECT branch_id FROM user_branch WHERE user_id = u.id ORDER BY branch_id);
    UPDATE app_user SET role = p_role, agency_id = v_agency, can_see_pii = v_pii,
                        display_name = coalesce(nullif(p_display_name, ''), u.display_name)
     WHERE id = u.id;
    DELETE FROM user_branch WHERE user_id = u.id;
    INSERT INTO user_branch (user_id, branch_id) SELECT u.id, b FROM unnest(v_branches) b;
    IF NOT EXISTS (SELECT 1 FROM app_user WHERE role = 'admin' AND active) THEN
        RAISE EXCEPTION 'this is the last active admin' USING ERRCODE = '42501';
    END IF;
    IF (u.role, u.agency_id, u.can_see_pii, v_before) IS DISTINCT FROM (p_role, v_agency, v_pii, v_branches) THEN
        -- what the user may see changed: every open session (all tabs, all browsers) ends now
        PERFORM app_user_end_sessions(u.id, 'role');
    END IF;
    INSERT INTO audit_log (username, action, target, detail)
    VALUES (p_actor, 'user_update', p_username,
            json_build_object('from', u.role, 'role', p_role, 'branches', to_json(v_branches), 'agency_id', v_agency,
                              'pii', v_pii)::text);
END $$;

CREATE FUNCTION app_user_reset_password(p_actor text, p_username text, p_password_hash text)
RETURNS void {definer} AS $$
DECLARE
    v_id integer;
BEGIN
    PERFORM app_user_require_admin(p_actor);
    UPDATE app_user SET password_hash = p_password_hash, failed_logins = 0, locked_until = NULL
     WHERE username = p_username RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'no user named %', quote_literal(coalesce(p_username, '')) USING ERRCODE = '22023';
    END IF;
    PERFORM app_user_end_sessions(v_id, 'password');
    PERFORM app_user_clear_backoff(p_username);
    INSERT INTO audit_log (username, action, target) VALUES (p_actor, 'user_password_reset', p_username);
END $$;

CREATE FUNCTION app_user_set_active(p_actor text, p_username text, p_active boolean) RETURNS void {definer} AS $$
DECLARE
    v_id integer;
BEGIN
    PERFORM app_user_require_admin(p_actor);
    IF p_active IS NULL THEN
        RAISE EXCEPTION 'active must be true or false' USING ERRCODE = '22023';
    END IF;
    IF NOT p_active AND p_username = p_actor THEN
        RAISE EXCEPTION 'an administrator cannot disable their own account' USING ERRCODE = '42501';
    END IF;
    UPDATE app_user SET active = p_active WHERE username = p_username RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'no user named %', quote_literal(coalesce(p_username, '')) USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM app_user WHERE role = 'admin' AND active) THEN
        RAISE EXCEPTION 'this is the last active admin' USING ERRCODE = '42501';
    END IF;
    IF NOT p_active THEN
        PERFORM app_user_end_sessions(v_id, 'disabled');
    END IF;
    INSERT INTO audit_log (username, action, target)
    VALUES (p_actor, CASE WHEN p_active THEN 'user_enable' ELSE 'user_disable' END, p_username);
END $$;

CREATE FUNCTION app_user_unlock(p_actor text, p_username text) RETURNS integer {definer} AS $$
DECLARE
    n integer;
BEGIN
    PERFORM app_user_require_admin(p_actor);
    n := app_user_clear_backoff(p_username);
    INSERT INTO audit_log (username, action, target, detail)
    VALUES (p_actor, 'user_unlock', p_username, json_build_object('counters', n)::text);
    RETURN n;
END $$;

-- the user's own change: the app has checked the current password (bcrypt, in Python); the database can only
-- insist that the account is enabled and that the change is audited under the user's own name
CREATE FUNCTION app_user_change_password(p_username text, p_password_hash text) RETURNS void {definer} AS $$
DECLARE
    v_id integer;
BEGIN
    UPDATE app_user SET password_hash = p_password_hash WHERE username = p_username AND active RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'no enabled user named %', quote_literal(coalesce(p_username, '')) USING ERRCODE = '42501';
    END IF;
    PERFORM app_user_end_sessions(v_id, 'password');
    INSERT INTO audit_log (username, action, target) VALUES (p_username, 'password_change', p_username);
END $$;
"""

# the same as deploy/postgres_roles.sql, for a deployment whose app role existed before this migration
GRANT_EXISTING = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cockpit_app') THEN
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON app_user, user_branch FROM cockpit_app;
        GRANT EXECUTE ON FUNCTION {functions} TO cockpit_app;
    END IF;
END $$"""


def _quoted(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    zone = conn.exec_driver_sql("SHOW timezone").scalar()  # the clock's zone, fixed here, not the caller's
    op.execute(SQL.format(definer=DEFINER, roles=_quoted(ROLES), pii_roles=_quoted(PII_ROLES),
                          zone="'" + zone.replace("'", "''") + "'"))
    for name, args in FUNCTIONS.items():  # PostgreSQL lets PUBLIC execute a new function: not these
        op.execute(f"REVOKE ALL ON FUNCTION {name}({args}) FROM PUBLIC")
    op.execute(GRANT_EXISTING.format(functions=", ".join(f"{n}({FUNCTIONS[n]})" for n in CALLED_BY_THE_APP)))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, args in reversed(list(FUNCTIONS.items())):
        op.execute(f"DROP FUNCTION {name}({args})")
