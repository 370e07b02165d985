"""Arrival texts: "Hi Anna, this is Glen from Smile Dental. I'll be with you in about 15 minutes."

- Automatic: `plan_arrival_texts` keeps one pending "arrival" Notification per
  visit at the client's place, due the practice's lead time before the visit.
  It runs after every import, so a cancelled or moved visit cancels or
  reschedules its pending text. The outbox (`sms_outbox`) sends it.
- By hand: the practitioner's On my way (an ETA in minutes; replaces the
  pending automatic text) and Running late (an apology with the new time).

Bodies come from the practice's own templates (`Practice.arrival_template`,
`running_late_template`) or the defaults in the client's language, else the
practice's. A body is written when the row is planned, so what the visit page
shows is what goes out.
"""
from __future__ import annotations

import datetime as dt
import string
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from babel.dates import format_time
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from outreach.messages import N_, UserError
from outreach.models import LOCALES, Appointment, Client, Notification, Practice, Practitioner, User
from outreach.services import audit
from outreach.services.phones import client_zone, is_landline
from outreach.services.reading.names import mended_without_name
from outreach.services.notification_status import CANCELLED, HELD, MISSED, PENDING, SKIPPED, settle, transition

ARRIVAL = "arrival"
ON_MY_WAY = "on_my_way"
RUNNING_LATE = "running_late"
# Sent because the practitioner pressed a button: quiet hours do not apply.
MANUAL_KINDS = frozenset({ON_MY_WAY, RUNNING_LATE})
# Texts about the visit's own day: they leave only within its window (`text_window`).
VISIT_DAY_KINDS = frozenset({ARRIVAL}) | MANUAL_KINDS

PLACEHOLDERS = {
    "client": "the client's first name",
    "practitioner": "the practitioner's name",
    "practice": "the practice's name",
    "minutes": "minutes until arrival",
    "time": "the arrival time, in the client's time zone",
}
# On my way uses the arrival template, with the ETA the practitioner gave. The
# English defaults stay in the GSM-7 alphabet (no dashes or curly quotes) and
# fit one SMS segment with usual names; Cyrillic always costs UCS-2 (70 a segment).
DEFAULT_TEMPLATES = {
    ARRIVAL: {
        "en": "Hi {client}, this is {practitioner} from {practice}. I'll be with you in about {minutes} minutes.",
        "ru": "Здравствуйте, {client}! Это {practitioner} из {practice} — буду у вас примерно через {minutes} мин.",
    },
    RUNNING_LATE: {
        "en": "Hi {client}, this is {practitioner} from {practice}. Sorry, I'm running late: "
              "I'll be with you at about {time}.",
        "ru": "Здравствуйте, {client}! Это {practitioner} из {practice}. Извините, я задерживаюсь — "
              "буду у вас примерно в {time}.",
    },
}
# A sanity limit: every 153 characters (67 with Cyrillic or a dash like —) is another billed SMS segment
# (see `sms_cost`).
MAX_TEMPLATE_LENGTH = 480


class TemplateError(ValueError):
    """A template the practice wrote cannot be used; the message says why."""


class TextNotPossible(UserError):
    """Why no text about a visit can go: raised for On my way and Running late, kept as the reason of a text
    that is cancelled or skipped (its `str()` is the English, for the text's trace)."""


# Why no text goes about a visit whose outcome staff already recorded.
_ALREADY_MARKED = {
    "attended": N_("the visit is already marked attended"),
    "no_show": N_("the visit is already marked no show"),
    "cancelled_late": N_("the visit is already marked cancelled late"),
    "rescheduled": N_("the visit is already marked rescheduled"),
}
_LANDLINE = N_("the client's number is a landline, which cannot take a text: call instead")
# Why a planned arrival text was cancelled when staff sent one by hand.
_REPLACED_BY = {ON_MY_WAY: N_("replaced by on my way"), RUNNING_LATE: N_("replaced by running late")}


# --- templates ---------------------------------------------------------------------------------


def check_template(template: str) -> str:
    """The template, stripped, if it only uses the known {placeholders}; else TemplateError."""
    template = template.strip()
    if not template:
        raise TemplateError("the text is empty")
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise TemplateError(f"the text is longer than {MAX_TEMPLATE_LENGTH} characters")
    try:
        fields = [parsed[1:] for parsed in string.Formatter().parse(template) if parsed[1] is not None]
    except ValueError as exc:
        raise TemplateError(f"braces do not match ({exc}); write {{{{ and }}}} for literal braces") from exc
    for name, spec, conversion in fields:
        if name not in PLACEHOLDERS or spec or conversion:
            known = ", ".join("{" + known + "}" for known in PLACEHOLDERS)
            raise TemplateError(f"unknown placeholder {{{name}}}; use {known}")
    return template


