"""Where the person is in a calendar's titles, learned from the whole calendar.

Front desks type titles in a habit: "Anna Schmidt - cleaning", or
"Массаж спины (60 мин) — Соколова Анна". Across many events the part that
repeats is the service and the part that varies is the person; where the parts
do not repeat enough to tell, the part that looks more like a name (by the
lexicons) decides.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from outreach.services.reading.names import person_score

LAYOUTS = ("auto", "name - service", "service - name", "name")
# What separates the parts of a title: a dash with spaces around it, a colon, a bar.
SEPARATOR = re.compile(r"\s+[-–—|/]\s+|\s*[–—]\s*|(?<=[^\d\s]):\s+")
# Parts that are neither person nor service: "Job #1042", "#19", "(60 min)".
_REFERENCE = re.compile(r"^(job|order|ticket|booking|заказ|запись|auftrag)?\s*#?\s*\d+$", re.IGNORECASE)
# A title needs this many two-part events to teach a layout.
MIN_EVIDENCE = 3


def title_parts(title: str) -> list[str]:
    parts = [" ".join(p.split()) for p in SEPARATOR.split(title)]
    return [p for p in parts if p and not _REFERENCE.match(p)]


def learn_layout(titles: Iterable[str | None]) -> tuple[str | None, int]:
    """The layout of a calendar's titles ("name - service" / "service - name") and from how many titles.

    None when fewer than MIN_EVIDENCE titles have two parts or neither side wins.
    """
    firsts: Counter[str] = Counter()
    lasts: Counter[str] = Counter()
    name_side = 0.0
    evidence = 0
    for title in titles:
        parts = title_parts(title or "")
        if len(parts) < 2:
            continue
        evidence += 1
        first, last = parts[0].casefold(), parts[-1].casefold()
        firsts[first] += 1
        lasts[last] += 1
        name_side += max(person_score(parts[0]), -1) - max(person_score(parts[-1]), -1)
    if evidence < MIN_EVIDENCE:
        return None, evidence
    # The lexicons first: a side that reads as names (and the other not) is the person.
    if abs(name_side) >= 0.5 * evidence:
        return ("name - service" if name_side > 0 else "service - name"), evidence
    # Else repetition: the share of titles whose part appears again elsewhere is the service's.
    first_repeats = sum(n for n in firsts.values() if n > 1) / evidence
    last_repeats = sum(n for n in lasts.values() if n > 1) / evidence
    if abs(first_repeats - last_repeats) >= 0.25:
        return ("service - name" if first_repeats > last_repeats else "name - service"), evidence
    return None, evidence
