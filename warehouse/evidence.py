"""Store a run's de-identification evidence in ``audit.deid_evidence``, ``deid_counts``, ``date_shift``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path

import duckdb

_DDL = Path(__file__).with_name("sql").joinpath("evidence.sql").read_text(encoding="utf-8")


def record_evidence(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    evidence: Iterable,
    table_counts: Mapping[str, object],
    sanity: Mapping[str, object],
    profile: str,
    max_shift_days: int,
    key_fingerprint: str,
    extensions: Iterable = (),
) -> None:
    """Write the evidence rows of one run (inside the caller's transaction).

    Args:
        con: the warehouse connection.
        run_id: the run.
        evidence: ``EvidenceRow`` items (Safe Harbor category, element, method, count).
        table_counts: ``TableDeidCounts`` per core table.
        sanity: ``date_shift_sanity`` output.
        profile: the run's profile.
        max_shift_days: R of the date shift.
        key_fingerprint: the key's fingerprint (never the key).
        extensions: ``ExtensionCount`` items: extensions by definition URL, kept or dropped.
    """
    con.execute(_DDL)
    previous = con.execute(
        "SELECT key_fingerprint FROM audit.runs WHERE run_id <> ? AND status = 'succeeded' "
        "ORDER BY started_at DESC LIMIT 1",
        [run_id],
    ).fetchall()
    _insert(
        con,
        "audit.deid_evidence",
        [[run_id, e.category, e.name, e.element, e.method, e.count] for e in evidence],
    )
    # the counts by column name; the per-column term counts are rows of audit.deid_evidence
    rows, columns = [], None
    for name, counts in sorted(table_counts.items()):
        values = {k: v for k, v in asdict(counts).items() if isinstance(v, int)}
        columns = ["run_id", "table_name", *values]
        rows.append([run_id, name, *values.values()])
    _insert(con, "audit.deid_counts", rows, columns)
    _insert(con, "audit.extensions", [[run_id, e.url, e.count, e.kept] for e in extensions])
    con.execute(
        "INSERT INTO audit.date_shift VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            profile,
            max_shift_days,
            sanity["patients_shifted"],
            sanity["min_offset_days"],
            sanity["max_offset_days"],
            sanity["zero_offsets"],
            sanity["out_of_range"],
            key_fingerprint,
            bool(previous) and previous[0][0] != key_fingerprint,
        ],
    )


def record_csv_columns(con: duckdb.DuckDBPyConnection, run_id: str, rows: Iterable[tuple]) -> None:
    """What CSV reading left out, per file and header: ``(file_sha256, header, action, count)``.

    Dropped unknown headers (``--unknown-columns drop``) are audited here, as are values that
    failed to parse and free text left out.
    """
    con.execute(_DDL)
    _insert(con, "audit.csv_columns", [[run_id, *row] for row in rows])


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: list[list],
    columns: list[str] | None = None,
) -> None:
    """INSERT the rows (DuckDB's executemany refuses an empty list: nothing to do then)."""
    if rows:
        placeholders = ", ".join("?" * len(rows[0]))
        names = f" ({', '.join(columns)})" if columns else ""
        con.executemany(f"INSERT INTO {table}{names} VALUES ({placeholders})", rows)


def record_notes_scrubber(
    con: duckdb.DuckDBPyConnection, run_id: str, version: str, evaluation
) -> None:
    """The notes scrubber's measured recall for this run (``note_corpus.evaluate`` numbers)."""
    con.execute(_DDL)
    rows = [
        [
            run_id,
            version,
            evaluation.notes,
            "own",
            category,
            evaluation.label_counts.get(f"own:{category}"),
            recall,
        ]
        for category, recall in sorted(evaluation.own_recall.items())
    ]
    rows += [
        [
            run_id,
            version,
            evaluation.notes,
            "pattern",
            category,
            evaluation.label_counts.get(f"pattern:{category}"),
            recall,
        ]
        for category, recall in sorted(evaluation.pattern_recall.items())
    ]
    rows += [
        [run_id, version, evaluation.notes, "overall", name, None, value]
        for name, value in (
            ("own", evaluation.own_overall),
            ("pattern", evaluation.pattern_overall),
            ("clinical_retention", evaluation.clinical_retention),
            ("date_shift_accuracy", evaluation.date_shift_accuracy),
        )
    ]
    _insert(con, "audit.notes_scrubber", rows)
