"""CalDAV calendars: their login and sync token, and the local mirror of their objects

Revision ID: caldav_0001
Revises: guard_0001
Create Date: 2026-12-02 05:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'caldav_0001'
down_revision = 'guard_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('caldav_calendar',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=300), nullable=False),
    sa.Column('password_encrypted', sa.Text(), nullable=False),
    sa.Column('sync_token', sa.String(length=1000), nullable=True),
    sa.Column('import_pending', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], ),
    sa.ForeignKeyConstraint(['source_id'], ['calendar_source.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_id')
    )
    with op.batch_alter_table('caldav_calendar', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caldav_calendar_practice_id'), ['practice_id'], unique=False)

    op.create_table('caldav_object',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('href', sa.String(length=1000), nullable=False),
    sa.Column('etag', sa.String(length=300), nullable=True),
    sa.Column('ics', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], ),
    sa.ForeignKeyConstraint(['source_id'], ['calendar_source.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_id', 'href')
    )
    with op.batch_alter_table('caldav_object', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caldav_object_practice_id'), ['practice_id'], unique=False)


def downgrade():
    with op.batch_alter_table('caldav_object', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_caldav_object_practice_id'))
    op.drop_table('caldav_object')
    with op.batch_alter_table('caldav_calendar', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_caldav_calendar_practice_id'))
    op.drop_table('caldav_calendar')
