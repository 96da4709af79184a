"""index loans by application: the importer computes application outcomes through it

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_loan_application_id", "loan", ["application_id"])


def downgrade() -> None:
    op.drop_index("ix_loan_application_id", table_name="loan")
