"""Helpers of the data-quality check tests: the clean chart, row clones, allowed key columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import duckdb

from warehouse import core_tables
from warehouse.sqltools import quote_identifier

RUN_ID = "run-test"
COMPASS = "http://example.org/fhir/Questionnaire/compass-31"
# Columns a check may return: pseudonymous ids, plus the positional parts of composite keys (an
# index is no clinical value). Not link_id: a questionnaire linkId is an input string.
ALLOWED_KEY_COLUMNS = {
    column.name
    for table in core_tables().values()
    for column in table.columns
    if column.deid_class == "pseudonym"
} | {"answer_index", "value_index", "content_index"}

# Two patients, each with one visit; patient 1 is on LDN with a pain score, a COMPASS-31 form, an
# adverse event and a note. Every check passes on it and every denominator is above 0.
CLEAN_CHART: dict[str, list[dict[str, object]]] = {
    "patients": [
        {"patient_id": "p1", "birth_year": 1980, "sex": "female"},
        {"patient_id": "p2", "birth_year": 1990, "sex": "male"},
    ],
    "visits": [
        {
            "visit_id": "v1",
            "patient_id": "p1",
            "start_date": dt.date(2020, 1, 10),
            "end_date": dt.date(2020, 1, 10),
        },
        {
            "visit_id": "v2",
            "patient_id": "p2",
            "start_date": dt.date(2021, 5, 1),
            "end_date": dt.date(2021, 5, 2),
        },
    ],
    "conditions": [{"condition_id": "c1", "patient_id": "p1", "visit_id": "v1", "code": "G90.A"}],
    "meds": [
        {
            "med_id": "m1",
            "patient_id": "p1",
            "visit_id": "v1",
            "rxnorm_code": "7243",
            "drug_name": "naltrexone 4.5 mg capsule, compounded (LDN)",
            "dose_value": 4.5,
            "dose_unit": "mg",
            "frequency_per_day": 1.0,
            "authored_date": dt.date(2020, 1, 10),
        },
        {
            "med_id": "m2",
            "patient_id": "p2",
            "visit_id": "v2",
            "rxnorm_code": "6918",
            "drug_name": "metoprolol 25 mg tablet",
            "dose_value": 25.0,
            "dose_unit": "mg",
            "authored_date": dt.date(2021, 5, 1),
        },
    ],
    "observations": [
        {
            "observation_id": "o1",
            "value_index": 0,
            "patient_id": "p1",
            "visit_id": "v1",
            "code": "72514-3",
            "value_num": 6.0,
            "effective_date": dt.date(2020, 1, 10),
        },
        {
            "observation_id": "o2",
            "value_index": 0,
            "patient_id": "p2",
            "visit_id": "v2",
            "code": "8867-4",
            "value_num": 120.0,
            "effective_date": dt.date(2021, 5, 1),
        },
    ],
    "questionnaire_responses": [
        {
            "response_id": "r1",
            "patient_id": "p1",
            "visit_id": "v1",
            "questionnaire": COMPASS,
            "authored_date": dt.date(2020, 1, 10),
            "status": "completed",
        }
    ],
    "questionnaire_items": [
        {"response_id": "r1", "link_id": "q1", "answer_index": 0, "answer_code": "1"},
        {"response_id": "r1", "link_id": "q6", "answer_index": 0, "answer_code": "1"},
        {"response_id": "r1", "link_id": "q6", "answer_index": 1, "answer_code": "2"},
        {"response_id": "r1", "link_id": "q31", "answer_index": 0, "answer_code": "7"},
    ],
    "adverse_events": [
        {
            "event_id": "e1",
            "patient_id": "p1",
            "visit_id": "v1",
            "suspect_med_id": "m1",
            "event_date": dt.date(2020, 2, 1),
        }
    ],
    "notes": [{"note_id": "n1", "content_index": 0, "patient_id": "p1", "visit_id": "v1"}],
}


def insert(
    con: duckdb.DuckDBPyConnection, table: str, row: Mapping[str, object], schema: str = "core"
) -> None:
    """Insert one row into ``schema.table``; lineage columns get fixed test values."""
    full = {
        "_run_id": RUN_ID,
        "_source_file_hash": "a" * 64,
        "_source_line": 1,
        "_loaded_at": dt.datetime(2025, 1, 1),
        **row,
    }
    columns = ", ".join(quote_identifier(name) for name in full)
    marks = ", ".join("?" for _ in full)
    con.execute(f"INSERT INTO {schema}.{table} ({columns}) VALUES ({marks})", list(full.values()))


def insert_clean_chart(con: duckdb.DuckDBPyConnection) -> None:
    """Insert CLEAN_CHART into the core tables, and the study tables the study checks read."""
    for table, rows in CLEAN_CHART.items():
        for row in rows:
            insert(con, table, row)
    insert_clean_study(con)


def insert_clean_study(con: duckdb.DuckDBPyConnection) -> None:
    """A minimal study: patient p1's three timepoints and the follow-up window of the config."""
    con.execute("CREATE SCHEMA IF NOT EXISTS study")
    con.execute(
        "CREATE TABLE study.config_parameters AS SELECT * FROM (VALUES "
        "('follow_up_min_days', '90'), ('follow_up_max_days', '270')) AS t(name, value)"
    )
    con.execute(
        "CREATE TABLE study.timepoints (patient_id VARCHAR, timepoint VARCHAR, visit_date DATE)"
    )
    add_timepoint(con, "p1", "initial", dt.date(2019, 11, 1))
    add_timepoint(con, "p1", "prescription", dt.date(2020, 1, 10))
    add_timepoint(con, "p1", "follow_up", dt.date(2020, 6, 10))


def add_timepoint(
    con: duckdb.DuckDBPyConnection, patient_id: str, timepoint: str, visit_date: dt.date
) -> None:
    """One row of study.timepoints."""
    con.execute(
        "INSERT INTO study.timepoints VALUES (?, ?, ?)", [patient_id, timepoint, visit_date]
    )


def clone(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source_id: str,
    schema: str = "core",
    **overrides: object,
) -> None:
    """Copy the first row whose first key column is ``source_id``, with some columns changed."""
    definition = core_tables()[table]
    types = {column.name: column.sql_type for column in definition.columns}
    replace = ", ".join(
        f"CAST(? AS {types[name]}) AS {quote_identifier(name)}" for name in overrides
    )
    con.execute(
        f"INSERT INTO {schema}.{table} SELECT * REPLACE ({replace}) FROM {schema}.{table} "
        f"WHERE {quote_identifier(definition.key[0])} = ? LIMIT 1",
        [*overrides.values(), source_id],
    )


def stage_copy(con: duckdb.DuckDBPyConnection, schema: str = "staged") -> None:
    """Copy every core table into ``schema`` without constraints, as staged rows arrive."""
    con.execute(f"CREATE SCHEMA {schema}")
    for table in core_tables():
        con.execute(f"CREATE TABLE {schema}.{table} AS SELECT * FROM core.{table}")
