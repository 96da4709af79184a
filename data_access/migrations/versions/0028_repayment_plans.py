"""negotiated repayment plans (协商还款) on collection cases and their instalments (data_access/plans.py); an index on
repayment.paid_on for the nightly evaluation's data date

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2, asdecimal=False)


def upgrade() -> None:
    op.create_index("ix_repayment_paid_on", "repayment", ["paid_on"])
    op.create_table(
        "repayment_plan",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("collection_case.id",
                                                         name="fk_repayment_plan_case_id_collection_case"),
                  nullable=False),
        sa.Column("status", sa.String(8), nullable=False, comment="active | kept | broken (data_access.plans.evaluate)"),
        sa.Column("start_on", sa.Date(), nullable=False,
                  comment="the day it was agreed: payments on the loan from this day count"),
        sa.Column("instalments", sa.Integer(), nullable=False),
        sa.Column("total_amount", MONEY, nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False,
                  comment="days after a due date a payment still counts (at agreement)"),
        sa.Column("agreed_by", sa.String(32), nullable=False, comment="the user who recorded the agreement"),
        sa.Column("agreed_at", sa.DateTime(), nullable=False),
        sa.Column("debtor_party", sa.String(10), nullable=False,
                  comment="debtor | guarantor: who agreed on the debtor's side"),
        sa.Column("agency_id", sa.Integer(), sa.ForeignKey("agency.id", name="fk_repayment_plan_agency_id_agency"),
                  comment="the agency that agreed it; NULL for the bank's staff"),
        sa.Column("note", sa.String(256)),
        sa.Column("paid_amount", MONEY, nullable=False, comment="paid towards the plan as of evaluated_on"),
        sa.Column("evaluated_on", sa.Date(), comment="the data date of the last evaluation"),
        sa.Column("closed_on", sa.Date(), comment="kept: the day the last instalment was covered; broken: the day after "
                                                  "the missed instalment's grace ended"),
        sa.Column("broken_seq", sa.Integer(), comment="the instalment that was missed"),
        sa.Column("source", sa.String(8), nullable=False, comment="app | demo"),
        sa.PrimaryKeyConstraint("id", name="pk_repayment_plan"))
    op.create_index("ix_repayment_plan_case_id", "repayment_plan", ["case_id"])
    op.create_index("ix_repayment_plan_status", "repayment_plan", ["status"])
    op.create_table(
        "repayment_plan_instalment",
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("repayment_plan.id",
                                                         name="fk_repayment_plan_instalment_plan_id_repayment_plan"),
                  nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, comment="1, 2, … in due-date order"),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("paid_amount", MONEY, nullable=False, comment="payments allotted to it (oldest instalment first)"),
        sa.Column("status", sa.String(8), nullable=False, comment="pending | kept | missed | void (after an earlier miss)"),
        sa.Column("covered_on", sa.Date(), comment="the day the payments covered it"),
        sa.PrimaryKeyConstraint("plan_id", "seq", name="pk_repayment_plan_instalment"))


def downgrade() -> None:
    op.drop_table("repayment_plan_instalment")
    op.drop_table("repayment_plan")
    op.drop_index("ix_repayment_paid_on", table_name="repayment")
