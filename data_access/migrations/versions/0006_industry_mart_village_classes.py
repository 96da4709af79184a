"""industry mart, and the five-category split in the village mart, for concentration and geographic drill-down

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mart_industry",
        sa.Column("month", sa.String(7), nullable=False), sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("industry", sa.String(24), nullable=False), sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("borrowers", sa.Integer(), nullable=False), sa.Column("balance", sa.Numeric(18, 2), nullable=False),
        sa.Column("npl_balance", sa.Numeric(18, 2), nullable=False))
    op.create_index("ix_mart_industry_month_branch", "mart_industry", ["month", "branch_id"])
    with op.batch_alter_table("mart_village") as batch:
        for c in range(1, 6):
            batch.add_column(sa.Column(f"class{c}_balance", sa.Numeric(18, 2), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("mart_village") as batch:
        for c in range(5, 0, -1):
            batch.drop_column(f"class{c}_balance")
    op.drop_index("ix_mart_industry_month_branch", table_name="mart_industry")
    op.drop_table("mart_industry")
