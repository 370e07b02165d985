"""Undoing imports from the command line: listing them, removing an import or a whole calendar.

    outreach imports --practice NAME [--json]
    outreach remove-import RUN_ID --practice NAME [--dry-run] [--json]
    outreach remove-calendar SOURCE_ID --practice NAME [--dry-run] [--json]

A removal cancels the future visits (their call tasks set aside, their pending
texts cancelled) and keeps everything that already happened; --dry-run says
what it would do and changes nothing.
"""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CalendarSource, ImportRun, Practice
from outreach.services import accounts, audit, removals


def register(cli: click.Group) -> None:
    cli.add_command(list_imports)
    cli.add_command(remove_import)
    cli.add_command(remove_calendar)


def _practice(name: str) -> Practice:
    try:
        return accounts.practice_by_name(db.session, name)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("imports")
@click.option("--practice", "practice_name", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per import per line.")
@with_appcontext
def list_imports(practice_name: str, as_json: bool) -> None:
    """List every import of the practice, newest first."""
    practice = _practice(practice_name)
    for run in db.session.scalars(removals.import_runs(practice.id)):
        line = {"id": run.id, "source_id": run.source_id, "source": run.source.name,
                "practitioner": run.source.practitioner.email, "file": run.filename, "status": run.status,
                "at": run.created_at.isoformat(), "removed_at": run.removed_at.isoformat() if run.removed_at else None}
        line |= {key: run.report.get(key) for key in ("created", "updated", "cancelled", "unchanged")}
        if as_json:
            click.echo(json.dumps(line, ensure_ascii=False))
        else:
            removed = f" (removed {run.removed_at:%Y-%m-%d %H:%M} UTC)" if run.removed_at else ""
            click.echo(f"{run.id}\t{run.created_at:%Y-%m-%d %H:%M} UTC\t{line['source']}\t{run.filename}\t"
                       f"{run.status}{removed}")


def _echo(removal: removals.Removal, what: str, dry_run: bool, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(removal.as_json() | {"dry_run": dry_run}))
        return
    verb = "would cancel" if dry_run else "cancelled"
    click.echo(f"{what}: {verb} {len(removal.visits)} future visits, set aside {removal.call_tasks} call tasks, "
               f"cancelled {removal.texts} pending texts; {removal.past_visits} past visits kept")


@click.command("remove-import")
@click.argument("run_id", type=int)
@click.option("--practice", "practice_name", required=True)
@click.option("--dry-run", is_flag=True, help="Say what would go, change nothing.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def remove_import(run_id: int, practice_name: str, dry_run: bool, as_json: bool) -> None:
    """Remove an import: cancel the future visits it brought in."""
    practice = _practice(practice_name)
    run = db.session.get(ImportRun, run_id)
    if run is None or run.practice_id != practice.id:
        raise click.ClickException(f"there is no import {run_id} in {practice.name}")
    now = utcnow()
    try:
        removal = (removals.plan_import_removal(db.session, run, now) if dry_run
                   else removals.remove_import(db.session, run, actor=audit.SYSTEM, now=now))
    except removals.RemovalError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    _echo(removal, f"import {run_id} ({run.filename})", dry_run, as_json)


@click.command("remove-calendar")
@click.argument("source_id", type=int)
@click.option("--practice", "practice_name", required=True)
@click.option("--dry-run", is_flag=True, help="Say what would go, change nothing.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def remove_calendar(source_id: int, practice_name: str, dry_run: bool, as_json: bool) -> None:
    """Remove a calendar: cancel all its future visits and stop syncing it."""
    practice = _practice(practice_name)
    source = db.session.get(CalendarSource, source_id)
    if source is None or source.practice_id != practice.id:
        raise click.ClickException(f"there is no calendar {source_id} in {practice.name}")
    now = utcnow()
    try:
        removal = (removals.plan_calendar_removal(db.session, source, now) if dry_run
                   else removals.remove_calendar(db.session, source, actor=audit.SYSTEM, now=now))
    except removals.RemovalError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    _echo(removal, f"calendar {source_id} ({source.name})", dry_run, as_json)
