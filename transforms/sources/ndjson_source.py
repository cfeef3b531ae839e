"""FHIR bulk NDJSON adapter: one resource per line, plain or gzip, streamed line by line."""

from __future__ import annotations

import codecs
import gzip
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .records import SourceRecord

try:  # orjson parses bytes directly and is several times faster; prefect already depends on it
    import orjson

    json_loads: Callable[[bytes], object] = orjson.loads
except ImportError:  # pragma: no cover - exercised only where orjson is absent
    import json

    json_loads = json.loads

__all__ = [
    "MISSING_RESOURCE_TYPE",
    "NOT_AN_OBJECT",
    "json_loads",
    "read_ndjson",
    "resource_shape_error",
]

NOT_AN_OBJECT = "NotAnObject"
MISSING_RESOURCE_TYPE = "MissingResourceType"

# A damaged gzip stream cannot be resynchronised: reading stops with one error record.
_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def resource_shape_error(value: object) -> str | None:
    """The error class when ``value`` is not a JSON object with a resourceType, else None.

    Args:
        value: decoded JSON that should be one FHIR resource.
    """
    if not isinstance(value, dict):
        return NOT_AN_OBJECT
    resource_type = value.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        return MISSING_RESOURCE_TYPE
    return None


def _open(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return path.open("rb")


def read_ndjson(path: Path) -> Iterator[SourceRecord]:
    """Yield one SourceRecord per non-blank line of a ``.ndjson`` or ``.ndjson.gz`` file.

    Line numbers are the true 1-based line numbers of the (decompressed) file, blank lines
    included. A line that is not JSON, or not an object with a string ``resourceType``, yields an
    error record (``element="line"``) and reading goes on. A damaged gzip stream ends the file
    with one error record (``element="file"``) at the line it would have read next.

    Args:
        path: the NDJSON file; a name ending in ``.gz`` is read through gzip.
    """
    line_number = 0
    with _open(path) as handle:
        try:
            for line_number, line in enumerate(handle, start=1):
                if line_number == 1 and line.startswith(codecs.BOM_UTF8):
                    line = line[len(codecs.BOM_UTF8) :]
                if not line or line.isspace():
                    continue
                try:
                    value = json_loads(line)
                except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError under json
                    yield SourceRecord(line_number, None, error=type(exc).__name__, element="line")
                    continue
                shape_error = resource_shape_error(value)
                if shape_error is None:
                    yield SourceRecord(line_number, value)
                else:
                    yield SourceRecord(line_number, None, error=shape_error, element="line")
        except _GZIP_ERRORS as exc:
            yield SourceRecord(line_number + 1, None, error=type(exc).__name__, element="file")
