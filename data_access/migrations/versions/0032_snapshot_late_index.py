"""an index of the snapshots' late months (bucket, loan, months on book): the vintage mart's first 30+ / 90+ month of
each loan reads the late rows alone instead of every snapshot (#20)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-05
"""
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_loan_snapshot_bucket_loan", "loan_snapshot", ["bucket", "loan_id", "mob"])


def downgrade() -> None:
    op.drop_index("ix_loan_snapshot_bucket_loan", table_name="loan_snapshot")
