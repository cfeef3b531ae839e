"""Leak scan of the warehouse and the run's files: positive control, coverage, value-free evidence."""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transforms.deid.helpers import MASTER_KEY, OTHER_MASTER_KEY, sub_key
from transforms.deid.leakscan import TokenHasher, TokenIndex, raw_candidates
from warehouse import load_run, open_warehouse
from warehouse.leak_scan import (
    LeakDetectedError,
    LeakScanError,
    candidates_sql,
    record_leak_scan,
    scan_files,
    scan_warehouse,
)

from .helpers import make_batch

KEY = sub_key(MASTER_KEY, "scan-index")
OTHER_KEY = sub_key(OTHER_MASTER_KEY, "scan-index")
NAME = "Qzcanary Vexlerow-scan"
MRN = "CNRY-scan-7F3A"
PHONE = "555-0142"
EMAIL = "canary.scan@example.invalid"
STREET = "12 Canaryplume Ln"
CANARIES = [NAME, "Qzcanary", "Vexlerow", MRN, "cnry_scan_7f3a", PHONE, "5550142", EMAIL, STREET]
PSEUDONYM = "0f" * 16
# the deliberately unscrubbed table: (schema.table.column) -> (rows with a hit, categories)
LEAKS = {
    "study.chart_extract.note": (2, {"name": 2, "phone": 1}),
    "study.chart_extract.mrn": (1, {"identifier": 1}),
    "study.chart_extract.contacts": (1, {"email": 1, "phone": 1}),
    "study.chart_extract.payload": (2, {"address": 1, "name": 1}),  # a JSON escape decoded
}


@pytest.fixture
def index() -> TokenIndex:
    built = TokenIndex(KEY)
    built.add("name", NAME)
    built.add("identifier", MRN)
    built.add("phone", PHONE)
    built.add("email", EMAIL)
    built.add("address", STREET)
    return built


@pytest.fixture
def warehouse(writer, definitions) -> duckdb.DuckDBPyConnection:
    """The project's warehouse with clean core rows and one deliberately unscrubbed table."""
    rows = {
        "patients": [
            {"patient_id": PSEUDONYM, "sex": "female", "race": "2106-3", "state": "MA"},
            {"patient_id": "1e" * 16, "sex": "male", "zip3": "021", "country": "US"},
        ],
        "conditions": [
            {
                "condition_id": "2a" * 16,
                "patient_id": PSEUDONYM,
                "code_system": "http://snomed.info/sct",
                "code": "38341003",
                "display": "Hypertension",
                "clinical_status": "active",
            }
        ],
        "meds": [
            {
                "med_id": "3b" * 16,
                "patient_id": PSEUDONYM,
                "rxnorm_code": "748962",
                "drug_name": "Camila 0.35 MG Oral Tablet",
                "status": "active",
            }
        ],
    }
    batches = {name: make_batch(definitions[name], r) for name, r in rows.items()}
    load_run(writer, "run-1", batches, full_refresh=False, definitions=definitions)
    writer.execute(
        """
        CREATE SCHEMA study;
        CREATE TABLE study.chart_extract (
            id INTEGER, note VARCHAR, mrn VARCHAR, contacts VARCHAR[], payload JSON, code VARCHAR
        );
        INSERT INTO study.chart_extract VALUES
            (1, 'Seen with QZCANARY today; callback 555.0142.', 'cnry_scan_7f3a',
             ['home', 'Canary.Scan@Example.Invalid', 'tel 555 0142'],
             '{"street": "12 Canaryplume Ln", "n": [1, "x"]}', 'E11.9'),
            (2, 'pt lives alone, Vexlerow visiting', 'MRN-00417', ['clinic'],
             '{"kin": "Qzcan\\u0061ry"}', '38341003'),
            (3, 'follow-up in 90-270 days', NULL, NULL, NULL, NULL);
        """
    )
    return writer


def texts_of(con: duckdb.DuckDBPyConnection) -> str:
    """Every value of every audit.leak_scan row, as one text."""
    return repr(con.execute("SELECT * FROM audit.leak_scan").fetchall())


def no_canary(text: str) -> bool:
    lowered = text.lower()
    return not [c for c in CANARIES if c.lower() in lowered] and KEY.hex() not in text


# ---------------------------------------------------------------- SQL tokeniser = Python one

