"""`outreach build-call-lists`: build or rebuild the weekly call lists now."""
import json

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import Practice
from outreach.services import accounts, call_lists


def register(cli: click.Group) -> None:
    cli.add_command(build_call_lists)


def _week(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    try:
        return call_lists.parse_week(value)
    except call_lists.WeekError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


@click.command("build-call-lists")
@click.option("--practice", "practice_name", help="Only this practice (default: every practice)")
@click.option("--week", "monday", callback=_week, metavar="YYYY-Www",
              help="ISO week, e.g. 2026-W49 (default: next week in each practice's time zone)")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per practitioner per line")
@with_appcontext
def build_call_lists(practice_name: str | None, monday, as_json: bool) -> None:
    """Build (or rebuild, keeping all work done) the call lists of a week.

    Per practitioner: tasks on the list after the run; added by this run (new,
    or back because their visit is); removed by this run (visit cancelled or
    moved; kept with their history); kept from before. Sends no "list ready"
    text: that is the weekend job's.
    """
    if practice_name:
        try:
            practices = [accounts.practice_by_name(db.session, practice_name)]
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from exc
    else:
        practices = db.session.scalars(select(Practice).order_by(Practice.name)).all()
    now = utcnow()
    for practice in practices:
        build = call_lists.build_call_lists(db.session, practice, monday or call_lists.next_week(practice, now),
                                            now=now)
        db.session.commit()
        for built in build.lists:
            if as_json:
                click.echo(json.dumps(built.as_json(), ensure_ascii=False))
            else:
                click.echo(f"{practice.name} · {built.email} · {built.week}: {built.tasks} tasks "
                           f"({built.added} added, {built.removed} removed, {built.kept} kept)")
