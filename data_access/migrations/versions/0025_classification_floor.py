"""classification engine: a loan's restructuring date, each snapshot's floor class and its reasons
(data_access.classification), and the classification-deviation mart (loans the bank classed better than the
floor allows)

Existing snapshots get the overdue floor (the engine's day thresholds, as SQL); the history rules (an NPL's and a
restructuring's observation period) apply from the next demo build or import.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# REASON_BITS of data_access.classification: current 1, overdue 2, over 90 days 4, over 270 8, over 360 16
FLOOR = "CASE WHEN dpd > 360 THEN 5 WHEN dpd > 270 THEN 4 WHEN dpd > 90 THEN 3 WHEN dpd > 0 THEN 2 ELSE 1 END"
REASONS = "CASE WHEN dpd > 360 THEN 16 WHEN dpd > 270 THEN 8 WHEN dpd > 90 THEN 4 WHEN dpd > 0 THEN 2 ELSE 1 END"


def upgrade() -> None:
    # plain ADD / DROP COLUMN (SQLite >= 3.35): a batch rebuild of loan would trip the foreign keys pointing at it
    op.add_column("loan", sa.Column("restructured_on", sa.Date(), comment="date of the last restructuring (重组), if any"))
    op.add_column("loan_snapshot", sa.Column("floor_class5", sa.Integer(),
                                             comment="the best class the rules allow (classification engine)"))
    op.add_column("loan_snapshot", sa.Column("floor_reasons", sa.Integer(),
                                             comment="bit mask of the rules that set the floor (classification.REASONS)"))
    op.execute(f"UPDATE loan_snapshot SET floor_class5 = {FLOOR}, floor_reasons = {REASONS}")
    op.create_table(
        "mart_class_deviation",
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(16), nullable=False),
        sa.Column("manager_id", sa.Integer()),
        sa.Column("bank_class", sa.Integer(), nullable=False, comment="the bank's own class5"),
        sa.Column("floor_class", sa.Integer(), nullable=False, comment="the engine's floor; worse than bank_class"),
        sa.Column("floor_reasons", sa.Integer(), nullable=False),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("balance", sa.Numeric(18, 2), nullable=False),
        sa.PrimaryKeyConstraint("month", "loan_id", name="pk_mart_class_deviation"),
    )
    op.create_index("ix_mart_class_deviation_month_branch", "mart_class_deviation", ["month", "branch_id"])
    op.execute("INSERT INTO mart_class_deviation (month, loan_id, branch_id, product_id, segment, manager_id, "
               "bank_class, floor_class, floor_reasons, dpd, balance) SELECT s.month, s.loan_id, l.branch_id, "
               "l.product_id, l.segment, l.manager_id, s.class5, s.floor_class5, s.floor_reasons, s.dpd, s.balance FROM loan_snapshot s "
               "JOIN loan l ON l.id = s.loan_id WHERE s.class5 < s.floor_class5")


def downgrade() -> None:
    op.drop_index("ix_mart_class_deviation_month_branch", table_name="mart_class_deviation")
    op.drop_table("mart_class_deviation")
    op.drop_column("loan_snapshot", "floor_reasons")
    op.drop_column("loan_snapshot", "floor_class5")
    op.drop_column("loan", "restructured_on")
