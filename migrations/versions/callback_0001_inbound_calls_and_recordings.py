"""Closing the loop: inbound calls, recordings, call-back and voicemail-drop settings

Revision ID: callback_0001
Revises: clients_0001
Create Date: 2026-12-02 05:40:00

"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "callback_0001"
down_revision = "clients_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("practice") as batch:
        batch.add_column(sa.Column("callback_window_days", sa.Integer(), nullable=False, server_default="3"))
        batch.add_column(sa.Column("callback_hours_start", sa.Time(), nullable=False,
                                   server_default=sa.literal(dt.time(9, 0))))
        batch.add_column(sa.Column("callback_hours_end", sa.Time(), nullable=False,
                                   server_default=sa.literal(dt.time(19, 0))))
        batch.add_column(sa.Column("other_inbound_calls", sa.String(length=16), nullable=False,
                                   server_default="voicemail"))
        batch.add_column(sa.Column("front_desk_phone", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("missed_call_text_auto", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("voicemail_drop_auto", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("practitioner") as batch:
        batch.add_column(sa.Column("callback_hours_start", sa.Time(), nullable=True))
        batch.add_column(sa.Column("callback_hours_end", sa.Time(), nullable=True))
        batch.add_column(sa.Column("text_me_voicemails", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("call_attempt") as batch:
        batch.add_column(sa.Column("direction", sa.String(length=8), nullable=False, server_default="outbound"))
        batch.add_column(sa.Column("voicemail_left_at", sa.DateTime(), nullable=True))

    op.create_table(
        "inbound_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("from_phone", sa.String(length=20), nullable=True),
        sa.Column("to_phone", sa.String(length=20), nullable=True),
        sa.Column("matched", sa.String(length=8), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("practitioner_id", sa.Integer(), nullable=True),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("route_reason", sa.String(length=200), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("dial_status", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["attempt_id"], ["call_attempt.id"]),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.ForeignKeyConstraint(["practice_id"], ["practice.id"]),
        sa.ForeignKeyConstraint(["practitioner_id"], ["practitioner.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["call_task.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid"),
    )
    with op.batch_alter_table("inbound_call") as batch:
        batch.create_index("ix_inbound_call_practice_id", ["practice_id"])
        batch.create_index("ix_inbound_call_from_phone", ["from_phone"])
        batch.create_index("ix_inbound_call_client_id", ["client_id"])

    op.create_table(
        "recording",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recording_sid", sa.String(length=64), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("inbound_call_id", sa.Integer(), nullable=True),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("practitioner_id", sa.Integer(), nullable=True),
        sa.Column("from_phone", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("transcription", sa.Text(), nullable=True),
        sa.Column("listened_at", sa.DateTime(), nullable=True),
        sa.Column("listened_by_user_id", sa.Integer(), nullable=True),
        sa.Column("erased_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_at_twilio", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.ForeignKeyConstraint(["inbound_call_id"], ["inbound_call.id"]),
        sa.ForeignKeyConstraint(["listened_by_user_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["practice_id"], ["practice.id"]),
        sa.ForeignKeyConstraint(["practitioner_id"], ["practitioner.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["call_task.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recording_sid"),
    )
    with op.batch_alter_table("recording") as batch:
        batch.create_index("ix_recording_practice_id", ["practice_id"])
        batch.create_index("ix_recording_call_sid", ["call_sid"])
        batch.create_index("ix_recording_client_id", ["client_id"])
        batch.create_index("ix_recording_task_id", ["task_id"])
        batch.create_index("ix_recording_practitioner_id", ["practitioner_id"])


def downgrade():
    op.drop_table("recording")
    op.drop_table("inbound_call")
    with op.batch_alter_table("call_attempt") as batch:
        batch.drop_column("voicemail_left_at")
        batch.drop_column("direction")
    with op.batch_alter_table("practitioner") as batch:
        batch.drop_column("text_me_voicemails")
        batch.drop_column("callback_hours_end")
        batch.drop_column("callback_hours_start")
    with op.batch_alter_table("practice") as batch:
        for column in ("voicemail_drop_auto", "missed_call_text_auto", "front_desk_phone", "other_inbound_calls",
                       "callback_hours_end", "callback_hours_start", "callback_window_days"):
            batch.drop_column(column)
