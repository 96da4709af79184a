"""contacts carry their month (the monthly extract's), their time, the party reached, the way, duration and recording; breaches of the collection conduct
rules (data_access/conduct.py) found on imported or generated contacts are kept in contact_breach

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collection_action") as batch:
        batch.add_column(sa.Column("month", sa.String(7), comment="month of action_on (the monthly extract's month)"))
        batch.add_column(sa.Column("contact_at", sa.DateTime(), comment="when the contact was made (local time)"))
        batch.add_column(sa.Column("party", sa.String(10),
                                   comment="debtor | guarantor (co-borrower or guarantor) | family | other"))
        batch.add_column(sa.Column("way", sa.String(10), comment="call | sms | visit | ai_voice"))
        batch.add_column(sa.Column("duration_s", sa.Integer(),
                                   comment="seconds talked or on site; 0 for an SMS or an unanswered call"))
        batch.add_column(sa.Column("recording_ref", sa.String(64),
                                   comment="the recording's reference in the bank's recording system"))
        batch.add_column(sa.Column("consented", sa.Boolean(), nullable=False, server_default=sa.false(),
                                   comment="the debtor agreed to be contacted at this time (quiet hours)"))
    month = "to_char(action_on, 'YYYY-MM')" if op.get_bind().dialect.name == "postgresql" else "substr(action_on, 1, 7)"
    op.execute(f"UPDATE collection_action SET month = {month}")
    op.create_index("ix_collection_action_month", "collection_action", ["month"])
    op.create_table(
        "contact_breach",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action_id", sa.Integer(), sa.ForeignKey("collection_action.id",
                                                           name="fk_contact_breach_action_id_collection_action"),
                  nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("collection_case.id",
                                                         name="fk_contact_breach_case_id_collection_case"),
                  nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False, comment="0 when the bank's own staff made the contact"),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("contact_at", sa.DateTime(), nullable=False),
        sa.Column("way", sa.String(10), nullable=False),
        sa.Column("rule", sa.String(20), nullable=False,
                  comment="quiet_hours | daily_attempts | unrelated_party | third_party_early | unrecorded"),
        sa.Column("value", sa.Float(), comment="the rule's measure: hour of day, attempt of the day, failed attempts before"),
        sa.Column("source", sa.String(8), nullable=False, comment="import | demo: how the breaking contact arrived"),
        sa.PrimaryKeyConstraint("id", name="pk_contact_breach"))
    op.create_index("ix_contact_breach_action_id", "contact_breach", ["action_id"])
    op.create_index("ix_contact_breach_case_id", "contact_breach", ["case_id"])
    op.create_index("ix_contact_breach_month_agency", "contact_breach", ["month", "agency_id"])


def downgrade() -> None:
    op.drop_table("contact_breach")
    with op.batch_alter_table("collection_action") as batch:
        batch.drop_index("ix_collection_action_month")
        for c in ("consented", "recording_ref", "duration_s", "way", "party", "contact_at", "month"):
            batch.drop_column(c)
