"""Event fingerprints per calendar source; feed schedule and back-off

Revision ID: sync_0001
Revises: ui_desk_0001
Create Date: 2026-12-02 05:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = "sync_0001"
down_revision = "ui_desk_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("calendar_source", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_syncs", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_sync_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("event_fingerprints_basis", sa.String(length=64), nullable=True))
    op.create_table(
        "calendar_event_fingerprint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=500), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("with_stamps", sa.Boolean(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["practice_id"], ["practice.id"],
                                name=op.f("fk_calendar_event_fingerprint_practice_id_practice")),
        sa.ForeignKeyConstraint(["source_id"], ["calendar_source.id"],
                                name=op.f("fk_calendar_event_fingerprint_source_id_calendar_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_event_fingerprint")),
        sa.UniqueConstraint("source_id", "uid", name=op.f("uq_calendar_event_fingerprint_source_id_uid")),
    )
    with op.batch_alter_table("calendar_event_fingerprint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calendar_event_fingerprint_practice_id"), ["practice_id"], unique=False)


def downgrade():
    with op.batch_alter_table("calendar_event_fingerprint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_event_fingerprint_practice_id"))
    op.drop_table("calendar_event_fingerprint")
    with op.batch_alter_table("calendar_source", schema=None) as batch_op:
        batch_op.drop_column("event_fingerprints_basis")
        batch_op.drop_column("next_sync_at")
        batch_op.drop_column("failed_syncs")
