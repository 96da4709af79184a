"""model monitoring figures by month

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_monitor",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("model_registry.id", name="fk_model_monitor_model_id_model_registry"),
                  nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("metric", sa.String(16), nullable=False,
                  comment="auc | ks | psi | rows | bad_rate | calib_pred | calib_obs | input_psi"),
        sa.Column("feature", sa.String(48), nullable=False, comment="the input (input_psi) or score band (calib_*)"),
        sa.Column("value", sa.Float()))
    op.create_index("ix_model_monitor_model_metric", "model_monitor", ["model_id", "metric"])


def downgrade() -> None:
    op.drop_index("ix_model_monitor_model_metric", table_name="model_monitor")
    op.drop_table("model_monitor")
