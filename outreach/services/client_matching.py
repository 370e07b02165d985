"""Who an appointment is with: the client read out of a calendar event, and that client's row.

Calendars are typed by front-desk staff, not filled in by forms, so the client
hides in different places: an ATTENDEE (name in CN, address in mailto:), a
phone number or e-mail typed into the SUMMARY, DESCRIPTION or LOCATION, and a
name typed into the SUMMARY in the calendar's own habit ("Anna Petrova -
cleaning"). `extract_client` reads those facts; `ClientDirectory` turns facts
into client rows of one practice, deduplicated by phone, then e-mail, then an
unambiguous name.

No Flask here: the directory works on the SQLAlchemy session it is given.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import phonenumbers
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from outreach.models import Client

SUMMARY_FORMATS = ("auto", "name - service", "service - name", "name")

# What separates the name from the service in a summary such as "Anna Petrova - cleaning".
_SUMMARY_SEPARATOR = re.compile(r"\s+[-–—]\s+|:\s+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# PhoneNumberMatcher is slow; text with fewer than six digits cannot hold a phone number.
_ENOUGH_DIGITS = re.compile(r"(?:\d\D{0,3}){6}")
_NAME_WORD = re.compile(r"[^\W\d_][^\W\d_'’.\-]*\.?")
# Capitalised words that start appointment titles but are not people, e.g. "New Patient - Cleaning".
_NOT_NAME_WORDS = frozenset("""
    new patient patients client clients appointment appt visit first follow follow-up followup consultation consult
    check checkup check-up cleaning meeting call session treatment exam examination review lunch break blocked
    busy holiday vacation out office team staff training online video phone zoom tentative cancelled canceled
    hold reserved free private personal the a an
