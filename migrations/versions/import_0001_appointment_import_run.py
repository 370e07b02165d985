"""Each visit knows the import that brought it in, so that removing an import cancels exactly its visits.

Before, removal matched visits to an import by the moment both were written,
which two imports of one calendar at the same instant would confuse. Visits
already stored are linked that same way, once.

Revision ID: import_0001
Revises: learn_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "import_0001"
down_revision = "learn_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("appointment") as batch_op:
        batch_op.add_column(sa.Column("import_run_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_appointment_import_run_id_import_run"), "import_run",
                                    ["import_run_id"], ["id"])
    op.execute(
        "UPDATE appointment SET import_run_id = (SELECT min(import_run.id) FROM import_run"
        " WHERE import_run.source_id = appointment.source_id AND import_run.created_at = appointment.created_at"
        " AND import_run.status = 'imported')"
    )


def downgrade():
    with op.batch_alter_table("appointment") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_appointment_import_run_id_import_run"), type_="foreignkey")
        batch_op.drop_column("import_run_id")
