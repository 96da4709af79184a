"""server-side login sessions and login back-off; a database made by the demo generator marked as the demo bank

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False,
                  comment="HMAC-SHA256 of the cookie's 256-bit token under the install's secret key"),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False, comment="absolute end: created_at + the session lifetime"),
        sa.Column("ended_at", sa.DateTime()),
        sa.Column("end_reason", sa.String(24), comment="logout | idle | expired | password | disabled | role | ..."),
        sa.Column("client_addr", sa.String(64)),
        sa.Column("user_agent", sa.String(256)),
        sa.Column("cookie_set", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_app_session_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_app_session_token_hash")),
    )
    op.create_index("ix_app_session_user_open", "app_session", ["user_id", "ended_at"])
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(160), nullable=False, comment="user:<name> | client:<address>"),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.DateTime(), nullable=False),
        sa.Column("blocked_until", sa.DateTime()),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    # demo mode is the demo generator's mark from now on (data_access.demo.is_demo_bank); a demo bank generated
    # before the mark existed is recognised by its users' demo addresses
    op.execute("INSERT INTO data_status (key, value, row_count, updated_at) "
               "SELECT 'demo_bank', 'generated', NULL, CURRENT_TIMESTAMP "
               "WHERE EXISTS (SELECT 1 FROM app_user WHERE email LIKE '%@demo-bank.example') "
               "AND NOT EXISTS (SELECT 1 FROM data_status WHERE key = 'demo_bank')")


def downgrade() -> None:
    op.execute("DELETE FROM data_status WHERE key = 'demo_bank'")
    op.drop_table("login_throttle")
    op.drop_index("ix_app_session_user_open", table_name="app_session")
    op.drop_table("app_session")
