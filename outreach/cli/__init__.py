"""The `outreach` command: the staff and ops interface (a Flask CLI group).

Each area adds its commands to the app's CLI in its own module through
`register(group)`; `outreach` is a FlaskGroup over the app factory, so
`outreach demo`, `flask --app outreach demo` and the tests' CLI runner all
reach the same commands.
"""
import click
from flask import Flask
from flask.cli import FlaskGroup

from outreach import process
from outreach.cli import accounts, appointments, call_lists, demo, imports, notifications, ops, outcomes, removals

AREAS = (accounts, demo, ops, imports, removals, appointments, call_lists, notifications, outcomes)


def register_commands(app: Flask) -> None:
    for area in AREAS:
        area.register(app.cli)


def _create_app() -> Flask:
    from outreach import MissingSecretKey, create_app

    try:
        app = create_app()
    except MissingSecretKey as exc:
        raise click.ClickException(str(exc)) from exc
    process.settle_after_start()
    return app


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def cli() -> None:
    """outreach: weekly first-visit call lists, click-to-call and arrival texts."""


def main() -> None:
    cli(prog_name="outreach")
