"""calendars and imports can be removed: when they were

Revision ID: ui_desk_0001
Revises: caldav_0001
Create Date: 2026-12-02 05:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'ui_desk_0001'
down_revision = 'caldav_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calendar_source') as batch_op:
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('import_run') as batch_op:
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('import_run') as batch_op:
        batch_op.drop_column('removed_at')
    with op.batch_alter_table('calendar_source') as batch_op:
        batch_op.drop_column('removed_at')