def template_for(practice: Practice, kind: str, locale: str) -> str:
    """The practice's own template for `kind` (arrival or running late), else the default in `locale`."""
    own = practice.running_late_template if kind == RUNNING_LATE else practice.arrival_template
    defaults = DEFAULT_TEMPLATES[RUNNING_LATE if kind == RUNNING_LATE else ARRIVAL]
    return own or defaults[locale if locale in defaults else "en"]


@dataclass(frozen=True)
class TextContext:
    """Who is texting whom, about which moment: everything a template can mention."""

    client_greeting_name: str
    practitioner_name: str
    practice_name: str
    locale: str
    zone: ZoneInfo

    @classmethod
    def of(cls, client: Client, practitioner: Practitioner, practice: Practice) -> TextContext:
        locale = client.locale if client.locale in LOCALES else practice.locale
        return cls(client.greeting_name, practitioner.spoken_name, practice.name, locale,
                   client_zone(client, practice))

    def compose(self, practice: Practice, kind: str, *, minutes: int, arrive_at: dt.datetime) -> str:
        """The body of a `kind` text from `practice`, in the client's language."""
        return self.render(template_for(practice, kind, self.locale), minutes=minutes, arrive_at=arrive_at)

    def render(self, template: str, *, minutes: int, arrive_at: dt.datetime) -> str:
        # CLDR puts a narrow no-break space before "AM"; outside the GSM
        # alphabet, it would make a text cost more segments.
        time = format_time(arrive_at.astimezone(self.zone).time(), "short", locale=self.locale)
        text = check_template(template).format(
            client=self.client_greeting_name, practitioner=self.practitioner_name, practice=self.practice_name,
            minutes=minutes, time=time.replace("\u202f", " ").replace("\u00a0", " "),
        )
        return text if self.client_greeting_name else mended_without_name(text)


def preview(template: str, practice: Practice, practitioner_name: str, *, minutes: int, locale: str) -> str:
    """The template filled in for a made-up client, as the settings page shows it; TemplateError if unusable."""
    sample_client = {"ru": "Анна"}.get(locale, "Anna")
    context = TextContext(sample_client, practitioner_name, practice.name, locale, ZoneInfo(practice.timezone))
    arrive_at = dt.datetime(2026, 3, 2, 10, 30, tzinfo=context.zone)
    return context.render(template, minutes=minutes, arrive_at=arrive_at)


# --- when a text about a visit may go out ----------------------------------------------------------


def text_window(appointment: Appointment, practice: Practice) -> tuple[dt.datetime, dt.datetime]:
    """When texts about this visit may go out: around its start, by the practice's settings, on its local day.

    The window is cut to the visit's local day (in the practice's zone):
    "I'll be with you in 10 minutes" is never about another day's visit.
    """
    zone = ZoneInfo(practice.timezone)
    day = appointment.starts_at.astimezone(zone).date()
    day_start = dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.timezone.utc)
    next_day_start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.timezone.utc)
    opens = max(appointment.starts_at - dt.timedelta(minutes=practice.text_window_before_minutes), day_start)
    closes = min(appointment.starts_at + dt.timedelta(minutes=practice.text_window_after_minutes), next_day_start)
    return opens, closes


def already_marked(appointment: Appointment) -> TextNotPossible:
    return TextNotPossible(_ALREADY_MARKED.get(appointment.visit_outcome, N_("the visit's outcome is recorded")))


def why_no_text_about_visit(appointment: Appointment, practice: Practice,
                            at: dt.datetime) -> TextNotPossible | None:
    """Why no text about this visit may leave at `at` (a reason for a person to read); None if one may.

    Checked when a text is planned or asked for, and again by the outbox at
    the moment of sending: the reason for a text must still be true when it leaves.
    """
    if appointment.is_cancelled:
        return TextNotPossible(N_("the visit is cancelled"))
    if appointment.visit_outcome:
        return already_marked(appointment)
    opens, closes = text_window(appointment, practice)
    if not opens <= at <= closes:
        zone = ZoneInfo(practice.timezone)
        starts_at = appointment.starts_at.astimezone(zone)
        return TextNotPossible(
            N_("the visit is on %(day)s at %(time)s; texts about it go out from %(opens)s to %(closes)s that day"),
            day=starts_at.date(), time=starts_at.time(), opens=opens.astimezone(zone).time(),
            closes=closes.astimezone(zone).time())
    return None


# --- planning the automatic text ----------------------------------------------------------------------


def arrival_key(appointment_id: int, lead_minutes: int) -> str:
    """One automatic arrival text per visit and lead time, ever."""
    return f"{ARRIVAL}:{appointment_id}:{lead_minutes}"


@dataclass
class PlanReport:
    """Notification ids `plan_arrival_texts` created (or revived), moved, or cancelled."""

    planned: list[int] = field(default_factory=list)
    rescheduled: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)


