"""Practices and users from the command line."""
import click
from flask.cli import with_appcontext

from outreach.extensions import db
from outreach.cli.options import Fits
from outreach.models import LOCALES, ROLES, Practice, Practitioner, User
from outreach.services import accounts


def register(cli: click.Group) -> None:
    cli.add_command(add_practice)
    cli.add_command(add_user)


@click.command("add-practice")
@click.option("--name", required=True, type=Fits(Practice.name))
@click.option("--timezone", required=True, type=Fits(Practice.timezone), help="IANA name, e.g. Europe/Moscow")
@click.option("--locale", type=click.Choice(LOCALES), default="en", show_default=True)
@click.option("--phone", help="Practice phone in E.164; texts and calls come from it")
@click.option("--address", type=Fits(Practice.address),
              help="The practice's own address (visits elsewhere are at the client's place)")
@with_appcontext
def add_practice(name: str, timezone: str, locale: str, phone: str | None, address: str | None) -> None:
    """Create a practice."""
    try:
        practice = accounts.create_practice(
            db.session, name=name, timezone=timezone, locale=locale, phone=phone, address=address
        )
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Created practice {practice.name!r} (id {practice.id}).")


@click.command("add-user")
@click.option("--practice", "practice_name", required=True)
@click.option("--email", required=True, type=Fits(User.email))
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "full_name", required=True, type=Fits(User.full_name), help='Full name, e.g. "Dr. Glen Gorab"')
@click.option("--preferred-name", type=Fits(Practitioner.preferred_name),
              help="What the practitioner asks people to call them")
@click.option("--phone", help="Practitioner's phone for the call bridge")
@click.option("--password", help="Generated and printed when omitted")
@with_appcontext
def add_user(practice_name: str, email: str, role: str, full_name: str, preferred_name: str | None,
             phone: str | None, password: str | None) -> None:
    """Create a user of a practice (admin, staff or practitioner)."""
    try:
        practice = accounts.practice_by_name(db.session, practice_name)
        user, password_used = accounts.create_user(
            db.session, practice=practice, email=email, role=role, full_name=full_name,
            preferred_name=preferred_name, phone=phone, password=password,
        )
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Created {role} {user.email}.")
    if not password:
        click.echo(f"Password: {password_used}")
