"""The run ledger and incremental bookkeeping in the audit schema (no PHI: hashes and counts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import duckdb
import pyarrow as pa

from .errors import LedgerError
from .sqltools import transaction, utc_now

RunOutcome = Literal["succeeded", "failed"]
FileStatus = Literal["loaded", "failed"]

# The keys of a quarantine row as the validation stage produces it.
QUARANTINE_FIELDS = ("file_sha256", "line", "resource_type", "id_hash", "error_class", "element")
_QUARANTINE_SCHEMA = pa.schema(
    [
        ("file_sha256", pa.string()),
        ("line", pa.int64()),
        ("resource_type", pa.string()),
        ("id_hash", pa.string()),
        ("error_class", pa.string()),
        ("element", pa.string()),
    ]
)
_FILES_SCHEMA = pa.schema(
    [
        ("file_sha256", pa.string()),
        ("file_name_hash", pa.string()),
        ("format", pa.string()),
        ("size_bytes", pa.int64()),
        ("resources_read", pa.int64()),
        ("resources_loaded", pa.int64()),
        ("resources_quarantined", pa.int64()),
        ("status", pa.string()),
        ("first_run_id", pa.string()),
        ("loaded_at", pa.timestamp("us")),
    ]
)
_FILE_COUNTS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("file_sha256", pa.string()),
        ("resource_type", pa.string()),
        ("read", pa.int64()),
        ("loaded", pa.int64()),
        ("quarantined", pa.int64()),
    ]
)
_ROWS_VIEW = "_chartetl_ledger_rows"


@dataclass(frozen=True)
class RunCounts:
    """A run's totals, stored in ``audit.runs`` when it finishes."""

    files_seen: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    resources_read: int = 0
    resources_loaded: int = 0
    resources_quarantined: int = 0


@dataclass(frozen=True)
class FileRecord:
    """One input file as ``audit.files`` keeps it: content hash, name hash, totals, outcome.

    Attributes:
        file_sha256: SHA-256 of the file's bytes (the incremental key).
        file_name_hash: hash of the file name (names can hold PHI).
        format: ``ndjson``, ``bundle`` or ``csv``.
        size_bytes: file size.
        resources_read: resources (or undecodable units) read from the file.
        resources_loaded: resources that reached the core tables.
        resources_quarantined: resources rejected by validation.
        status: ``loaded``, or ``failed`` to retry the file on the next run.
    """

    file_sha256: str
    file_name_hash: str
    format: str
    size_bytes: int
    resources_read: int
    resources_loaded: int
    resources_quarantined: int
    status: FileStatus = "loaded"


@dataclass(frozen=True)
class FileTypeCount:
    """Per file and resource type: resources read, loaded and quarantined in one run."""

    file_sha256: str
    resource_type: str
    read: int
    loaded: int
    quarantined: int


