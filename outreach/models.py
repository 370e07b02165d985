"""The domain: practices, the people in them, their clients, visits and the outreach done.

Every row that belongs to a practice carries `practice_id` itself, so that one
helper (`outreach.scoping`) can scope any query to the signed-in user's practice.
Times are stored as naive UTC and come back as aware UTC (`UTCDateTime`);
local times are computed at the edges with the practice's or client's zone.
"""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.services.reading.names import greeting_name


class UTCDateTime(TypeDecorator):
    """Stores UTC without a zone (SQLite has none) and always returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC was expected")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


# Ids are `integer` columns (32-bit on PostgreSQL): a larger number names no row.
MAX_ID = 2**31 - 1
ROLES = ("admin", "staff", "practitioner")
LOCALES = ("en", "ru")
APPOINTMENT_STATUSES = ("confirmed", "tentative", "cancelled")
CLIENT_PLACE_SETTINGS = ("always", "never", "decide")
VISIT_OUTCOMES = ("attended", "no_show", "cancelled_late", "rescheduled")
CALL_OUTCOMES = ("reached", "voicemail", "no_answer", "wrong_number", "call_back_later")
TASK_REASONS = ("first_visit", "returning", "open_question")


class Practice(db.Model):
    # A number is one practice's: inbound texts and calls are routed by it (`services.practice_numbers`).
    __table_args__ = (Index("uq_practice_phone", "phone", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(300))
    quiet_hours_start: Mapped[dt.time] = mapped_column(Time, default=dt.time(21, 0))
    quiet_hours_end: Mapped[dt.time] = mapped_column(Time, default=dt.time(8, 0))
    # When the weekly call lists are built: ISO weekday (1=Mon..7=Sun) and local time.
    call_list_weekday: Mapped[int] = mapped_column(Integer, default=6)
    call_list_time: Mapped[dt.time] = mapped_column(Time, default=dt.time(9, 0))
    call_lists_built_for_week: Mapped[str | None] = mapped_column(String(8))
    include_returning_after_months: Mapped[int | None] = mapped_column(Integer)
    include_open_questions: Mapped[bool] = mapped_column(Boolean, default=False)
    arrival_lead_minutes: Mapped[int] = mapped_column(Integer, default=15)
    arrival_missed_after_minutes: Mapped[int] = mapped_column(Integer, default=20)
    arrival_template: Mapped[str | None] = mapped_column(Text)
    # Texts about a visit go out only on its local day, from this long before its start to this long after.
    text_window_before_minutes: Mapped[int] = mapped_column(Integer, default=180, server_default="180")
    text_window_after_minutes: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    # Per client, whatever asks for more: at most this many texts a local day, and this far apart.
    texts_per_client_per_day: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    texts_min_gap_minutes: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    # All the practice's texts of a local day together: what a wrong calendar or a bug can send at worst.
    texts_per_practice_per_day: Mapped[int] = mapped_column(Integer, default=300, server_default="300")
    running_late_template: Mapped[str | None] = mapped_column(Text)
    retention_days: Mapped[int] = mapped_column(Integer, default=730)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Closing the loop (see services/callbacks.py): a client who calls back within this many
    # days of being called is put through to the practitioner who called them, within
    # that practitioner's hours (the practice's, unless the practitioner set their own).
    callback_window_days: Mapped[int] = mapped_column(Integer, default=3)
    callback_hours_start: Mapped[dt.time] = mapped_column(Time, default=dt.time(9, 0))
    callback_hours_end: Mapped[dt.time] = mapped_column(Time, default=dt.time(19, 0))
    # Any other call to the practice number: "voicemail", or "front_desk" (forwarded to front_desk_phone).
    other_inbound_calls: Mapped[str] = mapped_column(String(16), default="voicemail")
    front_desk_phone: Mapped[str | None] = mapped_column(String(20))
    # After an unanswered call, text the client once without waiting for the practitioner to press Send.
    missed_call_text_auto: Mapped[bool] = mapped_column(Boolean, default=False)
    # Drop the practitioner's recorded greeting when answering-machine detection hears the beep.
    voicemail_drop_auto: Mapped[bool] = mapped_column(Boolean, default=False)

    practitioners: Mapped[list[Practitioner]] = relationship(back_populates="practice")

    def __repr__(self) -> str:
        return f"<Practice {self.name!r}>"


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    locale: Mapped[str | None] = mapped_column(String(8))
    # Where Call rings a staff member or admin calling on a practitioner's behalf (E.164);
    # a practitioner's own phone is `Practitioner.phone`.
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of every session of this user; a new one (logout, new password) ends all the others.
    session_token: Mapped[str | None] = mapped_column(String(64), default=new_session_token)

    practice: Mapped[Practice] = relationship()
    practitioner: Mapped[Practitioner | None] = relationship(back_populates="user", uselist=False)

    def get_id(self) -> str:  # what Flask-Login keeps in the session and the remember-me cookie
        return f"{self.id}:{self.session_token or ''}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def sees_all_practitioners(self) -> bool:
        """Admins and staff work for the whole practice; practitioners see their own work."""
        return self.role in ("admin", "staff")


class Practitioner(db.Model):
    """The practitioner profile of a user: how they introduce themselves and where to ring them."""

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    preferred_name: Mapped[str | None] = mapped_column(String(100))
    # How they introduce themselves ("Dr. Gorab"); when empty, title and surname taken from the full name.
    formal_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    script_template: Mapped[str | None] = mapped_column(Text)
    notify_when_list_ready: Mapped[bool] = mapped_column(Boolean, default=True)
    # When call-backs are put through to them (practice's local time); None: the practice's hours.
    callback_hours_start: Mapped[dt.time | None] = mapped_column(Time)
    callback_hours_end: Mapped[dt.time | None] = mapped_column(Time)
    text_me_voicemails: Mapped[bool] = mapped_column(Boolean, default=False)

    practice: Mapped[Practice] = relationship(back_populates="practitioners")
    user: Mapped[User] = relationship(back_populates="practitioner")

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def spoken_name(self) -> str:
        """The name they go by: the preferred name, else the first name (never a title such as "Dr.")."""
        title, words = split_title(self.full_name)
        return self.preferred_name or (words[0] if words else title)

    @property
    def introduced_as(self) -> str:
        """The formal name: as they set it, else title and surname ("Dr. Glen Gorab" -> "Dr. Gorab"),
        else the full name (a name without a title says nothing about how formal to be)."""
        if self.formal_name:
            return self.formal_name
        title, words = split_title(self.full_name)
        return f"{title} {words[-1]}" if title and words else self.full_name


# Titles people put before their name; the formal name is the title and the surname.
TITLES = frozenset(word.casefold() for word in (
    "Dr.", "Dr", "Doctor", "Prof.", "Prof", "Professor", "Mr.", "Mr", "Mrs.", "Mrs", "Ms.", "Ms", "Mx.", "Mx",
    "Miss", "Доктор", "Д-р", "Др.", "Проф.", "Профессор"))


def split_title(full_name: str) -> tuple[str | None, list[str]]:
    """("Dr.", ["Glen", "Gorab"]) for "Dr. Glen Gorab"; (None, [...]) when there is no title."""
    words = full_name.split()
    if words and words[0].casefold() in TITLES:
        return words[0], words[1:]
    return None, words


class Client(db.Model):
    """A person the practice sees. A phone is a way to reach them, and a family may share one (a parent
    books for the children): two names on one phone are two clients."""

    __table_args__ = (
        Index("ix_client_practice_phone", "practice_id", "phone"),
        UniqueConstraint("practice_id", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    email: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    opted_out_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def greeting_name(self) -> str:
        """What scripts and texts call the client ("Anna", "Mrs. Holloway", «Анна Сергеевна»)."""
        return greeting_name(self.full_name or "")

    @property
    def display_name(self) -> str:
        return self.full_name or self.phone or self.email or f"client #{self.id}"


class CalendarSource(db.Model):
    """Where appointments come from: uploaded files or a feed URL, for one practitioner."""

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "file" | "feed" | "caldav"
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2000))
    # How staff type the summary in this calendar, e.g. "name - service".
    summary_format: Mapped[str] = mapped_column(String(32), default="auto")
    # The layout the importer learned from this calendar's titles while summary_format is "auto".
    learned_summary_format: Mapped[str | None] = mapped_column(String(32))
    # How many titles it was learned from (what "learned from 812 titles" tells staff).
    learned_summary_evidence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Whether visits in this calendar are at the client's place: "always", "never" or "decide" from the location.
    client_place: Mapped[str] = mapped_column(String(8), default="decide", server_default="decide")
    sync_interval_minutes: Mapped[int] = mapped_column(Integer, default=30)
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Staff removed the calendar: its future visits were cancelled and feeds stop syncing.
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Syncs that failed in a row since the last good one: the back-off grows with them.
    failed_syncs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the scheduler next syncs the source (None: as soon as possible).
    next_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # What the stored event fingerprints were taken under (importer version, settings, window);
    # fingerprints taken under anything else say nothing about this import.
    event_fingerprints_basis: Mapped[str | None] = mapped_column(String(64))

    practitioner: Mapped[Practitioner] = relationship()


class CalDavCalendar(db.Model):
    """How a "caldav" source reaches its calendar collection (the source's url): whose login, and where the sync got to.

    The password is encrypted with the CREDENTIALS_KEY and never leaves the server again.
    """

    __tablename__ = "caldav_calendar"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("calendar_source.id"), unique=True)
    username: Mapped[str] = mapped_column(String(300))
    password_encrypted: Mapped[str] = mapped_column(Text)
    # The server's RFC 6578 sync token after the last sync that was imported; None: list the ETags in full.
    sync_token: Mapped[str | None] = mapped_column(String(1000))
    # The mirror changed but its import did not go through: import it on the next sync even if nothing else changed.
    import_pending: Mapped[bool] = mapped_column(Boolean, default=True)

    source: Mapped[CalendarSource] = relationship()


class CalDavObject(db.Model):
    """The local mirror of one calendar object resource on a CalDAV server, as last fetched."""

    __tablename__ = "caldav_object"
    __table_args__ = (UniqueConstraint("source_id", "href"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("calendar_source.id"))
    href: Mapped[str] = mapped_column(String(1000))  # the path on the server
    etag: Mapped[str | None] = mapped_column(String(300))
    ics: Mapped[str] = mapped_column(Text)


class CalendarEventFingerprint(db.Model):
    """What one event of a source (every component of one UID) looked like when it was last imported.

    The fingerprint leaves out the properties producers re-issue on every
    download (DTSTAMP, LAST-MODIFIED), so an unchanged event is recognised
    without being parsed.
    """

    __table_args__ = (UniqueConstraint("source_id", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("calendar_source.id"))
    uid: Mapped[str] = mapped_column(String(500))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The event had duplicates (same UID and RECURRENCE-ID), which DTSTAMP and
    # LAST-MODIFIED decide between: then they are part of its fingerprint.
    with_stamps: Mapped[bool] = mapped_column(Boolean, default=False)
    occurrences: Mapped[int] = mapped_column(Integer, default=0)  # inside the window


class ImportRun(db.Model):
    """The report of importing one file or one feed download, kept for the sources page."""

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("calendar_source.id"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))  # "imported" | "error" | "not_modified"
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Staff removed this import: the future visits it brought in were cancelled.
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    source: Mapped[CalendarSource] = relationship()


class Appointment(db.Model):
    """One occurrence of a calendar event: a visit of a client with a practitioner."""

    __table_args__ = (
        UniqueConstraint("source_id", "uid", "recurrence_id"),
        Index("ix_appointment_practice_start", "practice_id", "starts_at"),
        Index("ix_appointment_client_start", "client_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("calendar_source.id"))
    # The import that brought the visit in (first, or back after a cancellation): removing that import cancels it.
    # Looked up with source_id, whose unique key serves as the index: one more index would slow every import.
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_run.id"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"))
    uid: Mapped[str] = mapped_column(String(500))
    # The occurrence's identity inside a series (its original start, ISO UTC);
    # "" for single events, so the unique key also holds on PostgreSQL.
    recurrence_id: Mapped[str] = mapped_column(String(40), default="")
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    original_tz: Mapped[str | None] = mapped_column(String(100))
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    location: Mapped[str | None] = mapped_column(Text)
    at_client_place: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    # The booking tool's own "new client" flag, when the event carries one; None when it says nothing.
    new_client: Mapped[bool | None] = mapped_column(Boolean)
    # Why the importer read the event as it did ({"name": ..., "phone": ..., "place": ...}), or how staff fixed it.
    why: Mapped[dict | None] = mapped_column(JSON)
    # Hash of everything imported from the event: an unchanged re-import is a no-op.
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    visit_outcome: Mapped[str | None] = mapped_column(String(16))
    visit_outcome_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[Client | None] = relationship()
    practitioner: Mapped[Practitioner] = relationship()
    source: Mapped[CalendarSource] = relationship()

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"


class CallList(db.Model):
    __table_args__ = (UniqueConstraint("practitioner_id", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id"))
    week: Mapped[str] = mapped_column(String(8))  # ISO week, "2026-W49"
    week_start: Mapped[dt.date] = mapped_column(Date)
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    practitioner: Mapped[Practitioner] = relationship()
    tasks: Mapped[list[CallTask]] = relationship(back_populates="call_list", order_by="CallTask.id")


class CallTask(db.Model):
    """One client to call this week, and what came of it."""

    __table_args__ = (UniqueConstraint("call_list_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    call_list_id: Mapped[int] = mapped_column(ForeignKey("call_list.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    reason_detail: Mapped[str | None] = mapped_column(String(300))
    # "active" while on the list; "removed" when the visit was cancelled or moved out of the week.
    state: Mapped[str] = mapped_column(String(16), default="active")
    removed_reason: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(20))
    questions: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    questions_answered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    call_list: Mapped[CallList] = relationship(back_populates="tasks")
    client: Mapped[Client] = relationship()
    appointment: Mapped[Appointment] = relationship()
    attempts: Mapped[list[CallAttempt]] = relationship(back_populates="task", order_by="CallAttempt.id")

    @property
    def is_done(self) -> bool:
        return self.outcome in ("reached", "wrong_number")


class CallAttempt(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("call_task.id"), index=True)
    caller_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    via: Mapped[str] = mapped_column(String(16), default="bridge")  # "bridge" | "own_phone"
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    client_call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    client_status: Mapped[str | None] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(32))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    client_duration_seconds: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(20))
    questions: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # "outbound" (we called), or "inbound" (the client called back; `via` is then "callback").
    direction: Mapped[str] = mapped_column(String(8), default="outbound")
    # When the practitioner's recorded greeting was played to the client's voicemail.
    voicemail_left_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    task: Mapped[CallTask] = relationship(back_populates="attempts")


class Notification(db.Model):
    """An outgoing SMS. The row is the outbox: a text exists here before it goes to Twilio."""

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("practitioner.id"))
    # arrival | on_my_way | running_late | list_ready | help | missed_call | voicemail_note
    kind: Mapped[str] = mapped_column(String(16))
    # Makes a duplicate impossible, e.g. "arrival:<appointment>:<lead minutes>".
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    to_phone: Mapped[str | None] = mapped_column(String(20))
    from_phone: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    status_detail: Mapped[str | None] = mapped_column(String(300))
    # Why the text was not sent, as a message to say again in the reader's language (outreach.messages.as_json);
    # status_detail keeps it in English as the trace.
    status_reason: Mapped[dict | None] = mapped_column(JSON)
    message_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[int | None] = mapped_column(Integer)
    send_attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_try_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    appointment: Mapped[Appointment | None] = relationship()
    client: Mapped[Client | None] = relationship()


class InboundMessage(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"))
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str | None] = mapped_column(String(20))
    to_phone: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="reply")  # reply | stop | start | help
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(db.Model):
    """Who did what, when: every call, outcome, text and status change leaves one."""

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    actor: Mapped[str] = mapped_column(String(254))  # user e-mail, "system" or "twilio"
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class InboundCall(db.Model):
    """A call to a practice's number, and where it was put through.

    `matched` says what the caller ID matched among the practice's clients:
    "one", "several" (shown as such, never guessed) or "none". `route` is
    "practitioner" (a call-back, offered to the practitioner who called),
    "front_desk" or "voicemail". A call-back of a client on a call list is also
    a CallAttempt (direction "inbound") on that task.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str | None] = mapped_column(String(20), index=True)
    to_phone: Mapped[str | None] = mapped_column(String(20))
    matched: Mapped[str] = mapped_column(String(8))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("call_task.id"))
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("call_attempt.id"))
    practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("practitioner.id"))
    route: Mapped[str] = mapped_column(String(16))
    # Why it went where it went, in words for the people reading the log ("outside calling hours").
    route_reason: Mapped[str | None] = mapped_column(String(200))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the practitioner pressed 1
    dial_status: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))  # "bridged" | "message" | "no_message"
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client | None] = relationship()
    task: Mapped[CallTask | None] = relationship()
    attempt: Mapped[CallAttempt | None] = relationship()
    practitioner: Mapped[Practitioner | None] = relationship()


class Recording(db.Model):
    """A recording Twilio holds: a client's voicemail message, or a practitioner's voicemail greeting.

    The audio stays at Twilio and is fetched through the gateway when played.
    Erased (with the client, or by the retention period) means the app no
    longer serves it and has asked Twilio to delete it (`deleted_at_twilio`).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "voicemail" | "greeting"
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    inbound_call_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_call.id"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("call_task.id"), index=True)
    practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("practitioner.id"), index=True)
    from_phone: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="completed")
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    transcription: Mapped[str | None] = mapped_column(Text)
    listened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    listened_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_at_twilio: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[Client | None] = relationship()
    task: Mapped[CallTask | None] = relationship()
    practitioner: Mapped[Practitioner | None] = relationship()
    inbound_call: Mapped[InboundCall | None] = relationship()

    @property
    def playable(self) -> bool:
        return self.erased_at is None and self.status == "completed"
