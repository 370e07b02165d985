"""The Alembic migrations build exactly the schema the models describe, on both databases."""

import pytest
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
