"""Who an appointment is with: the client read out of a calendar event, and that client's row.

Calendars are typed by front-desk staff or written by booking tools, so the
client hides in different places: a labelled field of the description
("Client: …", «ФИО: …», "Kunde: …"), an ATTENDEE (name in CN, address in
mailto:), a phone number or e-mail typed anywhere, and a name typed into the
SUMMARY in the calendar's habit ("Anna Petrova - cleaning", "Массаж — Соколова
Анна"), learned from the whole calendar (`reading.layout`). Nobody on the
practice side is ever a client: its users and practitioners by name and
e-mail, its own e-mail domain, the calendar's own address. Events that are not
visits (meetings, courses, holidays, "blocked", "OFF", lunch) have no client.

`extract_client` reads those facts and says why (`ClientFacts.why`);
`ClientDirectory` turns facts into client rows of one practice. A client is a
person and a phone a way to reach them: two names on one phone (a parent
booking for the children) are two clients sharing a number.

No Flask here: the directory works on the SQLAlchemy session it is given.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.orm import Session

from outreach.models import Client, Practice, Practitioner, User
from outreach.services.reading.labels import read_labels
from outreach.services.reading.layout import LAYOUTS, title_parts
from outreach.services.reading.names import (
    could_be_a_name,
    fold,
    name_words,
    person_score,
    tidy_case,
    typed_in_lower_case,
)

SUMMARY_FORMATS = LAYOUTS

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# PhoneNumberMatcher is slow; text with fewer than six digits cannot hold a phone number.
_ENOUGH_DIGITS = re.compile(r"(?:\d\D{0,3}){6}")
# A North American number written without its area code ("555-0134"): the practice's own area code.
_LOCAL_NANP = re.compile(r"(?<![\d-])(\d{3})[-.\s](\d{4})(?![\d-])")
# Pieces of titles: "Service between A and B", "A and B", "Massage for A", "Root canal (A)", "#19", "555-0134".
_BETWEEN = re.compile(r"\b(?:between|zwischen|между)\s+(.+)$", re.IGNORECASE)
_AND = re.compile(r"\s+(?:and|und|и|&)\s+")
_WITH = re.compile(r"\s+(?:with|for|mit|für|для)\s+")
_IN_BRACKETS = re.compile(r"\(([^()]+)\)")
_PHONE_LIKE = re.compile(r"\+?[\d(][\d\s().-]{5,}\d")
_BRACKETS_AND_NUMBERS = re.compile(r"\(.*?\)|#\s*\d+")
_MAX_NAME_LENGTH = 120
_MAX_EMAIL_LENGTH = 254  # Client.email
_RESOURCE_TYPES = {"ROOM", "RESOURCE"}
# Prefixes calendars put before the title itself.
_STATUS_PREFIX = re.compile(
    r"^\s*(canceled|cancelled|updated( invitation)?|invitation|accepted|declined|tentative|abgesagt|abgelehnt"
    r"|aktualisiert|отменено|отменена|отменен|отмена|приглашение)\s*:\s*", re.IGNORECASE)
# Titles of visits called off that the calendar still shows: Outlook and Exchange keep a cancelled meeting with
# "Canceled:" before its title; others write "[Cancelled] Anna Lee" or "Anna Lee - Cleaning (cancelled)".
_CANCELLED = r"canceled|cancelled|abgesagt|storniert|отменено|отменена|отменен|отменён|отмена"
_CANCELLED_TITLE = re.compile(
    rf"^\s*(?:[\[(]\s*(?:{_CANCELLED})\s*[\])]|(?:{_CANCELLED})\s*[:\-–—])\s*|\s*[\[(]\s*(?:{_CANCELLED})\s*[\])]\s*$",
    re.IGNORECASE)
_NEW_PREFIX = re.compile(
    r"^\s*(\(new\)|new (pt|patient|client|customer)|np|neu(kunde|kundin|patient|patientin)?|нов(ый|ая)"
    r"( клиент(ка)?| пациент(ка)?)?)\s*[:!\-–—]\s*", re.IGNORECASE)
# Words anywhere in a title that say the visit is a new client's ("Anna Lee (new patient)", «Первичная консультация»).
_NEW_IN_TITLE = re.compile(
    r"\bnew (pt|patient|client|customer)\b|\bneu(kunde|kundin|patient|patientin)\b|\berstbesuch\b"
    r"|нов(ый|ая) (клиент|пациент)|первичн(ый|ая|ое)", re.IGNORECASE)
# Titles of events that are not visits. German compounds are matched inside words ("Mittagspause").
# Absences are never visits; the softer words ("training", "meeting") yield to a client's name beside them
# ("Personal training - Anna Lee").
_ABSENCE = re.compile(
    r"\b(holidays?|vacation|pto|leave|off|day off|out of office|ooo|blocked?|busy|lunch|break|closed|sick"
    r"|обед|перерыв|выходной|отпуск|больничный|закрыто)\b"
    r"|urlaub|pause|feiertag|praxis geschlossen|betriebsausflug|weihnachtsfeier",
    re.IGNORECASE)
_NOT_A_VISIT = re.compile(
    r"\b(meeting|staff|team|huddle|training|course|workshop|webinar|seminar|conference|personal|private"
    r"|supervision|admin|paperwork|inventory|собрание|совещание|планерк[аи]|планёрк[аи]|обучение|курсы?|семинар"
    r"|тренинг|учеба|учёба)\b|besprechung|fortbildung|schulung",
    re.IGNORECASE)
_PUBLIC_MAIL_DOMAINS = frozenset("""
    gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.de hotmail.com hotmail.co.uk hotmail.de outlook.com
    outlook.de live.com live.co.uk msn.com icloud.com me.com mac.com aol.com proton.me protonmail.com gmx.de gmx.net
    gmx.com web.de t-online.de freenet.de yandex.ru ya.ru mail.ru bk.ru inbox.ru list.ru rambler.ru btinternet.com
    sky.com att.net comcast.net verizon.net sbcglobal.net cox.net
    example.com example.org example.net
