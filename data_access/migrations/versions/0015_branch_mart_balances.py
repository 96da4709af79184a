"""balances in the branch mart: the branch league reads one row per branch and month

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

COLUMNS = ("balance", "npl_balance", "overdue_balance")


def upgrade() -> None:
    with op.batch_alter_table("mart_branch") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Numeric(18, 2), nullable=False, server_default="0"))
    # fill them from the portfolio mart now, so the league is right before the next nightly refresh
    for name, measure in (("balance", "p.balance"), ("npl_balance", "CASE WHEN p.class5 >= 3 THEN p.balance ELSE 0 END"),
                          ("overdue_balance", "CASE WHEN p.bucket >= 1 THEN p.balance ELSE 0 END")):
        op.execute(f"UPDATE mart_branch SET {name} = COALESCE((SELECT SUM({measure}) FROM mart_portfolio p "
                   f"WHERE p.month = mart_branch.month AND p.branch_id = mart_branch.branch_id), 0)")


def downgrade() -> None:
    with op.batch_alter_table("mart_branch") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
