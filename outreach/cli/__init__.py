"""The `outreach` command: the staff and ops interface (a Flask CLI group).

Each area adds its commands in its own module through `register(cli)`.
"""
import click
from flask.cli import FlaskGroup

from outreach import create_app


def _create_app():
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True, add_version_option=False)
def cli() -> None:
    """outreach: weekly first-visit call lists, click-to-call and arrival texts."""


def _register_areas() -> None:
    from outreach.cli import accounts, demo, ops

    for area in (accounts, demo, ops):
        area.register(cli)
    # Areas written later register themselves here too.
    for name in ("imports", "call_lists", "notifications", "outcomes"):
        try:
            module = __import__(f"outreach.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"outreach.cli.{name}":
                raise
            continue
        module.register(cli)


_register_areas()


def main() -> None:
    cli(prog_name="outreach")
