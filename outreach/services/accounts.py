"""Practices, their users and practitioner profiles."""
import datetime as dt
import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import LOCALES, ROLES, Practice, Practitioner, User
from outreach.services import audit
from outreach.services.phones import InvalidPhone, region_for, to_e164


class AccountError(ValueError):
    """A readable reason why a practice or user could not be saved."""


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AccountError(f"unknown time zone {name!r} (use an IANA name such as Europe/Moscow)") from exc
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
        phone=normalise_phone(phone),
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
    user.set_password(password)
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
    practice.phone = normalise_phone(phone, _region(practice))
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