EDGE_TEXTS = [
    "",
    "--",
    "a",
    "Call (617) 555-0142 re: Qzcanary Vexlerow-scan",
    "https://canary.invalid/x?mrn=CNRY-scan-7F3A&y=1",
    "Zoë ZOE Zoe\u0308lle \uff3a\uff4f\uff45 ﬁle STRAẞE",
    "2025-03-04 01:02:03.123 INFO 1 2 3 4 5 6 7 8",
    "E11.9 38341003 8302-2 120/80 1,234,567 12345.6",
    "王小明 x_y __ 555\u2013 0142 555\u00a00142 ٣٤٥",
    "line one 555\n0142 tab\t555",
    "+1 (617) 555-0142 ext. 12, 666-41-7302; a@b.c",
]


@pytest.fixture(scope="module")
def memory() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as con:
        yield con


def sql_candidates(con: duckdb.DuckDBPyConnection, texts: list[str]) -> list[list[str]]:
    """The SQL tokeniser's candidates of each text, in the order of ``texts``."""
    con.execute("CREATE OR REPLACE TEMP TABLE texts (n INTEGER, t VARCHAR)")
    con.executemany("INSERT INTO texts VALUES (?, ?)", list(enumerate(texts)))
    query = f"SELECT raw FROM ({candidates_sql('texts')}) ORDER BY n"
    return [list(raw) for (raw,) in con.execute(query).fetchall()]


def test_sql_and_python_cut_the_same_candidates(memory):
    assert sql_candidates(memory, EDGE_TEXTS) == [raw_candidates(t) for t in EDGE_TEXTS]


