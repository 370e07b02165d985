"""What a person's name looks like: lexicons, not guesses.

English and other Latin-script first names come from gender-guesser's list
(about 40,000 names from 50 countries, shipped inside the package, loaded once);
Russian first names, surnames and patronymics from pymorphy3's OpenCorpora
dictionary (tags Name, Surn, Patr). Neither needs a download at run time.
"""
from __future__ import annotations

import functools
import importlib.resources
import re
import unicodedata

# Words that are titles or name particles: allowed inside a name, never its only word.
TITLES = frozenset("dr dr. mr mr. mrs mrs. ms ms. miss prof prof. frau herr sir mx mx.".split())
PARTICLES = frozenset("von van der den de da di du la le al el bin ibn zu y del dos das ten ter".split())
SUFFIXES = frozenset("jr jr. sr sr. ii iii iv".split())
_WORD = re.compile(r"^(?:(?:[^\W\d_]\.){1,3}|[^\W\d_]+(?:['’`\-][^\W\d_]+)*\.?)$")
_NON_WORD = re.compile(r"[^\w]+")
_BETWEEN_NAME_WORDS = re.compile(r"[^\w'’\-]+")
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
# Words that name services, visits and calendars' own events: never part of a person's name.
_NOT_NAME_WORDS = frozenset("""
    new patient patients client clients customer appointment appt visit first follow follow-up followup consultation
    consult check checkup check-up cleaning meeting call session treatment exam examination review lunch break
    blocked busy holiday vacation out office team staff training online video phone zoom tentative cancelled
    canceled hold reserved free private personal the a an job quote service repair massage therapy intake
    assessment initial cut color colour haircut and with for between at home house
""".split())


def fold(text: str) -> str:
    """A name's key for comparing: case, accents, punctuation and word order do not matter."""
    text = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss").replace("ё", "е"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = [w for w in _NON_WORD.split(text) if w and w not in TITLES and w.rstrip(".") not in TITLES]
    return " ".join(sorted(words))


def name_words(text: str) -> list[str]:
    return [w for w in _BETWEEN_NAME_WORDS.split(text.casefold()) if w]


@functools.cache
def _first_names() -> frozenset[str]:
    """Every first name on gender-guesser's list, in lower case.

    Read straight from the package's data file: its Detector also builds
    per-country gender tables, which we never ask for and which cost about a
    third of a second in every process that reads a title (an `outreach
    import-ics` re-sync among them). The list's format: a gender code, then the
    name, where "+" stands for "", " " or "-" ("Jean+Luc").
    """
    names: set[str] = set()
    data = importlib.resources.files("gender_guesser") / "data" / "nam_dict.txt"
    for line in data.read_text(encoding="utf-8").splitlines():
        if line and line[0] not in "#=":
            name = line.split(None, 2)[1].lower()
            if "+" in name:
                names.update((name.replace("+", ""), name.replace("+", " "), name.replace("+", "-")))
            else:
                names.add(name)
    return frozenset(names)


@functools.cache
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


@functools.lru_cache(maxsize=65536)
def is_first_name(word: str) -> bool:
    word = word.strip(".,")
    if not word or not word[0].isalpha():
        return False
    if _CYRILLIC.search(word):
        return any("Name" in p.tag for p in _morph().parse(word))
    parts = word.split("-")  # "Hans-Jürgen", "Jean-Luc"
    return any(part.lower() in _first_names() for part in parts)


@functools.lru_cache(maxsize=65536)
def is_russian_name_word(word: str) -> bool:
    """A Russian first name, surname or patronymic, as the dictionary knows it."""
    return any({"Name", "Surn", "Patr"} & set(str(p.tag).replace(" ", ",").split(","))
               for p in _morph().parse(word.strip(".,")))


@functools.lru_cache(maxsize=65536)
def person_score(text: str) -> float:
    """How much `text` looks like one person's name: below 0 it is not one, above 1 it surely is.

    Capitalised words (initials, particles and "Jr." allowed), one to six of them,
    none a word of service titles; a known first name or a Russian name word adds weight.
    """
    return _score(text, first_names=True)


@functools.lru_cache(maxsize=65536)
def could_be_a_name(text: str) -> bool:
    """Whether `text` may be a person's name at all: exactly `person_score(text) > -1`.

    A known first name only adds weight, so the first-name list is not consulted (nor loaded: reading a
    re-synced calendar's few changed titles with the layout it learned needs no lexicon).
    """
    return _score(text, first_names=False) > -1


