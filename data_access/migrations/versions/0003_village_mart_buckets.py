"""village mart: loan count, DPD bucket balances and disbursements, for township and village drill-down

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = [("loans", sa.Integer()), ("m1_balance", sa.Numeric(18, 2)), ("m2_balance", sa.Numeric(18, 2)),
           ("m3_balance", sa.Numeric(18, 2)), ("m4_balance", sa.Numeric(18, 2)),
           ("disbursed_amount", sa.Numeric(18, 2))]


def upgrade() -> None:
    with op.batch_alter_table("mart_village") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=False, server_default="0"))
    # marts are rebuilt by `python -m data_access refresh`; existing rows keep 0 until then


def downgrade() -> None:
    with op.batch_alter_table("mart_village") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
