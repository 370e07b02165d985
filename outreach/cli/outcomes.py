"""`outreach mark-visit`: mark what became of past visits, one or many from a CSV file."""
import csv
import json

import click
from flask.cli import with_appcontext

from outreach.cli.options import ID
from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import VISIT_OUTCOMES
from outreach.services import accounts, audit, visit_outcomes
from outreach.services.visit_outcomes import MarkRequest

CSV_COLUMNS = ("appointment_id", "outcome")


def register(cli: click.Group) -> None:
    cli.add_command(mark_visit)


def _read_csv(stream) -> list[MarkRequest]:
    """The requests of a CSV file with the columns appointment_id and outcome (others are ignored)."""
    try:
        reader = csv.DictReader(stream)
        missing = [column for column in CSV_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise click.ClickException(
                f"{stream.name}: the first line must name the columns {', '.join(CSV_COLUMNS)} "
                f"(missing: {', '.join(missing)})")
        return [MarkRequest(appointment_id=(row["appointment_id"] or "").strip(), outcome=row["outcome"] or "",
                            line=reader.line_num) for row in reader]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{stream.name} is not a readable CSV file in UTF-8: {exc}") from exc


@click.command("mark-visit")
@click.option("--practice", "practice_name", required=True)
@click.option("--appointment", "appointment_id", type=ID, metavar="ID", help="The visit to mark")
@click.argument("outcome", required=False, metavar="[OUTCOME]")
@click.option("--csv", "csv_file", type=click.File("r", encoding="utf-8-sig"), metavar="FILE",
              help="Mark many visits: a CSV file with the columns appointment_id,outcome")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object")
@with_appcontext
def mark_visit(practice_name: str, appointment_id: int | None, outcome: str | None, csv_file,
               as_json: bool) -> None:
    """Mark what became of past visits: attended, no_show, cancelled_late or rescheduled.

    \b
    One visit:   outreach mark-visit --practice NAME --appointment ID OUTCOME
    Many visits: outreach mark-visit --practice NAME --csv FILE

    All or nothing: if any line is wrong (unknown visit, a visit still to
    come, an unknown outcome), nothing is marked and every problem is listed.
    """
    if (appointment_id is None) == (csv_file is None):
        raise click.UsageError("give either --appointment ID OUTCOME or --csv FILE")
    if appointment_id is not None and not outcome:
        raise click.UsageError(f"say what became of the visit: one of {', '.join(VISIT_OUTCOMES)}")
    if csv_file is not None and outcome:
        raise click.UsageError("with --csv the outcomes come from the file; give no OUTCOME")
    try:
        practice = accounts.practice_by_name(db.session, practice_name)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    requests = [MarkRequest(str(appointment_id), outcome)] if csv_file is None else _read_csv(csv_file)

    report = visit_outcomes.mark_visits(db.session, practice.id, requests, audit.SYSTEM, utcnow())
    if report.problems:
        db.session.rollback()
    else:
        db.session.commit()

    if as_json:
        click.echo(json.dumps({
            "practice": practice.name, "marked": report.marked, "unchanged": report.unchanged,
            "problems": [{"line": problem.request.line, "appointment_id": problem.request.appointment_id,
                          "error": problem.message} for problem in report.problems],
        }, ensure_ascii=False))
    else:
        for problem in report.problems:
            where = f"line {problem.request.line}: " if problem.request.line else ""
            click.echo(f"{where}{problem.message}", err=True)
        if report.problems:
            click.echo("Nothing was marked: correct the above and run again.", err=True)
        else:
            click.echo(f"Marked {len(report.marked)} visit(s); {len(report.unchanged)} already had that outcome.")
    if report.problems:
        click.get_current_context().exit(1)
