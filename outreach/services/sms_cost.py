"""What a text costs: its characters and the SMS segments it is billed as.

A text in the GSM-7 alphabet takes 160 characters in one segment, 153 per
segment when split (a few characters such as € { } [ ] count twice). One
character outside it (Cyrillic, an em dash —, curly quotes) makes the whole
text UCS-2: 70 characters in one segment, 67 per segment when split.
The `gsm0338` codec knows the alphabet.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7 = "GSM-7"
UCS2 = "UCS-2"
# (one segment alone, each segment of a split text), in septets or UTF-16 code units
_SEGMENT_SIZES = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SmsCost:
    characters: int
    encoding: str  # GSM7 or UCS2
    segments: int
    # The characters that make a text UCS-2, in order of appearance (empty for GSM-7).
    non_gsm_characters: str


def sms_cost(text: str) -> SmsCost:
    """The characters, encoding and billed SMS segments of `text`."""
    try:
        units = len(text.encode("gsm03.38"))
        encoding, outside = GSM7, ""
    except UnicodeEncodeError:
        units = len(text.encode("utf-16-le")) // 2
        encoding = UCS2
        outside = "".join(dict.fromkeys(character for character in text if not _in_gsm7(character)))
    single, part = _SEGMENT_SIZES[encoding]
    segments = 0 if units == 0 else 1 if units <= single else math.ceil(units / part)
    return SmsCost(characters=len(text), encoding=encoding, segments=segments, non_gsm_characters=outside)


def _in_gsm7(character: str) -> bool:
    try:
        character.encode("gsm03.38")
    except UnicodeEncodeError:
        return False
    return True
