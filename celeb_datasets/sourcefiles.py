"""Reading the sources' label files: text that must be UTF-8, JSON whose keys must be unique.

Both builders read their label files through these, so a wrong encoding, a duplicate key or a NaN gets
the same clear one-line error (naming the file and the line) whichever dataset it is in.
"""

from __future__ import annotations

import json
from typing import Any

from celeb_datasets.errors import SourceFileError

RELEASE_FILE_HINT = "the release's files are UTF-8: download the file again, or save it as UTF-8 if it was edited"
_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def decode_text(data: bytes, source: str, hint: str = RELEASE_FILE_HINT) -> str:
    """`data` as UTF-8 text (a leading byte-order mark, as Windows editors write, dropped), or SourceFileError
    naming `source`, the line and the byte, then `hint` (what the user should do)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start : error.start + 1].hex()
        utf16 = " (it is UTF-16: save it as UTF-8)" if data.startswith(_UTF16_MARKS) else ""
        raise SourceFileError(
            f"{source}, line {line}: not UTF-8 text (byte 0x{byte} at offset {error.start}){utf16}; {hint}"
        ) from None


class _DuplicateKey(Exception):
    pass


def _without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(repr(next(key for key, _ in pairs if key in seen or seen.add(key))))  # type: ignore[func-returns-value]
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def loads_json(text: str, source: str) -> Any:
    """Parse JSON text; SourceFileError naming `source` and the line for bad JSON, NaN/Infinity or a key
    that appears twice in one object (the second would silently replace the first)."""
    try:
        return json.loads(text, object_pairs_hook=_without_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise SourceFileError(f"{source}, line {error.lineno}: not valid JSON ({error.msg})") from None
    except _DuplicateKey as duplicate:
        raise SourceFileError(f"{source}: the key {duplicate} appears twice in one object") from None
    except RecursionError:
        raise SourceFileError(
            f"{source}: nested too deeply to be read (thousands of levels; the release's files have a few)"
        ) from None
    except ValueError as error:
        raise SourceFileError(f"{source}: {error}") from None