def plan_arrival_texts(session: Session, appointment_ids: Iterable[int], now: dt.datetime) -> PlanReport:
    """Make the pending arrival texts of these visits match the visits as they are now; flushes, does not commit.

    Call it after every import with the appointments that changed. For each:
    a visit at the client's place, not cancelled, with a client phone, gets one
    pending text due `arrival_lead_minutes` before it (unless that moment is
    already more than `arrival_missed_after_minutes` past, or the practitioner
    has already texted about this visit themselves). A pending text whose
    visit was cancelled, moved away from the client's place or lost its
    phone is cancelled; one whose visit moved is rescheduled. Texts already
    sent are never touched.
    """
    report = PlanReport()
    ids = list(appointment_ids)
    if not ids:
        return report
    # Clients and existing texts in a query each: an import may bring thousands of visits.
    appointments = session.scalars(select(Appointment).where(Appointment.id.in_(ids))
                                   .options(selectinload(Appointment.client))).all()
    texts_by_appointment: dict[int, list[Notification]] = defaultdict(list)
    for notification in session.scalars(select(Notification).where(Notification.appointment_id.in_(ids))):
        texts_by_appointment[notification.appointment_id].append(notification)
    new_texts = [new_text for appointment in appointments
                 if (new_text := _plan_one(session, appointment, texts_by_appointment[appointment.id], now, report))]
    session.add_all(new_texts)
    session.flush()
    for notification in new_texts:
        _record_planned(session, notification, audit.SYSTEM)
        report.planned.append(notification.id)
    return report


def is_planned_right(session: Session, notification: Notification, practice: Practice) -> bool:
    """Whether a pending arrival text still fits its visit (planning would leave it as it is)."""
    appointment = session.get(Appointment, notification.appointment_id)
    lead = practice.arrival_lead_minutes
    return (appointment.at_client_place and not appointment.is_cancelled and not appointment.visit_outcome
            and notification.dedupe_key == arrival_key(appointment.id, lead)
            and notification.due_at == appointment.starts_at - dt.timedelta(minutes=lead))


def _plan_one(session: Session, appointment: Appointment, texts: list[Notification], now: dt.datetime,
              report: PlanReport) -> Notification | None:
    """Brings the visit's existing texts in line; returns its new arrival text if it needs one (not added yet)."""
    practice = session.get(Practice, appointment.practice_id)
    lead = practice.arrival_lead_minutes
    key = arrival_key(appointment.id, lead)
    client = session.get(Client, appointment.client_id) if appointment.client_id else None
    due_at = appointment.starts_at - dt.timedelta(minutes=lead)
    unwanted = _why_no_arrival_text(appointment, client)
    if unwanted is None:
        unwanted = why_no_text_about_visit(appointment, practice, due_at)
    for text in texts:
        if text.kind == ARRIVAL and text.status == PENDING and (unwanted or text.dedupe_key != key):
            if settle(session, text, CANCELLED, unwanted or TextNotPossible(N_("the practice's lead time changed"))):
                report.cancelled.append(text.id)
    if unwanted or any(text.kind in MANUAL_KINDS for text in texts):
        return None
    if now - due_at > dt.timedelta(minutes=practice.arrival_missed_after_minutes):
        return None  # a visit in the past: nothing useful to send any more
    practitioner = session.get(Practitioner, appointment.practitioner_id)
    wanted = {
        "due_at": due_at,
        "to_phone": client.phone,
        "from_phone": practice.phone,
        "body": TextContext.of(client, practitioner, practice).compose(practice, ARRIVAL, minutes=lead,
                                                                      arrive_at=appointment.starts_at),
    }
    existing = next((text for text in texts if text.dedupe_key == key), None)
    if existing is None:
        return _new_text(appointment, ARRIVAL, key, wanted, now)
    if existing.status == PENDING:
        if any(getattr(existing, name) != value for name, value in wanted.items()):
            previous_due = existing.due_at
            if transition(session, existing, [PENDING], updated_at=now, **wanted):
                moved = previous_due != due_at
                audit.record(session, practice_id=existing.practice_id, obj=existing,
                             action="notification.rescheduled" if moved else "notification.rewritten",
                             previous_due_at=previous_due.isoformat(), due_at=due_at.isoformat())
                if moved:
                    report.rescheduled.append(existing.id)
    elif existing.message_sid is None and (existing.status == CANCELLED or (
            existing.status in (MISSED, SKIPPED, HELD) and existing.due_at != due_at)):
        # Cancelled earlier (the visit was cancelled, then restored), or
        # settled at a moment the visit has since moved away from.
        if transition(session, existing, [existing.status], status=PENDING, status_detail=None, status_reason=None,
                      error_code=None, updated_at=now, **wanted):
            audit.record(session, practice_id=existing.practice_id, action="notification.replanned", obj=existing,
                         due_at=due_at.isoformat())
            report.planned.append(existing.id)
    return None


