"""Text window and per-client limits per practice; a phone for staff who call on a practitioner's behalf

Revision ID: guard_0001
Revises: sec_0002
"""
from alembic import op
import sqlalchemy as sa

revision = "guard_0001"
down_revision = "sec_0002"
branch_labels = None
depends_on = None

PRACTICE_COLUMNS = (
    ("text_window_before_minutes", "180"),
    ("text_window_after_minutes", "60"),
    ("texts_per_client_per_day", "3"),
    ("texts_min_gap_minutes", "10"),
)


def upgrade():
    with op.batch_alter_table("practice") as batch:
        for name, default in PRACTICE_COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default=default))
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table("user") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("practice") as batch:
        for name, _ in reversed(PRACTICE_COLUMNS):
            batch.drop_column(name)
