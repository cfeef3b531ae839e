"""What every source adapter yields, and the errors that stop a run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceRecord:
    """One resource read from an input file, or one input unit that could not be decoded.

    Attributes:
        line: where it came from: 1-based line (NDJSON), 1-based entry number (Bundle), 1-based
            data row (CSV; the header is row 0).
        resource: the FHIR R4 resource as decoded JSON; None when the unit could not be decoded.
        error: for an undecodable unit, the error class (e.g. ``JSONDecodeError``), never a value.
        element: for an undecodable unit, where in the unit it failed (e.g. ``entry[3].resource``).
    """

    line: int
    resource: dict | None
    error: str | None = None
    element: str | None = None


class SourceError(Exception):
    """An input that must stop the run (messages name files by hash and headers, never values)."""


class UnknownColumnError(SourceError):
    """A CSV header the column map does not classify (fail closed)."""

    def __init__(self, header: str, map_name: str):
        self.header = header
        self.map_name = map_name
        super().__init__(
            f"CSV header {header!r} is not in column map {map_name!r}; classify it in the map "
            "or run with --unknown-columns drop"
        )
