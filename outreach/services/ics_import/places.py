"""Whether a visit is at the client's place: the calendar's setting, else read from the event's location.

A calendar is set to "always" (a plumber's), "never" (a dentist's) or
"decide" from the location. Deciding, a location is the client's place when it
reads like a street address of the countries the product serves and is not
the practice's own address, however that is written. Addresses are
recognised by a tested rule set rather than a library: `usaddress` and
`probablepeople` know only US addresses, and libpostal needs a C library and
a 2 GB model; the rules cover US, UK, German and Russian habits (compound
street names such as "Pappelallee", "Am Friedrichshain 20", "Gardens",
"Crescent", «Бутлерова 11-47»).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

PLACE_SETTINGS = ("always", "never", "decide")

_ONLINE = re.compile(
    r"://|\bwww\.|\bzoom\b|\bteams\b|\bskype\b|\bwebex\b|meet\.google|\bgoogle meet\b|\bonline\b|\bvideo\b"
    r"|\btelehealth\b|\bphone\b|\bтелефон|\bонлайн|^\s*\+?[\d\s().-]{7,}\s*$",
    re.IGNORECASE,
)
_CLIENT_PLACE = re.compile(
    r"\s*(client\s*:|at\s+(the\s+)?client|client'?s\s+(home|place)|home\s+visit|hausbesuch|beim\s+kunden|на\s+дому"
    r"|выезд)", re.IGNORECASE)
_STREET_TYPES = (
    "street|st|avenue|ave|av|road|rd|lane|ln|boulevard|blvd|drive|dr|way|court|ct|place|pl|square|sq|terrace|ter"
    "|highway|hwy|parkway|pkwy|close|crescent|cres|gardens|gdns|grove|gr|mews|row|walk|hill|park|rise|vale|green"
    "|circle|cir|trail|trl|path|mall|plaza|parade|pde|broadway|embankment|wharf|quay"
    "|rue|chemin|via|viale|piazza|calle|avenida"
)
_GERMAN_SUFFIXES = "straße|strasse|str|weg|allee|platz|ring|damm|gasse|ufer|chaussee|steig|pfad|markt|hof|berg|feld"
_RUSSIAN_TYPES = (
    "ул|улица|пр|пр-т|просп|проспект|пер|переулок|ш|шоссе|наб|набережная|бульвар|б-р|пл|площадь|мкр|микрорайон"
    "|проезд|тупик|аллея|д|дом|кв|корп|к|стр"
)
# Rooms of a practice, never streets: «Кабинет 5», «Зал 2».
_RUSSIAN_ROOMS = "Кабинет|Каб|Зал|Комната|Офис|Кресло|Этаж|Процедурная|Палата"
_HOUSE = r"\d{1,5}[a-zа-я]?(?:\s?[-/]\s?\d{1,4}[a-zа-я]?)?"
_ADDRESS_PATTERNS = [
    # "12 Oak Street", "1458 Oak Ridge Dr", "4600 Avenue H", "45 Kings Cross Rd"
    re.compile(rf"\b{_HOUSE}\s+(?:[^\W\d_][\w'’.-]*\s+){{0,4}}(?:{_STREET_TYPES})\b\.?", re.IGNORECASE),
    re.compile(rf"\b{_HOUSE}\s+(?:{_STREET_TYPES})\s+[^\W\d_]", re.IGNORECASE),
    # "Hauptstrasse 5", "Pappelallee 78/79", "Lindenweg 3", "Kurfürstendamm 200"
    re.compile(rf"\b[^\W\d_]*(?:{_GERMAN_SUFFIXES})\.?\s+{_HOUSE}\b", re.IGNORECASE),
    re.compile(rf"\b[^\W\d_]+\s+(?:straße|strasse|str\.|weg|allee|platz|ring|damm)\s+{_HOUSE}\b", re.IGNORECASE),
    # "Am Friedrichshain 20", "An der Wuhlheide 4", "Zur Mühle 3"
    re.compile(rf"\b(?:am|an der|an den|auf dem|auf der|im|in der|in den|zum|zur|unter den)\s+[^\W\d_][\w-]*"
               rf"\s+{_HOUSE}\b", re.IGNORECASE),
    # UK postcodes "LS6 2AB", "NW1 9DP"; US "TX 78704"; German "10827 Berlin"
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"),
    re.compile(r"\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"),
    re.compile(r"(?:^|,\s*)\d{5}\s+[A-ZÄÖÜ][a-zäöüß]+"),
    # «ул. Ленина, д. 5», «Бутлерова 11-47», «пр-т Вернадского 37 к.1»
    re.compile(rf"(?:^|[\s,])(?:{_RUSSIAN_TYPES})(?:[.,]|\s)[.,\s]*[А-ЯЁа-яё0-9]", re.IGNORECASE),
    re.compile(rf"(?<![\w.])(?!(?:{_RUSSIAN_ROOMS})[\s.,])[А-ЯЁ][а-яё]+(?:\s+[А-ЯЁа-яё]+)?,?\s+{_HOUSE}\b"),
]

# Spellings of one thing: abbreviations to full words, so that "Hauptstr. 120" is "Hauptstraße 120".
_SAME_WORDS = {
    "st": "street", "rd": "road", "ave": "avenue", "av": "avenue", "dr": "drive", "ln": "lane", "blvd": "boulevard",
    "ct": "court", "pl": "place", "sq": "square", "cres": "crescent", "gdns": "gardens", "pkwy": "parkway",
    "hwy": "highway", "ste": "suite", "apt": "apartment", "fl": "floor", "ind": "industrial",
    "n": "north", "s": "south", "e": "east", "w": "west", "nw": "northwest", "ne": "northeast", "sw": "southwest",
    "se": "southeast", "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
    "ул": "улица", "пр": "проспект", "просп": "проспект", "пр-т": "проспект", "пер": "переулок", "ш": "шоссе",
    "наб": "набережная", "б-р": "бульвар", "пл": "площадь",
}
# Words that say which unit of a building, not which building: never evidence of the same address.
_UNIT_WORDS = frozenset("suite apartment unit flat floor room office кв квартира офис этаж комната raum etage".split())
_DIRECTIONS = frozenset("north south east west northwest northeast southwest southeast".split())
_STREET_WORDS = frozenset(_STREET_TYPES.split("|")) | frozenset(_SAME_WORDS.values()) | frozenset(
    _RUSSIAN_TYPES.split("|")) | frozenset({"улица", "проспект", "переулок", "шоссе", "набережная", "бульвар"})
_FILLER = frozenset({"д", "дом", "к", "корп", "стр", "г", "город", "москва"})


def decide_place(location: str | None, practice_address: str | None, setting: str = "decide",
                 practice_name: str | None = None) -> tuple[bool, dict[str, Any]]:
    """Whether the visit is at the client's place, and why ({"source": ..., "detail": ...})."""
    if setting == "always":
        return True, {"source": "setting", "detail": "always"}
    if setting == "never":
        return False, {"source": "setting", "detail": "never"}
    if not location or not location.strip():
        return False, {"source": "no_location"}
    if _ONLINE.search(location):
        return False, {"source": "online", "detail": location[:100]}
    if _CLIENT_PLACE.match(location):
        return True, {"source": "says_client_place", "detail": location[:100]}
    if practice_address and same_place(location, practice_address):
        return False, {"source": "practice_address", "detail": location[:100]}
    if practice_name and names_the_practice(location, practice_name):
        # "Smile Dental, 100 Main St": a branch, or the practice's address written as booking tools do.
        return False, {"source": "practice_name", "detail": location[:100]}
    if looks_like_address(location):
        return True, {"source": "address", "detail": location[:100]}
    return False, {"source": "not_an_address", "detail": location[:100]}


