"""Practices, their users and practitioner profiles."""
import datetime as dt
import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.messages import N_, UserError
from outreach.models import LOCALES, ROLES, Practice, Practitioner, User
from outreach.services import audit
from outreach.services.phones import InvalidPhone, region_for, to_e164

# Long enough for any real name; short enough that no page is stretched by one.
MAX_NAME_LENGTH = 100
MAX_PREFERRED_NAME_LENGTH = 50
MIN_PASSWORD_LENGTH = 8


class AccountError(UserError):
    """A readable reason why a practice or user could not be saved."""


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AccountError(N_("unknown time zone '%(zone)s' (use a name such as Europe/Moscow)"), zone=name,
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
    user.set_password(password)
    session.add(user)
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
    practitioner = user.practitioner
    if practitioner is not None:
        practitioner.full_name = user.full_name
        practitioner.preferred_name = check_preferred_name(preferred_name)
        practitioner.formal_name = check_formal_name(formal_name)
        practitioner.phone = normalise_phone(phone, _region(practitioner.practice))
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
    practitioner = user.practitioner
    if practitioner is not None:
        practitioner.preferred_name = check_preferred_name(preferred_name)
        practitioner.formal_name = check_formal_name(formal_name)
        practitioner.phone = normalise_phone(phone, _region(practitioner.practice))
    audit.record(session, practice_id=user.practice_id, action="user.settings_changed", obj=user, actor=user)


def change_own_password(session: Session, user: User, *, current_password: str, new_password: str) -> None:
    """The user changes their password, proving they know the current one."""
    if not user.check_password(current_password or ""):
        raise AccountError(N_("the current password is not right"), field="current_password")
    user.set_password(check_new_password(new_password))
    audit.record(session, practice_id=user.practice_id, action="user.password_changed", obj=user, actor=user)


def reset_password(session: Session, user: User, *, new_password: str | None, actor: User) -> str:
    """An admin gives a person a new password (generated when none is typed); returns it to hand over."""
    password = check_new_password(new_password) if new_password else secrets.token_urlsafe(12)
    user.set_password(password)
    audit.record(session, practice_id=user.practice_id, action="user.password_reset", obj=user, actor=actor)
    return password


def set_active(session: Session, user: User, *, active: bool, actor: User) -> None:
    """Deactivated people cannot sign in, and their open sessions stop working; nothing they did is lost."""
    if not active and user.id == actor.id:
        raise AccountError(N_("you cannot deactivate yourself"))
    user.active = active
    audit.record(session, practice_id=user.practice_id, action="user.activated" if active else "user.deactivated",
                 obj=user, actor=actor)


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
