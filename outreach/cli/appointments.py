"""`outreach appointments`: the appointments as the importer read them, with why.

    outreach appointments --practice NAME [--from DAY] [--to DAY] --json

With --json each appointment is one JSON object on its own line:
{"uid", "recurrence_id", "starts_at", "status", "client": {"name", "phone", "email"} or null,
 "at_client_place", "first_visit", "why": {...}}. This shape is an interface.
"""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from outreach.extensions import db
from outreach.services import accounts
from outreach.services.appointment_listing import appointments_json


def register(cli: click.Group) -> None:
    cli.add_command(list_appointments)


@click.command("appointments")
@click.option("--practice", "practice_name", required=True, help="The practice's name.")
@click.option("--from", "first_day", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="First day (the practice's time zone).")
@click.option("--to", "last_day", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Last day, inclusive.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per appointment per line.")
@with_appcontext
def list_appointments(practice_name: str, first_day, last_day, as_json: bool) -> None:
    """List a practice's appointments: client, place, first visit, and why the importer read them so."""
    try:
        practice = accounts.practice_by_name(db.session, practice_name)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    if first_day and last_day and last_day < first_day:
        raise click.BadParameter("the period ends before it starts", param_hint="--to")
    rows = appointments_json(db.session, practice, first_day.date() if first_day else None,
                             last_day.date() if last_day else None)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            client = row["client"] or {}
            who = client.get("name") or client.get("phone") or client.get("email") or "(no client)"
            flags = [flag for flag, on in (("first visit", row["first_visit"]),
                                           ("at the client's place", row["at_client_place"])) if on]
            click.echo(f"{row['starts_at']}  {row['status']:<10} {who}" + (f"  [{', '.join(flags)}]" if flags else ""))