def _score(text: str, *, first_names: bool) -> float:
    if text.count(",") == 1:  # "Schröder, Hans-Jürgen"
        text = text.replace(",", " ")
    words = text.split()
    if not 1 <= len(words) <= 6 or len(text) > 120:
        return -1.0
    score = 0.0
    real = 0
    for word in words:
        low = word.casefold()
        if low in TITLES or low in SUFFIXES or low in PARTICLES:
            continue
        if not _WORD.match(word) or low.strip(".") in _NOT_NAME_WORDS:
            return -1.0
        if not word[0].isupper():
            return -1.0
        real += 1
        if word.endswith(".") and len(word) <= 6 and all(len(p) == 1 for p in word.rstrip(".").split(".")):
            score += 0.2  # initials: "J.", "И.И."
        elif _CYRILLIC.search(word):
            if is_russian_name_word(word):
                score += 0.6
            elif _morph().word_is_known(word.lower()):
                return -1.0  # a word of the dictionary that is no name: «Консультация»
        elif first_names and is_first_name(word):
            score += 0.6
    if real == 0:
        return -1.0
    if real == 1:
        score -= 0.5  # one word: a surname, a service ("Lunch") or a nickname
    return score + 0.3 * min(real, 3)


def typed_in_lower_case(text: str) -> bool:
    """A name typed without capitals ("anna lee"): two or three words, one a first name the lexicon knows,
    none a word of service titles."""
    words = text.split()
    return (2 <= len(words) <= 3 and all(_WORD.match(w) and w.casefold() not in _NOT_NAME_WORDS for w in words)
            and any(is_first_name(w.capitalize()) for w in words))


# A Russian patronymic: «Сергеевич», «Ильич», «Сергеевна», «Ильинична».
_PATRONYMIC = re.compile(r"(?:ович|евич|ич|овна|евна|ична|инична)$", re.IGNORECASE)
_INITIAL = re.compile(r"[^\W\d_]\.?(?:[^\W\d_]\.)?")
_ROMAN = frozenset("ii iii iv".split())


def greeting_name(full_name: str) -> str:
    """What a call script or a text calls the client: the first name, the way people are greeted.

    Someone who booked as "Mrs. Beatrice Holloway" wrote their title and is greeted "Mrs. Holloway"; an
    initial is no greeting, so "J. Miller" is greeted by the whole name; a Russian name with its
    patronymic is greeted by first name and patronymic («Анна Сергеевна», the polite form), in whichever
    order the calendar wrote the three.
    """
    words = full_name.split()
    if not words:
        return ""
    if words[0].casefold() in TITLES and len(words) > 1:
        rest = [w for w in words[1:] if w.casefold() not in SUFFIXES] or words[1:]
        # The surname with its particles: "Dr. Friedrich von Bülow" is "Dr. von Bülow".
        particle = next((index for index, w in enumerate(rest) if w.casefold() in PARTICLES), None)
        surname = " ".join(rest[particle:]) if particle is not None else rest[-1]
        return f"{words[0]} {surname}"
    if len(words) == 3 and _CYRILLIC.search(full_name):
        for index in (1, 2):  # «Анна Сергеевна Петрова», «Петрова Анна Сергеевна»
            if _PATRONYMIC.search(words[index]):
                return f"{words[index - 1]} {words[index]}"
    if len(words) == 2 and _CYRILLIC.search(full_name):
        first_names = [word for word in words if _reads_first_as_a_first_name(word)]
        if len(first_names) == 1:
            return first_names[0]  # «Петров Илья», «Ким Виктория»
    if _INITIAL.fullmatch(words[0]):
        return full_name
    return words[0]


_SPACE_BEFORE_MARK = re.compile(r"\s+([,!.?])")
_COMMA_BEFORE_MARK = re.compile(r",([!.?])")


def mended_without_name(text: str) -> str:
    """A script or a text written for a client known only by number, its greeting closed up where the name
    would have stood: "Hi , this is…" is "Hi, this is…", «Здравствуйте, ! Это…» is «Здравствуйте! Это…»."""
    return _COMMA_BEFORE_MARK.sub(r"\1", _SPACE_BEFORE_MARK.sub(r"\1", text))


def _reads_first_as_a_first_name(word: str) -> bool:
    """Whether the dictionary's likeliest reading of a Russian word is a first name as written to greet
    («Илья»; not «Петров», a surname before it is the plural of «Пётр»)."""
    tag = _morph().parse(word.strip(".,"))[0].tag
    return "Name" in tag and "nomn" in tag


def tidy_case(name: str) -> str:
    """A name typed all in capitals or all in small letters, written as names are ("SARAH O'CONNOR" ->
    "Sarah O'Connor", "ludwig van beethoven" -> "Ludwig van Beethoven"); any other name exactly as typed.

    Written here rather than with `nameparser`: its capitalising goes through re-assembling the parsed
    name, which re-orders and drops parts of names it does not parse as Western ones.
    """
    if not (name.isupper() or name.islower()):
        return name
    words = []
    for position, word in enumerate(name.split(" ")):
        low = word.casefold()
        if low in _ROMAN:
            words.append(word.upper())
        elif position and low in PARTICLES:
            words.append(low)
        else:
            words.append(re.sub(r"[^\W\d_]+", _capitalised, low))  # each part of "o'connor", "smith-jones"
    return " ".join(words)


def _capitalised(part: re.Match[str]) -> str:
    text = part.group(0)
    if text.startswith("mc") and len(text) > 3:
        return "Mc" + text[2:].capitalize()
    return text.capitalize()
