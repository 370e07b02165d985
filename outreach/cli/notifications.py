"""`outreach notifications` lists the texts in the outbox; `outreach dispatch-due` sends what is due."""
import datetime as dt
import json
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from outreach.cli.options import Day
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import Client, Notification, Practice
from outreach.services import accounts, sms_outbox

# Every zone is within 14 hours of UTC: a local day lies inside its UTC day widened by that.
_MAX_UTC_OFFSET = dt.timedelta(hours=14)


def register(cli: click.Group) -> None:
    cli.add_command(list_notifications)
    cli.add_command(dispatch_due)


@click.command("notifications")
@click.option("--practice", "practice_name", help="Only this practice (default: every practice)")
@click.option("--date", "day", type=Day(), metavar="YYYY-MM-DD",
              help="Only texts due that day, in each practice's time zone")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per text per line")
@with_appcontext
def list_notifications(practice_name: str | None, day: dt.datetime | None, as_json: bool) -> None:
    """List the texts in the outbox, oldest due first, with their status."""
    query = (select(Notification, Practice.timezone, Client.full_name)
             .join(Practice, Practice.id == Notification.practice_id)
             .outerjoin(Client, Client.id == Notification.client_id)
             .order_by(Notification.due_at, Notification.id))
    if practice_name:
        try:
            practice = accounts.practice_by_name(db.session, practice_name)
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        query = query.where(Notification.practice_id == practice.id)
    if day is not None:
        utc_day = day.replace(tzinfo=dt.timezone.utc)
        query = query.where(Notification.due_at >= utc_day - _MAX_UTC_OFFSET,
                            Notification.due_at < utc_day + dt.timedelta(days=1) + _MAX_UTC_OFFSET)
    for notification, timezone, client_name in db.session.execute(query):
        local_due = notification.due_at.astimezone(ZoneInfo(timezone))
        if day is not None and local_due.date() != day.date():
            continue
        if as_json:
            click.echo(json.dumps({
                "id": notification.id, "appointment_id": notification.appointment_id, "client": client_name,
                "to": notification.to_phone, "kind": notification.kind, "due_at": notification.due_at.isoformat(),
                "status": notification.status, "error_code": notification.error_code,
                "message_sid": notification.message_sid,
            }, ensure_ascii=False))
        else:
            error = f" error {notification.error_code}" if notification.error_code else ""
            click.echo(f"#{notification.id} {local_due:%Y-%m-%d %H:%M} {notification.kind} {notification.status}{error}"
                       f" · {client_name or '-'} {notification.to_phone or '-'} · {notification.message_sid or ''}")


@click.command("dispatch-due")
@with_appcontext
def dispatch_due() -> None:
    """Send every text due now (checking unconfirmed sends with Twilio first) and print how each ended."""
    outcomes = sms_outbox.dispatch_due(db.session, current_app.extensions["twilio_gateway"], utcnow(),
                                       sms_outbox.OutboxSettings.from_config(current_app.config))
    others = sorted(name for name in outcomes if name != "sent")
    click.echo(" ".join(f"{name}={outcomes[name]}" for name in ["sent", *others]))