def _why_no_arrival_text(appointment: Appointment, client: Client | None) -> TextNotPossible | None:
    if appointment.is_cancelled:
        return TextNotPossible(N_("visit cancelled"))
    if not appointment.at_client_place:
        return TextNotPossible(N_("the visit is not at the client's place"))
    if client is None or not client.phone:
        return TextNotPossible(N_("no phone number for the client"))
    if is_landline(client.phone):
        return TextNotPossible(_LANDLINE)
    return None


def _new_text(appointment: Appointment, kind: str, key: str, fields: dict, now: dt.datetime) -> Notification:
    """A pending text about `appointment`, not added to the session yet."""
    return Notification(
        practice_id=appointment.practice_id, appointment_id=appointment.id, client_id=appointment.client_id,
        practitioner_id=appointment.practitioner_id, kind=kind, dedupe_key=key, status=PENDING,
        created_at=now, updated_at=now, **fields,
    )


def _record_planned(session: Session, notification: Notification, actor: object) -> None:
    audit.record(session, practice_id=notification.practice_id, action="notification.planned", obj=notification,
                 actor=actor, kind=notification.kind, due_at=notification.due_at.isoformat())


# --- the practitioner's own texts -------------------------------------------------------------------


def create_on_my_way(session: Session, appointment: Appointment, *, eta_minutes: int, actor: User,
                     now: dt.datetime) -> Notification:
    """"I'll be with you in about N minutes", due now, replacing the pending automatic text; flushes.

    Raises TextNotPossible, e.g. when On my way was already sent for this visit.
    (A concurrent double submit makes the flush raise IntegrityError instead.)
    """
    return _create_manual(session, appointment, ON_MY_WAY, key=f"{ON_MY_WAY}:{appointment.id}",
                          eta_minutes=eta_minutes, arrive_at=now + dt.timedelta(minutes=eta_minutes),
                          actor=actor, now=now, already=N_("On my way was already sent for this visit"))


def create_running_late(session: Session, appointment: Appointment, *, minutes_late: int, actor: User,
                        now: dt.datetime) -> Notification:
    """An apology with the new arrival time, due now; flushes. Raises TextNotPossible.

    The new time is the visit's start plus `minutes_late`: the client knows
    the visit's time, not when the button was pressed. A new time already
    past is refused rather than announced.
    """
    arrive_at = (appointment.starts_at + dt.timedelta(minutes=minutes_late)).replace(second=0, microsecond=0)
    if arrive_at <= now:
        zone = ZoneInfo(session.get(Practice, appointment.practice_id).timezone)
        raise TextNotPossible(N_("%(minutes)s minutes after the visit's start is %(time)s, already past; give a "
                                 "later delay"), minutes=minutes_late, time=arrive_at.astimezone(zone).time())
    # One apology per announced time: a double-tapped button sends one text.
    return _create_manual(session, appointment, RUNNING_LATE,
                          key=f"{RUNNING_LATE}:{appointment.id}:{arrive_at:%Y%m%dT%H%M}",
                          eta_minutes=max(1, round((arrive_at - now).total_seconds() / 60)), arrive_at=arrive_at,
                          actor=actor, now=now, already=N_("this new time was already sent"))


def _create_manual(session: Session, appointment: Appointment, kind: str, *, key: str, eta_minutes: int,
                   arrive_at: dt.datetime, actor: User, now: dt.datetime, already: str) -> Notification:
    client = session.get(Client, appointment.client_id) if appointment.client_id else None
    practice = session.get(Practice, appointment.practice_id)
    if reason := why_no_text_about_visit(appointment, practice, now):
        raise reason
    if client is None or not client.phone:
        raise TextNotPossible(N_("the client has no phone number"))
    if is_landline(client.phone):
        raise TextNotPossible(_LANDLINE)
    if session.scalar(select(Notification.id).where(Notification.dedupe_key == key)) is not None:
        raise TextNotPossible(already)
    practitioner = session.get(Practitioner, appointment.practitioner_id)
    body = TextContext.of(client, practitioner, practice).compose(practice, kind, minutes=eta_minutes,
                                                                  arrive_at=arrive_at)
    notification = _new_text(appointment, kind, key,
                             {"due_at": now, "to_phone": client.phone, "from_phone": practice.phone, "body": body}, now)
    session.add(notification)
    session.flush()  # the unique dedupe key refuses a concurrent duplicate here
    _record_planned(session, notification, actor)
    pending_arrivals = session.scalars(select(Notification).where(
        Notification.appointment_id == appointment.id, Notification.kind == ARRIVAL, Notification.status == PENDING))
    for arrival in pending_arrivals.all():
        settle(session, arrival, CANCELLED, TextNotPossible(_REPLACED_BY[kind]), actor=actor)
    return notification
