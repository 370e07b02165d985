"""Whether a visit is at the client's place, read from the event's location."""
from __future__ import annotations

import re

_ONLINE = re.compile(
    r"://|\bwww\.|\bzoom\b|\bteams\b|\bskype\b|\bwebex\b|meet\.google|\bgoogle meet\b|\bonline\b|\bvideo\b"
    r"|\btelehealth\b|\bphone\b|\bтелефон|\bонлайн",
    re.IGNORECASE,
)
_CLIENT_PLACE = re.compile(r"\s*(client\s*:|at\s+(the\s+)?client|client'?s\s+(home|place)|home\s+visit)",
                           re.IGNORECASE)
_STREET_WORD = re.compile(
    r"\b(street|st|avenue|ave|road|rd|lane|ln|boulevard|blvd|drive|way|court|ct|place|pl|square|sq|terrace"
    r"|highway|hwy|parkway|pkwy|straße|strasse|str|weg|gasse|platz|allee|rue|chemin|via|viale|piazza|calle"
    r"|avenida|plaza|ул|улица|пр|пр-т|проспект|пер|переулок|ш|шоссе|наб|набережная|бульвар|б-р|дом)\b",
    re.IGNORECASE,
)


def is_at_client_place(location: str | None, practice_address: str | None) -> bool:
    """Whether a visit's LOCATION puts it somewhere other than the practice.

    The rule: an empty location, a URL or a video/phone call ("Zoom",
    "Teams", "online"), or the practice's own address is the practice (False).
    A location starting "Client:" or "At client..." is the client's place
    (True). Anything else is the client's place when it reads like a street
    address: a number and a street word ("12 Oak Street", "ул. Ленина, д. 5").
    "Office", "Room 3" and other names of rooms stay False.
    """
    if not location or not location.strip() or _ONLINE.search(location):
        return False
    if _CLIENT_PLACE.match(location):
        return True
    if practice_address and _same_place(location, practice_address):
        return False
    return bool(re.search(r"\d", location) and _STREET_WORD.search(location))


def _same_place(location: str, address: str) -> bool:
    here, there = _address_words(location), _address_words(address)
    if not here or not there:
        return False
    if " ".join(there) in " ".join(here) or (len(here) >= 2 and " ".join(here) in " ".join(there)):
        return True
    # "12 Oak St, Springfield" and "12 Oak Street": the same house number and street name.
    return len(here) >= 2 and here[:2] == there[:2] and any(ch.isdigit() for ch in "".join(here[:2]))


def _address_words(text: str) -> list[str]:
    return re.sub(r"[\W_]+", " ", text.casefold()).split()


