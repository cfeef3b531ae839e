"""The nightly-refresh flow end to end, under one Prefect test harness."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import PROJECT_ROOT, SAMPLE_EXPORT
from transforms.synth import generate, write_export

pytestmark = [
    pytest.mark.flow,
    pytest.mark.usefixtures("prefect_harness"),  # make test: --dist loadfile, one harness
]

RUN_LINEAGE = ("_run_id", "_loaded_at")
# Columns a CSV chart export has no place for (docs/csv-layout.md): NULL from CSV by design.
NOT_IN_CSV_LAYOUT = ("route", "as_needed", "seriousness")
NOT_IN_CSV_TABLES = ("notes",)  # clinical notes have no file in the CSV layout
VIEW_OF_TYPE = {
    "Patient": "patients",
    "Encounter": "visits",
    "Condition": "conditions",
    "MedicationRequest": "meds",
}


def patient_tokens(export_dir: Path) -> set[str]:
    """Every name, identifier, telecom and address line of the input's Patients (and their ids)."""
    tokens: set[str] = set()
    for line in (export_dir / "Patient.000.ndjson").read_text().splitlines():
        patient = json.loads(line)
        tokens.add(patient["id"])
        for name in patient.get("name", []):
            tokens.update([*name.get("given", []), name.get("family", ""), *name.get("prefix", [])])
        tokens.update(i["value"] for i in patient.get("identifier", []))
        tokens.update(t["value"] for t in patient.get("telecom", []))
        for address in patient.get("address", []):
            tokens.update(address.get("line", []))
    return {t for t in tokens if len(t) >= 4}


def leak_hits(warehouse: Path, tokens: set[str]) -> dict[str, int]:
    """Occurrences of any token in any VARCHAR column of any table, found through SQL."""
    hits = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(
            "CREATE TEMP TABLE tokens AS SELECT unnest(?::VARCHAR[]) AS token", [sorted(tokens)]
        )
        columns = con.execute(
            "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
            "WHERE data_type = 'VARCHAR' AND database_name <> 'temp' "
            "AND schema_name IN ('core', 'audit', 'study', 'main')"
        ).fetchall()
        assert len(columns) > 40  # the scan covers the real tables
        for schema, table, column in columns:
            (count,) = con.execute(
                f'SELECT count(*) FROM "{schema}"."{table}" t JOIN tokens ON contains(t."{column}", tokens.token)'
            ).fetchone()
            if count:
                hits[f"{schema}.{table}.{column}"] = count
    return hits


def test_the_sample_loads_balanced_without_identifiers(sample_workspace, caplog, capfd):
    caplog.set_level("DEBUG")
    summary = sample_workspace.run()
    assert summary["status"] == "succeeded"
    assert summary["files_loaded"] == 13 and summary["files_ignored"] == {
        "export_log": 1,
        "unsupported_extension": 1,  # the fixture's SOURCE.md
    }

    # every loaded type balances: rows = resources read - quarantined, in the ledger and the tables
    balance = sample_workspace.query(
        "SELECT resource_type, sum(read), sum(loaded), sum(quarantined) FROM audit.file_counts GROUP BY 1"
    )
    assert sum(read for _t, read, _l, _q in balance) == 7160
    for resource_type, read, loaded, quarantined in balance:
        assert loaded == read - quarantined, resource_type
        if resource_type in VIEW_OF_TYPE:
            (rows,) = sample_workspace.query(
                f"SELECT count(*) FROM core.{VIEW_OF_TYPE[resource_type]}"
            )[0]
            assert rows == loaded, resource_type
    assert summary["read_by_type"]["Encounter"] == 1215

    # de-identification evidence (deid.md section 9): counts by Safe Harbor category, shift sanity
    evidence = dict(
        sample_workspace.query("SELECT category || ':' || element, count FROM audit.deid_evidence")
    )
    assert evidence["A:Patient.name"] >= 13 and evidence["H:Patient.identifier[type=MR]"] == 13
    assert evidence["G:Patient.identifier[type=SS]"] == 13
    assert evidence["C:dates of service, onset, authoring, death"] > 1215
    shift = sample_workspace.query(
        "SELECT patients_shifted, min_offset_days, max_offset_days, zero_offsets, out_of_range FROM audit.date_shift"
    )
    ((patients, low, high, zeros, out_of_range),) = shift
    assert patients == 13 and zeros == 0 and out_of_range == 0 and -365 <= low <= high <= 365
    assert len(sample_workspace.query("SELECT * FROM audit.deid_counts")) == 9
    extensions = dict(sample_workspace.query("SELECT url, kept FROM audit.extensions"))
    assert extensions["http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"] is True
    assert extensions["http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"] is False
    scans = summary["leak_scan"]
    assert scans["batch"]["clean"] and scans["warehouse"]["clean"] and scans["report"]["clean"]
    # run.json, report.json, report.html, the GX Data Docs, the log messages, the artifact
    assert scans["report"]["locations_scanned"] >= 6
    assert scans["warehouse"]["control_found"] and scans["warehouse"]["index_entries"] > 50
    (scanned,) = sample_workspace.query(
        "SELECT count(*) FROM audit.leak_scan WHERE run_id = ?", [summary["run_id"]]
    )[0]
    assert scanned > 40
    risk = sample_workspace.query("SELECT qi_set, k, patients FROM audit.risk ORDER BY qi_set")
    assert risk == [("qi_basic", 5, 13), ("qi_extended", 5, 13)]

    tokens = patient_tokens(SAMPLE_EXPORT)
    assert len(tokens) > 50
    assert leak_hits(sample_workspace.warehouse, tokens) == {}
    # positive control: the scanner finds a planted identifier
    with duckdb.connect(str(sample_workspace.warehouse)) as con:
        con.execute("CREATE TABLE main.planted AS SELECT ? AS v", [sorted(tokens)[0]])
    assert leak_hits(sample_workspace.warehouse, tokens) == {"main.planted.v": 1}

    report = Path(summary["report_dir"]) / "run.json"
    assert not any(t in report.read_text() for t in tokens)
    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err
    assert "nightly-refresh" in logs or "run " in logs  # the logs were captured
    assert [t for t in tokens if t in logs] == []
    snapshot = Path(summary["snapshot"])
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM core.visits").fetchone() == (1215,)