""".split())  # and RFC 2606's example domains, which belong to nobody
# Addresses that are calendars, not people.
_CALENDAR_ADDRESS = re.compile(r"@(group|resource|import)\.calendar\.google\.com$")


@dataclass(frozen=True)
class Attendee:
    """One ATTENDEE of an event, as far as finding the client goes."""

    address: str  # the value without "mailto:", lower case; "" when absent
    name: str | None  # CN
    resource: bool = False  # a room or a piece of equipment, never the client


@dataclass(frozen=True)
class ClientFacts:
    """What an event says about its client; empty fields are unknown. `why` says where each fact came from."""

    name: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None  # lower case
    new_client: bool | None = None  # the booking tool's own flag
    not_a_visit: bool = False
    why: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def recognisable(self) -> bool:
        return bool(self.name or self.phone or self.email)


@dataclass(frozen=True)
class PractitionerIdentity:
    """Who is on the practice side, never a client: addresses, numbers, names and the practice's e-mail domain."""

    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    names: frozenset[tuple[str, ...]] = frozenset()  # name_words() of every user and practitioner, titles dropped
    domains: frozenset[str] = frozenset()
    area_code: str | None = None  # the practice phone's, for North American numbers typed without one

    def owns_email(self, email: str) -> bool:
        email = email.strip().lower()
        domain = email.rpartition("@")[2]
        return email in self.emails or domain in self.domains or bool(_CALENDAR_ADDRESS.search(email))

    def owns_name(self, name: str) -> bool:
        """Whether `name` is one of the practice's people, also written shorter ("Dr Patel", "Glen Gorab")."""
        words = _person_words(name)
        if not words:
            return False
        for known in self.names:
            if set(words) == set(known) or (len(words) >= 2 and set(words) <= set(known)):
                return True
            if len(words) == 1 and len(known) >= 2 and words[0] == known[-1]:  # the surname alone
                return True
        return False

    @property
    def key(self) -> list[Any]:
        return [sorted(self.emails), sorted(self.phones), sorted(self.names), sorted(self.domains), self.area_code]


def _person_words(name: str) -> tuple[str, ...]:
    return tuple(fold(word) for word in name_words(name) if fold(word))


