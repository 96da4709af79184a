"""application scores of the active scorecard and the approval simulator's mart

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "application_score",
        sa.Column("application_id", sa.Integer(),
                  sa.ForeignKey("application.id", name="fk_application_score_application_id_application"),
                  primary_key=True),
        sa.Column("model_id", sa.Integer(),
                  sa.ForeignKey("model_registry.id", name="fk_application_score_model_id_model_registry"),
                  nullable=False),
        sa.Column("score", sa.Integer(), nullable=False, comment="the active scorecard's points"),
        sa.Column("pd", sa.Float(), nullable=False,
                  comment="the scorecard's probability of bad (ever 90+ in 12 months)"))
    op.create_table(
        "mart_approval",
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(16), nullable=False),
        sa.Column("village_grade", sa.String(4), nullable=False, comment="credit-village grade, 'none' outside them"),
        sa.Column("credit_household", sa.Integer(), nullable=False, comment="1 for a 信用户"),
        sa.Column("score_band", sa.Integer(), nullable=False, comment="scorecard points rounded down to 5"),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("applications", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False, comment="amount requested"),
        sa.Column("rate_amount", sa.Float(), nullable=False, comment="Σ amount × product annual rate"),
        sa.Column("pd_sum", sa.Float(), nullable=False),
        sa.Column("pd_amount", sa.Float(), nullable=False, comment="Σ PD × amount"),
        sa.Column("outcome_known", sa.Integer(), nullable=False,
                  comment="approved with the 12-month outcome observed"),
        sa.Column("bads", sa.Integer(), nullable=False),
        sa.Column("known_pd_sum", sa.Float(), nullable=False,
                  comment="Σ PD over the applications with a known outcome"))
    op.create_index("ix_mart_approval_month_branch", "mart_approval", ["month", "branch_id"])


def downgrade() -> None:
    op.drop_index("ix_mart_approval_month_branch", table_name="mart_approval")
    op.drop_table("mart_approval")
    op.drop_table("application_score")
