"""Reading clients and places: families share phones, calendars say where visits happen, appointments say why

Revision ID: clients_0001
Revises: sync_0001
Create Date: 2026-12-02 05:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'clients_0001'
down_revision = 'sync_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_client_practice_id_phone'), type_='unique')
        batch_op.create_index('ix_client_practice_phone', ['practice_id', 'phone'], unique=False)
    with op.batch_alter_table('calendar_source', schema=None) as batch_op:
        batch_op.add_column(sa.Column('learned_summary_format', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('client_place', sa.String(length=8), server_default='decide', nullable=False))
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('new_client', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('why', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_column('why')
        batch_op.drop_column('new_client')
    with op.batch_alter_table('calendar_source', schema=None) as batch_op:
        batch_op.drop_column('client_place')
        batch_op.drop_column('learned_summary_format')
    # Families sharing a phone must be told apart by hand before the old rule can come back.
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.drop_index('ix_client_practice_phone')
        batch_op.create_unique_constraint(batch_op.f('uq_client_practice_id_phone'), ['practice_id', 'phone'])
