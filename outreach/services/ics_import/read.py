"""Step 1, read: bytes to text, with the size and line-length caps."""
from __future__ import annotations

import re

from outreach.services import calendar_text
from outreach.services.ics_import.context import megabytes
from outreach.services.ics_import.report import ImportFailed, ImportLimits

# A content line continues on the next line when that starts with a space or
# a tab (RFC 5545 3.1); some exporters put blank lines before the continuation.
# Line breaks are plain LF by then, and the pattern starts with a literal
# byte: `re` scans for that quickly, where an optional CR first ("\r?\n") or a
# repeat ("\n+") make it try every byte, ten times slower on a big file.
_FOLD = re.compile(rb"\n\n*[ \t]")


def read_text(data: bytes, limits: ImportLimits) -> str:
    """The file as text with its folded lines unfolded and every line break a plain LF."""
    data = calendar_text.as_utf8(data)
    if not data.strip():
        raise ImportFailed("the file is empty")
    # Unfolding before decoding: exporters fold at 75 bytes, sometimes inside a multi-byte character.
    unfolded = _FOLD.sub(b"", data.replace(b"\r\n", b"\n"))
    longest = max(map(len, unfolded.splitlines()), default=0)
    if longest > limits.max_line_bytes:
        raise ImportFailed(
            f"the file has a line of {megabytes(longest)} (at most {megabytes(limits.max_line_bytes)} is "
            "accepted); this is not a calendar that can be imported"
        )
    for encoding in ("utf-8", "cp1252"):
        try:
            return unfolded.decode(encoding)
        except UnicodeDecodeError:
            continue
    return unfolded.decode("latin-1")  # every byte is a Latin-1 character


