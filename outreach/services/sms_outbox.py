"""The SMS outbox: a text is a `Notification` row before it is ever sent, and it is sent from here.

- Claim, then send. Right before calling Twilio, a worker moves the rows it
  is about to send from "pending" to "sending" with a conditional UPDATE
  (`WHERE status = 'pending'`, RETURNING the rows it won), so the same row
  given to two workers is sent once. Texts go out in waves of
  `send_threads` parallel requests; each wave is claimed, then sent, then
  recorded in one transaction, because per-text transactions cost more CPU
  than the send itself.
- An unknown outcome is never blindly retried. Twilio's create is not
  idempotent: after a timeout or 5xx, or when a worker died between its claim
  and recording Twilio's answer, the row stays "sending" without a SID. The
  sweep (`dispatch_due`) then asks Twilio for recent messages between the two
  numbers and adopts the matching one; only if there is none is the row made
  pending and sent again.
- Nothing is lost with Redis. RQ jobs only make sends punctual; the sweep
  finds every due, unsent row in the table.
- Texts that must not go out are settled with the reason (see
  `notification_status`): opted-out client, invalid number, and for texts
  about a visit: cancelled visit, more than the practice's
  `arrival_missed_after_minutes` late, and unless the practitioner sent it by
  hand, quiet hours in the client's (else the practice's) time zone.
- Per-client limits hold whatever asks for more: at most
  `texts_per_client_per_day` texts to a client a local day, and
  `texts_min_gap_minutes` between two; and at most `texts_per_practice_per_day`
  texts from a practice in its local day, to everyone together. They are
  enforced in the claim itself, under a lock on the client's and the
  practice's rows, so concurrent workers cannot both take "the third text of
  the day"; a text held back is settled "held" with the reason, for the today
  and visit pages to show.

Status callbacks and what the worker records meet in `notification_status`,
where a status only ever moves forward.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from outreach.clock import utcnow
from outreach.messages import N_, UserError
from outreach.models import Appointment, Client, Notification, Practice
from outreach.services import arrival_texts, audit, consent
from outreach.services.notification_status import (
    CANCELLED, FAILED, HELD, MISSED, PENDING, SENDING, SKIPPED, UNSENT, apply_status, clip, settle, transition,
)
from outreach.services.phones import client_zone, is_landline, is_valid_e164
from outreach.twilio_gateway import MessageResult, TwilioGateway, TwilioGatewayError

log = logging.getLogger(__name__)

# Twilio error 21610: the recipient has replied STOP to this number.
UNSUBSCRIBED_RECIPIENT = 21610
# After this many sends that Twilio never confirmed (nor has on record), give up.
MAX_SEND_ATTEMPTS = 3
# Twilio's clock and ours may differ: look this much further back for a sent message.
CLOCK_SKEW_ALLOWANCE = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class OutboxSettings:
    """How the outbox sends: where Twilio reports status, how parallel, how patient.

    `send_threads` texts are sent at once (a "wave"). Upcoming texts are
    scheduled as RQ jobs of up to `batch_size` texts falling due within
    `batch_window` of each other; each job sends its texts as they fall due.
    Every RQ job forks and loads the app (about a second of CPU): hence a job
    per window rather than per due second, started `job_head_start` before
    its first text.
    `in_flight_timeout` must exceed the gateway's request timeout: a row
    "sending" for longer is taken as abandoned and checked with Twilio.
    """

    status_callback_url: str
    send_threads: int = 16
    batch_size: int = 1000
    batch_window: dt.timedelta = dt.timedelta(seconds=5)
    job_head_start: dt.timedelta = dt.timedelta(seconds=2)
    in_flight_timeout: dt.timedelta = dt.timedelta(minutes=1)

    @classmethod
    def from_config(cls, config: Mapping) -> OutboxSettings:
        """From PUBLIC_BASE_URL and TWILIO_TIMEOUT, and TEXT_SEND_THREADS, TEXT_BATCH_SIZE,
        TEXT_BATCH_WINDOW_SECONDS when the config has them."""
        twilio_timeout = dt.timedelta(seconds=float(config.get("TWILIO_TIMEOUT") or 10))
        window = config.get("TEXT_BATCH_WINDOW_SECONDS")
        return cls(
            status_callback_url=config["PUBLIC_BASE_URL"].rstrip("/") + "/twilio/message-status",
            send_threads=int(config.get("TEXT_SEND_THREADS") or cls.send_threads),
            batch_size=int(config.get("TEXT_BATCH_SIZE") or cls.batch_size),
            batch_window=dt.timedelta(seconds=float(window)) if window is not None else cls.batch_window,
            in_flight_timeout=max(cls.in_flight_timeout, 3 * twilio_timeout),
        )

    def callback_url_for(self, notification_id: int) -> str:
        # The row's id rides along, so that a status callback that beats the
        # worker's commit of the SID (or outlives the worker) finds its row.
        return f"{self.status_callback_url}?notification={notification_id}"


@dataclass(frozen=True)
class _Outgoing:
    """What a sending thread needs of a claimed row (ORM objects stay on their session's thread)."""

    notification_id: int
    to: str
    from_: str
    body: str


# --- sending ---------------------------------------------------------------------------------------


def send_batch(session: Session, gateway: TwilioGateway, notification_ids: Iterable[int], settings: OutboxSettings,
               *, wait_up_to: dt.timedelta = dt.timedelta(0)) -> Counter:
    """Send these rows as they fall due, `settings.send_threads` at a time; returns how many ended how.

    Rows due within `wait_up_to` from now are waited for; later ones are
    left for the sweep ("not_due"), as are rows no longer pending
    ("not_pending"). Every row is claimed before its send, so the same ids
    given to several workers at once still send each text once. Commits.
    """
    outcomes: Counter = Counter()
    ids = list(notification_ids)
    if not ids:
        return outcomes
    # A session of the batch's own: its objects live across commits, and
    # `session` may be a Flask-SQLAlchemy session tied to an app context.
    with Session(session.get_bind(), expire_on_commit=False) as batch, \
            ThreadPoolExecutor(max_workers=settings.send_threads, thread_name_prefix="outreach-sms") as pool:
        queue = deque(batch.execute(select(Notification.id, Notification.due_at)
                                    .where(Notification.id.in_(ids), Notification.status == PENDING)
                                    .order_by(Notification.due_at, Notification.id)).all())
        batch.commit()
        outcomes["not_pending"] += len(ids) - len(queue)
        latest_due = utcnow() + wait_up_to
        # The clock may be pinned (tests, demos): bound the waiting by real time too.
        stop_waiting = time.monotonic() + wait_up_to.total_seconds() + 1
        while queue and queue[0].due_at <= latest_due:
            now = utcnow()
            wave = []
            while queue and queue[0].due_at <= now and len(wave) < settings.send_threads:
                wave.append(queue.popleft().id)
            if wave:
                outcomes.update(_send_wave(batch, gateway, pool, wave, settings, now))
            elif time.monotonic() < stop_waiting:
                time.sleep(min((queue[0].due_at - now).total_seconds(), 1.0))
            else:
                break
        outcomes["not_due"] += len(queue)
    return +outcomes  # without the zero counts


def _send_wave(session: Session, gateway: TwilioGateway, pool: ThreadPoolExecutor, ids: list[int],
               settings: OutboxSettings, now: dt.datetime) -> Counter:
    """Check, claim and send these due rows at once; record Twilio's answers in one transaction."""
    outcomes: Counter = Counter()
    rows = session.scalars(
        select(Notification).where(Notification.id.in_(ids), Notification.status == PENDING)
        .options(joinedload(Notification.appointment), joinedload(Notification.client))
        .execution_options(populate_existing=True)
    ).all()
    practices = {practice.id: practice for practice in session.scalars(
        select(Practice).where(Practice.id.in_({n.practice_id for n in rows})))}
    sendable = []
    for notification in rows:
        outcome = _hold(session, notification, practices[notification.practice_id], now)
        if outcome is None:
            sendable.append(notification)
        else:
            outcomes[outcome] += 1
    claimed, held = _claim(session, sendable, practices, now)
    session.commit()
    outcomes[HELD] += held
    outcomes["not_pending"] += len(ids) - len(rows) + len(sendable) - len(claimed) - held

    outgoing = [_Outgoing(n.id, n.to_phone, n.from_phone, n.body) for n in claimed]
    answers = list(pool.map(lambda text: _call_twilio(gateway, text, settings), outgoing))
    accepted = []
    for notification, answer in zip(claimed, answers, strict=True):
        if isinstance(answer, TwilioGatewayError):
            outcomes[_record_send_error(session, gateway, notification, answer)] += 1
        else:
            accepted.append((notification, answer))
    _record_all_sent(session, accepted)
    session.commit()
    outcomes["sent"] += len(accepted)
    return outcomes


def _hold(session: Session, notification: Notification, practice: Practice, now: dt.datetime) -> str | None:
    """Settles a row that must not go out now and says how; None if it may be sent."""
    if notification.kind == arrival_texts.ARRIVAL and not arrival_texts.is_planned_right(session, notification,
                                                                                          practice):
        # Normally the re-import has already moved or cancelled this text;
        # this catches a change that was not re-planned. If still due, the
        # next sweep sends it.
        arrival_texts.plan_arrival_texts(session, [notification.appointment_id], now)
        return "replanned"
    reason = _reason_not_to_send(session, notification, practice, now)
    if reason is None:
        return None
    status, detail = reason
    return status if settle(session, notification, status, detail) else "not_pending"


def _reason_not_to_send(session: Session, notification: Notification, practice: Practice,
                        now: dt.datetime) -> tuple[str, UserError] | None:
    """Why this row must not go out now, as the (status, reason) to settle it with; None to send it.

    Lateness and quiet hours only concern texts about a visit; other texts
    (e.g. "your list is ready" to a practitioner) have no moment to miss.
    Texts for the visit's day (arrival, On my way, Running late) go out only
    in its window; others about the visit (the missed-call text, sent days
    before) only while it is still ahead.
    """
    client = session.get(Client, notification.client_id) if notification.client_id else None
    if notification.appointment_id is not None:
        appointment = session.get(Appointment, notification.appointment_id)
        if appointment.is_cancelled:
            return CANCELLED, UserError(N_("visit cancelled"))
        if notification.kind in arrival_texts.VISIT_DAY_KINDS:
            if reason := arrival_texts.why_no_text_about_visit(appointment, practice, now):
                return (CANCELLED if appointment.visit_outcome else SKIPPED), reason
            if now - notification.due_at > dt.timedelta(minutes=practice.arrival_missed_after_minutes):
                return MISSED, UserError(N_("more than %(minutes)s minutes past its time"),
                                         minutes=practice.arrival_missed_after_minutes)
        elif appointment.visit_outcome:
            return CANCELLED, arrival_texts.already_marked(appointment)
        elif appointment.starts_at <= now:
            return MISSED, UserError(N_("the visit has already begun"))
        zone = client_zone(client, practice)
        if notification.kind not in arrival_texts.MANUAL_KINDS and in_quiet_hours(
                now.astimezone(zone).time(), practice.quiet_hours_start, practice.quiet_hours_end):
            return SKIPPED, UserError(N_("quiet hours"))
    if client is not None and client.opted_out_at is not None:
        return SKIPPED, UserError(N_("client opted out"))
    if not is_valid_e164(notification.to_phone):
        return SKIPPED, UserError(N_("invalid phone number"))
    if is_landline(notification.to_phone):
        return SKIPPED, UserError(N_("the number is a landline, which cannot take a text"))
    if not notification.from_phone:
        return SKIPPED, UserError(N_("the practice has no phone number to send from"))
    return None


def in_quiet_hours(local_time: dt.time, start: dt.time, end: dt.time) -> bool:
    """Whether `local_time` is in [start, end); a window with start after end wraps midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local_time < end
    return local_time >= start or local_time < end


def _claim(session: Session, notifications: list[Notification], practices: Mapping[int, Practice],
           now: dt.datetime) -> tuple[list[Notification], int]:
    """Atomically take these pending, due rows for sending, within the per-client and per-practice limits.

    Returns the rows this worker won (another worker has the rest) and how
    many it held back. The clients' rows, then the practices', are locked
    first and stay locked until the caller commits, so the texts a client or
    practice already sent are counted with every concurrent claim settled; then one
    conditional UPDATE takes the wave: each row only while still pending,
    and RETURNING names the rows this worker took.
    """
    if not notifications:
        return [], 0
    within_client_limits, held_for_client = _hold_beyond_client_limits(session, notifications, practices, now)
    within_limits, held_for_practice = _hold_beyond_practice_limits(session, within_client_limits, practices, now)
    held = held_for_client + held_for_practice
    if not within_limits:
        return [], held
    won = set(session.scalars(
        update(Notification)
        .where(Notification.id.in_([n.id for n in within_limits]), Notification.status == PENDING,
               Notification.due_at <= now)
        .values(status=SENDING, send_attempts=Notification.send_attempts + 1,
                first_try_at=func.coalesce(Notification.first_try_at, now), updated_at=now)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    ))
    claimed = [n for n in within_limits if n.id in won]
    for notification in claimed:
        session.expire(notification, ["status", "send_attempts", "first_try_at", "updated_at"])
    return claimed, held


def _hold_beyond_client_limits(session: Session, notifications: list[Notification],
                               practices: Mapping[int, Practice], now: dt.datetime) -> tuple[list[Notification], int]:
    """The rows within their client's limits; the others are settled "held" with the reason. Locks the clients."""
    client_ids = sorted({n.client_id for n in notifications if n.client_id is not None})
    if not client_ids:
        return notifications, 0
    _lock(session, Client, client_ids)
    # Two days back covers the client's local day in any time zone.
    sent_times: dict[int, list[dt.datetime]] = defaultdict(list)
    for client_id, first_try_at in session.execute(
            select(Notification.client_id, Notification.first_try_at).where(
                Notification.client_id.in_(client_ids), Notification.first_try_at >= now - dt.timedelta(days=2),
                *_SENT)):
        sent_times[client_id].append(first_try_at)
    within, held = [], 0
    for notification in notifications:
        if notification.client_id is None:
            within.append(notification)
            continue
        practice = practices[notification.practice_id]
        zone = client_zone(notification.client, practice)
        reason = why_beyond_client_limits(sent_times[notification.client_id], practice, zone, now)
        if reason is None:
            within.append(notification)
            sent_times[notification.client_id].append(now)
        elif settle(session, notification, HELD, reason):
            held += 1
    return within, held


# A text that counts against the limits: it left, or may have (refused by Twilio outright, it reached no one).
_SENT = (Notification.status.not_in(UNSENT), or_(Notification.status != FAILED, Notification.message_sid.is_not(None)))


def _hold_beyond_practice_limits(session: Session, notifications: list[Notification],
                                 practices: Mapping[int, Practice], now: dt.datetime) -> tuple[list[Notification], int]:
    """The rows within their practice's texts of the day; the others are settled "held". Locks the practices."""
    practice_ids = sorted({n.practice_id for n in notifications})
    if not practice_ids:
        return notifications, 0
    _lock(session, Practice, practice_ids)
    room = {}
    for practice_id in practice_ids:
        practice = practices[practice_id]
        zone = ZoneInfo(practice.timezone)
        day_start = dt.datetime.combine(now.astimezone(zone).date(), dt.time(0), zone)
        sent_today = session.scalar(select(func.count()).select_from(Notification).where(
            Notification.practice_id == practice_id, Notification.first_try_at >= day_start, *_SENT))
        room[practice_id] = practice.texts_per_practice_per_day - sent_today
    within, held = [], 0
    for notification in notifications:
        if room[notification.practice_id] > 0:
            room[notification.practice_id] -= 1
            within.append(notification)
        elif settle(session, notification, HELD, UserError(
                N_("held back: the practice has sent its %(limit)s texts for today, the most an admin allows a day"),
                limit=practices[notification.practice_id].texts_per_practice_per_day)):
            held += 1
    return within, held


def why_beyond_client_limits(sent_times: list[dt.datetime], practice: Practice, zone: ZoneInfo,
                             now: dt.datetime) -> UserError | None:
    """Why one more text to a client who got texts at `sent_times` must be held back at `now`; None if it may go."""
    gap = dt.timedelta(minutes=practice.texts_min_gap_minutes)
    latest = max(sent_times, default=None)
    if latest is not None and now - latest < gap:
        return UserError(N_("held back: the client got a text %(minutes_ago)s minutes ago, and texts to a client are "
                            "at least %(gap)s minutes apart"),
                         minutes_ago=int((now - latest).total_seconds() // 60), gap=practice.texts_min_gap_minutes)
    today = now.astimezone(zone).date()
    sent_today = sum(1 for moment in sent_times if moment.astimezone(zone).date() == today)
    if sent_today >= practice.texts_per_client_per_day:
        return UserError(N_("held back: the client already got %(sent)s texts today, the practice's limit is "
                            "%(limit)s a day"), sent=sent_today, limit=practice.texts_per_client_per_day)
    return None


def _lock(session: Session, model: type[Client] | type[Practice], ids: list[int]) -> None:
    """Lock these clients' or practices' rows until commit: concurrent claims for the same one take turns.

    Claims lock their clients, then their practices, always in that order and by id, so two cannot wait on
    each other.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(model.id).where(model.id.in_(ids)).order_by(model.id).with_for_update())
    else:
        # SQLite has one writer at a time: a write that changes nothing takes that lock now.
        session.execute(update(model).where(model.id.in_(ids)).values(id=model.id)
                        .execution_options(synchronize_session=False))


def _call_twilio(gateway: TwilioGateway, text: _Outgoing, settings: OutboxSettings) -> MessageResult | TwilioGatewayError:
    """Runs on a sending thread: Twilio's answer, or the error (never raises)."""
    try:
        return gateway.send_sms(to=text.to, from_=text.from_, body=text.body,
                                status_callback=settings.callback_url_for(text.notification_id))
    except TwilioGatewayError as error:
        return error
    except Exception as error:  # a bug here must not pass for "not sent": Twilio may have the text
        log.exception("sending notification %s failed unexpectedly", text.notification_id)
        return TwilioGatewayError(f"unexpected {error.__class__.__name__}: {error}", transient=True)


def _record_all_sent(session: Session, accepted: list[tuple[Notification, MessageResult]]) -> None:
    """Twilio took these texts: their SIDs, when, and Twilio's first status, in one statement."""
    if not accepted:
        return
    now = utcnow()
    table = Notification.__table__
    # A status callback may have got here first (it finds the row by the id
    # in its URL): then the row has its SID already and is left as it is.
    session.execute(
        update(table)
        .where(table.c.id == bindparam("row_id"), table.c.status == SENDING, table.c.message_sid.is_(None))
        .values(message_sid=bindparam("sid"), status=bindparam("twilio_status"), error_code=bindparam("code"),
                sent_at=now, updated_at=now, status_detail=None),
        [{"row_id": n.id, "sid": m.sid, "twilio_status": m.status, "code": m.error_code} for n, m in accepted],
    )
    for notification, message in accepted:
        audit.record(session, practice_id=notification.practice_id, action="notification.sent", obj=notification,
                     message_sid=message.sid, status=message.status)


def _record_send_error(session: Session, gateway: TwilioGateway, notification: Notification,
                       error: TwilioGatewayError) -> str:
    if error.transient:
        # Twilio may have created the message all the same: look before anything else.
        found = _find_sent_message(session, gateway, notification)
        if found is not None:
            _record_accepted(session, notification, found, actor=audit.SYSTEM, action="notification.sent",
                             detail=clip(f"found at Twilio after: {error}"))
            return "sent"
        # Not (yet) listed. The request may still be in flight at Twilio, so
        # leave the row "sending": the sweep looks again once that cannot be
        # the case any more, and only then sends again.
        transition(session, notification, [SENDING], status_detail=clip(f"unconfirmed: {error}"),
                   updated_at=utcnow())
        audit.record(session, practice_id=notification.practice_id, action="notification.send_unconfirmed",
                     obj=notification, error=str(error), attempt=notification.send_attempts)
        return "unconfirmed"
    transition(session, notification, [SENDING], status=FAILED, error_code=error.code,
               status_detail=clip(error.message), updated_at=utcnow())
    audit.record(session, practice_id=notification.practice_id, action="notification.failed", obj=notification,
                 error=str(error), error_code=error.code)
    if error.code == UNSUBSCRIBED_RECIPIENT and notification.client_id is not None:
        consent.opt_out(session, session.get(Client, notification.client_id), utcnow(), actor=audit.TWILIO,
                        reason=f"Twilio error {UNSUBSCRIBED_RECIPIENT}: unsubscribed recipient")
    return FAILED


def _record_accepted(session: Session, notification: Notification, message: MessageResult, *, actor: str,
                     action: str, detail: str | None = None) -> None:
    """Twilio has this text as `message`: store its SID and when it went, then its status."""
    now = utcnow()
    session.execute(
        update(Notification)
        .where(Notification.id == notification.id, Notification.message_sid.is_(None))
        .values(message_sid=message.sid, sent_at=func.coalesce(Notification.sent_at, now), status_detail=detail,
                updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(notification, ["message_sid", "sent_at", "status_detail", "updated_at"])
    audit.record(session, practice_id=notification.practice_id, action=action, obj=notification, actor=actor,
                 message_sid=message.sid, status=message.status)
    apply_status(session, notification, message.status, message.error_code, actor=actor)


def apply_status_callback(session: Session, params: Mapping[str, str], *,
                          notification_id: int | None = None) -> Notification | None:
    """A message status callback (Twilio's fields); repeated and out-of-order ones are harmless. Flushes.

    The row is found by MessageSid, else by `notification_id` from the
    callback URL when it has no SID yet; None if there is no such row.
    """
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not sid or not status:
        return None
    written_code = params.get("ErrorCode") or ""
    # Twilio's error codes are five digits; anything else is no code we could show.
    error_code = int(written_code) if written_code.isdigit() and len(written_code) <= 6 else None
    notification = session.scalar(select(Notification).where(Notification.message_sid == sid))
    if notification is None and notification_id is not None:
        candidate = session.get(Notification, notification_id)
        if candidate is not None and candidate.message_sid is None and candidate.to_phone == params.get("To"):
            _record_accepted(session, candidate, MessageResult(sid=sid, status=status, error_code=error_code),
                             actor=audit.TWILIO, action="notification.sid_from_callback")
            return candidate
    if notification is None:
        log.info("status %r for unknown message %s ignored", status, sid)
        return None
    apply_status(session, notification, status, error_code, actor=audit.TWILIO)
    return notification


# --- the sweep ------------------------------------------------------------------------------------


def dispatch_due(session: Session, gateway: TwilioGateway, now: dt.datetime, settings: OutboxSettings) -> Counter:
    """Everything the outbox owes at `now`: settle abandoned sends with Twilio, then send every due row.

    Safe to run any number of times, in any number of processes at once.
    Returns how many ended how ("sent", "missed", "recovered", ...).
    """
    outcomes: Counter = Counter()
    abandoned = session.scalars(select(Notification).where(
        Notification.status == SENDING,
        Notification.message_sid.is_(None),
        Notification.updated_at <= now - settings.in_flight_timeout,
    )).all()
    for notification in abandoned:
        outcomes[recover_unconfirmed(session, gateway, notification)] += 1
        session.commit()
    due_ids = session.scalars(
        select(Notification.id)
        .where(Notification.status == PENDING, Notification.due_at <= now)
        .order_by(Notification.due_at, Notification.id)
    ).all()
    session.commit()  # send_batch works in a session of its own: hold no transaction open meanwhile
    outcomes.update(send_batch(session, gateway, due_ids, settings))
    return outcomes


def upcoming_batches(session: Session, now: dt.datetime, within: dt.timedelta,
                     settings: OutboxSettings) -> list[tuple[dt.datetime, list[int]]]:
    """Pending rows due after `now` and up to `now + within`, as (when to start sending, ids) batches.

    A batch holds up to `settings.batch_size` rows falling due within
    `settings.batch_window` of its first; it is to start
    `settings.job_head_start` before that first row is due, and to wait for
    its rows (`send_batch(wait_up_to=batch_wait(settings))`): no row is
    claimed before its moment.
    """
    rows = session.execute(
        select(Notification.id, Notification.due_at)
        .where(Notification.status == PENDING, Notification.due_at > now, Notification.due_at <= now + within)
        .order_by(Notification.due_at, Notification.id)
    ).all()
    batches: list[tuple[dt.datetime, list[int]]] = []
    first_due = None
    for notification_id, due_at in rows:
        if batches and len(batches[-1][1]) < settings.batch_size and due_at < first_due + settings.batch_window:
            batches[-1][1].append(notification_id)
        else:
            first_due = due_at
            batches.append((due_at - settings.job_head_start, [notification_id]))
    return batches


def batch_wait(settings: OutboxSettings) -> dt.timedelta:
    """How long a batch from `upcoming_batches` waits for its last row, at most."""
    return settings.job_head_start + settings.batch_window


def recover_unconfirmed(session: Session, gateway: TwilioGateway, notification: Notification) -> str:
    """A row left "sending" without a SID: adopt Twilio's message if it has one, else make the row pending.

    Returns "recovered", "requeued", "failed" (gave up) or "unconfirmed"
    (Twilio could not be asked; the next sweep tries again).
    """
    try:
        found = _find_sent_message(session, gateway, notification)
    except TwilioGatewayError as error:
        log.warning("could not check notification %s with Twilio: %s", notification.id, error)
        return "unconfirmed"
    if found is not None:
        _record_accepted(session, notification, found, actor=audit.SYSTEM, action="notification.recovered")
        return "recovered"
    attempts = notification.send_attempts
    unchanged = [Notification.message_sid.is_(None), Notification.send_attempts == attempts]
    if attempts >= MAX_SEND_ATTEMPTS:
        reason = f"gave up: Twilio confirmed none of {attempts} attempts"
        if transition(session, notification, [SENDING], *unchanged, status=FAILED, status_detail=reason,
                      updated_at=utcnow()):
            audit.record(session, practice_id=notification.practice_id, action="notification.failed",
                         obj=notification, reason=reason)
        return FAILED
    if transition(session, notification, [SENDING], *unchanged, status=PENDING, updated_at=utcnow()):
        audit.record(session, practice_id=notification.practice_id, action="notification.requeued",
                     obj=notification, reason="Twilio has no such message", attempts=attempts)
    return "requeued"


def _find_sent_message(session: Session, gateway: TwilioGateway, notification: Notification) -> MessageResult | None:
    """The message Twilio created for this row, if any.

    Same numbers, created since the first try, body ending with ours (trial
    accounts prefix a notice), and not already another row's SID: the same
    text may go to the same client twice in a day.
    """
    since = (notification.first_try_at or notification.created_at) - CLOCK_SKEW_ALLOWANCE
    messages = gateway.recent_messages(to=notification.to_phone, from_=notification.from_phone, since=since)
    candidates = [message for message in messages if (message.body or "").endswith(notification.body or "")]
    if not candidates:
        return None
    taken = set(session.scalars(select(Notification.message_sid).where(
        Notification.message_sid.in_([message.sid for message in candidates]))))
    # Newest first: the oldest one not taken is this row's.
    return next((message for message in reversed(candidates) if message.sid not in taken), None)
