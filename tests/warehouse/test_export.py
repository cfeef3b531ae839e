"""k-enforcing export: generalisation steps, manifest against the files, refusals, audit rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tests.warehouse.test_risk import add_patients
from warehouse import export
from warehouse.export import (
    PATIENT_QI_COLUMNS,
    ExportError,
    ExportRiskError,
    GeneralisationStep,
    export_tables,
)

LINEAGE = (
    "'run-1' AS _run_id, repeat('a', 64) AS _source_file_hash, 1 AS _source_line, "
    "TIMESTAMP '2024-01-01 00:00:00' AS _loaded_at"
)
TABLES = ["core.patients", "core.visits", "core.questionnaire_responses", "questionnaire_items"]


def zip3_case(con: duckdb.DuckDBPyConnection) -> None:
    """Two small zip3 areas of one state: together they reach 11."""
    add_patients(con, 12)  # 1960 F 021 MA
    add_patients(con, 6, zip3="022")
    add_patients(con, 5, zip3="023")


def band_case(con: duckdb.DuckDBPyConnection) -> None:
    """Two small classes that differ in zip3 and birth year within one 5-year band."""
    add_patients(con, 12)
    add_patients(con, 6, birth_year=1961, zip3="022")
    add_patients(con, 5, birth_year=1963, zip3="023")


def suppression_case(con: duckdb.DuckDBPyConnection) -> None:
    """The band case plus classes no generalisation rescues: 90+ (no year to band) and 1990."""
    band_case(con)
    add_patients(con, 3, birth_year=None, age_group="90+", sex="male", zip3="024")
    add_patients(con, 2, birth_year=1990, sex="male", zip3="025", state="NY")


def add_children(con: duckdb.DuckDBPyConnection) -> None:
    """Two visits and a questionnaire response with two items per patient, one orphan visit."""
    con.execute(
        f"""
        INSERT INTO core.visits BY NAME
        SELECT 'v-' || patient_id || '-' || n AS visit_id, patient_id,
               DATE '2020-01-01' + n::INTEGER AS start_date, 'AMB' AS class, {LINEAGE}
        FROM core.patients, range(2) AS r(n)
        UNION ALL
        SELECT 'v-orphan', NULL, DATE '2020-01-01', 'AMB', {LINEAGE}
        """
    )
    con.execute(
        f"""
        INSERT INTO core.questionnaire_responses BY NAME
        SELECT 'r-' || patient_id AS response_id, patient_id, 'phq9' AS questionnaire, {LINEAGE}
        FROM core.patients
        """
    )
    con.execute(
        f"""
        INSERT INTO core.questionnaire_items BY NAME
        SELECT response_id, 'q' || n AS link_id, 0 AS answer_index, n::DOUBLE AS answer_value,
               {LINEAGE}
        FROM core.questionnaire_responses, range(2) AS r(n)
        """
    )


def read_back(path: Path) -> str:
    """The exported file as a DuckDB relation, read as a recipient tells values apart."""
    if path.suffix == ".csv":
        return f"read_csv('{path}', header = true, all_varchar = true, allow_quoted_nulls = false)"
    return f"read_parquet('{path}')"


def outputs(folder: Path) -> list[str]:
    """What the test's folder holds besides the warehouse file and its WAL."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("warehouse.duckdb"))


def one(con: duckdb.DuckDBPyConnection, query: str) -> object:
    return con.execute(query).fetchall()[0][0]