def is_at_client_place(location: str | None, practice_address: str | None,
                       practice_name: str | None = None) -> bool:
    """Whether a visit's LOCATION puts it somewhere other than the practice (the "decide" setting)."""
    return decide_place(location, practice_address, practice_name=practice_name)[0]


def names_the_practice(location: str, practice_name: str) -> bool:
    """Whether the location has the practice's whole name in it, word for word ("Smile Dental - Room 2")."""
    name, words = _words(practice_name), _words(location)
    return bool(name) and any(words[start:start + len(name)] == name for start in range(len(words) - len(name) + 1))


def looks_like_address(text: str) -> bool:
    return any(pattern.search(text) for pattern in _ADDRESS_PATTERNS)


def same_place(location: str, address: str) -> bool:
    """Whether two ways of writing an address name one building: the same house number on the same street."""
    here, there = _buildings(location), _buildings(address)
    if here & there:
        return True
    # Written without a street number at all ("Smile Dental"), the practice's name may be all there is.
    words_here, words_there = _words(location), _words(address)
    return bool(words_here) and not here and " ".join(words_here) in " ".join(words_there)


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text.casefold()).replace("ß", "ss").replace("ё", "е")
    # "Hauptstr." and "Hauptstraße" are one street; so are "Pappelallee" and "Pappel-Allee".
    text = re.sub(r"(?<=[a-zäöü])str\.?(?=\s|\d|,|$)", "strasse", text)
    text = re.sub(r"(?<=[a-zäöü])-(?=(strasse|allee|weg|platz|ring|damm)\b)", "", text)
    words = re.findall(r"[\w-]+", text)
    return [_SAME_WORDS.get(word, word) for word in words if word not in _FILLER]


def _buildings(text: str) -> set[tuple[str, str]]:
    """(house number, street name word) pairs: "350 Fifth Avenue" -> ("350", "5th"), "Pappelallee 12" -> ("12", "pappelallee")."""
    words = _words(text)
    result = set()
    for index, word in enumerate(words):
        number = re.fullmatch(r"(\d{1,5})([a-zа-я]?)(?:[-/]\d+)?", word)
        if not number:
            continue
        house = number.group(1) + number.group(2)
        after = [w for w in words[index + 1:index + 4] if w not in _DIRECTIONS]
        before = [w for w in reversed(words[max(0, index - 3):index])]
        # US/UK: the number comes first ("45 Kings Cross Rd"); not a postcode before a city ("10827 Berlin").
        if after and not after[0].isdigit() and (len(after) > 1 and index + 2 < len(words)
                                                  or after[0] in _STREET_WORDS) and after[0] not in _UNIT_WORDS:
            result.add((house, after[0]))
        # German and Russian: the number comes after the street ("Hauptstrasse 5", "Ленинский проспект 30").
        street = next((w for w in before if not w.isdigit() and w not in _STREET_WORDS), None)
        if before and not before[0].isdigit() and before[0] not in _UNIT_WORDS and street:
            result.add((house, street))
    return result