""".split())
_MAX_NAME_LENGTH = 120
_MAX_EMAIL_LENGTH = 254  # Client.email
_RESOURCE_TYPES = {"ROOM", "RESOURCE"}


@dataclass(frozen=True)
class Attendee:
    """One ATTENDEE of an event, as far as finding the client goes."""

    address: str  # the value without "mailto:", lower case; "" when absent
    name: str | None  # CN
    resource: bool = False  # a room or a piece of equipment, never the client


@dataclass(frozen=True)
class ClientFacts:
    """What an event says about its client; empty fields are unknown."""

    name: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None  # lower case

    @property
    def recognisable(self) -> bool:
        return bool(self.name or self.phone or self.email)


@dataclass(frozen=True)
class PractitionerIdentity:
    """Addresses and numbers that belong to the practice side, never to a client."""

    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()


def extract_client(
    *,
    summary: str | None,
    description: str | None,
    location: str | None,
    attendees: Sequence[Attendee],
    organizer: str | None,
    region: str,
    summary_format: str,
    practice_side: PractitionerIdentity,
) -> ClientFacts:
    """Reads the client's name, phone and e-mail from one event.

    Attendees come first (they are structured), then the free text: phone
    numbers in the practice's `region` (numbers written without a country
    code are read as local ones), e-mail addresses anywhere, and a name from
    the summary according to `summary_format`. The organizer, the
    practitioner and the practice are never taken for the client.
    """
    own_emails = set(practice_side.emails)
    if organizer:
        own_emails.add(organizer)
    clients = [a for a in attendees if not a.resource and a.address not in own_emails]

    texts = [text for text in (summary, description, location) if text]
    tel_uris = [a.address.removeprefix("tel:") for a in clients if a.address.startswith("tel:")]
    # The generators stop at the first find: the slow phone matcher runs no further than needed.
    name = next(filter(None, map(_attendee_name, clients)), None)
    if name is None and summary:
        name = name_from_summary(summary, summary_format)
    phone = next(filter(None, (_first_phone(text, region, practice_side) for text in [*tel_uris, *texts])), None)
    email = next((a.address for a in clients if _is_email(a.address)), None)
    if email is None:
        email = next(filter(None, (_first_email(text, own_emails) for text in texts)), None)
    return ClientFacts(name=name, phone=phone, email=email)


def name_from_summary(summary: str, summary_format: str) -> str | None:
    """The client's name typed into an event's summary, if the calendar's habit says where.

    "name - service" takes the part before the first separator (" - ", " – ",
    " — " or ": "), "service - name" the part after the last one, "name" the
    whole summary. "auto" takes the part before the first separator only when
    it looks like a person's name: two to four capitalised words of letters,
    none of them a word that starts appointment titles ("New Patient").
    """
    summary = " ".join(summary.split())
    parts = _SUMMARY_SEPARATOR.split(summary)
    if summary_format == "name":
        candidate = summary
    elif summary_format == "name - service":
        candidate = parts[0] if len(parts) > 1 else summary
    elif summary_format == "service - name":
        candidate = parts[-1] if len(parts) > 1 else summary
    else:
        if len(parts) < 2 or not looks_like_person_name(parts[0]):
            return None
        candidate = parts[0]
    return _clean_name(candidate)


def looks_like_person_name(text: str) -> bool:
    words = text.split()
    if not 2 <= len(words) <= 4 or len(text) > _MAX_NAME_LENGTH:
        return False
    return all(
        _NAME_WORD.fullmatch(word) and word[0].isupper() and word.lower().strip(".") not in _NOT_NAME_WORDS
        for word in words
    )


def _clean_name(text: str) -> str | None:
    """Drops phone numbers and e-mail addresses typed next to a name."""
    text = _EMAIL.sub(" ", text)
    text = re.sub(r"\+?[\d()][\d\s().-]{5,}\d", " ", text)
    text = " ".join(text.strip(" ,;-–—:\"'").split())
    if not text or not any(ch.isalpha() for ch in text):
        return None
    return text[:_MAX_NAME_LENGTH]


def _attendee_name(attendee: Attendee) -> str | None:
    if not attendee.name or "@" in attendee.name:
        return None
    return _clean_name(attendee.name)


def _first_phone(text: str, region: str, practice_side: PractitionerIdentity) -> str | None:
    if not _ENOUGH_DIGITS.search(text):
        return None
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if number not in practice_side.phones:
            return number
    return None


def _first_email(text: str, own_emails: set[str]) -> str | None:
    for match in _EMAIL.finditer(text):
        email = match.group(0).lower()
        if email not in own_emails and _is_email(email):
            return email
    return None


def _is_email(text: str) -> bool:
    return len(text) <= _MAX_EMAIL_LENGTH and bool(_EMAIL.fullmatch(text))


@dataclass
class _KnownClient:
    id: int | None  # None until inserted
    name: str | None
    phone: str | None
    email: str | None
    changed: bool = False


@dataclass
class ClientDirectory:
    """The clients of one practice, loaded once, so an import matches thousands of events cheaply.

    `resolve` returns a key per event; `save` then writes new and filled-in
    clients in bulk and `client_id(key)` gives the row id. Matching is by
    phone, then e-mail. Facts with neither (a name in the summary only) match
    the client of exactly that name when the practice has just one, so that a
    weekly "Anna Petrova - physio" does not make a new client per import. A
    matched client gets its missing fields filled in; nothing it has is
    overwritten.
    """

    session: Session
    practice_id: int
    now: dt.datetime
    _clients: list[_KnownClient] = field(default_factory=list)
    _by_phone: dict[str, int] = field(default_factory=dict)
    _by_email: dict[str, int] = field(default_factory=dict)
    _by_name: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rows = self.session.execute(
            select(Client.id, Client.full_name, Client.phone, Client.email)
            .where(Client.practice_id == self.practice_id)
        )
        for row in rows:
            self._remember(_KnownClient(id=row.id, name=row.full_name, phone=row.phone, email=row.email))

    def resolve(self, facts: ClientFacts) -> int | None:
        """The directory's key for the client these facts describe; None when they describe no one."""
        if not facts.recognisable:
            return None
        key = self._find(facts)
        if key is None:
            return self._remember(_KnownClient(id=None, name=facts.name, phone=facts.phone, email=facts.email))
        self._fill_in(key, facts)
        return key

    def save(self) -> None:
        """Inserts new clients and fills in existing ones, in two statements."""
        new = [c for c in self._clients if c.id is None]
        if new:
            # Core, not the ORM's bulk insert: that one splits the rows by which columns are NULL.
            ids = self.session.scalars(
                insert(Client.__table__).returning(Client.__table__.c.id, sort_by_parameter_order=True),
                [{"practice_id": self.practice_id, "full_name": c.name, "phone": c.phone, "email": c.email,
                  "created_at": self.now} for c in new],
            ).all()
            for client, client_id in zip(new, ids, strict=True):
                client.id = client_id
                client.changed = False
        filled = [c for c in self._clients if c.changed]
        if filled:
            self.session.execute(
                update(Client),
                [{"id": c.id, "full_name": c.name, "phone": c.phone, "email": c.email} for c in filled],
            )
            for client in filled:
                client.changed = False

    def client_id(self, key: int) -> int:
        client_id = self._clients[key].id
        if client_id is None:
            raise RuntimeError("ClientDirectory.save() must run before client ids are read")
        return client_id

    def _find(self, facts: ClientFacts) -> int | None:
        if facts.phone and facts.phone in self._by_phone:
            return self._by_phone[facts.phone]
        if facts.email and facts.email in self._by_email:
            return self._by_email[facts.email]
        if facts.name and not facts.phone and not facts.email:
            same_name = self._by_name.get(_name_key(facts.name), [])
            if len(same_name) == 1:
                return same_name[0]
        return None

    def _fill_in(self, key: int, facts: ClientFacts) -> None:
        client = self._clients[key]
        # A number or address already used by another client stays with that client (unique per practice).
        if client.phone is None and facts.phone and facts.phone not in self._by_phone:
            client.phone = facts.phone
            self._by_phone[facts.phone] = key
            client.changed = True
        if client.email is None and facts.email and facts.email not in self._by_email:
            client.email = facts.email
            self._by_email[facts.email] = key
            client.changed = True
        if not client.name and facts.name:
            client.name = facts.name
            self._by_name.setdefault(_name_key(facts.name), []).append(key)
            client.changed = True

    def _remember(self, client: _KnownClient) -> int:
        key = len(self._clients)
        self._clients.append(client)
        if client.phone:
            self._by_phone.setdefault(client.phone, key)
        if client.email:
            self._by_email.setdefault(client.email.lower(), key)
        if client.name:
            self._by_name.setdefault(_name_key(client.name), []).append(key)
        return key


def _name_key(name: str) -> str:
    return " ".join(name.casefold().split())


def attendees_from(values: Iterable[tuple[str, str | None, str | None]]) -> list[Attendee]:
    """Attendees from (address, CN, CUTYPE) triples as read from ATTENDEE properties."""
    result = []
    for address, name, cutype in values:
        address = address.strip()
        if address.lower().startswith("mailto:"):
            address = address[7:]
        result.append(Attendee(
            address=address.strip().lower(),
            name=name.strip().strip('"') if name else None,
            resource=(cutype or "").upper() in _RESOURCE_TYPES,
        ))
    return result
