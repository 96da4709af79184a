"""collection channels with capacity and cost, allocation runs, litigation stage; two more columns in the collection mart

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)


def upgrade() -> None:
    op.create_table(
        "collection_channel",
        sa.Column("code", sa.String(12), primary_key=True,
                  comment="ai_voice | sms | phone | field | agency | mediation | litigation | write_off"),
        sa.Column("monthly_capacity", sa.Integer(), comment="new cases a month; NULL for agency (each agency has its own)"),
        sa.Column("cost_per_case", MONEY, nullable=False, comment="bank's average cost of working one case, 元"),
        sa.Column("active", sa.Boolean(), nullable=False))
    op.create_table(
        "allocation_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_at", sa.DateTime(), nullable=False), sa.Column("run_by", sa.String(32), nullable=False),
        sa.Column("month", sa.String(7), nullable=False, comment="entry month of the cases allocated"),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("model_registry.id", name="fk_allocation_run_model_id_model_registry")),
        sa.Column("cases", sa.Integer(), nullable=False), sa.Column("assigned", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False, comment="left pending: no eligible channel had capacity"),
        sa.Column("expected_recovery", MONEY, nullable=False), sa.Column("expected_cost", MONEY, nullable=False),
        sa.Column("baseline_recovery", MONEY, nullable=False, comment="the rules alone, same cases and capacities"),
        sa.Column("baseline_cost", MONEY, nullable=False))
    op.create_table(
        "allocation_run_line",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("allocation_run.id", name="fk_allocation_run_line_run_id_allocation_run"),
                  nullable=False),
        sa.Column("method", sa.String(10), nullable=False, comment="optimised (applied) | rules (baseline)"),
        sa.Column("entry_bucket", sa.Integer(), nullable=False), sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False, comment="0 when not outsourced"),
        sa.Column("cases", sa.Integer(), nullable=False), sa.Column("overdue", MONEY, nullable=False),
        sa.Column("expected_recovery", MONEY, nullable=False), sa.Column("expected_cost", MONEY, nullable=False))
    op.create_index("ix_allocation_run_line_run_id", "allocation_run_line", ["run_id"])
    with op.batch_alter_table("collection_case") as batch:
        batch.add_column(sa.Column("allocation_run_id", sa.Integer(), comment="the run that chose the channel"))
        batch.add_column(sa.Column("propensity", sa.Float(),
                                   comment="modelled probability of cure in the chosen channel, at allocation"))
        batch.add_column(sa.Column("expected_recovery", MONEY,
                                   comment="modelled recovery in the chosen channel, at allocation"))
        batch.add_column(sa.Column("legal_stage", sa.String(12),
                                   comment="litigation only: filed | hearing | judgment | enforcement | closed"))
        batch.create_foreign_key("fk_collection_case_allocation_run_id_allocation_run", "allocation_run",
                                 ["allocation_run_id"], ["id"])
    op.create_index("ix_collection_case_channel_month", "collection_case", ["channel", "entry_month"])
    with op.batch_alter_table("mart_collection") as batch:
        batch.add_column(sa.Column("legal_stage", sa.String(12), nullable=False, server_default="",
                                   comment="litigation stage; '' for other channels"))
        batch.add_column(sa.Column("balance_at_entry", MONEY, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("mart_collection") as batch:
        batch.drop_column("balance_at_entry")
        batch.drop_column("legal_stage")
    op.drop_index("ix_collection_case_channel_month", table_name="collection_case")
    with op.batch_alter_table("collection_case") as batch:
        batch.drop_constraint("fk_collection_case_allocation_run_id_allocation_run", type_="foreignkey")
        for c in ("legal_stage", "expected_recovery", "propensity", "allocation_run_id"):
            batch.drop_column(c)
    op.drop_index("ix_allocation_run_line_run_id", table_name="allocation_run_line")
    op.drop_table("allocation_run_line")
    op.drop_table("allocation_run")
    op.drop_table("collection_channel")
