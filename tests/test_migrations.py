"""The Alembic migrations build exactly the schema the models describe, on both databases."""

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from outreach import create_app
from outreach.extensions import db
from outreach.schema_migrations import bind_migrations
from tests.conftest import base_test_config, create_postgres_database, drop_postgres_database, private_database_name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    name = private_database_name("migrations")
    yield create_postgres_database(name)
    drop_postgres_database(name)


def test_upgrade_to_head_matches_the_models_then_downgrades_cleanly(empty_database_url, tmp_path):
    app = create_app(base_test_config(empty_database_url, tmp_path))
    bind_migrations(app)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == []
        downgrade(revision="base")
        with db.engine.connect() as connection:
            remaining = set(db.inspect(connection).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        db.engine.dispose()


def test_visits_stored_before_import_links_are_linked_to_the_import_that_wrote_them(empty_database_url, tmp_path):
    app = create_app(base_test_config(empty_database_url, tmp_path))
    bind_migrations(app)
    written = dt.datetime(2026, 11, 20, 9, 30)
    with app.app_context():
        upgrade(revision="learn_0001")
        with db.engine.begin() as connection:
            practice = _insert(connection, "practice", name="Smile Dental")
            user = _insert(connection, "user", practice_id=practice)
            practitioner = _insert(connection, "practitioner", practice_id=practice, user_id=user)
            source = _insert(connection, "calendar_source", practice_id=practice, practitioner_id=practitioner)
            runs = [_insert(connection, "import_run", practice_id=practice, source_id=source, status=status,
                            created_at=at) for status, at in
                    (("error", written), ("imported", written), ("imported", written + dt.timedelta(hours=1)))]
            visits = [_insert(connection, "appointment", practice_id=practice, practitioner_id=practitioner,
                              source_id=source, uid=uid, created_at=at)
                      for uid, at in (("a@x", written), ("b@x", written + dt.timedelta(hours=1)),
                                      ("c@x", written + dt.timedelta(days=1)))]
        upgrade()
        with db.engine.connect() as connection:
            links = dict(connection.execute(sa.text("SELECT id, import_run_id FROM appointment")).all())
        assert links == {visits[0]: runs[1], visits[1]: runs[2], visits[2]: None}
        db.engine.dispose()


def _insert(connection, table_name: str, **values) -> int:
    """Adds a row with `values` and a plain value in every other required column; returns its id."""
    table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
    for column in table.columns:
        if column.name in values or column.nullable or column.primary_key or column.server_default is not None:
            continue
        values[column.name] = _plain_value(column.type, column.name)
    return connection.execute(table.insert().values(**values)).inserted_primary_key[0]


def _plain_value(column_type, name: str):
    if isinstance(column_type, sa.Boolean):
        return False
    if isinstance(column_type, sa.Integer):
        return 0
    if isinstance(column_type, sa.DateTime):
        return dt.datetime(2026, 11, 1)
    if isinstance(column_type, sa.Time):
        return dt.time(9)
    if isinstance(column_type, sa.JSON):
        return {}
    return f"{name}-1"
