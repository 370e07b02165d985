"""Why a text was not sent, kept as a message that pages say in the reader's language.

Revision ID: text_0001
Revises: import_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "text_0001"
down_revision = "import_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notification") as batch_op:
        batch_op.add_column(sa.Column("status_reason", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("notification") as batch_op:
        batch_op.drop_column("status_reason")