def test_a_leaking_view_fails_the_run_before_anything_is_loaded(sample_workspace, monkeypatch):
    from flows import nightly
    from transforms.sql_on_fhir import compile_view, parse_view

    views = nightly.compiled_core_views()
    leaking = dict(views["patients"].view.raw)
    leaking["select"] = [
        {
            "column": [
                dict(c, path="name.family.first()") if c["name"] == "sex" else c
                for c in leaking["select"][0]["column"]
            ]
        }
    ]
    views["patients"] = compile_view(parse_view(leaking))
    monkeypatch.setattr(nightly, "compiled_core_views", lambda: views)
    from warehouse.leak_scan import LeakDetectedError

    with pytest.raises(LeakDetectedError) as info:
        sample_workspace.run()
    assert "core.patients.sex" in str(info.value)
    assert not any(t in str(info.value) for t in patient_tokens(SAMPLE_EXPORT))
    assert sample_workspace.query("SELECT count(*) FROM core.patients") == [(0,)]  # nothing loaded
    assert sample_workspace.query("SELECT status, error_summary FROM audit.runs") == [
        ("failed", "LeakDetectedError")
    ]
    assert not (sample_workspace.warehouse.with_suffix(".snapshot.duckdb")).exists()


def test_incremental_runs_load_only_new_files(sample_workspace):
    first = sample_workspace.run()
    before = sample_workspace.tables()

    again = sample_workspace.run()
    assert again["status"] == "succeeded"
    assert again["files_loaded"] == 0 and again["files_skipped_already_loaded"] == 13
    assert sample_workspace.tables() == before  # lineage included: nothing rewritten

    new_condition = json.loads((SAMPLE_EXPORT / "Condition.000.ndjson").read_text().splitlines()[0])
    new_condition["id"] = "an-added-condition"
    (sample_workspace.inbox / "Condition.001.ndjson").write_text(json.dumps(new_condition) + "\n")
    third = sample_workspace.run()
    assert third["files_loaded"] == 1 and third["read_by_type"] == {"Condition": 1}
    after = sample_workspace.tables()
    assert len(after["conditions"]) == len(before["conditions"]) + 1
    assert {k: v for k, v in after.items() if k != "conditions"} == {
        k: v for k, v in before.items() if k != "conditions"
    }
    runs = sample_workspace.query("SELECT status, files_loaded FROM audit.runs ORDER BY started_at")
    assert runs == [("succeeded", 13), ("succeeded", 0), ("succeeded", 1)]
    assert first["key_fingerprint"] == third["key_fingerprint"]


