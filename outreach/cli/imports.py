"""Calendars from the command line: importing .ics files, adding feeds, syncing feeds.

    outreach import-ics PATH... --practitioner EMAIL [--window-start DAY] [--window-end DAY] [--json]
    outreach add-feed URL --practitioner EMAIL [--name NAME]
    outreach add-caldav URL --practitioner EMAIL --username USER [--calendar NAME_OR_URL]... [--all]
    outreach sync-feeds [--all] [--json]          (feeds and CalDAV calendars)
    outreach credentials-key

With --json each file (or feed) prints one JSON object on its own line: the
import report. The exit status is 0 when everything imported, 1 otherwise.
"""
from __future__ import annotations

import json
import os
import sys
from gettext import ngettext
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from outreach.cli.options import Day, Fits
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import CalendarSource, Practitioner
from outreach.services import accounts, caldav_sync, calendar_intake, credentials, feeds, import_words
from outreach.services.ics_import import (
    ImportLimits,
    ImportReport,
    record_import_run,
    size_problem,
    uploaded_files_source,
)

# A progress bar is worth showing from this many files, or this many bytes in all.
_PROGRESS_FROM_FILES = 5
_PROGRESS_FROM_BYTES = 5 * 1024 * 1024
_SKIPPED_SHOWN = 5


def register(cli: click.Group) -> None:
    cli.add_command(import_ics)
    cli.add_command(add_feed)
    cli.add_command(sync_feeds)
    cli.add_command(add_caldav)
    cli.add_command(credentials_key)


@click.command("import-ics")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--practitioner", "email", required=True, help="The practitioner's sign-in e-mail.")
@click.option("--window-start", type=Day(),
              help="First day to import (default: two years ago).")
@click.option("--window-end", type=Day(),
              help="Last day to import (default: 26 weeks ahead).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report per file per line.")
@with_appcontext
def import_ics(paths: tuple[Path, ...], email: str, window_start, window_end, as_json: bool) -> None:
    """Import .ics files into a practitioner's calendar, each file in its own transaction."""
    practitioner = _practitioner(email)
    first_day = window_start.date() if window_start else None
    last_day = window_end.date() if window_end else None
    if first_day and last_day and last_day < first_day:
        raise click.BadParameter("the window ends before it starts", param_hint="--window-end")
    limits = ImportLimits.from_config(current_app.config)
    source = uploaded_files_source(db.session, practitioner)
    db.session.commit()

    def import_one(path: Path) -> ImportReport:
        report = _import_file(practitioner, source, path, first_day, last_day, limits)
        db.session.commit()
        return report

    total_bytes = sum(path.stat().st_size for path in paths)
    show_progress = (not as_json and sys.stdout.isatty()
                     and (len(paths) >= _PROGRESS_FROM_FILES or total_bytes >= _PROGRESS_FROM_BYTES))
    if show_progress:
        with click.progressbar(paths, label="Importing", item_show_func=lambda p: p.name if p else "") as bar:
            reports = [import_one(path) for path in bar]
        for report in reports:
            _echo_report(report, as_json)
    else:
        reports = []
        for path in paths:
            reports.append(import_one(path))
            _echo_report(reports[-1], as_json)
    if any(report.status == "error" for report in reports):
        sys.exit(1)


@click.command("add-feed")
@click.argument("url", type=Fits(CalendarSource.url))
@click.option("--practitioner", "email", required=True, help="The practitioner's sign-in e-mail.")
@click.option("--name", type=Fits(CalendarSource.name),
              help="What staff see for this calendar (default: the feed's host name).")
@with_appcontext
def add_feed(url: str, email: str, name: str | None) -> None:
    """Add a calendar feed (webcal:// or https://) that is synced on a schedule."""
    practitioner = _practitioner(email)
    try:
        source = feeds.add_feed(db.session, practitioner, url, name,
                                allowed_private_hosts=feeds.allowed_private_hosts(current_app.config))
    except feeds.FeedError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Added feed {source.name!r} (source {source.id}) for {email}; "
               f"it syncs every {source.sync_interval_minutes} minutes.")


@click.command("add-caldav")
@click.argument("url")
@click.option("--practitioner", "email", required=True, help="The practitioner's sign-in e-mail.")
@click.option("--username", required=True, help="The user name on the calendar server.")
@click.option("--calendar", "chosen", multiple=True,
              help="A calendar to add, by name or address (repeatable); needed when the account has several.")