def export_rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """The rows of audit.exports; none while the table does not exist."""
    exists = one(
        con,
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE schema_name = 'audit' AND table_name = 'exports'",
    )
    return con.execute("SELECT * FROM audit.exports").fetchall() if exists else []


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (zip3_case, (23, 11, 0, 0)),
        (band_case, (23, 11, 11, 0)),
        (suppression_case, (28, 16, 13, 5)),
    ],
    ids=["zip3", "band", "suppression"],
)
def test_export_enforces_k_and_the_manifest_matches_the_files(
    writer, tmp_path, fmt: str, build: Callable, expected: tuple[int, int, int, int]
):
    build(writer)
    add_children(writer)
    out = tmp_path / "export"

    report = export_tables(writer, out, TABLES, fmt)

    patients, generalised_zip, banded, suppressed = expected
    assert (
        report.patients,
        report.generalised_zip,
        report.generalised_birth_year,
        report.suppressed,
    ) == expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["patients"] for s in manifest["steps"]] == [generalised_zip, banded, suppressed]
    assert (manifest["k"], manifest["format"], manifest["patients"]) == (11, fmt, patients)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", *(f"core.{t.split('.')[-1]}.{fmt}" for t in TABLES)]
    )
    assert outputs(tmp_path) == ["export"]

    # Every table: rows, hash and columns as the manifest says; no lineage column.
    for entry in manifest["tables"]:
        path = out / entry["file"]
        described = writer.execute(f"DESCRIBE SELECT * FROM {read_back(path)}").fetchall()
        assert [row[0] for row in described] == entry["columns"]
        assert not [c for c in entry["columns"] if c.startswith("_")]
        assert one(writer, f"SELECT count(*) FROM {read_back(path)}") == entry["rows"]
        assert entry["rows"] == report.rows[entry["table"]]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert report.rows["core.visits"] == 2 * patients + 1  # suppressed patients keep their rows

    # The step counts, recomputed by comparing the exported patients with the warehouse.
    exported = (
        f"{read_back(out / f'core.patients.{fmt}')} AS e JOIN core.patients AS p USING (patient_id)"
    )
    assert (
        one(
            writer,
            f"SELECT count(*) FROM {exported} WHERE p.zip3 IS NOT NULL AND e.zip3 IS DISTINCT FROM p.zip3",
        )
        == generalised_zip
    )
    assert (
        one(
            writer,
            f"SELECT count(*) FROM {exported} WHERE p.birth_year IS NOT NULL "
            "AND e.birth_year IS DISTINCT FROM CAST(p.birth_year AS VARCHAR)",
        )
        == banded
    )
    suppressed_where = " AND ".join(f"e.{c} = '*'" for c in PATIENT_QI_COLUMNS)
    assert one(writer, f"SELECT count(*) FROM {exported} WHERE {suppressed_where}") == suppressed
    if banded:
        assert (
            one(writer, f"SELECT count(*) FROM {exported} WHERE e.birth_year = '1960-1964'") == 11
        )

    # The k check, recomputed: every class that is not fully suppressed has at least 11 members.
    sizes = [
        size
        for (size,) in writer.execute(
            f"""
            SELECT count(*) FROM {exported} WHERE NOT ({suppressed_where})
            GROUP BY {", ".join(f"e.{c}" for c in PATIENT_QI_COLUMNS)}
            """
        ).fetchall()
    ]
    check = manifest["check"]
    assert min(sizes) >= 11
    assert (check["classes"], check["min_class_size"]) == (len(sizes), min(sizes))
    assert (check["passed"], check["classes_below_k"], check["suppressed_patients"]) == (
        True,
        0,
        suppressed,
    )

    # The audit row repeats the report and names the manifest by its hash.
    manifest_hash = hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    assert writer.execute(
        """
        SELECT export_id, tables, format, k, patients, generalised_zip, generalised_birth_year,
               suppressed, suppressed_dropped, manifest_sha256
        FROM audit.exports
        """
    ).fetchall() == [
        (
            report.export_id,
            [*TABLES[:3], "core.questionnaire_items"],
            fmt,
            11,
            *expected,
            False,
            manifest_hash,
        )
    ]
    assert manifest["export_id"] == report.export_id


