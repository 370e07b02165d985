"""Step 5, apply: the occurrences into appointment rows, inside the caller's savepoint."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from outreach.models import Appointment, CalendarSource
from outreach.services.client_matching import (
    ClientDirectory,
    complete_new_client_flags,
    kept_staff_fixes,
    reading_why,
)
from outreach.services.ics_import.context import Deadline, ImportContext, ImportWindow
from outreach.services.ics_import.expand import Found
from outreach.services.ics_import.parse import Events
from outreach.services.ics_import.report import ImportReport


def apply_occurrences(session: Session, source: CalendarSource, context: ImportContext, events: Events,
                      found: list[Found], window: ImportWindow, now: dt.datetime, cancel_vanished: bool,
                      report: ImportReport, deadline: Deadline, rows_of: set[str] | None, run_id: int) -> int:
    """Writes the occurrences as appointments for the import `run_id`; returns how many rows it added.

    Only the rows of the UIDs in `rows_of` are compared (all of them when
    None): the rows of events that were not read because they did not
    change stay as they are.
    """
    columns = (Appointment.id, Appointment.uid, Appointment.recurrence_id, Appointment.content_hash,
               Appointment.status, Appointment.starts_at, Appointment.needs_attention, Appointment.cancelled_at,
               Appointment.why, Appointment.client_id, Appointment.at_client_place)
    of_source = select(*columns).where(Appointment.source_id == source.id)
    if rows_of is None:
        queries = [of_source]
    else:
        uids = sorted(rows_of)
        queries = [of_source.where(Appointment.uid.in_(uids[start:start + 500])) for start in range(0, len(uids), 500)]
    existing = {(row.uid, row.recurrence_id): row for query in queries for row in session.execute(query)}
    report.occurrences += len(found)
    changes = []
    for item in found:
        old = existing.get((item.uid, item.recurrence_id))
        if old is not None and old.content_hash == item.content_hash:
            report.unchanged += 1
            report.needs_attention += old.needs_attention and old.status != "cancelled"
        else:
            changes.append((item, old))
    deadline.check("comparing with the appointments already imported")

    new_rows: list[dict[str, Any]] = []
    row_updates: list[dict[str, Any]] = []
    if changes:
        all_facts = complete_new_client_flags([item.info.client(context) for item, _ in changes])
        directory = ClientDirectory(session, context.practice_id, now, facts=all_facts)
        client_keys = [directory.resolve(facts) for facts in all_facts]
        directory.save()
        deadline.check("matching clients")
        for (item, old), client_key, facts in zip(changes, client_keys, all_facts, strict=True):
            values = _row_values(item, old, now)
            # An event that is no visit (lunch, a staff meeting) needs no client.
            needs_client = client_key is None and not facts.not_a_visit
            values.update(client_id=None if client_key is None else directory.client_id(client_key),
                          needs_attention=needs_client, new_client=facts.new_client,
                          why=reading_why(facts, item.info.place_why, context))
            if item.info.status_why:
                values["why"]["cancelled"] = item.info.status_why
            if client_key is None:
                # No one to visit (lunch, a meeting, a client still unknown): no arrival text can be due.
                values["at_client_place"] = False
            if old is not None:
                values.update(kept_staff_fixes(old.why, old.client_id, old.at_client_place, values))
                needs_client = values["needs_attention"]
            cancelled = item.info.status == "cancelled"
            report.needs_attention += needs_client and not cancelled
            if old is None:
                new_rows.append(values | {
                    "practice_id": context.practice_id, "practitioner_id": context.practitioner_id,
                    "source_id": source.id, "uid": item.uid, "recurrence_id": item.recurrence_id, "created_at": now,
                    "import_run_id": run_id,
                })
                report.cancelled += cancelled
                report.created += not cancelled
            else:
                if old.status == "cancelled" and not cancelled:
                    values["import_run_id"] = run_id  # brought back in by this import
                row_updates.append(values | {"id": old.id})
                newly_cancelled = cancelled and old.status != "cancelled"
                report.cancelled += newly_cancelled
                report.updated += not newly_cancelled
                report.changed_appointment_ids.append(old.id)

    vanished = _vanished(existing, {(item.uid, item.recurrence_id) for item in found}, events, window, now,
                         cancel_vanished)
    for row in vanished:
        # An empty hash makes the occurrence count as updated (un-cancelled) if it ever comes back.
        row_updates.append({"id": row.id, "status": "cancelled", "cancelled_at": now, "updated_at": now,
                            "content_hash": ""})
        report.changed_appointment_ids.append(row.id)
    report.cancelled += len(vanished)

    deadline.check("saving appointments")
    if new_rows:
        # A Core executemany: the ORM's bulk insert splits rows into a statement per
        # combination of NULL columns, and RETURNING over many batches is quadratic.
        session.execute(insert(Appointment.__table__), new_rows)
        inserted = {(row["uid"], row["recurrence_id"]) for row in new_rows}
        report.changed_appointment_ids.extend(
            row.id for row in session.execute(
                select(Appointment.id, Appointment.uid, Appointment.recurrence_id)
                .where(Appointment.source_id == source.id, Appointment.import_run_id == run_id)
            ) if (row.uid, row.recurrence_id) in inserted
        )
    if row_updates:
        session.execute(update(Appointment), row_updates)
    return len(new_rows)


def _row_values(item: Found, old: Any, now: dt.datetime) -> dict[str, Any]:
    info = item.info
    cancelled = info.status == "cancelled"
    if not cancelled:
        cancelled_at = None
    elif old is not None and old.status == "cancelled":
        cancelled_at = old.cancelled_at  # still cancelled: keep when it first was
    else:
        cancelled_at = now
    return {
        "starts_at": item.starts_at, "ends_at": item.ends_at, "all_day": item.all_day,
        "original_tz": info.original_tz, "location": info.location, "at_client_place": info.at_client_place,
        "status": info.status, "sequence": info.sequence, "summary": info.summary,
        "description": info.description, "content_hash": item.content_hash, "cancelled_at": cancelled_at,
        "updated_at": now,
    }


def _vanished(existing: dict[tuple[str, str], Any], seen: set[tuple[str, str]], events: Events, window: ImportWindow,
              now: dt.datetime, cancel_vanished: bool) -> list[Any]:
    """Appointments the data no longer contains, which the import therefore cancels.

    Of a UID in the file: any occurrence inside the window. With
    `cancel_vanished`: any future one inside the window, whatever its UID.
    UIDs the file mentions but that could not be worked out are left alone.
    """
    future_from = max(now, window.start)
    result = []
    for key, row in existing.items():
        if key in seen or row.status == "cancelled" or row.uid in events.protected_uids:
            continue
        if (row.uid in events.uids and window.contains(row.starts_at)) or (
            cancel_vanished and future_from <= row.starts_at < window.end
        ):
            result.append(row)
    return result
