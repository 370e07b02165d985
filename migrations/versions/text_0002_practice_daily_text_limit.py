"""A ceiling on all of a practice's texts in a day: what a wrong calendar or a bug can send at worst.

Revision ID: text_0002
Revises: text_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "text_0002"
down_revision = "text_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("practice") as batch_op:
        batch_op.add_column(sa.Column("texts_per_practice_per_day", sa.Integer(), nullable=False,
                                      server_default="300"))


def downgrade():
    with op.batch_alter_table("practice") as batch_op:
        batch_op.drop_column("texts_per_practice_per_day")
