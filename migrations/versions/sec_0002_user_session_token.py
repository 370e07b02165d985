"""Per-user session token: logout and a new password end every session of the user.

Revision ID: sec_0002
Revises: sec_0001
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = "sec_0002"
down_revision = "sec_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
    # Existing users get a token each; the sessions they had end (they sign in again once).
    connection = op.get_bind()
    users = sa.table("user", sa.column("id", sa.Integer), sa.column("session_token", sa.String))
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(users.update().where(users.c.id == user_id)
                           .values(session_token=secrets.token_urlsafe(32)))


def downgrade():
    with op.batch_alter_table("user") as batch:
        batch.drop_column("session_token")