# letters, digits and separators of several scripts, a combining mark, NFKC-sensitive forms
UNICODE = ["\u00a0", "\u2013", "\u0308", "王", "\uff15", "٣", "ß", "ﬁ", "Ω"]
CHARACTERS = st.sampled_from([*"aZé9 0-.()+/_:,@\n\t", *UNICODE, "12", "555", "0142"])
TEXTS = st.lists(st.lists(CHARACTERS, max_size=24).map("".join), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(TEXTS)
def test_sql_and_python_agree_on_any_text(memory, texts):
    assert sql_candidates(memory, texts) == [raw_candidates(t) for t in texts]


# ------------------------------------------------------------------------ positive control


def test_unscrubbed_columns_are_found_and_clean_tables_report_zero(warehouse, index):
    result = scan_warehouse(warehouse, index, KEY, "run-1")
    assert not result.clean
    leaking = {s.location: (s.hits, dict(s.hits_by_category)) for s in result.leaking}
    assert leaking == LEAKS
    scanned = {s.location: s for s in result.locations}
    clean = [s for name, s in scanned.items() if name not in LEAKS]
    assert all(s.hits == 0 and not s.hits_by_category for s in clean)
    assert scanned["core.conditions.display"].rows_scanned == 1
    assert scanned["core.meds.drug_name"].tokens_checked > 0
    assert scanned["study.chart_extract.code"].hits == 0
    assert scanned["study.chart_extract.note"].rows_scanned == 3
    assert result.control.hits == 1
    assert result.total.hits == sum(hits for hits, _ in LEAKS.values())
    report = result.report()
    assert report["leaking_locations"] == {name: hits for name, (hits, _) in LEAKS.items()}
    assert report["control_found"] is True and report["clean"] is False


def test_every_text_column_of_every_table_and_schema_is_scanned(warehouse, index):
    warehouse.execute(
        """
        CREATE TABLE study.nested (s STRUCT(who VARCHAR, n INTEGER), m MAP(VARCHAR, INTEGER),
            e ENUM('a', 'b'), n INTEGER, d DATE, b BLOB);
        INSERT INTO study.nested VALUES
            ({'who': 'vexlerow', 'n': 1}, MAP {'x': 1}, 'a', 1, DATE '2024-01-01', 'x');
        CREATE VIEW study.a_view AS SELECT note FROM study.chart_extract;
        CREATE TEMP TABLE scratch (t VARCHAR);
        INSERT INTO scratch VALUES ('Qzcanary');
        """
    )
    expected = {
        f"{schema}.{table}.{column}"
        for schema, table, column in warehouse.execute(
            """
            SELECT schema_name, table_name, column_name FROM duckdb_columns()
            WHERE database_name = current_database() AND NOT internal
              AND (data_type IN ('VARCHAR', 'JSON', 'VARCHAR[]') OR data_type LIKE 'STRUCT%'
                   OR data_type LIKE 'MAP%' OR data_type LIKE 'ENUM%')
              AND table_name IN (SELECT table_name FROM duckdb_tables())
            """
        ).fetchall()
    }
    result = scan_warehouse(warehouse, index, KEY, "run-1")
    scanned = {s.location for s in result.locations}
    assert scanned == expected
    assert {"audit.runs.run_id", "audit.files.file_name_hash", "core.patients.state"} <= scanned
    assert {"study.nested.s", "study.nested.m", "study.nested.e"} <= scanned
    assert not {"study.nested.n", "study.nested.d", "study.nested.b"} & scanned
    assert "study.a_view.note" not in scanned  # views read tables that are scanned anyway
    assert not [s for s in scanned if "scratch" in s]  # temporary tables are not the warehouse
    assert {s.location: s.hits for s in result.leaking}["study.nested.s"] == 1


def test_each_distinct_token_is_hashed_once(warehouse, index, monkeypatch):
    warehouse.execute(
        "INSERT INTO study.chart_extract SELECT 10 + i, 'repeated note ' || (i % 3), NULL, NULL, "
        "NULL, '38341003' FROM range(5000) r(i)"
    )
    hashed: list[str] = []
    digest_raw = TokenHasher.digest_raw

    def recording(self, raw):
        hashed.extend(raw.to_pylist())
        return digest_raw(self, raw)

    monkeypatch.setattr(TokenHasher, "digest_raw", recording)
    result = scan_warehouse(warehouse, index, KEY, "run-1")
    assert len(hashed) == len(set(hashed))  # once per run, whatever the rows and columns
    assert "repeatednote" in hashed and result.total.rows_scanned > 5000 > len(hashed)


# ------------------------------------------------------------------- value-free evidence


def test_audit_rows_hold_counts_and_locations_never_values_or_the_key(warehouse, index):
    result = scan_warehouse(warehouse, index, KEY, "run-1")
    rows = warehouse.execute(
        "SELECT location, rows_scanned, tokens_checked, hits, hits_by_category "
        "FROM audit.leak_scan WHERE run_id = 'run-1' ORDER BY location"
    ).fetchall()
    by_location = {location: rest for location, *rest in rows}
    assert len(rows) == len(result.locations) + 2  # the columns, the control, the total
    assert by_location["control"][2] == 1
    total = by_location["total:warehouse"]
    assert total[2] == result.total.hits == 6
    assert json.loads(total[3]) == {
        "address": 1,
        "email": 1,
        "identifier": 1,
        "name": 3,
        "phone": 2,
    }
    assert by_location["study.chart_extract.mrn"][2:] == [1, '{"identifier": 1}']
    assert no_canary(texts_of(warehouse))
    assert no_canary(repr(result)) and no_canary(json.dumps(result.report()))
    with pytest.raises(LeakDetectedError) as info:
        result.raise_if_leaking()
    message = "".join(traceback.format_exception(info.value))
    assert "study.chart_extract.note: 2 (name, phone)" in message and no_canary(message)


def test_the_scan_leaves_no_temporary_object_and_no_wal(warehouse, warehouse_path, index):
    scan_warehouse(warehouse, index, KEY, "run-1")
    assert warehouse.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone() == (
        0,
    )
    assert warehouse.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name LIKE '_leakscan%'"
    ).fetchone() == (0,)
    with pytest.raises(duckdb.CatalogException):
        warehouse.execute("SELECT _leakscan_digest('x')")
    assert not Path(f"{warehouse_path}.wal").exists()


def test_a_rescan_replaces_the_runs_rows_and_the_warehouse_still_opens(
    warehouse, warehouse_path, index
):
    first = scan_warehouse(warehouse, index, KEY, "run-1")
    second = scan_warehouse(warehouse, index, KEY, "run-1")
    # the second scan also reads the evidence the first one wrote
    assert {s.location for s in second.locations} - {s.location for s in first.locations} == {
        "audit.leak_scan.run_id",
        "audit.leak_scan.location",
        "audit.leak_scan.hits_by_category",
    }
    assert second.leaking == first.leaking
    (rows,) = warehouse.execute("SELECT count(*) FROM audit.leak_scan").fetchone()
    assert rows == len(second.locations) + 2
    warehouse.close()
    with open_warehouse(warehouse_path) as con:  # the schema check accepts the new audit table
        assert con.execute("SELECT count(DISTINCT run_id) FROM audit.leak_scan").fetchone() == (1,)


