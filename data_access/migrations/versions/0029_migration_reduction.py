"""migration marts: 期间减少金额 per loan (reduction), so that a revolving loan's redraw offsets no other loan's repayment

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

TABLES = ("mart_migration", "mart_migration_ytd", "mart_migration_qtd")
COMMENT = ("期间减少金额 summed per loan: its balance decreases over the period, at most its start balance; a redraw is "
           "new lending, not an offset")


def upgrade() -> None:
    # the marts are rebuilt by the next refresh; until then the column is 0 and the rates read as before the refresh
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("reduction", sa.Numeric(18, 2), nullable=False, server_default="0",
                                       comment=COMMENT))


def downgrade() -> None:
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.drop_column("reduction")
