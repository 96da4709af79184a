"""point-in-time facts: customer_fact and region_fact keep the changing customer and village attributes with their
validity, so that model features read them as of their month (issue #17)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01

The history of an existing database starts at its newest snapshot month (the only month its current rows are
known to describe): earlier months have no facts, i.e. missing inputs, rather than today's values read back.
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_fact",
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customer.id", name="fk_customer_fact_customer_id_customer"),
                  nullable=False),
        sa.Column("valid_from", sa.String(7), nullable=False, comment="first month the values held"),
        sa.Column("valid_to", sa.String(7), comment="first month they no longer held; NULL while they do"),
        sa.Column("annual_income", sa.Numeric(18, 2)),
        sa.Column("deposit_balance", sa.Numeric(18, 2)),
        sa.Column("multi_lending_count", sa.Integer()),
        sa.Column("household_size", sa.Integer()),
        sa.Column("credit_household", sa.Boolean()),
        sa.PrimaryKeyConstraint("customer_id", "valid_from", name="pk_customer_fact"),
    )
    op.create_table(
        "region_fact",
        sa.Column("code", sa.String(12), sa.ForeignKey("region.code", name="fk_region_fact_code_region"), nullable=False),
        sa.Column("valid_from", sa.String(7), nullable=False, comment="first month the grade held"),
        sa.Column("valid_to", sa.String(7), comment="first month it no longer held; NULL while it does"),
        sa.Column("credit_village_grade", sa.String(4)),
        sa.PrimaryKeyConstraint("code", "valid_from", name="pk_region_fact"),
    )
    op.execute("INSERT INTO customer_fact (customer_id, valid_from, valid_to, annual_income, deposit_balance, "
               "multi_lending_count, household_size, credit_household) "
               "SELECT id, (SELECT MAX(month) FROM loan_snapshot), NULL, annual_income, deposit_balance, "
               "multi_lending_count, household_size, credit_household FROM customer "
               "WHERE EXISTS (SELECT 1 FROM loan_snapshot)")
    op.execute("INSERT INTO region_fact (code, valid_from, valid_to, credit_village_grade) "
               "SELECT code, (SELECT MAX(month) FROM loan_snapshot), NULL, credit_village_grade FROM region "
               "WHERE level = 'village' AND EXISTS (SELECT 1 FROM loan_snapshot)")


def downgrade() -> None:
    op.drop_table("region_fact")
    op.drop_table("customer_fact")
