"""Source adapters: one module per export format, each turning a file into FHIR R4 resources."""

from .records import SourceError, SourceRecord, UnknownColumnError

__all__ = ["SourceError", "SourceRecord", "UnknownColumnError"]
