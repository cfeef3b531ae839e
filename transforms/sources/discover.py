"""Input discovery: which inbox files to load, in which format, with their SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal, NamedTuple

from transforms.validation import is_resource_type

from .records import SourceError

__all__ = [
    "Discovery",
    "InputFile",
    "SkippedFile",
    "discover",
    "file_name_hash",
    "resource_type_hint",
]

InputFormat = Literal["ndjson", "bundle", "csv"]
SkipReason = Literal["hidden", "export_log", "deleted", "unsupported_extension"]

# Longest suffix first: "x.ndjson.gz" must not match as something else.
_FORMATS: tuple[tuple[str, InputFormat], ...] = (
    (".ndjson.gz", "ndjson"),
    (".ndjson", "ndjson"),
    (".json", "bundle"),
    (".csv", "csv"),
)
# The bulk-export log (kick-off, status and completion events), not resources.
_EXPORT_LOG_NAMES = frozenset({"log.ndjson", "log.ndjson.gz"})
# Bulk exports put deleted resources in deleted/; the pipeline does not apply deletions.
_DELETED_FOLDER = "deleted"
_MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class InputFile:
    """One input file to load.

    Attributes:
        path: the file (the inbox joined with ``relative_path``).
        relative_path: POSIX path relative to the inbox; can hold PHI, so reports show
            ``file_name_hash(relative_path, key)`` instead.
        sha256: hex SHA-256 of the file's bytes.
        size_bytes: the file's size.
        format: ``ndjson`` (.ndjson, .ndjson.gz), ``bundle`` (.json) or ``csv``.
        resource_type: the resource type the file name starts with (``Patient.000.ndjson``),
            when that is an R4 resource type; else None.
    """

    path: Path
    relative_path: str
    sha256: str
    size_bytes: int
    format: InputFormat
    resource_type: str | None


@dataclass(frozen=True)
class SkippedFile:
    """A file under the inbox that is not loaded, and why."""

    path: Path
    relative_path: str
    reason: SkipReason


class Discovery(NamedTuple):
    """What ``discover`` found: ``files, skipped = discover(inbox)``.

    Every regular file under the inbox is in exactly one of the two lists.
    """

    files: list[InputFile]
    skipped: list[SkippedFile]

    def skipped_by_reason(self) -> dict[str, int]:
        """How many files were skipped, per reason (for the run report)."""
        return dict(Counter(skipped.reason for skipped in self.skipped))


def resource_type_hint(file_name: str) -> str | None:
    """The resource type a file name starts with (``Patient.000.ndjson`` -> ``Patient``), or None.

    Only R4 resource types count: any other leading word of a name could be PHI.

    Args:
        file_name: the file's name, without folders.
    """
    candidate = file_name.split(".", 1)[0]
    if candidate[:1].isupper() and candidate.isalpha() and is_resource_type(candidate):
        return candidate
    return None


def _format_of(name: str) -> InputFormat | None:
    lowered = name.lower()
    for suffix, input_format in _FORMATS:
        if lowered.endswith(suffix):
            return input_format
    return None


def _skip_reason(relative: PurePath) -> SkipReason | None:
    if any(part.startswith(".") for part in relative.parts):
        return "hidden"
    if any(part.lower() == _DELETED_FOLDER for part in relative.parts[:-1]):
        return "deleted"
    if relative.name.lower() in _EXPORT_LOG_NAMES:
        return "export_log"
    return None


def _raise_unreadable_folder(error: OSError) -> None:
    # The OSError text names the folder, which can hold PHI: only its class is passed on.
    raise SourceError(f"an inbox folder cannot be listed ({type(error).__name__})") from None


def _hash_file(path: Path) -> tuple[str, int]:
    """SHA-256 and size of one file, read in chunks (inputs can be several GB)."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
        # The size of the bytes that were hashed, not of a later stat: a file still being
        # written would otherwise get a hash and a size that disagree.
        size = handle.tell()
    return digest.hexdigest(), size


def discover(inbox: Path) -> Discovery:
    """List the files under ``inbox`` to load, sorted by relative path, and those skipped.

    ``.ndjson``/``.ndjson.gz`` are NDJSON, ``.json`` Bundles, ``.csv`` CSV exports. Skipped:
    hidden files and anything in hidden folders, the bulk-export ``log.ndjson``, anything under
    a ``deleted/`` folder, and other extensions. Symbolic links to folders are not followed.

    Args:
        inbox: the folder the exports arrive in.

    Raises:
        NotADirectoryError: ``inbox`` is not a folder.
        SourceError: a folder or file under the inbox cannot be read (named by position only).
    """
    if not inbox.is_dir():
        raise NotADirectoryError("the inbox is not a folder")
    relatives: list[PurePath] = []
    # os.walk would skip an unreadable folder silently: its files would go missing unnoticed.
    for folder, folder_names, file_names in os.walk(inbox, onerror=_raise_unreadable_folder):
        folder_names.sort()
        base = Path(folder).relative_to(inbox)
        relatives.extend(base / name for name in file_names if (Path(folder) / name).is_file())
    relatives.sort(key=lambda relative: relative.parts)

    files: list[InputFile] = []
    skipped: list[SkippedFile] = []
    for number, relative in enumerate(relatives, start=1):
        path = inbox / relative
        input_format = _format_of(relative.name)
        reason = _skip_reason(relative)
        if reason is None and input_format is None:
            reason = "unsupported_extension"
        if reason is not None:
            skipped.append(SkippedFile(path, relative.as_posix(), reason))
            continue
        try:
            sha256, size_bytes = _hash_file(path)
        except OSError as exc:
            # Named by position, not by name: file names can hold PHI.
            raise SourceError(
                f"inbox file {number} (in sorted path order) cannot be read ({type(exc).__name__})"
            ) from None
        files.append(
            InputFile(
                path=path,
                relative_path=relative.as_posix(),
                sha256=sha256,
                size_bytes=size_bytes,
                format=input_format,
                resource_type=resource_type_hint(relative.name),
            )
        )
    return Discovery(files, skipped)


def file_name_hash(relative_path: str | PurePath, key: bytes) -> str:
    """A keyed hash of a file name for reports: ``hex(HMAC-SHA256(key, name))[:16]``.

    The name is the inbox-relative POSIX path, Unicode NFC-normalised so that the same name
    hashes alike on every file system.

    Args:
        relative_path: the file's path relative to the inbox (``InputFile.relative_path``).
        key: the secret key (at least 32 bytes), e.g. a purpose sub-key of the master secret.

    Raises:
        ValueError: the key is not bytes of at least 32 bytes.
    """
    if not isinstance(key, (bytes, bytearray)) or len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"the file-name key must be at least {_MIN_KEY_BYTES} bytes")
    name = relative_path.as_posix() if isinstance(relative_path, PurePath) else relative_path
    normalized = unicodedata.normalize("NFC", name)
    return hmac.new(bytes(key), normalized.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