def test_a_clean_warehouse_is_clean(writer, definitions, index):
    batch = make_batch(definitions["patients"], [{"patient_id": PSEUDONYM, "state": "MA"}])
    load_run(writer, "run-1", {"patients": batch}, full_refresh=False, definitions=definitions)
    result = scan_warehouse(writer, index, KEY, "run-1")
    assert result.clean and result.total.hits == 0 and result.tokens_checked > 0
    result.raise_if_leaking()


# ------------------------------------------------------------------------------ fail closed


def test_a_broken_scanner_fails_its_own_control(warehouse, index, monkeypatch):
    monkeypatch.setattr(TokenHasher, "digest_raw", lambda self, raw: raw)  # no digest matches
    with pytest.raises(LeakScanError, match="positive control was not found"):
        scan_warehouse(warehouse, index, KEY, "run-1")
    assert warehouse.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone() == (
        0,
    )


def test_database_errors_are_withheld(warehouse, index, monkeypatch):
    def failing(con, columns):
        raise duckdb.ConversionException(f"Could not convert string '{NAME}' to INT32")

    monkeypatch.setattr("warehouse.leak_scan._collect_tokens", failing)
    with pytest.raises(LeakScanError) as info:
        scan_warehouse(warehouse, index, KEY, "run-1")
    text = "".join(traceback.format_exception(info.value))
    assert "ConversionException" in text and "token collection" in text and no_canary(text)


def test_another_key_or_an_empty_index_is_refused(warehouse, index):
    with pytest.raises(LeakScanError, match="not the key"):
        scan_warehouse(warehouse, index, OTHER_KEY, "run-1")
    with pytest.raises(LeakScanError, match="empty"):
        scan_warehouse(warehouse, TokenIndex(KEY), KEY, "run-1")
    with pytest.raises(LeakScanError, match="empty"):
        scan_files({}, TokenIndex(KEY), KEY)


# -------------------------------------------------------------------------------- the files


def test_files_and_exception_text_are_scanned_and_named_by_label_only(tmp_path, writer, index):
    # a file name can hold PHI: only the caller's label is recorded
    folder = tmp_path / "Qzcanary-reports"
    folder.mkdir()
    report = folder / "run.json"
    report.write_text(json.dumps({"status": "succeeded", "error": None}, indent=2))
    log = folder / "Vexlerow.log"
    log.write_text("INFO start\nERROR parse failed for cnry_scan_7f3a\nINFO retry 555 0142\n")
    empty = folder / "empty.log"
    empty.touch()
    result = scan_files(
        {"report.run-json": report, "log.prefect": log, "log.empty": empty},
        index,
        KEY,
        texts=[("exception", f"ValueError: bad value {EMAIL!r}")],
    )
    assert [
        (s.location, s.rows_scanned, s.hits, dict(s.hits_by_category)) for s in result.locations
    ] == [
        ("file:report.run-json", 4, 0, {}),
        ("file:log.prefect", 3, 2, {"identifier": 1, "phone": 1}),
        ("file:log.empty", 0, 0, {}),
        ("text:exception", 1, 1, {"email": 1}),
    ]
    record_leak_scan(writer, "run-1", result)
    locations = [r[0] for r in writer.execute("SELECT location FROM audit.leak_scan").fetchall()]
    assert sorted(locations) == sorted([s.location for s in result.locations] + ["total:files"])
    stored = texts_of(writer)
    assert no_canary(stored) and str(folder) not in stored and "Vexlerow" not in stored
    assert no_canary(repr(result)) and result.report()["control_found"] is None


def test_bad_labels_and_missing_files_are_refused(tmp_path, index):
    with pytest.raises(LeakScanError, match="labels"):
        scan_files({"reports/Qzcanary Vexlerow": tmp_path}, index, KEY)
    with pytest.raises(OSError):
        scan_files({"report": tmp_path / "missing.json"}, index, KEY)
