"""How a practitioner introduces themselves on the phone ("Dr. Gorab").

Revision ID: ui_field_0001
Revises: callback_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "ui_field_0001"
down_revision = "callback_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("practitioner") as batch_op:
        batch_op.add_column(sa.Column("formal_name", sa.String(length=100), nullable=True))


def downgrade():
    with op.batch_alter_table("practitioner") as batch_op:
        batch_op.drop_column("formal_name")
