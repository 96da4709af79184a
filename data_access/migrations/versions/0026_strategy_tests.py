"""champion/challenger strategy tests on the collection allocation (data_access/experiments.py): the tests, each
case's arm, and the allocation strategy in force after a promotion

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "strategy_test",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("champion", sa.String(12), nullable=False, comment="rules | optimised"),
        sa.Column("challengers", sa.String(64), nullable=False, comment="comma-separated strategies"),
        sa.Column("shares", sa.String(64), nullable=False, comment="intake shares, champion first, comma-separated"),
        sa.Column("seed", sa.Integer(), nullable=False, comment="the split's seed (data_access.experiments.arms)"),
        sa.Column("measure", sa.String(16), nullable=False, comment="recovery | cure | net | cost_per_100"),
        sa.Column("first_month", sa.String(7), nullable=False),
        sa.Column("last_month", sa.String(7), nullable=False),
        sa.Column("matures_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, comment="running | finished | promoted"),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("promoted_arm", sa.String(12)),
        sa.Column("promoted_at", sa.DateTime()),
        sa.Column("promoted_by", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_strategy_test"))
    op.create_table(
        "strategy_test_case",
        sa.Column("test_id", sa.Integer(), sa.ForeignKey("strategy_test.id", name="fk_strategy_test_case_test_id_strategy_test"),
                  nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("collection_case.id",
                                                         name="fk_strategy_test_case_case_id_collection_case"),
                  nullable=False),
        sa.Column("arm", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("test_id", "case_id", name="pk_strategy_test_case"))
    op.create_table(
        "allocation_policy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("method", sa.String(12), nullable=False, comment="rules | optimised: what the allocation run applies"),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("set_by", sa.String(32), nullable=False),
        sa.Column("test_id", sa.Integer(), sa.ForeignKey("strategy_test.id", name="fk_allocation_policy_test_id_strategy_test")),
        sa.PrimaryKeyConstraint("id", name="pk_allocation_policy"))


def downgrade() -> None:
    op.drop_table("allocation_policy")
    op.drop_table("strategy_test_case")
    op.drop_table("strategy_test")