def practice_identity(session: Session, practice: Practice, practitioner: Practitioner | None = None
                      ) -> PractitionerIdentity:
    """Everyone on the practice side: every user and practitioner of `practice`, its numbers and e-mail domain."""
    emails: set[str] = set()
    names: set[tuple[str, ...]] = set()
    phones = {practice.phone} if practice.phone else set()
    for email, full_name in session.execute(select(User.email, User.full_name).where(User.practice_id == practice.id)):
        emails.add(email.lower())
        names.add(_person_words(full_name))
    for full_name, phone in session.execute(
            select(Practitioner.full_name, Practitioner.phone).where(Practitioner.practice_id == practice.id)):
        names.add(_person_words(full_name))
        if phone:
            phones.add(phone)
    if practitioner is not None:
        emails.add(practitioner.user.email.lower())
    domains = {e.rpartition("@")[2] for e in emails} - _PUBLIC_MAIL_DOMAINS
    area_code = None
    if practice.phone and practice.phone.startswith("+1") and len(practice.phone) == 12:
        area_code = practice.phone[2:5]
    return PractitionerIdentity(emails=frozenset(emails), phones=frozenset(phones),
                                names=frozenset(n for n in names if n), domains=frozenset(domains),
                                area_code=area_code)


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
    """Reads the client's name, phone and e-mail from one event, and says where each came from.

    Labelled fields of the description come first (booking tools write them),
    then attendees (structured), then the free text: phone numbers in the
    practice's `region`, e-mail addresses anywhere, and a name from the
    summary according to `summary_format` (the calendar's layout). The
    organizer and everyone on the practice side are never the client; an
    event whose title says it is no visit has no client.
    """
    why: dict[str, Any] = {}
    title = _CANCELLED_TITLE.sub("", summary or "")
    new_client: bool | None = None
    while True:
        if prefix := _STATUS_PREFIX.match(title):
            title = title[prefix.end():]
        elif new := _NEW_PREFIX.match(title):
            new_client = True
            why["new_client"] = {"source": "title", "detail": new.group(0).strip()}
            title = title[new.end():]
        else:
            break
    if new_client is None and (new_word := _NEW_IN_TITLE.search(title)):
        new_client = True
        why["new_client"] = {"source": "title", "detail": new_word.group(0)}
    labels = read_labels(description)
    if labels.new_client is not None:
        new_client = labels.new_client[1]
        why["new_client"] = {"source": "description", "detail": labels.new_client[0]}
        if labels.new_client_marker:
            why["new_client"]["marker"] = True

    clients = [a for a in attendees if not a.resource and a.address != (organizer or "")
               and not practice_side.owns_email(a.address) and not (a.name and practice_side.owns_name(a.name))]
    label_name = _clean_name(labels.name[1]) if labels.name else None
    if label_name and practice_side.owns_name(label_name):
        label_name = None

    if not (label_name or clients) and (match := _not_a_visit(title, practice_side)):
        why["not_a_visit"] = {"source": "title", "detail": match.group(0)}
        return ClientFacts(not_a_visit=True, why=why)

    name = None
    if label_name:
        name = label_name
        why["name"] = {"source": "description", "detail": labels.name[0]}
    if name is None:
        for attendee in clients:
            if (candidate := _attendee_name(attendee)) and could_be_a_name(candidate):
                name = candidate
                why["name"] = {"source": "attendee", "detail": attendee.address or candidate}
                break
    if name is None and title:
        # After "NEW PT:" the rest of a one-part title is the person ("NEW PT: J. Miller 555-0134").
        if ("new_client" in why and len(title_parts(title)) == 1 and person_score(_without_noise(title)) >= 0.3
                and not practice_side.owns_name(title)):
            name, layout = _clean_name(title), "name"
        else:
            name, layout = name_from_summary(title, summary_format, practice_side)
        if name:
            why["name"] = {"source": "title", "detail": layout}

    phone = None
    if labels.phone:
        phone = _first_phone(labels.phone[1], region, practice_side) or _labelled_phone(labels.phone[1], region,
                                                                                         practice_side)
        if phone:
            why["phone"] = {"source": "description", "detail": labels.phone[0]}
    if phone is None:
        tel_uris = [("attendee", a.address.removeprefix("tel:")) for a in clients if a.address.startswith("tel:")]
        free_text = description
        for others in labels.others_phones:  # "Emergency contact: Lars 646-555-0199" is not how to reach them
            free_text = free_text.replace(others, " ")
        for where, text in [*tel_uris, ("description", free_text), ("title", summary), ("location", location)]:
            if text and (phone := _first_phone(text, region, practice_side)):
                why["phone"] = {"source": where}
                break

    email = None
    labelled_email = labels.email[1].strip().lower() if labels.email else ""
    if labelled_email and _is_email(labelled_email) and not practice_side.owns_email(labelled_email):
        email = labelled_email
        why["email"] = {"source": "description", "detail": labels.email[0]}
    if email is None:
        email = next((a.address for a in clients if _is_email(a.address)), None)
        if email:
            why["email"] = {"source": "attendee"}
    if email is None:
        for where, text in (("description", description), ("title", summary), ("location", location)):
            if text and (email := _first_email(text, organizer, practice_side)):
                why["email"] = {"source": where}
                break
    return ClientFacts(name=name, phone=phone, email=email, new_client=new_client, why=why)