def start_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    profile: str,
    pseudonym_mode: str,
    full_refresh: bool,
    key_fingerprint: str,
    config_hash: str,
) -> None:
    """Record a run as ``running``; a full refresh also forgets every loaded file.

    An incremental run must use the profile, pseudonym mode and key of the last succeeded run:
    with others, its pseudonyms and shifted dates would not match the stored rows.

    Forgetting the files makes every input load again. It commits before the load, so a failed
    full refresh leaves the ledger asking for more loading, never less: the next run reloads
    everything into the unchanged tables, and the MERGE makes that harmless.

    Args:
        con: the read-write warehouse connection, outside any transaction.
        run_id: the new run's id (unique).
        profile: the de-identification profile (ED, SH or LDS).
        pseudonym_mode: ``hmac`` or ``random_crosswalk``.
        full_refresh: whether the run rebuilds the core tables.
        key_fingerprint: the key's fingerprint (deid.md section 2), never the key.
        config_hash: hash of the configuration (views, maps, allow-lists).

    Raises:
        LedgerError: the run id is already recorded, or an incremental run changes the profile,
            pseudonym mode or key (a new key epoch needs a full refresh).
    """
    if _run_status(con, run_id) is not None:
        raise LedgerError(f"run {run_id!r} is already recorded in audit.runs")
    if not full_refresh:
        _check_same_epoch(con, profile, pseudonym_mode, key_fingerprint)
    with transaction(con):
        if full_refresh:
            con.execute("DELETE FROM audit.files")
        con.execute(
            """
            INSERT INTO audit.runs (run_id, started_at, status, profile, pseudonym_mode,
                                    full_refresh, key_fingerprint, config_hash)
            VALUES ($run_id, $started_at, 'running', $profile, $pseudonym_mode,
                    $full_refresh, $key_fingerprint, $config_hash)
            """,
            {
                "run_id": run_id,
                "started_at": utc_now(),
                "profile": profile,
                "pseudonym_mode": pseudonym_mode,
                "full_refresh": full_refresh,
                "key_fingerprint": key_fingerprint,
                "config_hash": config_hash,
            },
        )


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    status: RunOutcome,
    counts: RunCounts,
    error_summary: str | None = None,
) -> None:
    """Record how a running run ended, with its totals.

    Args:
        con: the read-write warehouse connection.
        run_id: a run recorded by ``start_run`` and still ``running``.
        status: ``succeeded`` or ``failed``.
        counts: the run's totals.
        error_summary: for a failed run, the stage and error class: a value-free message
            (the ledger is read by auditors and copied into the snapshot).

    Raises:
        LedgerError: unknown run, run already finished, or an invalid status.
    """
    if status not in ("succeeded", "failed"):
        raise LedgerError(f"a run finishes as 'succeeded' or 'failed', not {status!r}")
    current = _run_status(con, run_id)
    if current != "running":
        raise LedgerError(f"run {run_id!r} is not running (status: {current or 'not recorded'})")
    con.execute(
        """
        UPDATE audit.runs SET
            finished_at = $finished_at,
            status = $status,
            files_seen = $files_seen,
            files_loaded = $files_loaded,
            files_skipped = $files_skipped,
            resources_read = $resources_read,
            resources_loaded = $resources_loaded,
            resources_quarantined = $resources_quarantined,
            error_summary = $error_summary
        WHERE run_id = $run_id
        """,
        {
            "run_id": run_id,
            "finished_at": utc_now(),
            "status": status,
            "error_summary": error_summary,
            **asdict(counts),
        },
    )


def amend_run_failed(con: duckdb.DuckDBPyConnection, run_id: str, error_summary: str) -> None:
    """Mark a finished run failed after the fact: its report turned out to hold an identifier.

    Args:
        con: the read-write warehouse connection.
        run_id: a finished run.
        error_summary: the error class to record (never a message about the data).

    Raises:
        LedgerError: unknown run, or a run still running (finish it with finish_run).
    """
    current = _run_status(con, run_id)
    if current not in ("succeeded", "failed"):
        raise LedgerError(f"run {run_id!r} has not finished (status: {current or 'not recorded'})")
    con.execute(
        "UPDATE audit.runs SET status = 'failed', error_summary = ? WHERE run_id = ?",
        [error_summary, run_id],
    )


