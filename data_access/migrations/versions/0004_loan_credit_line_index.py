"""index loans by credit line, for a line's usage in Customer 360

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_loan_credit_line_id", "loan", ["credit_line_id"])


def downgrade() -> None:
    op.drop_index("ix_loan_credit_line_id", table_name="loan")
