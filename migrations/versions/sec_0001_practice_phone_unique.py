"""A practice phone number belongs to one practice: unique index on practice.phone.

Revision ID: sec_0001
Revises: d660e01931dd
"""
import sqlalchemy as sa
from alembic import op

revision = "sec_0001"
down_revision = "d660e01931dd"
branch_labels = None
depends_on = None


def upgrade():
    shared = op.get_bind().execute(sa.text(
        "SELECT phone, COUNT(*) FROM practice WHERE phone IS NOT NULL GROUP BY phone HAVING COUNT(*) > 1"
    )).all()
    if shared:
        numbers = ", ".join(f"{phone} ({count} practices)" for phone, count in shared)
        # Which practice really owns a number is for people to say: nothing is changed or guessed here.
        raise RuntimeError(f"practices share phone numbers: {numbers}; give each practice its own number "
                           "(or none) on its settings page, then upgrade again")
    op.create_index("uq_practice_phone", "practice", ["phone"], unique=True)


def downgrade():
    op.drop_index("uq_practice_phone", table_name="practice")
