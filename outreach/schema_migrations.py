"""`outreach db ...`: Flask-Migrate's Alembic commands, bound to the app only when they are used.

Importing Flask-Migrate imports Alembic, a fifth of a second on every start of
every process (each `outreach import-ics` of a feed re-sync, each worker) that
never migrates anything. So the app carries a stand-in `db` group, and the
first time it is asked for a subcommand it binds Flask-Migrate to the app.
"""
from __future__ import annotations

import click
from flask import Flask

from outreach.config import PROJECT_ROOT
from outreach.extensions import db

COMMAND = "db"


def bind_migrations(app: Flask) -> None:
    """Makes the app's migrations usable (the `db` commands, `flask_migrate.upgrade()`, migrations/env.py)."""
    if "migrate" in app.extensions:
        return
    from flask_migrate import Migrate

    # render_as_batch: SQLite alters tables by copying them; compare_type: autogenerate sees type changes.
    Migrate(app, db, directory=str(PROJECT_ROOT / "migrations"), command=COMMAND, render_as_batch=True,
            compare_type=True)


class MigrationCommands(click.Group):
    """Stands in for Flask-Migrate's `db` group in the command list; running it runs the real one."""

    def __init__(self, app: Flask) -> None:
        super().__init__(name=COMMAND, help="Database migrations (Alembic, through Flask-Migrate).")
        self.app = app

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra) -> click.Context:
        bind_migrations(self.app)
        from flask_migrate.cli import db as migrate_group

        return migrate_group.make_context(info_name, args, parent=parent, **extra)


def register(app: Flask) -> None:
    app.cli.add_command(MigrationCommands(app))