def complete_new_client_flags(facts: list[ClientFacts]) -> list[ClientFacts]:
    """A calendar whose booking tool marks new clients ("New Patient" on a line of its own) says, by leaving the
    mark out, that the others are returning clients."""
    if not any(f.why.get("new_client", {}).get("marker") for f in facts):
        return facts
    return [f if f.new_client is not None or not f.recognisable else dataclasses.replace(
        f, new_client=False, why=f.why | {"new_client": {"source": "no_new_client_mark"}}) for f in facts]


def likely_clients(session: Session, practice_id: int, texts: Sequence[str | None], limit: int = 3,
                   clients: Sequence[Client] | None = None) -> list[Client]:
    """The practice's clients an event most likely means: their surname or phone number appears in its text.

    `clients` are the practice's clients when the caller has loaded them once for many events.
    """
    text = " ".join(t for t in texts if t)
    words = {fold(w) for w in name_words(text) if len(w) >= 3}
    digits = "".join(ch for ch in text if ch.isdigit())
    if clients is None:
        clients = practice_clients(session, practice_id)
    scored = []
    for client in clients:
        score = 0
        if client.full_name:
            score += sum(1 for w in fold(client.full_name).split() if len(w) >= 3 and w in words)
        if client.phone and len(client.phone) > 7 and client.phone[-7:] in digits:
            score += 2
        if score:
            scored.append((-score, client.full_name or "", client.id, client))
    return [client for *_, client in sorted(scored)[:limit]]


def shared_phones(session: Session, practice_id: int, phones: Iterable[str | None]) -> set[str]:
    """Of `phones`, those that more than one client of the practice has (a family's number)."""
    wanted = {p for p in phones if p}
    if not wanted:
        return set()
    return set(session.scalars(
        select(Client.phone).where(Client.practice_id == practice_id, Client.phone.in_(wanted))
        .group_by(Client.phone).having(func.count() > 1)))


def practice_clients(session: Session, practice_id: int) -> Sequence[Client]:
    return session.scalars(select(Client).where(Client.practice_id == practice_id, Client.erased_at.is_(None))).all()


def kept_staff_fixes(old_why: dict | None, old_client_id: int | None, old_at_client_place: bool,
                     values: dict[str, Any]) -> dict[str, Any]:
    """What a re-import keeps of staff's fixes to one appointment: the client and the place they set."""
    old_why = old_why or {}
    kept: dict[str, Any] = {}
    why = dict(values["why"])
    if old_why.get("client", {}).get("source") == "staff":
        kept.update(client_id=old_client_id, needs_attention=False)
        why["client"] = old_why["client"]
    if old_why.get("place", {}).get("source") == "staff":
        kept["at_client_place"] = old_at_client_place
        why["place"] = old_why["place"]
    return kept | {"why": why}


def cancelled_by_title(summary: str | None) -> str | None:
    """The word by which an event's title says the visit was called off ("Canceled"), if it says so."""
    match = _CANCELLED_TITLE.search(summary or "")
    return match.group(0).strip(" \t:-–—[]()") if match else None


def reading_why(facts: ClientFacts, place_why: dict[str, Any], context: Any) -> dict[str, Any]:
    """What an appointment row keeps of why it was read as it was: each fact's source, the place's, the layout."""
    why = dict(facts.why)
    if facts.not_a_visit:
        why["place"] = {"source": "not_a_visit"}
    elif not facts.recognisable:
        why["place"] = {"source": "no_client", "location": place_why}  # decided again when staff set the client
    else:
        why["place"] = place_why
    if why.get("name", {}).get("source") == "title" and context.layout != "auto":
        why["layout"] = {"source": "setting" if context.summary_format != "auto" else "learned",
                         "detail": context.layout, "titles": context.layout_evidence}
    return why


