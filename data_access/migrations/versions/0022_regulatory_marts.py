"""regulatory marts (#16): migration rates quarter to date, overdue loans in the G11 day bands, 新发放贷款不良率,
and the usage columns (line holders with a loan, amount drawn under valid lines) of the village, area and branch
marts

The new figures are built by the next refresh; the 'refresh' stamp is removed so that ``init`` (run by
``./cockpit run``) rebuilds the marts at the next start instead of showing zeros.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)
USAGE = {"mart_village": (("households_line_loan", sa.Integer()), ("line_used_amount", MONEY)),
         "mart_area": (("households_line_loan", sa.Integer()), ("line_used_amount", MONEY)),
         "mart_branch": (("households_line_loan", sa.Integer()), ("line_amount", MONEY), ("line_used_amount", MONEY))}


def upgrade() -> None:
    for table, cols in USAGE.items():
        with op.batch_alter_table(table) as batch:
            for name, type_ in cols:
                batch.add_column(sa.Column(name, type_, nullable=False, server_default="0"))
    op.create_table(
        "mart_migration_qtd",
        sa.Column("month", sa.String(7), nullable=False), sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False), sa.Column("segment", sa.String(16), nullable=False),
        sa.Column("from_class", sa.Integer(), nullable=False), sa.Column("to_class", sa.Integer(), nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False), sa.Column("balance", MONEY, nullable=False),
        sa.Column("balance_next", MONEY, nullable=False))
    op.create_index("ix_mart_migration_qtd_month_branch", "mart_migration_qtd", ["month", "branch_id"])
    op.create_table(
        "mart_overdue",
        sa.Column("month", sa.String(7), nullable=False), sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False), sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False), sa.Column("balance", MONEY, nullable=False),
        sa.Column("overdue_amount", MONEY, nullable=False))
    op.create_index("ix_mart_overdue_month_branch", "mart_overdue", ["month", "branch_id"])
    op.create_table(
        "mart_new_loan",
        sa.Column("month", sa.String(7), nullable=False), sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False), sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False), sa.Column("npl_loans", sa.Integer(), nullable=False),
        sa.Column("npl_balance", MONEY, nullable=False), sa.Column("disposed_npl", MONEY, nullable=False))
    op.create_index("ix_mart_new_loan_month_branch", "mart_new_loan", ["month", "branch_id"])
    op.execute("DELETE FROM data_status WHERE key = 'refresh'")


def downgrade() -> None:
    for name in ("mart_new_loan", "mart_overdue", "mart_migration_qtd"):
        op.drop_table(name)
    for table, cols in USAGE.items():
        with op.batch_alter_table(table) as batch:
            for name, _ in reversed(cols):
                batch.drop_column(name)
