"""strategy tests' parameters: each arm's strategy parameters recorded with the test (channel_mix, digital, capacity
— data_access/experiments.py), and with the strategy in force after a promotion, so an arm can be recomputed

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

TEST_PARAMS = ("JSON {arm: parameters} of the arms whose strategy takes any (data_access.experiments.strategy_params); "
               "NULL: none")
POLICY_PARAMS = "JSON parameters of the strategy, as its arm ran them; NULL: none"


def upgrade() -> None:
    # tests recorded before have only rules and optimised arms, which take no parameters: NULL is right for them
    with op.batch_alter_table("strategy_test") as batch:
        batch.add_column(sa.Column("params", sa.Text(), comment=TEST_PARAMS))
    with op.batch_alter_table("allocation_policy") as batch:
        batch.add_column(sa.Column("params", sa.Text(), comment=POLICY_PARAMS))
    if op.get_bind().dialect.name == "postgresql":  # SQLite keeps no column comments
        op.alter_column("strategy_test", "champion", existing_type=sa.String(12), existing_nullable=False,
                        comment="a strategy of data_access.experiments.STRATEGIES",
                        existing_comment="rules | optimised")
        op.alter_column("allocation_policy", "method", existing_type=sa.String(12), existing_nullable=False,
                        comment="the strategy the allocation run applies",
                        existing_comment="rules | optimised: what the allocation run applies")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("strategy_test", "champion", existing_type=sa.String(12), existing_nullable=False,
                        comment="rules | optimised")
        op.alter_column("allocation_policy", "method", existing_type=sa.String(12), existing_nullable=False,
                        comment="rules | optimised: what the allocation run applies")
    # SQLite: a plain DROP COLUMN (SQLite 3.35+), not a batch rebuild: rebuilding strategy_test drops the table,
    # which foreign keys refuse once strategy_test_case and allocation_policy rows point at it
    for table in ("allocation_policy", "strategy_test"):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN params")
        else:
            op.drop_column(table, "params")
