"""collection totals in the branch mart: the branch league's 12-month recovery reads one row per branch and month

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mart_branch") as batch:
        batch.add_column(sa.Column("coll_overdue", sa.Numeric(18, 2), nullable=False, server_default="0"))
        batch.add_column(sa.Column("coll_recovered", sa.Numeric(18, 2), nullable=False, server_default="0"))
    # filled from the collection mart now, so the league is right before the next refresh
    for name, measure in (("coll_overdue", "overdue_at_entry"), ("coll_recovered", "recovered_amount")):
        op.execute(f"UPDATE mart_branch SET {name} = COALESCE((SELECT SUM(c.{measure}) FROM mart_collection c "
                   f"WHERE c.entry_month = mart_branch.month AND c.branch_id = mart_branch.branch_id), 0)")


def downgrade() -> None:
    with op.batch_alter_table("mart_branch") as batch:
        batch.drop_column("coll_recovered")
        batch.drop_column("coll_overdue")
