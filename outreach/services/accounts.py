"""Practices, their users and practitioner profiles."""
import datetime as dt
import functools
import hmac
import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from outreach.messages import N_, UserError
from outreach.models import LOCALES, MAX_ID, ROLES, Practice, Practitioner, User, new_session_token
from outreach.services import audit, practice_numbers
from outreach.services.phones import InvalidPhone, region_for, to_e164

# Long enough for any real name; short enough that no page is stretched by one.
MAX_NAME_LENGTH = 100
MAX_PREFERRED_NAME_LENGTH = 50
MIN_PASSWORD_LENGTH = 8


class AccountError(UserError):
    """A readable reason why a practice or user could not be saved."""


def check_timezone(name: str) -> str:
    name = (name or "").strip()
    try:
        ZoneInfo(name)
    # A name too long for a file name is an OSError from the file system, not a missing zone.
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise AccountError(N_("unknown time zone '%(zone)s' (use a name such as Europe/Moscow)"), zone=name[:80],
                           field="timezone") from exc
    return name


def check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise AccountError(N_("language must be one of %(languages)s"), languages=", ".join(LOCALES),
                           field="locale")
    return locale


def normalise_phone(raw: str | None, region: str = "US") -> str | None:
    if not raw:
        return None
    try:
        return to_e164(raw, region)
    except InvalidPhone as exc:
        raise AccountError(exc.message, field="phone", **exc.params) from exc


def practice_phone(session: Session, raw: str | None, practice: Practice | None) -> str | None:
    """`raw` as the E.164 number of `practice` (None: a new one), refused when another practice has it."""
    number = normalise_phone(raw, _region(practice) if practice is not None else "US")
    try:
        practice_numbers.check_number_is_free(session, number, practice)
    except practice_numbers.NumberTaken as exc:
        raise AccountError(N_("%(number)s is already the number of another practice; each practice needs its own"),
                           number=number, field="phone") from exc
    return number


def create_practice(
    session: Session, *, name: str, timezone: str, locale: str, phone: str | None, address: str | None = None
) -> Practice:
    name = name.strip()
    if not name:
        raise AccountError(N_("a practice needs a name"))
    if session.scalar(select(Practice).where(Practice.name == name)):
        raise AccountError(N_("a practice named '%(name)s' already exists"), name=name)
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
        raise AccountError(N_("role must be one of %(roles)s"), roles=", ".join(ROLES))
    if "@" not in email:
        raise AccountError(N_("'%(email)s' is not an e-mail address"), email=email, field="email")
    if session.scalar(select(User).where(User.email == email)):
        raise AccountError(N_("a user with e-mail %(email)s already exists"), email=email, field="email")
    full_name = check_full_name(full_name)
    if password:
        check_new_password(password)
    password = password or secrets.token_urlsafe(12)
    user = User(practice=practice, email=email, role=role, full_name=full_name)
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
                full_name=full_name,
                preferred_name=check_preferred_name(preferred_name),
                phone=normalise_phone(phone, _region(practice)),
            )
        )
    session.flush()
    audit.record(session, practice_id=practice.id, action="user.created", obj=user, actor=actor, role=role)
    return user, password


def check_full_name(full_name: str | None) -> str:
    full_name = " ".join((full_name or "").split())
    if not full_name:
        raise AccountError(N_("a person needs a full name"), field="full_name")
    if len(full_name) > MAX_NAME_LENGTH:
        raise AccountError(N_("a name can have at most %(max)d characters"), max=MAX_NAME_LENGTH, field="full_name")
    return full_name


def check_preferred_name(preferred_name: str | None) -> str | None:
    preferred_name = " ".join((preferred_name or "").split()) or None
    if preferred_name and len(preferred_name) > MAX_PREFERRED_NAME_LENGTH:
        raise AccountError(N_("a preferred name can have at most %(max)d characters"), max=MAX_PREFERRED_NAME_LENGTH,
                           field="preferred_name")
    return preferred_name


def check_formal_name(formal_name: str | None) -> str | None:
    formal_name = " ".join((formal_name or "").split()) or None
    if formal_name and len(formal_name) > MAX_NAME_LENGTH:
        raise AccountError(N_("a name can have at most %(max)d characters"), max=MAX_NAME_LENGTH, field="formal_name")
    return formal_name


