"""audit.deid_counts: each count in its own column, and warehouses from before the term class."""

from __future__ import annotations

import dataclasses

import duckdb

from transforms.deid.apply import TableDeidCounts
from transforms.deid.evidence import TERM_DROPPED_METHOD, EvidenceRow
from warehouse.evidence import record_evidence

SANITY = {
    "patients_shifted": 1,
    "min_offset_days": -3,
    "max_offset_days": -3,
    "zero_offsets": 0,
    "out_of_range": 0,
}
# every count a different number, so a value landing in another column shows
COUNTS = TableDeidCounts(
    **{
        f.name: number
        for number, f in enumerate(dataclasses.fields(TableDeidCounts), start=1)
        if f.name != "term_columns"
    },
    term_columns={"code_text": {"kept": 16, "dropped": 17}},
)


def _record(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    evidence = [EvidenceRow("R", "free text", "conditions.code_text", TERM_DROPPED_METHOD, 17)]
    record_evidence(con, run_id, evidence, {"conditions": COUNTS}, SANITY, "ED", 365, "f" * 16)


def _stored(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    cursor = con.execute(
        "SELECT * EXCLUDE (run_id, table_name) FROM audit.deid_counts WHERE run_id = ?", [run_id]
    )
    names = [column[0] for column in cursor.description]
    (row,) = cursor.fetchall()
    return dict(zip(names, row, strict=True))


def test_every_count_lands_in_its_own_column(writer):
    _record(writer, "r1")
    expected = {k: v for k, v in dataclasses.asdict(COUNTS).items() if k != "term_columns"}
    assert _stored(writer, "r1") == expected
    assert writer.execute(
        "SELECT element, method, count FROM audit.deid_evidence WHERE run_id = 'r1'"
    ).fetchall() == [("conditions.code_text", TERM_DROPPED_METHOD, 17)]


def test_a_warehouse_from_before_the_term_class_gains_its_columns(writer):
    # audit.deid_counts as warehouses created before the term class have it
    writer.execute(
        """
        CREATE TABLE audit.deid_counts (
            run_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, rows BIGINT NOT NULL,
            pseudonymized BIGINT NOT NULL, dates_shifted BIGINT NOT NULL,
            dates_nulled BIGINT NOT NULL, zip_generalized BIGINT NOT NULL,
            birth_years_grouped_90_plus BIGINT NOT NULL, columns_dropped BIGINT NOT NULL,
            codes_dropped BIGINT NOT NULL, displays_dropped BIGINT NOT NULL,
            unresolved_patient_references BIGINT NOT NULL, notes_scrubbed BIGINT NOT NULL,
            notes_dropped_content_type BIGINT NOT NULL, notes_undecodable BIGINT NOT NULL,
            note_replacements BIGINT NOT NULL, ages_over_89_emptied BIGINT NOT NULL
        )
        """
    )
    writer.execute(
        "INSERT INTO audit.deid_counts VALUES ('old', 'conditions', 5, 5, 0, 0, 0, 0, 1, 0, 0, "
        "0, 0, 0, 0, 0, 0)"
    )
    _record(writer, "r2")
    assert (_stored(writer, "r2")["terms_kept"], _stored(writer, "r2")["terms_dropped"]) == (
        COUNTS.terms_kept,
        COUNTS.terms_dropped,
    )
    assert (_stored(writer, "old")["terms_kept"], _stored(writer, "old")["terms_dropped"]) == (0, 0)
