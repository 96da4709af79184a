"""indexes for lists read a page at a time: an agency's cases (agency, status, entry date) and a month's
authenticity alerts (month, severity, time), so each page stops after its rows instead of sorting them all

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_collection_case_agency_status_date", "collection_case", ["agency_id", "status", "entry_date"])
    op.drop_index("ix_activity_flag_month_severity", table_name="activity_flag")
    op.create_index("ix_activity_flag_month_severity_at", "activity_flag", ["month", "severity", "event_at"])


def downgrade() -> None:
    op.drop_index("ix_activity_flag_month_severity_at", table_name="activity_flag")
    op.create_index("ix_activity_flag_month_severity", "activity_flag", ["month", "severity"])
    op.drop_index("ix_collection_case_agency_status_date", table_name="collection_case")
