-- PostgreSQL roles for a shared deployment (README "Deployment").
--   psql -v app_password="'…'" -v owner_password="'…'" -d cockpit -f deploy/postgres_roles.sql
-- cockpit_owner owns the schema and runs the migrations (python -m data_access upgrade) and the nightly
-- import / refresh; cockpit_app is what the Streamlit processes connect as. The app role may read everything
-- and write the tables the app writes, but may only SELECT and INSERT the audit log: even a compromised app
-- process cannot edit or delete audit rows (the append-only triggers of migration 0013 stop the owner too), and it
-- changes users (roles, scopes, PII rights, passwords, enabled) only through migration 0027's audited functions.
-- (A deployment that ran this file before migration 0027: that migration applies its two lines below itself.)
CREATE ROLE cockpit_owner LOGIN PASSWORD :owner_password;
CREATE ROLE cockpit_app LOGIN PASSWORD :app_password;
GRANT CONNECT ON DATABASE cockpit TO cockpit_owner, cockpit_app;
GRANT USAGE, CREATE ON SCHEMA public TO cockpit_owner;
GRANT USAGE ON SCHEMA public TO cockpit_app;
-- run the rest as cockpit_owner after the first `python -m data_access upgrade`, so that the grants cover its tables
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO cockpit_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM cockpit_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO cockpit_app;
-- audit log, tamper evidence (migration 0019, README "Audit log integrity"): the app role inserts the content
-- columns only; id, at and the hash chain are the database's (the BEFORE INSERT trigger audit_log_chain overwrites
-- whatever a client sends: id = previous id + 1, at = the database's clock). With UPDATE, DELETE and TRUNCATE
-- revoked above and owning no table, it can neither change a row nor disable or drop a trigger (ALTER TABLE needs
-- the owner; session_replication_role needs a superuser). The owner and a superuser can: the hash chain is what
-- shows it (python -m data_access audit verify).
REVOKE INSERT ON audit_log FROM cockpit_app;
GRANT INSERT (username, action, customer_id, target, detail) ON audit_log TO cockpit_app;
-- users' rights (migration 0027, README "Deployment", issue 15 finding 8): the app role reads app_user and
-- user_branch (the login and every scope check need them) but may not write either, in any column, so that a
-- compromised app process cannot make a user admin, widen a scope or grant PII by an UPDATE. Every change of a user
-- goes through a SECURITY DEFINER function (owned by cockpit_owner, search_path pinned) that checks the acting user
-- is an enabled admin, makes the change, ends the user's sessions where it must, and writes the audit row in the
-- same transaction. No column of app_user stays writable: a login writes login_throttle, app_session and audit_log,
-- never app_user (the last login is read from the audit log), and a user's own password change is
-- app_user_change_password (the app checks the current password first; the change is audited as the user's).
-- login_throttle stays writable (every attempt counts there): unlocking through the function is for the audit row.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON app_user, user_branch FROM cockpit_app;
GRANT EXECUTE ON FUNCTION app_user_create, app_user_update, app_user_reset_password, app_user_set_active, app_user_unlock, app_user_change_password TO cockpit_app;
-- tables that later migrations add: the same rights by default (audit_log is not among them)
ALTER DEFAULT PRIVILEGES FOR ROLE cockpit_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO cockpit_app;
ALTER DEFAULT PRIVILEGES FOR ROLE cockpit_owner IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO cockpit_app;
