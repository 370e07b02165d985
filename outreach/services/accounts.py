"""Practices, their users and practitioner profiles."""
import datetime as dt
import functools
import hmac
import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from outreach.models import LOCALES, MAX_ID, ROLES, Practice, Practitioner, User, new_session_token
from outreach.services import audit, practice_numbers
from outreach.services.phones import InvalidPhone, region_for, to_e164


class AccountError(ValueError):
    """A readable reason why a practice or user could not be saved."""


def check_timezone(name: str) -> str:
    name = (name or "").strip()
    try:
        ZoneInfo(name)
    # A name too long for a file name is an OSError from the file system, not a missing zone.
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise AccountError(f"unknown time zone {name[:80]!r} (use an IANA name such as Europe/Moscow)") from exc
    return name


def check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise AccountError(f"language must be one of {', '.join(LOCALES)}")
    return locale


def normalise_phone(raw: str | None, region: str = "US") -> str | None:
    if not raw:
        return None
    try:
        return to_e164(raw, region)
    except InvalidPhone as exc:
        raise AccountError(str(exc)) from exc


def practice_phone(session: Session, raw: str | None, practice: Practice | None) -> str | None:
    """`raw` as the E.164 number of `practice` (None: a new one), refused when another practice has it."""
    number = normalise_phone(raw, _region(practice) if practice is not None else "US")
    try:
        practice_numbers.check_number_is_free(session, number, practice)
    except practice_numbers.NumberTaken as exc:
        raise AccountError(str(exc)) from exc
    return number


def create_practice(
    session: Session, *, name: str, timezone: str, locale: str, phone: str | None, address: str | None = None
) -> Practice:
    name = name.strip()
    if not name:
        raise AccountError("a practice needs a name")
    if session.scalar(select(Practice).where(Practice.name == name)):
        raise AccountError(f"a practice named {name!r} already exists")
    practice = Practice(
        name=name,
        timezone=check_timezone(timezone),
        locale=check_locale(locale),
        phone=practice_phone(session, phone, None),
        address=address,
    )
    session.add(practice)
    session.flush()
    audit.record(session, practice_id=practice.id, action="practice.created", obj=practice)
    return practice


def create_user(
    session: Session,
    *,
    practice: Practice,
    email: str,
    role: str,
    full_name: str,
    preferred_name: str | None = None,
    phone: str | None = None,
    password: str | None = None,
    actor: User | str = audit.SYSTEM,
) -> tuple[User, str]:
    """Creates a user (and a practitioner profile for practitioners).

    Returns the user and the password, generated when none was given so the
    admin can hand it over once.
    """
    email = email.strip().lower()
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email:
        raise AccountError(f"{email!r} is not an e-mail address")
    if session.scalar(select(User).where(User.email == email)):
        raise AccountError(f"a user with e-mail {email} already exists")
    if not full_name.strip():
        raise AccountError("a user needs a full name")
    password = password or secrets.token_urlsafe(12)
    user = User(practice=practice, email=email, role=role, full_name=full_name.strip())
    set_password(user, password)
    session.add(user)
    if role != "practitioner":
        # Where Call rings them when they call on a practitioner's behalf.
        user.phone = normalise_phone(phone, _region(practice))
    if role == "practitioner":
        session.add(
            Practitioner(
                practice=practice,
                user=user,
                full_name=full_name.strip(),
                preferred_name=(preferred_name or "").strip() or None,
                phone=normalise_phone(phone, _region(practice)),
            )
        )
    session.flush()
    audit.record(session, practice_id=practice.id, action="user.created", obj=user, actor=actor, role=role)
    return user, password


def update_practitioner(
    session: Session, practitioner: Practitioner, *, full_name: str, preferred_name: str | None,
    phone: str | None, notify_when_list_ready: bool, actor: User | str,
) -> None:
    practitioner.full_name = full_name.strip() or practitioner.full_name
    practitioner.preferred_name = (preferred_name or "").strip() or None
    practitioner.phone = normalise_phone(phone, _region(practitioner.practice))
    practitioner.notify_when_list_ready = notify_when_list_ready
    audit.record(session, practice_id=practitioner.practice_id, action="practitioner.updated", obj=practitioner,
                 actor=actor)


def update_practice_settings(
    session: Session, practice: Practice, *, actor: User | str, timezone: str, locale: str, phone: str | None,
    address: str | None, quiet_hours_start: dt.time, quiet_hours_end: dt.time, **other: object,
) -> None:
    """Saves the practice's settings; `other` holds plain columns (lead time, list day, ...)."""
    practice.timezone = check_timezone(timezone)
    practice.locale = check_locale(locale)
    practice.phone = practice_phone(session, phone, practice)
    practice.address = (address or "").strip() or None
    practice.quiet_hours_start = quiet_hours_start
    practice.quiet_hours_end = quiet_hours_end
    for column, value in other.items():
        if not hasattr(Practice, column):
            raise AccountError(f"unknown practice setting {column!r}")
        setattr(practice, column, value)
    audit.record(session, practice_id=practice.id, action="practice.settings_changed", obj=practice, actor=actor)


def practice_by_name(session: Session, name: str) -> Practice:
    practice = session.scalar(select(Practice).where(Practice.name == name))
    if practice is None:
        raise AccountError(f"no practice named {name!r}")
    return practice


def practitioner_by_email(session: Session, email: str) -> Practitioner:
    practitioner = session.scalar(
        select(Practitioner).join(User).where(User.email == email.strip().lower())
    )
    if practitioner is None:
        raise AccountError(f"no practitioner with e-mail {email!r}")
    return practitioner


def _region(practice: Practice) -> str:
    return region_for(practice.phone, practice.timezone)


# --- Passwords and sessions ------------------------------------------------------------------------


def set_password(user: User, password: str) -> None:
    """Sets the user's password and ends every session they have (on any device)."""
    user.set_password(password)
    end_sessions(user)


def end_sessions(user: User) -> None:
    """Every session of the user, everywhere, stops working (the caller commits)."""
    user.session_token = new_session_token()


@functools.cache
def _unknown_user_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else None.

    An unknown e-mail costs the same password check as a known one, so the
    time a login takes does not tell whether the address has an account.
    """
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        check_password_hash(_unknown_user_hash(), password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user


def user_for_session(session: Session, session_id: str) -> User | None:
    """The user a session names as "<id>:<token>" (`User.get_id`), if that session is still theirs and they
    may still sign in."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdecimal() or not 1 <= int(user_id) <= MAX_ID:
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active or not user.session_token:
        return None
    return user if hmac.compare_digest(user.session_token.encode(), token.encode()) else None
