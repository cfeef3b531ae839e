"""Run history for the run report: table row counts per run and value-free reads of the audit tables.

Every reader tolerates a missing audit table (an older warehouse, or a run that failed before the
step that creates it) and returns an empty result. Nothing here reads a core or study value:
only counts, hashes, check outcomes and the audit tables' own value-free columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

import duckdb

from .sqltools import quote_identifier, transaction, utc_now

# Schemas whose tables are counted after each run: the core tables and, once it exists, the
# study tables built from them.
COUNTED_SCHEMAS = ("core", "study")
FAILING_STATUSES = ("failed", "error")

_TABLE_COUNTS_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.table_counts (
    run_id       VARCHAR   NOT NULL,
    table_name   VARCHAR   NOT NULL,  -- qualified: core.patients, study.cohort, ...
    row_count    BIGINT    NOT NULL CHECK (row_count >= 0),
    recorded_at  TIMESTAMP NOT NULL,  -- UTC
    PRIMARY KEY (run_id, table_name)
);
COMMENT ON TABLE audit.table_counts IS
    'Rows in every core and study table after each run: counts only, for run-to-run comparison.';
"""

_RUN_COLUMNS = (
    "run_id",
    "status",
    "started_at",
    "finished_at",
    "profile",
    "pseudonym_mode",
    "full_refresh",
    "key_fingerprint",
    "config_hash",
    "files_seen",
    "files_loaded",
    "files_skipped",
    "resources_read",
    "resources_loaded",
    "resources_quarantined",
    "error_summary",
)