def check_new_password(password: str | None) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(N_("a password needs at least %(min)d characters"), min=MIN_PASSWORD_LENGTH,
                           field="password")
    return password


def _own_locale(locale: str | None) -> str | None:
    """A user's language; none means they follow the practice's."""
    return check_locale(locale) if locale else None


def update_user(
    session: Session, user: User, *, full_name: str, locale: str | None, actor: User | str,
    preferred_name: str | None = None, formal_name: str | None = None, phone: str | None = None,
    notify_when_list_ready: bool | None = None,
) -> None:
    """An admin edits a person. The name is kept on the user and on the practitioner profile alike,
    so every page (the People table reads the user, call lists the profile) shows the new one."""
    user.full_name = check_full_name(full_name)
    user.locale = _own_locale(locale)
    set_call_phone(user, phone)
    practitioner = user.practitioner
    if practitioner is not None:
        practitioner.full_name = user.full_name
        practitioner.preferred_name = check_preferred_name(preferred_name)
        practitioner.formal_name = check_formal_name(formal_name)
        if notify_when_list_ready is not None:
            practitioner.notify_when_list_ready = notify_when_list_ready
    audit.record(session, practice_id=user.practice_id, action="user.updated", obj=user, actor=actor)


def update_own_settings(
    session: Session, user: User, *, locale: str | None, preferred_name: str | None = None,
    formal_name: str | None = None, phone: str | None = None,
) -> None:
    """A user's own settings: their language and, for practitioners, how they introduce themselves,
    the name they go by and the phone the call bridge rings."""
    user.locale = _own_locale(locale)
    set_call_phone(user, phone)
    practitioner = user.practitioner
    if practitioner is not None:
        practitioner.preferred_name = check_preferred_name(preferred_name)
        practitioner.formal_name = check_formal_name(formal_name)
    audit.record(session, practice_id=user.practice_id, action="user.settings_changed", obj=user, actor=user)


def set_call_phone(user: User, phone: str | None) -> None:
    """Sets the phone Call rings when this user presses it (`calls.caller_phone`)."""
    number = normalise_phone(phone, _region(user.practice))
    if user.practitioner is not None:
        user.practitioner.phone = number
    else:
        user.phone = number


def change_own_password(session: Session, user: User, *, current_password: str, new_password: str) -> None:
    """The user changes their password, proving they know the current one."""
    if not user.check_password(current_password or ""):
        raise AccountError(N_("the current password is not right"), field="current_password")
    set_password(user, check_new_password(new_password))
    audit.record(session, practice_id=user.practice_id, action="user.password_changed", obj=user, actor=user)


def reset_password(session: Session, user: User, *, new_password: str | None, actor: User) -> str:
    """An admin gives a person a new password (generated when none is typed); returns it to hand over."""
    password = check_new_password(new_password) if new_password else secrets.token_urlsafe(12)
    set_password(user, password)
    audit.record(session, practice_id=user.practice_id, action="user.password_reset", obj=user, actor=actor)
    return password


def set_active(session: Session, user: User, *, active: bool, actor: User) -> None:
    """Deactivated people cannot sign in, and their open sessions stop working; nothing they did is lost."""
    if not active and user.id == actor.id:
        raise AccountError(N_("you cannot deactivate yourself"))
    user.active = active
    if not active:
        end_sessions(user)
    audit.record(session, practice_id=user.practice_id, action="user.activated" if active else "user.deactivated",
                 obj=user, actor=actor)


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
            raise AccountError(N_("unknown practice setting '%(setting)s'"), setting=column)
        setattr(practice, column, value)
    audit.record(session, practice_id=practice.id, action="practice.settings_changed", obj=practice, actor=actor)


def practice_by_name(session: Session, name: str) -> Practice:
    practice = session.scalar(select(Practice).where(Practice.name == name))
    if practice is None:
        raise AccountError(N_("no practice named '%(name)s'"), name=name)
    return practice


def practitioner_by_email(session: Session, email: str) -> Practitioner:
    practitioner = session.scalar(
        select(Practitioner).join(User).where(User.email == email.strip().lower())
    )
    if practitioner is None:
        raise AccountError(N_("no practitioner with e-mail '%(email)s'"), email=email)
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
