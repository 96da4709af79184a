"""model registry windows: kind (validated | production), role (champion | challenger) and every window of data
a model was built on, so that the monitor never shows a month a model saw (issue #17)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01

Models registered before have no windows: the monitor shows nothing for them and the first start retrains them.
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

MONTHS = ("train_from", "train_to", "label_to", "valid_from", "valid_to", "valid_label_to", "monitor_from", "data_to")


def upgrade() -> None:
    # SQLite keeps no column comments, and altering one there rebuilds the table, which fails under foreign keys
    # once model_monitor rows point at it: columns are only added there (ALTER TABLE ADD COLUMN, no rebuild).
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("model_registry", recreate="never" if sqlite else "auto") as batch:
        if not sqlite:
            batch.alter_column("active", existing_type=sa.Boolean(), existing_nullable=False,
                               comment="the current model of its (name, kind, role)")
        batch.add_column(sa.Column("kind", sa.String(12), nullable=False, server_default="production",
                                   comment="validated | production"))
        batch.add_column(sa.Column("role", sa.String(12), nullable=False, server_default="champion",
                                   comment="champion | challenger"))
        batch.add_column(sa.Column("horizon_months", sa.Integer(),
                                   comment="months after an observation month that its label reads"))
        comments = {"label_to": "last month a training label reads", "monitor_from": "first month the monitor may show",
                    "data_to": "newest data month at training"}
        for name in MONTHS:
            batch.add_column(sa.Column(name, sa.String(7), comment=comments.get(name)))
            if name == "label_to":
                batch.add_column(sa.Column("gap_months", sa.Integer(),
                                           comment="observation months left out between training and validation"))
    op.create_index("ix_model_registry_current", "model_registry", ["name", "kind", "role", "active"])


def downgrade() -> None:
    op.drop_index("ix_model_registry_current", table_name="model_registry")
    with op.batch_alter_table("model_registry") as batch:
        for name in ("kind", "role", "horizon_months", "gap_months") + MONTHS:
            batch.drop_column(name)
        batch.alter_column("active", existing_type=sa.Boolean(), existing_nullable=False, comment=None)