def loaded_file_hashes(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The SHA-256 of every file already loaded: an incremental run skips these.

    Args:
        con: a warehouse connection (read-only suffices).
    """
    rows = con.execute("SELECT file_sha256 FROM audit.files WHERE status = 'loaded'").fetchall()
    return {sha for (sha,) in rows}


def record_files(con: duckdb.DuckDBPyConnection, run_id: str, files: Iterable[FileRecord]) -> None:
    """Record the files a run processed; a file seen before keeps its ``first_run_id``.

    A failed file recorded earlier becomes ``loaded`` when a later run loads it.

    Args:
        con: the read-write warehouse connection.
        run_id: the recording run.
        files: one record per distinct file content.

    Raises:
        LedgerError: the same ``file_sha256`` twice (identical files are one input).
    """
    files = list(files)
    hashes = [f.file_sha256 for f in files]
    if len(set(hashes)) != len(hashes):
        raise LedgerError("record_files got the same file_sha256 twice: deduplicate by content")
    if not files:
        return
    loaded_at = utc_now()
    rows = pa.Table.from_pylist(
        [
            {
                **asdict(f),
                "first_run_id": run_id,
                "loaded_at": loaded_at if f.status == "loaded" else None,
            }
            for f in files
        ],
        schema=_FILES_SCHEMA,
    )
    # Rows are unique by file_sha256 (checked above): ON CONFLICT cannot hit a batch duplicate.
    _insert(
        con,
        rows,
        """
        INSERT INTO audit.files BY NAME SELECT * FROM {rows}
        ON CONFLICT (file_sha256) DO UPDATE SET
            file_name_hash = excluded.file_name_hash,
            format = excluded.format,
            size_bytes = excluded.size_bytes,
            loaded_at = excluded.loaded_at,
            resources_read = excluded.resources_read,
            resources_loaded = excluded.resources_loaded,
            resources_quarantined = excluded.resources_quarantined,
            status = excluded.status
        """,
    )


def record_file_counts(
    con: duckdb.DuckDBPyConnection, run_id: str, counts: Iterable[FileTypeCount]
) -> None:
    """Record a run's per-file, per-resource-type balance in ``audit.file_counts``.

    Args:
        con: the read-write warehouse connection.
        run_id: the recording run.
        counts: one entry per file and resource type.
    """
    rows = [{"run_id": run_id, **asdict(c)} for c in counts]
    if not rows:
        return
    _insert(
        con,
        pa.Table.from_pylist(rows, schema=_FILE_COUNTS_SCHEMA),
        "INSERT INTO audit.file_counts BY NAME SELECT * FROM {rows}",
    )


def record_quarantine(
    con: duckdb.DuckDBPyConnection, run_id: str, rows: Iterable[Mapping[str, object]]
) -> int:
    """Record quarantined resources in ``audit.quarantine``.

    Args:
        con: the read-write warehouse connection.
        run_id: the recording run.
        rows: mappings with exactly the keys of QUARANTINE_FIELDS; any other key is refused,
            so a value can never slip into the audit schema.

    Returns:
        The number of rows recorded.

    Raises:
        LedgerError: a row with missing or extra keys.
    """
    rows = list(rows)
    for index, row in enumerate(rows):
        if set(row) != set(QUARANTINE_FIELDS):
            raise LedgerError(
                f"quarantine row {index}: keys must be exactly {', '.join(QUARANTINE_FIELDS)}; "
                f"missing {sorted(set(QUARANTINE_FIELDS) - set(row))}, "
                f"unexpected {sorted(set(row) - set(QUARANTINE_FIELDS))}"
            )
    if not rows:
        return 0
    table = pa.Table.from_pylist(rows, schema=_QUARANTINE_SCHEMA)
    table = table.append_column("run_id", pa.array([run_id] * len(rows), pa.string()))
    _insert(con, table, "INSERT INTO audit.quarantine BY NAME SELECT * FROM {rows}")
    return len(rows)


def _check_same_epoch(
    con: duckdb.DuckDBPyConnection, profile: str, pseudonym_mode: str, key_fingerprint: str
) -> None:
    last = con.execute(
        """
        SELECT run_id, profile, pseudonym_mode, key_fingerprint FROM audit.runs
        WHERE status = 'succeeded' ORDER BY started_at DESC LIMIT 1
        """
    ).fetchall()
    if not last:
        return
    last_run, *settings = last[0]
    names = ("profile", "pseudonym mode", "key")
    changed = [
        name
        for name, before, now in zip(
            names, settings, (profile, pseudonym_mode, key_fingerprint), strict=True
        )
        if before != now
    ]
    if changed:
        raise LedgerError(
            f"the warehouse was last loaded by run {last_run!r} with another "
            f"{', '.join(changed)}: an incremental load would mix pseudonyms or date shifts; "
            "run a full refresh"
        )


def _run_status(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    rows = con.execute("SELECT status FROM audit.runs WHERE run_id = ?", [run_id]).fetchall()
    return rows[0][0] if rows else None


def _insert(con: duckdb.DuckDBPyConnection, rows: pa.Table, statement: str) -> None:
    # One INSERT from Arrow: DuckDB's executemany is row by row and slow for thousands of rows.
    con.register(_ROWS_VIEW, rows)
    try:
        con.execute(statement.format(rows=_ROWS_VIEW))
    finally:
        con.unregister(_ROWS_VIEW)
