"""area mart: the village mart summed by county and township, so the map's upper levels read one row per grid
for whole-bank users

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)
MEASURES = [("households", sa.Integer()), ("households_with_line", sa.Integer()),
            ("households_with_loan", sa.Integer()), ("line_amount", MONEY), ("loans", sa.Integer()),
            ("balance", MONEY), ("npl_balance", MONEY), ("overdue_balance", MONEY), ("deposits", MONEY),
            ("ebank_households", sa.Integer()), ("third_pay_households", sa.Integer()),
            ("ss_card_households", sa.Integer()), ("open_warnings", sa.Integer()), ("new_overdue_loans", sa.Integer())]


def upgrade() -> None:
    op.create_table(
        "mart_area",
        sa.Column("month", sa.String(7), nullable=False), sa.Column("level", sa.String(8), nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        *[sa.Column(name, type_, nullable=False) for name, type_ in MEASURES],
        sa.PrimaryKeyConstraint("month", "level", "code"))
    # filled from the village mart now, so the map is right before the next refresh
    names = ", ".join(name for name, _ in MEASURES)
    sums = ", ".join(f"SUM({name})" for name, _ in MEASURES)
    for level, col in (("county", "county_code"), ("township", "township_code")):
        op.execute(f"INSERT INTO mart_area (month, level, code, {names}) SELECT month, '{level}', {col}, {sums} "
                   f"FROM mart_village GROUP BY month, {col}")


def downgrade() -> None:
    op.drop_table("mart_area")