def record_table_counts(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Count the rows of every core table (and study table, when that schema exists) for a run.

    Creates ``audit.table_counts`` when missing; counting the same run again replaces its rows.
    Call it after the run's load (or after its study step), so the counts are what it published.

    Args:
        con: a read-write warehouse connection, outside any transaction.
        run_id: the run the counts belong to (``audit.runs.run_id``).

    Returns:
        Row count by qualified table name (``core.patients``), sorted by name.
    """
    tables = _tables_in(con, COUNTED_SCHEMAS)
    counts: dict[str, int] = {}
    if tables:
        query = " UNION ALL ".join(
            f"SELECT {index} AS n, count(*) FROM "
            f"{quote_identifier(schema)}.{quote_identifier(table)}"
            for index, (schema, table) in enumerate(tables)
        )
        by_index = dict(con.execute(query).fetchall())
        counts = {f"{schema}.{table}": by_index[i] for i, (schema, table) in enumerate(tables)}
    recorded_at = utc_now()
    con.execute(_TABLE_COUNTS_DDL)
    with transaction(con):
        con.execute("DELETE FROM audit.table_counts WHERE run_id = ?", [run_id])
        if counts:
            con.executemany(
                "INSERT INTO audit.table_counts VALUES (?, ?, ?, ?)",
                [(run_id, name, count, recorded_at) for name, count in counts.items()],
            )
    return dict(sorted(counts.items()))


def table_exists(con: duckdb.DuckDBPyConnection, qualified_name: str) -> bool:
    """Whether ``schema.table`` exists in the connected database (read-only connections too).

    Args:
        con: any DuckDB connection.
        qualified_name: ``schema.table``.
    """
    schema, _, table = qualified_name.partition(".")
    return bool(
        con.execute(
            """
            SELECT count(*) FROM duckdb_tables()
            WHERE database_name = current_database() AND schema_name = ? AND table_name = ?
            """,
            [schema, table],
        ).fetchall()[0][0]
    )


def run_row(con: duckdb.DuckDBPyConnection, run_id: str) -> dict | None:
    """The run's ``audit.runs`` row as a dict (timestamps as naive UTC datetimes); None if absent.

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run.
    """
    if not table_exists(con, "audit.runs"):
        return None
    columns = ", ".join(_RUN_COLUMNS)
    rows = con.execute(f"SELECT {columns} FROM audit.runs WHERE run_id = ?", [run_id]).fetchall()
    return dict(zip(_RUN_COLUMNS, rows[0], strict=True)) if rows else None


def list_runs(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> list[dict]:
    """Runs, newest first, with their failing checks counted by severity.

    Args:
        con: a warehouse connection (read-only suffices).
        limit: at most this many runs (None: all).

    Returns:
        Dicts with run_id, status, started_at, finished_at, profile, files_loaded, checks
        (results recorded), fatal_failures and warning_failures (checks failed or in error).
    """
    if not table_exists(con, "audit.runs"):
        return []
    if table_exists(con, "audit.check_results"):
        failures = """
            SELECT run_id, count(*) AS checks,
                count(*) FILTER (severity = 'fatal' AND status IN ('failed', 'error')) AS fatal,
                count(*) FILTER (severity = 'warning' AND status IN ('failed', 'error')) AS warning
            FROM audit.check_results GROUP BY run_id
        """
    else:
        failures = (
            "SELECT NULL::VARCHAR AS run_id, 0 AS checks, 0 AS fatal, 0 AS warning WHERE false"
        )
    rows = con.execute(
        f"""
        SELECT r.run_id, r.status, r.started_at, r.finished_at, r.profile, r.files_loaded,
            coalesce(f.checks, 0), coalesce(f.fatal, 0), coalesce(f.warning, 0)
        FROM audit.runs r LEFT JOIN ({failures}) f USING (run_id)
        ORDER BY r.started_at DESC, r.run_id DESC
        {"" if limit is None else f"LIMIT {int(limit)}"}
        """
    ).fetchall()
    names = (
        "run_id",
        "status",
        "started_at",
        "finished_at",
        "profile",
        "files_loaded",
        "checks",
        "fatal_failures",
        "warning_failures",
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


def previous_run_id(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The latest run that started before ``run_id`` and has check results, whatever its status.

    A failed run's results still describe the data it checked, so the comparison uses it: a
    fatal failure that stopped yesterday's publish and is gone today is a resolved failure.

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run being reported.

    Returns:
        The earlier run's id; None for the first run, an unknown run or missing audit tables.
    """
    if not (table_exists(con, "audit.runs") and table_exists(con, "audit.check_results")):
        return None
    rows = con.execute(
        """
        SELECT earlier.run_id
        FROM audit.runs this, audit.runs earlier
        WHERE this.run_id = $run_id
          AND (earlier.started_at, earlier.run_id) < (this.started_at, this.run_id)
          AND EXISTS (SELECT 1 FROM audit.check_results c WHERE c.run_id = earlier.run_id)
        ORDER BY earlier.started_at DESC, earlier.run_id DESC
        LIMIT 1
        """,
        {"run_id": run_id},
    ).fetchall()
    return rows[0][0] if rows else None


def check_results(con: duckdb.DuckDBPyConnection, run_id: str | None) -> list[dict]:
    """The run's ``audit.check_results`` rows (counts and status only), sorted by check id.

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run; None gives an empty list (no previous run).
    """
    return _select(
        con,
        "audit.check_results",
        (
            "check_id",
            "status",
            "severity",
            "rows_checked",
            "rows_violating",
            "pct",
            "threshold_pct",
            "error_class",
        ),
        run_id,
        order_by="check_id",
    )


def table_counts(con: duckdb.DuckDBPyConnection, run_id: str | None) -> dict[str, int]:
    """Rows per qualified table name recorded for a run by ``record_table_counts``.

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run; None gives an empty dict.
    """
    rows = _select(con, "audit.table_counts", ("table_name", "row_count"), run_id, "table_name")
    return {row["table_name"]: row["row_count"] for row in rows}


def files_manifest(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """The input files a run processed: hashes, size, format and the run's resource balance.

    A file belongs to the run when the run recorded a per-type balance for it
    (``audit.file_counts``) or first recorded it (``audit.files.first_run_id``). Resources
    read, loaded and quarantined are the run's own (from ``audit.file_counts``) when recorded,
    else the file's totals from ``audit.files``. File names appear only as their keyed hash.

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run.

    Returns:
        Dicts with file_sha256, file_name_hash, format, size_bytes, status, resources_read,
        resources_loaded, resources_quarantined; sorted by file_sha256.
    """
    if not table_exists(con, "audit.files"):
        return []
    if table_exists(con, "audit.file_counts"):
        balance = """
            SELECT file_sha256, sum("read") AS resources_read, sum(loaded) AS resources_loaded,
                sum(quarantined) AS resources_quarantined
            FROM audit.file_counts WHERE run_id = $run_id GROUP BY file_sha256
        """
    else:
        balance = (
            "SELECT NULL::VARCHAR AS file_sha256, 0 AS resources_read, 0 AS resources_loaded, "
            "0 AS resources_quarantined WHERE false"
        )
    names = (
        "file_sha256",
        "file_name_hash",
        "format",
        "size_bytes",
        "status",
        "resources_read",
        "resources_loaded",
        "resources_quarantined",
    )
    rows = con.execute(
        f"""
        SELECT f.file_sha256, f.file_name_hash, f.format, f.size_bytes, f.status,
            coalesce(b.resources_read, f.resources_read),
            coalesce(b.resources_loaded, f.resources_loaded),
            coalesce(b.resources_quarantined, f.resources_quarantined)
        FROM audit.files f LEFT JOIN ({balance}) b USING (file_sha256)
        WHERE b.file_sha256 IS NOT NULL OR f.first_run_id = $run_id
        ORDER BY f.file_sha256
        """,
        {"run_id": run_id},
    ).fetchall()
    return [_plain(dict(zip(names, row, strict=True))) for row in rows]


def resource_type_counts(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Per resource type: resources the run read, loaded and quarantined (all files together).

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run.
    """
    if not table_exists(con, "audit.file_counts"):
        return []
    rows = con.execute(
        """
        SELECT resource_type, sum("read"), sum(loaded), sum(quarantined)
        FROM audit.file_counts WHERE run_id = ? GROUP BY resource_type ORDER BY resource_type
        """,
        [run_id],
    ).fetchall()
    names = ("resource_type", "read", "loaded", "quarantined")
    return [_plain(dict(zip(names, row, strict=True))) for row in rows]


def quarantine_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Quarantined resources counted by resource type, error class and element path.

    List positions in element paths are replaced by ``*`` (``entry[3].resource`` becomes
    ``entry[*].resource``) so that one cause is one row. ``audit.quarantine`` holds no values;
    this summary leaves out its id hashes and line numbers too.

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run.

    Returns:
        Dicts with resource_type (None: undecodable unit), error_class, element (None when not
        recorded) and count; largest count first.
    """
    if not table_exists(con, "audit.quarantine"):
        return []
    rows = con.execute(
        r"""
        SELECT resource_type, error_class,
            regexp_replace(element, '\[[0-9]+\]', '[*]', 'g') AS element_path, count(*) AS n
        FROM audit.quarantine WHERE run_id = ?
        GROUP BY ALL
        ORDER BY n DESC, resource_type NULLS LAST, error_class, element_path NULLS LAST
        """,
        [run_id],
    ).fetchall()
    names = ("resource_type", "error_class", "element", "count")
    return [dict(zip(names, row, strict=True)) for row in rows]


def deid_evidence(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    """The run's de-identification evidence, value-free.

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run.

    Returns:
        A dict with ``safe_harbor`` (category, name, element, method, count rows), ``tables``
        (``audit.deid_counts`` rows), ``date_shift`` (the sanity row or None), ``extensions``
        and ``csv_columns`` (counts by kept/dropped and by action only: extension URLs and CSV
        headers come from the input, so they stay in the audit tables) and ``notes_scrubber``
        (measured recall rows).
    """
    safe_harbor = _select(
        con,
        "audit.deid_evidence",
        ("category", "name", "element", "method", "count"),
        run_id,
        order_by="category, element, method",
    )
    tables = []
    if table_exists(con, "audit.deid_counts"):
        cursor = con.execute(
            "SELECT * EXCLUDE (run_id) FROM audit.deid_counts WHERE run_id = ? ORDER BY table_name",
            [run_id],
        )
        names = [column[0] for column in cursor.description]
        tables = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    shifts = _select(
        con,
        "audit.date_shift",
        (
            "profile",
            "max_shift_days",
            "patients_shifted",
            "min_offset_days",
            "max_offset_days",
            "zero_offsets",
            "out_of_range",
            "key_fingerprint",
            "new_key_epoch",
        ),
        run_id,
    )
    extensions = []
    if table_exists(con, "audit.extensions"):
        rows = con.execute(
            """
            SELECT kept, count(DISTINCT url), sum(count) FROM audit.extensions
            WHERE run_id = ? GROUP BY kept ORDER BY kept DESC
            """,
            [run_id],
        ).fetchall()
        extensions = [
            {"kept": kept, "definitions": urls, "occurrences": int(total)}
            for kept, urls, total in rows
        ]
    csv_columns = []
    if table_exists(con, "audit.csv_columns"):
        rows = con.execute(
            """
            SELECT action, count(DISTINCT (file_sha256, header)), sum(count) FROM audit.csv_columns
            WHERE run_id = ? GROUP BY action ORDER BY action
            """,
            [run_id],
        ).fetchall()
        csv_columns = [
            {"action": action, "columns": columns, "values": int(total)}
            for action, columns, total in rows
        ]
    scrubber = _select(
        con,
        "audit.notes_scrubber",
        ("scrubber_version", "corpus_notes", "kind", "category", "labels", "recall"),
        run_id,
        order_by="kind, category",
    )
    return {
        "safe_harbor": safe_harbor,
        "tables": tables,
        "date_shift": shifts[-1] if shifts else None,
        "extensions": extensions,
        "csv_columns": csv_columns,
        "notes_scrubber": scrubber,
    }


def risk_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """The run's k-anonymity rows from ``audit.risk`` (class counts, never a value).

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run.
    """
    return _select(
        con,
        "audit.risk",
        (
            "qi_set",
            "k",
            "patients",
            "classes",
            "min_class_size",
            "classes_below_k",
            "patients_below_k",
        ),
        run_id,
        order_by="qi_set, k",
    )


def leak_scan_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """The run's ``audit.leak_scan`` rows: location, rows scanned, tokens checked, hits.

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run.

    Returns:
        Dicts with location, rows_scanned, tokens_checked, hits and hits_by_category (a dict of
        category to count); sorted by location.
    """
    rows = _select(
        con,
        "audit.leak_scan",
        ("location", "rows_scanned", "tokens_checked", "hits", "hits_by_category"),
        run_id,
        order_by="location",
    )
    for row in rows:
        row["hits_by_category"] = json.loads(row["hits_by_category"] or "{}")
    return rows


def _select(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Iterable[str],
    run_id: str | None,
    order_by: str | None = None,
) -> list[dict]:
    """``SELECT columns FROM table WHERE run_id = ?`` as dicts; empty when the table is missing."""
    columns = tuple(columns)
    if run_id is None or not table_exists(con, table):
        return []
    rows = con.execute(
        f"SELECT {', '.join(quote_identifier(c) for c in columns)} FROM {table} "
        f"WHERE run_id = ?{f' ORDER BY {order_by}' if order_by else ''}",
        [run_id],
    ).fetchall()
    return [_plain(dict(zip(columns, row, strict=True))) for row in rows]


def _tables_in(con: duckdb.DuckDBPyConnection, schemas: Iterable[str]) -> list[tuple[str, str]]:
    schemas = list(schemas)
    marks = ", ".join("?" for _ in schemas)
    return [
        (schema, table)
        for schema, table in con.execute(
            f"""
            SELECT schema_name, table_name FROM duckdb_tables()
            WHERE database_name = current_database() AND schema_name IN ({marks})
              AND NOT temporary
            ORDER BY schema_name, table_name
            """,
            schemas,
        ).fetchall()
    ]


def _plain(row: dict) -> dict:
    # Sums of integer columns come back as int, but a DECIMAL would not serialise to JSON.
    return {key: int(value) if isinstance(value, Decimal) else value for key, value in row.items()}
