"""point-in-time dimensions on the monthly snapshot (#20): a loan's branch, manager, product, segment and village as
they were in the month, so that the marts group by them instead of by the loan's current row

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

DIMS = (("branch_id", sa.Integer(), "the loan's branch in the month"),
        ("manager_id", sa.Integer(), "the loan's manager in the month"),
        ("product_id", sa.Integer(), "the loan's product in the month"),
        ("segment", sa.String(16), "the loan's segment in the month"),
        ("village_code", sa.String(12), "the loan's village in the month"))


def upgrade() -> None:
    # nullable columns: an instant ALTER on both engines (no table rebuild of the largest table)
    for name, type_, comment in DIMS:
        op.add_column("loan_snapshot", sa.Column(name, type_, comment=comment))
    # the months before this migration: the loans' current rows are all that is known of them
    sets = ", ".join(f"{name} = l.{name}" for name, _, _ in DIMS)
    op.execute(f"UPDATE loan_snapshot SET {sets} FROM loan l WHERE l.id = loan_snapshot.loan_id")


def downgrade() -> None:
    # SQLite: a plain DROP COLUMN (3.35+), not a batch rebuild of the snapshot table (see 0030)
    for name, _, _ in reversed(DIMS):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE loan_snapshot DROP COLUMN {name}")
        else:
            op.drop_column("loan_snapshot", name)
