"""What happens around an import: the right source, the configured limits, and
re-planning the arrival texts of every appointment the import changed.

Web uploads, the CLI and feed syncs all come through here, so a cancelled or
moved visit always cancels or moves its pending text.
"""
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.messages import N_, UserError
from outreach.models import Appointment, Client, Practitioner, User
from outreach.services import arrival_texts, audit, call_lists, ics_import
from outreach.services.client_matching import names_agree
from outreach.services.ics_import.places import decide_place
from outreach.services.phones import InvalidPhone, region_for, to_e164


class ClientDetailsError(UserError):
    """Why the client details typed by staff cannot be used."""


def import_upload(
    session: Session, practitioner: Practitioner, data: bytes, filename: str, *, config: Mapping[str, Any],
    now: dt.datetime, window_start: dt.date | None = None, window_end: dt.date | None = None,
) -> ics_import.ImportReport:
    """Imports one uploaded file into the practitioner's calendar; the caller commits."""
    source = ics_import.uploaded_files_source(session, practitioner)
    # Uploading again into a removed calendar brings it back, so its past visits are not imported twice.
    source.removed_at = None
    report = ics_import.import_calendar(
        session, source, data, filename, window_start=window_start, window_end=window_end, now=now,
        limits=ics_import.ImportLimits.from_config(config),
    )
    appointments_changed(session, report.changed_appointment_ids, now=now)
    return report


def appointments_changed(session: Session, appointment_ids: list[int], *, now: dt.datetime) -> None:
    """Everything that depends on an appointment follows it when it changes: its text and its call list."""
    if appointment_ids:
        arrival_texts.plan_arrival_texts(session, appointment_ids, now)
        call_lists.refresh_lists_touched_by(session, appointment_ids, now=now)


def assign_client(
    session: Session, appointment: Appointment, *, full_name: str | None, phone: str | None, email: str | None,
    actor: User, now: dt.datetime,
) -> Client:
    """Puts the client typed by staff on a visit, reusing the practice's client with that phone or e-mail."""
    practice = appointment.practitioner.practice
    full_name = (full_name or "").strip() or None
    email = (email or "").strip().lower() or None
    try:
        phone = to_e164(phone, region_for(practice.phone, practice.timezone)) if phone and phone.strip() else None
    except InvalidPhone as exc:
        raise ClientDetailsError(exc.message, field="phone", **exc.params) from exc
    if not (full_name or phone or email):
        raise ClientDetailsError(N_("Give at least the client's name, phone or e-mail."))
    client = None
    if phone:
        # A family shares a phone: the client is the one of that name, else a new client with the same number.
        sharing = session.scalars(select(Client).where(Client.practice_id == practice.id, Client.phone == phone)
                                  .order_by(Client.id)).all()
        client = next((c for c in sharing if names_agree(c.full_name, full_name)), None)
    if client is None and email:
        client = session.scalar(select(Client).where(Client.practice_id == practice.id, Client.email == email))
    if client is None:
        client = Client(practice_id=practice.id, created_at=now)
        session.add(client)
    client.full_name = full_name or client.full_name
    client.phone = client.phone or phone
    client.email = client.email or email
    session.flush()
    appointment.client_id = client.id
    appointment.needs_attention = False
    appointment.updated_at = now
    # A fix by staff is kept by later imports of the same event (see ics_import.apply).
    appointment.why = {k: v for k, v in (appointment.why or {}).items() if k not in ("name", "phone", "email",
                                                                                       "not_a_visit")} | {
        "client": {"source": "staff", "detail": actor.full_name}}
    if appointment.why.get("place", {}).get("source") in ("no_client", "not_a_visit"):
        # The place waited for a client: decide it now, as the import would have.
        appointment.at_client_place, appointment.why["place"] = decide_place(
            appointment.location, practice.address, appointment.source.client_place, practice.name)
    audit.record(session, practice_id=practice.id, action="appointment.client_assigned", obj=appointment,
                 actor=actor, client_id=client.id)
    appointments_changed(session, [appointment.id], now=now)
    return client
