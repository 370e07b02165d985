"""Labelled fields in an event's description, as booking tools write them ("Client: Anna Lee", «Телефон: …»).

A line "Label: value" counts; so does a label alone on its line followed by the
value on the next one (Calendly writes questions and answers that way). Labels
are known in English, German, Russian and the common others.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME_LABELS = frozenset("""
    name|full name|client|client name|customer|customer name|patient|patient name|patient(in)|patientin|invitee
    |invitee name|guest|booked by|contact|contact name|kunde|kundin|kunde/in|kundenname|name des kunden|patient/in
    |клиент|клиентка|пациент|пациентка|фио|ф.и.о.|имя клиента|клиент(ка)|гость|cliente|paciente|nom|nom du client
    |klient|klientka|pacjent|imię i nazwisko|nome|nombre
""".replace("\n", "").replace(" |", "|").replace("| ", "|").strip().split("|"))
_FIRST_NAME_LABELS = frozenset({"first name", "vorname", "имя", "prénom", "nombre de pila"})
_LAST_NAME_LABELS = frozenset({"last name", "surname", "nachname", "фамилия", "nom de famille", "apellido"})
_STAFF_LABELS = frozenset("""
    staff|provider|service provider|employee|practitioner|therapist|organizer|host|сотрудник|мастер|специалист
    |врач|mitarbeiter|mitarbeiterin|therapeut|therapeutin|behandler|behandlerin|team member|assigned to
""".replace("\n", "").replace(" |", "|").replace("| ", "|").strip().split("|"))
_PHONE_LABEL = re.compile(r"phone|\btel\b|tel\.|telef|mobil|\bmob\b|\bcell|handy|телеф|\bтел\b|тел\.|\bмоб|whatsapp",
                          re.IGNORECASE)
# Numbers of someone else, or of no one to call: under these labels a phone is never the client's.
_OTHERS_PHONE_LABEL = re.compile(
    r"emergency|\bice\b|fax|referr|doctor|physician|\bgp\b|insurance|notfall|ansprechpartner|arzt|факс|экстренн"
    r"|страхов|врач", re.IGNORECASE)
# Which labelled number reaches the client best: a mobile (it can take a text), then a plain "Phone",
# then a home or work line.
_MOBILE_LABEL = re.compile(r"mobil|\bmob\b|\bcell|handy|whatsapp|\bsms\b|\btext|\bмоб|сотов", re.IGNORECASE)
_FIXED_LINE_LABEL = re.compile(r"home|landline|work|office|business|festnetz|privat|geschäft|дом|рабоч|стационар",
                               re.IGNORECASE)
_EMAIL_LABEL = re.compile(r"e-?mail|\bmail\b|почта|e-?mail", re.IGNORECASE)
_NEW_LABEL = re.compile(
    r"new (client|patient|customer)|first[- ]time|first visit|neukund|neupatient|erstbesuch|erster termin"
    r"|нов(ый|ая) (клиент|пациент)|первый (визит|раз)|^визит$",
    re.IGNORECASE)
_YES = frozenset("yes y true 1 ja да первый новый new erstbesuch oui sí si".split())
_NO = frozenset("no n false 0 nein нет повторный повторная returning non".split())
# A bare line that says the booking is a new client's.
_NEW_LINE = re.compile(
    r"^\s*(new (client|patient|customer)|first visit|neukund(e|in)|neupatient(in)?|erstbesuch"
    r"|нов(ый|ая) (клиент|пациент)(ка)?|первый визит)\s*[.!]?\s*$",
    re.IGNORECASE)
_LINE = re.compile(r"^\s*([^:：\n]{1,40}?)\s*[:：]\s*(.*?)\s*$")


@dataclass
class Labelled:
    """The fields a description labels, each with the label it was found under."""

    name: tuple[str, str] | None = None  # (label as written, value)
    phone: tuple[str, str] | None = None  # the best of the labelled numbers (see `_phone_rank`)
    email: tuple[str, str] | None = None
    new_client: tuple[str, bool] | None = None  # (the line that says so, the flag)
    new_client_marker: bool = False  # said by a mark on its own line, which the tool leaves out for others
    staff_values: list[str] = field(default_factory=list)
    others_phones: list[str] = field(default_factory=list)  # values under "Emergency contact:", "Fax:"...


def _label_key(label: str) -> str:
    return " ".join(label.casefold().replace("’", "'").strip(" ?*-•").split())


def _last_clause(label: str) -> str:
    """What a label says last: "Referred by GP. Mob" labels the client's mobile, not the GP's."""
    return re.split(r"[.;,!?]\s+", label)[-1]


def _phone_rank(label: str) -> int:
    if _MOBILE_LABEL.search(label):
        return 0
    return 2 if _FIXED_LINE_LABEL.search(label) else 1


def read_labels(description: str | None) -> Labelled:
    found = Labelled()
    if not description:
        return found
    lines = [line for line in description.splitlines()]
    first = last = None
    phone_rank = 3
    for index, line in enumerate(lines):
        if _NEW_LINE.match(line) and found.new_client is None:
            found.new_client = (line.strip(), True)
            found.new_client_marker = True
            continue
        match = _LINE.match(line)
        if match:
            label, value = match.group(1), match.group(2)
        elif index + 1 < len(lines) and line.strip() and len(line.strip()) <= 60 and lines[index + 1].strip():
            # Calendly: the question on one line, the answer on the next.
            label, value = line.strip(), None
        else:
            continue
        if value is None or (not value and index + 1 < len(lines)):
            value = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if _LINE.match(value) and not _PHONE_LABEL.search(label):
                value = ""
        key = _label_key(label)
        said_last = _last_clause(key)
        if not value or "://" in value:
            continue
        if key in _STAFF_LABELS:
            found.staff_values.append(value)
        elif key in _NAME_LABELS and found.name is None and not _NEW_LABEL.search(key):
            found.name = (label.strip(), value)
        elif key in _FIRST_NAME_LABELS:
            first = value
        elif key in _LAST_NAME_LABELS:
            last = value
        elif _NEW_LABEL.search(key) and found.new_client is None:
            answer = value.casefold().strip(" .!")
            if answer in _YES or answer.split(" ")[0] in _YES:
                found.new_client = (f"{label.strip()}: {value}", True)
            elif answer in _NO or answer.split(" ")[0] in _NO:
                found.new_client = (f"{label.strip()}: {value}", False)
        elif _EMAIL_LABEL.search(key) and found.email is None and "@" in value:
            found.email = (label.strip(), value)
        elif _OTHERS_PHONE_LABEL.search(said_last):
            found.others_phones.append(value)
        elif (_PHONE_LABEL.search(key) and sum(ch.isdigit() for ch in value) >= 6
              and _phone_rank(said_last) < phone_rank):
            found.phone, phone_rank = (label.strip(), value), _phone_rank(said_last)
    if found.name is None and (first or last):
        found.name = ("First name / Last name", " ".join(part for part in (first, last) if part))
    return found