def test_drop_suppressed_leaves_those_patients_out_of_every_table(writer, tmp_path):
    suppression_case(writer)
    add_children(writer)
    writer.execute("CREATE SCHEMA study")
    writer.execute(
        "CREATE TABLE study.cohort AS SELECT patient_id, 'a' AS arm, 1 AS _row FROM core.patients"
    )
    out = tmp_path / "export"

    report = export_tables(writer, out, [*TABLES, "study.cohort"], "parquet", drop_suppressed=True)

    kept = 28 - 5
    assert report.suppressed == 5 and report.suppressed_dropped
    assert report.rows == {
        "core.patients": kept,
        "core.visits": 2 * kept + 1,  # the orphan visit belongs to no suppressed patient
        "core.questionnaire_responses": kept,
        "core.questionnaire_items": 2 * kept,
        "study.cohort": kept,
    }
    assert (
        one(
            writer,
            f"SELECT count(*) FROM read_parquet('{out}/core.patients.parquet') WHERE sex = '*'",
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["policy"]["suppressed_patients_rows"] == "dropped"
    assert manifest["tables"][-1]["columns"] == ["patient_id", "arm"]
    assert (manifest["check"]["suppressed_patients"], manifest["check"]["passed"]) == (0, True)


def test_export_without_the_patients_table_checks_the_staged_patients(writer, tmp_path):
    suppression_case(writer)
    add_children(writer)

    report = export_tables(writer, tmp_path / "export", ["core.visits"], "csv")

    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["check"]["measured_on"] == "core.patients (staged, not exported)"
    assert (manifest["check"]["suppressed_patients"], report.rows) == (5, {"core.visits": 57})


def test_a_class_below_k_left_in_the_file_refuses_the_export(writer, tmp_path, monkeypatch):
    suppression_case(writer)
    no_suppression = GeneralisationStep("suppress_quasi_identifiers", "sex = sex", "false")
    monkeypatch.setattr(export, "STEPS", (*export.STEPS[:2], no_suppression))

    with pytest.raises(ExportRiskError, match="2 classes \\(5 patients\\)"):
        export_tables(writer, tmp_path / "export", ["core.patients"], "parquet")

    assert outputs(tmp_path) == []  # no partial output, no temporary folder
    assert export_rows(writer) == []
    assert one(writer, "SELECT count(*) FROM duckdb_tables() WHERE temporary") == 0


def test_requests_against_the_policy_write_nothing(writer, tmp_path):
    add_patients(writer, 11)
    writer.execute("CREATE SCHEMA study")
    writer.execute("CREATE TABLE study.geo AS SELECT patient_id, zip3 FROM core.patients")
    writer.execute("CREATE TABLE study.codes AS SELECT 'x' AS code")
    out = tmp_path / "export"
    refusals = [
        (ValueError, "at least 11", {"tables": ["core.patients"], "fmt": "csv", "k": 5}),
        (ValueError, "fmt", {"tables": ["core.patients"], "fmt": "json"}),
        (ExportError, "only schemas", {"tables": ["audit.runs"], "fmt": "csv"}),
        (ExportError, "no such table", {"tables": ["core.nope"], "fmt": "csv"}),
        (ExportError, "named twice", {"tables": ["patients", "core.patients"], "fmt": "csv"}),
        (
            ExportError,
            "quasi-identifier columns \\['zip3'\\]",
            {"tables": ["study.geo"], "fmt": "csv"},
        ),
        (
            ExportError,
            "cannot be dropped",
            {"tables": ["study.codes"], "fmt": "csv", "drop_suppressed": True},
        ),
    ]
    for error, message, arguments in refusals:
        with pytest.raises(error, match=message):
            export_tables(writer, out, **arguments)
    writer.execute("ALTER TABLE core.patients ADD COLUMN county VARCHAR")
    with pytest.raises(ExportError, match="unclassified columns \\['county'\\]"):
        export_tables(writer, out, ["core.patients"], "csv")
    out.mkdir()
    with pytest.raises(FileExistsError):
        export_tables(writer, out, ["core.patients"], "csv")

    assert outputs(tmp_path) == ["export"]
    assert list(out.iterdir()) == []
    assert export_rows(writer) == []