def _not_a_visit(title: str, practice_side: PractitionerIdentity) -> re.Match[str] | None:
    """What in the title says it is no visit: an absence ("Vacation"), or a word like "Lunch" when no person
    is named beside it ("Lunch with Anna Petrova" is a visit)."""
    if match := _ABSENCE.search(title):
        return match
    match = _NOT_A_VISIT.search(title)
    return match if match and not _names_someone(title, practice_side) else None


def _names_someone(title: str, practice_side: PractitionerIdentity) -> bool:
    """Whether a part of the title is surely a person from outside the practice."""
    return any(person_score(_without_noise(part)) >= 1.1 and not practice_side.owns_name(part)
               for part in title_parts(title))


def name_from_summary(summary: str, summary_format: str,
                      practice_side: PractitionerIdentity = PractitionerIdentity()) -> tuple[str | None, str]:
    """The client's name typed into an event's summary, and the layout it was read with.

    A layout prefixed "learned:" was learned from the calendar's titles, not set
    by staff: a part that cannot be a name is then not taken for one.
    "name - service" takes the first part, "service - name" the last, "name"
    the whole summary. "auto" takes the part that looks most like a person's
    name by the lexicons. Calendly's and Cal.com's "A and B" / "Service
    between A and B" take whoever is not on the practice side.
    """
    summary = " ".join(summary.split())
    if between := _BETWEEN.search(summary):
        people = _AND.split(between.group(1))
    else:
        people = _AND.split(summary)
    if len(people) == 2 and sum(practice_side.owns_name(p) for p in people) == 1:
        other = next(p for p in people if not practice_side.owns_name(p))
        return _clean_name(other), "invitee and host"
    parts = title_parts(summary)
    learned = summary_format.startswith("learned:")
    summary_format = summary_format.removeprefix("learned:")
    if summary_format == "name":
        candidates = [summary]
    elif summary_format == "name - service" and len(parts) > 1:
        candidates = [parts[0]]
    elif summary_format == "service - name" and len(parts) > 1:
        candidates = [parts[-1]]
    else:
        candidates = []
    if learned:
        # A learned layout is a habit, not a rule: a part that cannot be a name is not taken for one.
        candidates = [c for c in candidates if could_be_a_name(_invert(_without_noise(c)) or _without_noise(c))
                      or typed_in_lower_case(_without_noise(c))]
    if not candidates:
        # "Consultation with Anna Lee", "Massage for Anna Lee": the words after with/for may be the person;
        # "Root canal (Tom Brown)": so may the words in brackets; "Консультация Петрова Анна": so may the
        # first or last words of a longer part.
        parts = [piece for part in parts for piece in (
            part, *_WITH.split(part)[1:], *_IN_BRACKETS.findall(part),
            *_edge_words(_without_noise(part)))]
        cleaned = [_without_noise(p) for p in parts]
        scored = sorted(((person_score(_invert(c) or c), -i, c) for i, c in enumerate(cleaned) if c),
                        reverse=True)
        threshold = 0.6 if len(title_parts(summary)) > 1 else 1.1  # a whole title must surely look like a name
        candidates = [c for score, _, c in scored[:1] if score >= threshold]
        summary_format = "auto"
    for candidate in candidates:
        name = _clean_name(candidate)
        if name and not practice_side.owns_name(name):
            return name, summary_format
    return None, summary_format


def _edge_words(part: str) -> list[str]:
    words = part.split()
    if len(words) < 3:
        return []
    return [" ".join(words[-n:]) for n in (3, 2)] + [" ".join(words[:n]) for n in (3, 2)]


def _without_noise(text: str) -> str:
    """A title part without the phone number, e-mail, tooth number or duration typed next to the name."""
    # "John Smith, DOB 01/02/1980": what follows a comma with digits in it is not the name.
    text = ",".join(segment for segment in text.split(",") if not any(ch.isdigit() for ch in segment)) or text
    text = _EMAIL.sub(" ", text)
    text = _PHONE_LIKE.sub(" ", text)
    text = _BRACKETS_AND_NUMBERS.sub(" ", text)
    return " ".join(text.split()).strip(" ,;")


