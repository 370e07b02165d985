"""The bytes of an uploaded or downloaded calendar, in the one encoding the importer reads.

RFC 5545 says UTF-8, but exporters on Windows write UTF-16 (and a few
UTF-32) with a byte order mark, and many put a BOM before UTF-8 too. A BOM
says the encoding for certain, so such a file is re-encoded as UTF-8 here;
whether the text is a calendar at all is for the importer to say. NUL
characters, which are no text, are dropped.
"""
import codecs

# The longer BOMs first: UTF-32-LE's begins with UTF-16-LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def as_utf8(data: bytes) -> bytes:
    """`data` without its byte order mark, in UTF-8 when the BOM named another encoding, and without
    NUL characters (no calendar text may hold one, and PostgreSQL cannot store one)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            if encoding != "utf-8":
                # A broken character becomes U+FFFD: the rest of the calendar still reads.
                data = data[len(bom):].decode(encoding, errors="replace").encode("utf-8")
            else:
                data = data[len(bom):]
            break
    return data.replace(b"\x00", b"")
