"""Phone numbers: parsed and validated by `phonenumbers`, stored as E.164."""
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phonenumbers_timezone

from outreach.messages import N_, UserError

# Where a practice gives no phone, its time zone says which country's local numbers it sees.
_TIMEZONE_REGIONS = {tz: region for region, zones in (
    ("RU", ("Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Europe/Kaliningrad")),
    ("GB", ("Europe/London",)),
    ("DE", ("Europe/Berlin",)),
    ("FR", ("Europe/Paris",)),
) for tz in zones}


class InvalidPhone(UserError):
    pass


# Why phonenumbers could not read a number, in words people use.
_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: N_("'%(number)s' has no country code we know"),
    phonenumbers.NumberParseException.NOT_A_NUMBER: N_("'%(number)s' is not a phone number"),
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: N_("'%(number)s' is too short"),
    phonenumbers.NumberParseException.TOO_SHORT_NSN: N_("'%(number)s' is too short"),
    phonenumbers.NumberParseException.TOO_LONG: N_("'%(number)s' is too long"),
}


def region_for(practice_phone: str | None, timezone: str | None) -> str:
    """The region used to read numbers written without a country code."""
    if practice_phone:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(practice_phone, None))
            if region and region != "ZZ":
                return region
        except phonenumbers.NumberParseException:
            pass
    return _TIMEZONE_REGIONS.get(timezone or "", "US")


def to_e164(raw: str, region: str = "US") -> str:
    """Normalises `raw` to E.164, or raises InvalidPhone with a readable reason."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(_PARSE_ERRORS.get(exc.error_type, N_("'%(number)s' is not a phone number")),
                           number=raw[:40]) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(N_("'%(number)s' is not a valid phone number"), number=raw[:40])
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_landline(value: str | None) -> bool:
    """Whether the number is surely a fixed line, which cannot take a text (Twilio's error 30006).

    Only where the numbering plan tells lines apart (most of Europe, Russia); a North American
    number may be either and is never called a landline.
    """
    try:
        number = phonenumbers.parse(value or "")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE


def is_valid_e164(value: str | None) -> bool:
    if not value:
        return False
    try:
        return to_e164(value) == value
    except InvalidPhone:
        return False


def display(value: str | None) -> str:
    """Human form of an E.164 number, e.g. +1 415-555-0134."""
    if not value:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(value, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return value


def zone_of_number(value: str | None) -> str | None:
    """The time zone a phone number tells, when it tells exactly one (e.g. a German number); else None.

    A number of a country with several zones (the US, Russia) names them all
    or none precisely, and then says nothing.
    """
    if not value:
        return None
    try:
        zones = phonenumbers_timezone.time_zones_for_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        return None
    return zones[0] if len(zones) == 1 and zones[0] != phonenumbers_timezone.UNKNOWN_TIMEZONE else None


def client_zone(client, practice) -> ZoneInfo:
    """The client's own time zone: as recorded, else as the phone number tells, else the practice's."""
    return ZoneInfo(getattr(client, "timezone", None) or zone_of_number(getattr(client, "phone", None))
                    or practice.timezone)
