"""index customers by name for the Customer 360 search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_customer_name", "customer", ["name"])


def downgrade() -> None:
    op.drop_index("ix_customer_name", table_name="customer")