@click.option("--all", "every_calendar", is_flag=True, help="Add every calendar with events found at URL.")
@with_appcontext
def add_caldav(url: str, email: str, username: str, chosen: tuple[str, ...], every_calendar: bool) -> None:
    """Add a practitioner's CalDAV calendar (read-only), synced on a schedule.

    The app password is read from the CALDAV_PASSWORD environment variable,
    else from standard input (one line) when it is not a terminal, else from
    a hidden prompt: never from the command line, where shell history and
    process lists would keep it.
    """
    practitioner = _practitioner(email)
    password = _caldav_password()
    limits = ImportLimits.from_config(current_app.config)
    try:
        found = caldav_sync.discover(url, username, password, timeout=limits.feed_timeout_seconds)
    except caldav_sync.CalDavError as exc:
        raise click.ClickException(str(exc)) from exc
    if every_calendar or (len(found) == 1 and not chosen):
        calendars = found
    elif chosen:
        calendars = [calendar for calendar in found if {calendar.name, calendar.url} & set(chosen)]
        if missing := [name for name in chosen if not any(name in (c.name, c.url) for c in calendars)]:
            raise click.ClickException(f"no calendar named {', '.join(map(repr, missing))} was found; "
                                       f"there are: {_listed(found)}")
    else:
        raise click.ClickException(f"this account has {len(found)} calendars: {_listed(found)}; "
                                   "choose with --calendar NAME (repeatable) or --all")
    cipher = credentials.cipher(current_app.config)
    try:
        sources = [caldav_sync.add_calendar(db.session, practitioner, calendar, username, password, cipher)
                   for calendar in calendars]
    except credentials.CredentialsError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    for source in sources:
        click.echo(f"Added CalDAV calendar {source.name!r} (source {source.id}) for {email}; "
                   f"it syncs every {source.sync_interval_minutes} minutes.")


@click.command("sync-feeds")
@click.option("--all", "every_feed", is_flag=True,
              help="Sync every feed and CalDAV calendar now, not only those that are due.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report per calendar per line.")
@with_appcontext
def sync_feeds(every_feed: bool, as_json: bool) -> None:
    """Sync the calendar feeds and CalDAV calendars that are due."""
    limits = ImportLimits.from_config(current_app.config)
    now = utcnow()
    sources = feeds.all_feeds(db.session) if every_feed else feeds.due_feeds(db.session, now)
    calendars = caldav_sync.all_sources(db.session) if every_feed else caldav_sync.due_sources(db.session, now)
    names = [source.name for source in sources + calendars]
    reports = feeds.sync_feeds(db.session, sources, now=now, limits=limits,
                               allowed_private_hosts=feeds.allowed_private_hosts(current_app.config))
    reports += caldav_sync.sync_sources(db.session, calendars, now=now, cipher=credentials.cipher(current_app.config),
                                        limits=limits)
    for name, report in zip(names, reports, strict=True):
        _echo_report(report, as_json, source=name)
    if not reports and not as_json:
        click.echo("No feed is due.")
    if any(report.status == "error" for report in reports):
        sys.exit(1)


@click.command("credentials-key")
def credentials_key() -> None:
    """Print a new CREDENTIALS_KEY (it encrypts stored CalDAV passwords)."""
    click.echo(credentials.new_key())


def _caldav_password() -> str:
    if password := os.environ.get("CALDAV_PASSWORD"):
        return password
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("App password", hide_input=True)
    if not password:
        raise click.ClickException("no password given (set CALDAV_PASSWORD or type it when asked)")
    return password


def _listed(calendars: list[caldav_sync.FoundCalendar]) -> str:
    return ", ".join(f"{calendar.name!r} ({calendar.url})" for calendar in calendars)


def _practitioner(email: str) -> Practitioner:
    try:
        return accounts.practitioner_by_email(db.session, email)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc


def _import_file(practitioner: Practitioner, source: CalendarSource, path: Path, first_day, last_day,
                 limits: ImportLimits) -> ImportReport:
    now = utcnow()
    try:
        problem = size_problem(path.stat().st_size, limits)
        data = b"" if problem else path.read_bytes()  # a file over the cap is refused without reading it
    except OSError as exc:
        problem = f"the file cannot be read: {exc.strerror or exc}"
    if problem:
        report = ImportReport.failed(str(path), problem, source.id)
        record_import_run(db.session, source, report, now)
        return report
    # Through the intake, like web uploads, so that the texts of changed visits are re-planned.
    return calendar_intake.import_upload(db.session, practitioner, data, str(path), config=current_app.config,
                                         now=now, window_start=first_day, window_end=last_day)


def _echo_report(report: ImportReport, as_json: bool, source: str | None = None) -> None:
    if as_json:
        line = report.as_json()
        if source is not None:
            line["source"] = source
        click.echo(json.dumps(line, ensure_ascii=False))
        return
    label = f"{source} ({report.file})" if source else report.file
    if report.status == "error":
        click.echo(f"{label}: not imported: {report.error}", err=False)
        return
    if report.status == "not_modified":
        click.echo(f"{label}: not changed since the last sync")
        return
    click.echo(
        f"{label}: {ngettext('%d appointment', '%d appointments', report.occurrences) % report.occurrences} in the "
        f"window: {report.created} new, {report.updated} updated, {report.cancelled} cancelled, {report.unchanged} unchanged"
        + (f"; {report.needs_attention} without a recognisable client" if report.needs_attention else "")
        + (f"; {import_words.events_skipped(len(report.skipped))}" if report.skipped else "")
    )
    if why := import_words.nothing_imported(report.as_json()):
        click.echo(f"  {why}")
    for item in report.skipped[:_SKIPPED_SHOWN]:
        click.echo(f"  skipped {import_words.skipped_event(item)}")
    if len(report.skipped) > _SKIPPED_SHOWN:
        click.echo(f"  ... and {len(report.skipped) - _SKIPPED_SHOWN} more")
