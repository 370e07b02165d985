"""`outreach demo`: the demo practice with next week's calendar."""
import click
from flask import current_app
from flask.cli import with_appcontext

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.services import demo as demo_service


def register(cli: click.Group) -> None:
    cli.add_command(demo)


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Create the demo practice (once) and print the logins."""
    demo_service.create_demo(db.session, now=utcnow())
    db.session.commit()
    click.echo(f"Demo practice {demo_service.PRACTICE_NAME!r} is ready at {current_app.config['PUBLIC_BASE_URL']}/")
    click.echo(f"Logins (password {demo_service.PASSWORD!r}):")
    for login in demo_service.LOGINS:
        click.echo(f"  {login.role:<13} {login.email:<24} {login.name}")
