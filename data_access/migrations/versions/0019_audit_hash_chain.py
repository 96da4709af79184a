"""the audit log becomes tamper-evident: the database assigns id and at, every row carries a SHA-256 hash over its
content and the previous row's hash (data_access/audit_chain.py defines the serialisation); rows already there are
chained in id order

PostgreSQL: a BEFORE INSERT trigger (SECURITY DEFINER, under a transaction-scoped advisory lock) overwrites
whatever the client sent for id, at and the hashes: id = previous id + 1, at = the database's clock in the time
zone of this migration's session, written into the function (a client's SET TIME ZONE cannot shift it).
SQLite: at gets the database's clock as its default, an AFTER INSERT trigger refuses a row whose id is not the
previous highest + 1, whose time is not the database's now, or that arrives with hashes; the app seals the row in the same
transaction (the update trigger lets a row without hashes receive them once, its content unchanged). The
file's owner can drop these triggers: the chain is what shows it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

APPEND_ONLY = "SELECT RAISE(ABORT, 'audit_log is append-only')"
SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now', 'localtime') || '000')"
CONTENT_UNCHANGED = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in ("id", "at", "username", "action", "customer_id",
                                                                  "target", "detail"))

# the serialisation of audit_chain.canonical, in SQL: F(NULL) = 'N', F(v) = 'S' || UTF-8 length || ':' || v
PG_FIELD = """
CREATE FUNCTION audit_log_field(v text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN v IS NULL THEN 'N' ELSE 'S' || octet_length(convert_to(v, 'UTF8')) || ':' || v END $$"""
PG_CHAIN = """
CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    prev_id bigint;
    prev_h text;
BEGIN
    -- one writer at a time until its transaction ends, so that the next one reads this row as its predecessor
    -- (READ COMMITTED: each statement here sees what committed before it; under a stale snapshot the id below
    -- would collide with the committed row's and the insert fail, never fork the chain)
    PERFORM pg_advisory_xact_lock('audit_log'::regclass::oid::bigint);
    SELECT id, row_hash INTO prev_id, prev_h FROM audit_log ORDER BY id DESC LIMIT 1;
    NEW.id := COALESCE(prev_id, 0) + 1;
    NEW.at := clock_timestamp() AT TIME ZONE {zone};
    NEW.prev_hash := COALESCE(prev_h, repeat('0', 64));
    NEW.row_hash := encode(sha256(convert_to(
        'cockpit-audit-v1'
        || '|' || audit_log_field(NEW.id::text)
        || '|' || audit_log_field(to_char(NEW.at, 'YYYY-MM-DD HH24:MI:SS.US'))
        || '|' || audit_log_field(NEW.username)
        || '|' || audit_log_field(NEW.action)
        || '|' || audit_log_field(NEW.customer_id::text)
        || '|' || audit_log_field(NEW.target)
        || '|' || audit_log_field(NEW.detail)
        || '|' || audit_log_field(NEW.prev_hash), 'UTF8')), 'hex');
    RETURN NEW;
END $$"""


def upgrade() -> None:
    from data_access.audit_chain import chain_existing
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.add_column("audit_log", sa.Column("prev_hash", sa.String(64)))
        op.add_column("audit_log", sa.Column("row_hash", sa.String(64)))
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
        chain_existing(conn)
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change")
        op.execute(PG_FIELD)
        zone = conn.exec_driver_sql("SHOW timezone").scalar()  # the clock's zone, fixed here, not the session's
        op.execute(PG_CHAIN.replace("{zone}", "'" + zone.replace("'", "''") + "'"))
        op.execute("CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW "
                   "EXECUTE FUNCTION audit_log_chain()")
        return
    op.execute("DROP TRIGGER audit_log_no_update")
    op.execute("DROP TRIGGER audit_log_no_delete")
    with op.batch_alter_table("audit_log", recreate="always") as b:
        b.alter_column("at", existing_type=sa.DateTime(), existing_nullable=False, server_default=sa.text(SQLITE_NOW))
        b.add_column(sa.Column("prev_hash", sa.String(64)))
        b.add_column(sa.Column("row_hash", sa.String(64)))
    chain_existing(conn)
    op.execute(f"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN {APPEND_ONLY}; END")
    op.execute("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN NOT (OLD.row_hash IS NULL "
               f"AND NEW.row_hash IS NOT NULL AND {CONTENT_UNCHANGED}) BEGIN {APPEND_ONLY}; END")
    op.execute("CREATE TRIGGER audit_log_assigned AFTER INSERT ON audit_log WHEN "
               "NEW.id <> (SELECT MAX(id) FROM audit_log) "
               "OR NEW.id <> (SELECT COALESCE(MAX(id), 0) FROM audit_log WHERE id < NEW.id) + 1 "
               "OR NEW.row_hash IS NOT NULL OR NEW.prev_hash IS NOT NULL "
               "OR abs(julianday(NEW.at) - julianday('now', 'localtime')) * 86400 > 2 "
               "BEGIN SELECT RAISE(ABORT, 'audit_log: id, at and the hashes are assigned by the database'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_chain ON audit_log")
        op.execute("DROP FUNCTION audit_log_chain()")
        op.execute("DROP FUNCTION audit_log_field(text)")
        op.drop_column("audit_log", "row_hash")
        op.drop_column("audit_log", "prev_hash")
        return
    for name in ("audit_log_assigned", "audit_log_no_update", "audit_log_no_delete"):
        op.execute(f"DROP TRIGGER {name}")
    with op.batch_alter_table("audit_log", recreate="always") as b:
        b.drop_column("row_hash")
        b.drop_column("prev_hash")
        b.alter_column("at", existing_type=sa.DateTime(), existing_nullable=False, server_default=None)
    for event in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log BEGIN {APPEND_ONLY}; END")
