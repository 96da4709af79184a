"""migration mart: balance at t+1, for the regulator's migration rates (期间减少金额)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mart_migration") as batch:
        batch.add_column(sa.Column("balance_next", sa.Numeric(18, 2), nullable=False, server_default="0",
                                   comment="balance at t+1; 0 once closed"))


def downgrade() -> None:
    with op.batch_alter_table("mart_migration") as batch:
        batch.drop_column("balance_next")
