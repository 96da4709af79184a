"""index the migration and portfolio marts by branch, then month: the NPL simulator reads a year of one
branch's (or the whole bank's roll-up) rows, which PostgreSQL otherwise answers with a scan of every branch's;
and the village mart by month and new overdue loans, so the hotspot list reads its top 20 from the index

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-25
"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mart_migration_branch_month", "mart_migration", ["branch_id", "month"])
    op.create_index("ix_mart_portfolio_branch_month", "mart_portfolio", ["branch_id", "month"])
    op.create_index("ix_mart_village_month_new_overdue", "mart_village", ["month", "new_overdue_loans"])


def downgrade() -> None:
    op.drop_index("ix_mart_village_month_new_overdue", table_name="mart_village")
    op.drop_index("ix_mart_portfolio_branch_month", table_name="mart_portfolio")
    op.drop_index("ix_mart_migration_branch_month", table_name="mart_migration")