def _invert(text: str) -> str | None:
    """"Schröder, Hans-Jürgen" written as "Hans-Jürgen Schröder"; None when the text is not "Last, First"."""
    if text.count(",") != 1:
        return None
    last, first = (part.strip() for part in text.split(","))
    if not last or not first or len(last.split()) > 3 or len(first.split()) > 3:
        return None
    return f"{first} {last}"


def _clean_name(text: str) -> str | None:
    """A name as it should be stored: no phone, e-mail or tooth number beside it, "Last, First" turned round,
    capitals where names have them ("SMITH, JOHN" is "John Smith")."""
    text = _without_noise(text)
    text = " ".join(text.strip(" ,;-–—:\"'").split())
    text = _invert(text) or text
    if not text or not any(ch.isalpha() for ch in text):
        return None
    return tidy_case(text)[:_MAX_NAME_LENGTH]


def _attendee_name(attendee: Attendee) -> str | None:
    if not attendee.name or "@" in attendee.name:
        return None
    return _clean_name(attendee.name)


def _labelled_phone(value: str, region: str, practice_side: PractitionerIdentity) -> str | None:
    """A number under a phone label: possible is enough (fiction's 555 and 07700 900 numbers are not "valid")."""
    try:
        parsed = phonenumbers.parse(value.split(",")[0].split(";")[0], region)
    except phonenumbers.NumberParseException:
        return None
    number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return number if phonenumbers.is_possible_number(parsed) and number not in practice_side.phones else None


def _first_phone(text: str, region: str, practice_side: PractitionerIdentity) -> str | None:
    if _ENOUGH_DIGITS.search(text):
        for match in phonenumbers.PhoneNumberMatcher(text, region):
            number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if number not in practice_side.phones:
                return number
        # Written like a phone number (a + or trunk 0 or bracket first, ten digits or more) but in a range the
        # numbering plan keeps for fiction or has not given out yet: still the number staff typed.
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            raw = match.raw_string.strip()
            if raw[:1] in "+0(" and sum(ch.isdigit() for ch in raw) >= 10:
                number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
                if number not in practice_side.phones:
                    return number
    if practice_side.area_code and region in ("US", "CA"):
        for match in _LOCAL_NANP.finditer(text):
            number = f"+1{practice_side.area_code}{match.group(1)}{match.group(2)}"
            if phonenumbers.is_valid_number(phonenumbers.parse(number, None)) and number not in practice_side.phones:
                return number
    return None


def _first_email(text: str, organizer: str | None, practice_side: PractitionerIdentity) -> str | None:
    for match in _EMAIL.finditer(text):
        email = match.group(0).lower()
        if email != organizer and not practice_side.owns_email(email) and _is_email(email):
            return email
    return None


def _is_email(text: str) -> bool:
    return len(text) <= _MAX_EMAIL_LENGTH and bool(_EMAIL.fullmatch(text))


