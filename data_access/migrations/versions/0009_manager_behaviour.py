"""check-in authenticity flags and the manager mart's quality, growth and conduct figures

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)


def upgrade() -> None:
    op.create_table(
        "activity_flag",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("activity_event.id", name="fk_activity_flag_event_id_activity_event"),
                  nullable=False),
        sa.Column("manager_id", sa.Integer(), sa.ForeignKey("manager.id", name="fk_activity_flag_manager_id_manager"),
                  nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False), sa.Column("month", sa.String(7), nullable=False),
        sa.Column("event_at", sa.DateTime(), nullable=False),
        sa.Column("rule", sa.String(20), nullable=False,
                  comment="far_from_home | impossible_speed | same_spot | off_hours | no_gps"),
        sa.Column("severity", sa.String(8), nullable=False, comment="high | medium | low"),
        sa.Column("value", sa.Float(), comment="the rule's measure: metres, km/h, households, hour"),
        sa.Column("detail", sa.String(128)))
    op.create_index("ix_activity_flag_event_id", "activity_flag", ["event_id"])
    op.create_index("ix_activity_flag_manager_month", "activity_flag", ["manager_id", "month"])
    op.create_index("ix_activity_flag_month_severity", "activity_flag", ["month", "severity"])
    cols = [sa.Column("month", sa.String(7), nullable=False), sa.Column("manager_id", sa.Integer(), nullable=False),
            sa.Column("branch_id", sa.Integer(), nullable=False),
            sa.Column("events", sa.Integer(), nullable=False, comment="activity events in the month")]
    cols += [sa.Column(c, sa.Integer(), nullable=False) for c in ("flags_high", "flags_medium", "flags_low")]
    cols += [sa.Column("visited_90d", sa.Integer(), nullable=False, comment="managed customers visited in the 90 days to month end")]
    cols += [sa.Column(c, sa.Integer(), nullable=False) for c in
             ("new_walk_in", "new_whole_village", "new_referral", "new_online", "new_event")]
    cols += [sa.Column("matured_12m", sa.Integer(), nullable=False, comment="loans paid off at maturity in the 12 months to month end"),
             sa.Column("renewed_12m", sa.Integer(), nullable=False, comment="… whose borrower took a new loan afterwards"),
             sa.Column("originated_amount", MONEY, nullable=False, comment="disbursed 7–24 months before month end"),
             sa.Column("originated_ever30_amount", MONEY, nullable=False, comment="… of it, ever 30+ days past due by month end"),
             sa.Column("case_overdue", MONEY, nullable=False, comment="overdue at entry of cases entered in 12 months"),
             sa.Column("case_recovered", MONEY, nullable=False)]
    op.create_table("mart_manager_ext", *cols, sa.PrimaryKeyConstraint("month", "manager_id", name="pk_mart_manager_ext"))
    op.create_index("ix_mart_manager_ext_branch", "mart_manager_ext", ["branch_id", "month"])
    # "today's cases" on the collections page look up the latest entry date
    op.create_index("ix_collection_case_entry_date", "collection_case", ["entry_date"])


def downgrade() -> None:
    op.drop_index("ix_collection_case_entry_date", table_name="collection_case")
    op.drop_index("ix_mart_manager_ext_branch", table_name="mart_manager_ext")
    op.drop_table("mart_manager_ext")
    for ix in ("ix_activity_flag_month_severity", "ix_activity_flag_manager_month", "ix_activity_flag_event_id"):
        op.drop_index(ix, table_name="activity_flag")
    op.drop_table("activity_flag")
