"""How many titles a calendar's learned layout rests on, kept beside the layout.

Revision ID: learn_0001
Revises: ui_field_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "learn_0001"
down_revision = "ui_field_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("calendar_source") as batch_op:
        batch_op.add_column(sa.Column("learned_summary_evidence", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("calendar_source") as batch_op:
        batch_op.drop_column("learned_summary_evidence")