# At most this many facts are matched against the clients they name rather than against all clients.
_NARROW_LOAD_LIMIT = 500


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
    phone, then e-mail, each only with a name that agrees: a phone shared by a
    family (a parent booking for the children) holds several clients, and a
    different name on a known phone is another client with the same number.
    Facts with neither phone nor e-mail (a name in the summary only) match the
    client of exactly that name when the practice has just one, so that a
    weekly "Anna Petrova - physio" does not make a new client per import. A
    matched client gets its missing fields filled in; nothing it has is
    overwritten.
    """

    session: Session
    practice_id: int
    now: dt.datetime
    # The facts that will be resolved, when known: then only the clients they can match are loaded.
    facts: Sequence[ClientFacts] | None = None
    _clients: list[_KnownClient] = field(default_factory=list)
    _by_phone: dict[str, list[int]] = field(default_factory=dict)
    _by_email: dict[str, int] = field(default_factory=dict)
    # Folded name -> keys, built on the first event that has only a name: folding every client's name costs
    # a tenth of a second for a big practice, and a re-sync of a few changed events rarely needs it.
    _by_name: dict[str, list[int]] | None = None

    def __post_init__(self) -> None:
        query = (select(Client.id, Client.full_name, Client.phone, Client.email)
                 .where(Client.practice_id == self.practice_id).order_by(Client.id))
        if (narrowed := self._clients_matching_facts()) is not None:
            query = query.where(narrowed)
        for row in self.session.execute(query):
            self._remember(_KnownClient(id=row.id, name=row.full_name, phone=row.phone, email=row.email))

    def _clients_matching_facts(self) -> ColumnElement[bool] | None:
        """Which clients the facts can match, when that is few to ask for: those with their phones or e-mails.

        A re-sync resolves the few events that changed; loading all of a big
        practice's clients for them would cost more than the rest of it. A fact
        with only a name needs every client's name, and many facts are cheaper
        to match against one load of everyone than through long IN lists.
        """
        if self.facts is None or len(self.facts) > _NARROW_LOAD_LIMIT:
            return None
        if any(f.name and not f.phone and not f.email for f in self.facts):
            return None
        phones = sorted({f.phone for f in self.facts if f.phone})
        emails = sorted({f.email for f in self.facts if f.email})
        return or_(Client.phone.in_(phones), func.lower(Client.email).in_(emails))

    def resolve(self, facts: ClientFacts) -> int | None:
        """The directory's key for the client these facts describe; None when they describe no one."""
        if not facts.recognisable:
            return None
        key = self._find(facts)
        if key is None:
            # Another person with a known e-mail (a family's shared address) keeps it with its first owner.
            email = None if facts.email in self._by_email else facts.email
            return self._remember(_KnownClient(id=None, name=facts.name, phone=facts.phone, email=email))
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
        if facts.phone:
            sharing = self._by_phone.get(facts.phone, [])
            key = self._same_person(sharing, facts.name)
            if key is not None:
                return key
        if facts.email and facts.email in self._by_email:
            key = self._by_email[facts.email]
            if names_agree(self._clients[key].name, facts.name):
                return key
        if facts.name and not facts.phone and not facts.email:
            same_name = self._name_index().get(_name_key(facts.name), [])
            if len(same_name) == 1:
                return same_name[0]
        return None

    def _same_person(self, keys: list[int], name: str | None) -> int | None:
        """Of the clients sharing a phone, the one `name` is (or the only one, when either side has no name)."""
        if not keys:
            return None
        if name:
            named = [k for k in keys if self._clients[k].name and names_agree(self._clients[k].name, name)]
            if named:
                return named[0]
            unnamed = [k for k in keys if not self._clients[k].name]
            return unnamed[0] if unnamed else None
        return keys[0]

    def _fill_in(self, key: int, facts: ClientFacts) -> None:
        client = self._clients[key]
        if client.phone is None and facts.phone:
            client.phone = facts.phone
            self._by_phone.setdefault(facts.phone, []).append(key)
            client.changed = True
        # An address already used by another client stays with that client (unique per practice).
        if client.email is None and facts.email and facts.email not in self._by_email:
            client.email = facts.email
            self._by_email[facts.email] = key
            client.changed = True
        if not client.name and facts.name:
            client.name = facts.name
            self._index_name(key)
            client.changed = True

    def _remember(self, client: _KnownClient) -> int:
        key = len(self._clients)
        self._clients.append(client)
        if client.phone:
            self._by_phone.setdefault(client.phone, []).append(key)
        if client.email:
            self._by_email.setdefault(client.email.lower(), key)
        self._index_name(key)
        return key

    def _name_index(self) -> dict[str, list[int]]:
        if self._by_name is None:
            self._by_name = {}
            for key in range(len(self._clients)):
                self._index_name(key)
        return self._by_name

    def _index_name(self, key: int) -> None:
        name = self._clients[key].name
        if self._by_name is not None and name:
            self._by_name.setdefault(_name_key(name), []).append(key)


def _name_key(name: str) -> str:
    return fold(name)


def names_agree(known: str | None, given: str | None) -> bool:
    """Whether two names can be one person: either unknown, or the words of the shorter all in the longer in any
    order, an initial standing for a word ("J. Miller" and "John Miller", "Cara" and "Cara Lee")."""
    if not known or not given:
        return True
    shorter, longer = sorted((fold(known).split(), fold(given).split()), key=len)
    rest = list(longer)
    for word in shorter:
        match = next((w for w in rest if w == word or (min(len(w), len(word)) == 1 and w[0] == word[0])), None)
        if match is None:
            return False
        rest.remove(match)
    return True


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
