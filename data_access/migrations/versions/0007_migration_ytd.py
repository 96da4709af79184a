"""year-to-date classification migration mart, for the regulator's migration rates

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mart_migration_ytd",
        sa.Column("month", sa.String(7), nullable=False, comment="period end; the period starts at the previous December"),
        sa.Column("branch_id", sa.Integer(), nullable=False), sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(16), nullable=False), sa.Column("from_class", sa.Integer(), nullable=False),
        sa.Column("to_class", sa.Integer(), nullable=False, comment="1-5, 6 paid off, 7 written off"),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("balance", sa.Numeric(18, 2), nullable=False, comment="balance at the start of the year"),
        sa.Column("balance_next", sa.Numeric(18, 2), nullable=False, comment="balance at the period end; 0 once closed"))
    op.create_index("ix_mart_migration_ytd_month_branch", "mart_migration_ytd", ["month", "branch_id"])


def downgrade() -> None:
    op.drop_index("ix_mart_migration_ytd_month_branch", table_name="mart_migration_ytd")
    op.drop_table("mart_migration_ytd")