def test_full_rebuilds_are_identical(sample_workspace):
    sample_workspace.run(full=True)
    first = sample_workspace.tables(exclude_columns=RUN_LINEAGE)
    sample_workspace.run(full=True)
    assert sample_workspace.tables(exclude_columns=RUN_LINEAGE) == first
    assert len(first["visits"]) == 1215


def test_bad_lines_and_invalid_resources_are_quarantined_not_fatal(workspace):
    lines = (SAMPLE_EXPORT / "Encounter.000.ndjson").read_text().splitlines()[:20]
    invalid = json.loads(lines[5])
    invalid["period"] = {"start": "Qzcanary-not-a-date"}
    lines[5] = json.dumps(invalid)
    lines[10] = lines[10][: len(lines[10]) // 2]  # a truncated line
    (workspace.inbox / "Encounter.000.ndjson").write_text("\n".join(lines) + "\n")
    # their patients too: a visit without its patient is a fatal foreign-key failure
    shutil.copy(SAMPLE_EXPORT / "Patient.000.ndjson", workspace.inbox / "Patient.000.ndjson")

    summary = workspace.run()
    assert summary["status"] == "succeeded"
    assert workspace.query("SELECT count(*) FROM core.visits") == [(18,)]  # the rest of the file
    quarantine = workspace.query(
        "SELECT line, resource_type, error_class, element FROM audit.quarantine ORDER BY line"
    )
    assert [(q[0], q[1]) for q in quarantine] == [(6, "Encounter"), (11, None)]
    assert quarantine[0][3].startswith("Encounter.period")
    assert "Qzcanary" not in repr(quarantine)


def test_ndjson_bundle_and_csv_exports_give_the_same_core_tables(tmp_path):
    from tests.flows.conftest import Workspace

    export = generate(profile="paper", seed=7)
    tables = {}
    for fmt in ("ndjson", "bundle", "csv"):
        workspace = Workspace(tmp_path / fmt)
        if fmt != "ndjson":  # one key for all three warehouses, so pseudonyms are comparable
            (workspace.vault / "deid.key").write_bytes(
                (tmp_path / "ndjson" / "vault" / "deid.key").read_bytes()
            )
        write_export(export, fmt, workspace.inbox)
        summary = workspace.run()
        assert summary["status"] == "succeeded", fmt
        tables[fmt] = workspace.tables(
            exclude_columns=(*RUN_LINEAGE, "_source_file_hash", "_source_line", *NOT_IN_CSV_LAYOUT)
        )
    assert tables["bundle"] == tables["ndjson"]
    for name, rows in tables["ndjson"].items():
        assert len(rows) > 0, name
        if name in NOT_IN_CSV_TABLES:
            assert tables["csv"][name] == [], name
            continue
        assert tables["csv"][name] == rows, name


def test_missing_key_refuses_to_start(workspace):
    (workspace.vault / "deid.key").unlink()
    from transforms.deid.keys import KeyUnavailableError

    with pytest.raises(KeyUnavailableError, match="keygen"):
        workspace.run()
    assert not workspace.warehouse.exists()  # nothing was touched


def test_cli_run_exits_non_zero_and_says_why(workspace):
    from typer.testing import CliRunner

    from flows.cli import app

    (workspace.vault / "deid.key").unlink()
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--inbox", str(workspace.inbox),
            "--warehouse", str(workspace.warehouse),
            "--vault", str(workspace.vault),
            "--reports", str(workspace.reports),
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "KeyUnavailableError" in result.output and "keygen" in result.output


def test_tasks_that_see_phi_never_persist_or_cache():
    from prefect.cache_policies import NO_CACHE

    from flows.nightly import flatten_task, load_task, stage_file_task

    for task in (stage_file_task, flatten_task, load_task):
        assert task.persist_result is False
        assert task.cache_policy is NO_CACHE


def test_deployment_declares_the_nightly_schedule():
    from prefect.cli.deploy._models import PrefectYamlModel

    document = yaml.safe_load((PROJECT_ROOT / "deploy" / "prefect.yaml").read_text())
    model = PrefectYamlModel.model_validate(document)
    (deployment,) = model.deployments
    assert deployment.entrypoint == "flows/nightly.py:nightly_refresh"
    assert deployment.concurrency_limit.limit == 1
    assert deployment.concurrency_limit.collision_strategy == "CANCEL_NEW"
    schedule = document["deployments"][0]["schedules"][0]
    assert schedule["cron"] == "30 2 * * *" and schedule["timezone"] == "America/New_York"
    from flows.nightly import nightly_refresh

    assert set(deployment.parameters) <= set(nightly_refresh.parameters.properties)
