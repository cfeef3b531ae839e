"""The auditors' run report: content from a constructed warehouse, schema, escaping, no values, CLI."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import duckdb
import jsonschema
import pytest
from typer.testing import CliRunner

from expectations.checks import CheckResult, record_results, run_sql_checks
from expectations.run_report import (
    SCHEMA_PATH,
    ReportValidationError,
    build_run_report,
    markdown_summary,
    render_html,
    validate_report,
    write_run_report,
)
from flows.cli import app
from transforms.deid.apply import TableDeidCounts
from transforms.deid.evidence import EvidenceRow, ExtensionCount
from transforms.deid.leakscan import LocationScan
from warehouse import (
    FileRecord,
    FileTypeCount,
    RunCounts,
    finish_run,
    open_read_only,
    open_warehouse,
    record_file_counts,
    record_files,
    record_quarantine,
    start_run,
)
from warehouse.evidence import record_csv_columns, record_evidence
from warehouse.leak_scan import LeakScanResult, record_leak_scan
from warehouse.risk import measure_risk
from warehouse.run_history import record_table_counts

from .helpers import clone, insert

FINGERPRINT = "0123456789abcdef"
RUN_DATE = dt.date(2025, 1, 1)
FIRST, SECOND = "20250101T023000Z-run1", "20250102T023000Z-run2"
# Never-real tokens planted in core values, offending keys and input-derived audit text: none
# may reach the report (the report holds counts, check ids and hashes only).
CANARY = "Qzcanary Vexlerow-report"
CANARY_KEYS = ("qzcanary-orphan-med", "qzcanary-lonely-patient", "qzcanary-pain-obs")
FILE_ONE, FILE_TWO = "1" * 64, "2" * 64
runner = CliRunner()


def build_two_runs(con: duckdb.DuckDBPyConnection) -> None:
    """Two recorded runs over the clean chart, with planted defects and run 2's evidence.

    Run 1 (failed): an orphan medication order (fatal fk_meds_patient) and a patient without a
    visit (warning completeness_patients_without_visit). Run 2 (succeeded): the orphan is gone,
    the lonely patient stays, a pain score of 11 appears (warning plausibility_pain_score_range).
    Run 2 also records files, quarantine, de-identification evidence, risk and a leak scan.

    Args:
        con: a read-write connection to a copy of the clean warehouse.
    """
    insert(con, "conditions", {"condition_id": "c-canary", "patient_id": "p1", "display": CANARY})
    start_run(con, FIRST, "ED", "hmac", True, FINGERPRINT, "cfg-1")
    clone(con, "meds", "m1", med_id=CANARY_KEYS[0], patient_id="dangling", drug_name=CANARY)
    insert(con, "patients", {"patient_id": CANARY_KEYS[1], "birth_year": 1970})
    run_sql_checks(con, FIRST, run_date=RUN_DATE)
    record_table_counts(con, FIRST)
    finish_run(con, FIRST, "failed", RunCounts(files_seen=1), "DataQualityError")

    start_run(con, SECOND, "ED", "hmac", False, FINGERPRINT, "cfg-1")
    con.execute("DELETE FROM core.meds WHERE med_id = ?", [CANARY_KEYS[0]])
    clone(con, "observations", "o1", observation_id=CANARY_KEYS[2], value_num=11.0)
    record_files(
        con,
        SECOND,
        [
            FileRecord(FILE_ONE, "namehash-1", "ndjson", 2048, 6, 5, 1),
            FileRecord(FILE_TWO, "namehash-2", "csv", 512, 2, 2, 0),
        ],
    )
    record_file_counts(
        con,
        SECOND,
        [
            FileTypeCount(FILE_ONE, "Patient", 3, 2, 1),
            FileTypeCount(FILE_ONE, "Observation", 3, 3, 0),
            FileTypeCount(FILE_TWO, "Observation", 2, 2, 0),
        ],
    )
    record_quarantine(
        con,
        SECOND,
        [
            {
                "file_sha256": FILE_ONE,
                "line": 2,
                "resource_type": "Patient",
                "id_hash": "qzcanary-id-hash",
                "error_class": "ValidationError",
                "element": "Patient.birthDate",
            }
        ],
    )
    record_evidence(
        con,
        SECOND,
        [
            EvidenceRow("A", "names", "Patient.name", "dropped", 3),
            EvidenceRow(
                "H", "medical record numbers", "Patient.identifier[type=MR]", "pseudonymized", 3
            ),
            EvidenceRow("C", "dates", "dates of service", "shifted per patient", 12),
        ],
        {"patients": TableDeidCounts(rows=3, pseudonymized=3), "visits": TableDeidCounts(rows=2)},
        {
            "patients_shifted": 3,
            "min_offset_days": -200,
            "max_offset_days": 150,
            "zero_offsets": 0,
            "out_of_range": 0,
        },
        "ED",
        365,
        FINGERPRINT,
        [ExtensionCount(f"https://canary.invalid/{CANARY.replace(' ', '-')}", 2, False)],
    )
    record_csv_columns(con, SECOND, [(FILE_TWO, "qzcanary_vexlerow_column", "dropped_unknown", 1)])
    measure_risk(con, SECOND, k=5)
    record_leak_scan(
        con,
        SECOND,
        LeakScanResult(
            "warehouse",
            (LocationScan("core.conditions.display", 2, 4, 0, {}),),
            tokens_checked=4,
            index_entries=40,
            seconds=0.2,
            control=LocationScan("control", 1, 1, 1, {"control": 1}),
        ),
    )
    run_sql_checks(con, SECOND, run_date=RUN_DATE)
    record_table_counts(con, SECOND)
    finish_run(con, SECOND, "succeeded", RunCounts(files_seen=2, files_loaded=2))


@pytest.fixture(scope="module")
def two_runs_template(tmp_path_factory, clean_template) -> Path:
    """A warehouse file holding both runs, built once; tests read it or work on copies."""
    path = tmp_path_factory.mktemp("two-runs") / "w.duckdb"
    shutil.copyfile(clean_template, path)
    with open_warehouse(path) as con:
        build_two_runs(con)
    return path


@pytest.fixture(scope="module")
def reports(two_runs_template) -> dict[str, dict]:
    """Both runs' report documents, from a read-only connection."""
    with open_read_only(two_runs_template) as con:
        return {run_id: build_run_report(con, run_id) for run_id in (FIRST, SECOND)}


def _ids(entries: list[dict]) -> list[str]:
    return [entry["check_id"] for entry in entries]


def test_comparison_lists_new_resolved_and_persisting_failures(reports):
    comparison = reports[SECOND]["comparison"]

    assert comparison["previous_run_id"] == FIRST
    assert comparison["previous_status"] == "failed"
    assert _ids(comparison["new_failures"]) == ["plausibility_pain_score_range"]
    assert _ids(comparison["resolved_failures"]) == ["fk_meds_patient"]
    assert _ids(comparison["persisting_failures"]) == ["completeness_patients_without_visit"]
    assert comparison["no_longer_checked"] == []
    assert comparison["resolved_failures"][0] == {
        "check_id": "fk_meds_patient",
        "severity": "fatal",
        "status": "passed",
        "previous_status": "failed",
        "rows_violating": 0,
        "previous_rows_violating": 1,
    }
    assert reports[FIRST]["comparison"]["previous_run_id"] is None
    assert reports[FIRST]["comparison"]["new_failures"] == []


def test_table_counts_compare_with_the_previous_run(reports):
    tables = {row["table"]: row for row in reports[SECOND]["comparison"]["tables"]}

    assert tables["core.meds"] == {
        "table": "core.meds",
        "rows": 2,
        "previous_rows": 3,
        "change": -1,
        "status": "changed",
    }
    assert tables["core.observations"]["change"] == 1
    assert tables["core.patients"] | {"table": None} == {
        "table": None,
        "rows": 3,
        "previous_rows": 3,
        "change": 0,
        "status": "unchanged",
    }
    first = {row["table"]: row for row in reports[FIRST]["comparison"]["tables"]}
    assert first["core.meds"]["previous_rows"] is None
    assert first["core.meds"]["status"] == "no_previous"


def test_overview_grid_counts_every_result_once_per_row_column_and_total(reports):
    report = reports[SECOND]
    grid, rows = report["overview"]["grid"], report["checks"]

    assert grid["total"]["total"]["total"] == len(rows) > 0
    assert grid["total"]["total"]["failed"] == 2
    assert grid["verification"]["plausibility"]["failed"] == 1
    assert grid["verification"]["completeness"]["failed"] == 1
    assert grid["verification"]["conformance"]["failed"] == 0
    for context in ("verification", "validation", "total"):
        for category in ("conformance", "completeness", "plausibility", "total"):
            expected = [
                row
                for row in rows
                if context in (row["kahn_context"], "total")
                and category in (row["category"], "total")
            ]
            cell = grid[context][category]
            assert cell["total"] == len(expected)
            for status in ("passed", "failed", "error", "not_applicable"):
                assert cell[status] == sum(row["status"] == status for row in expected)
    summary = report["checks_summary"]
    assert (summary["failed"], summary["fatal_failures"], summary["warning_failures"]) == (2, 0, 2)


def test_a_failed_run_names_the_fatal_checks_that_stopped_the_publish(reports):
    report = reports[FIRST]
    html = render_html(report)

    assert report["run"]["status"] == "failed"
    assert report["run"]["error_class"] == "DataQualityError"
    assert report["verdict"]["level"] == "failed"
    assert report["verdict"]["fatal_failures"] == ["fk_meds_patient"]
    assert "stopped by 1 fatal check" in report["verdict"]["headline"]
    banner = html[html.index('data-role="fatal-failures"') : html.index("</header>")]
    assert 'href="#check-fk_meds_patient"' in banner
    assert "1 of 3 rows" in banner
    assert 'class="banner level-failed"' in html
    assert reports[SECOND]["verdict"]["level"] == "warning"


def test_check_rows_carry_catalogue_metadata_sql_and_documentation(reports, catalogue):
    rows = {row["check_id"]: row for row in reports[SECOND]["checks"]}
    by_id = {check.id: check for check in catalogue}
    row = rows["plausibility_pain_score_range"]

    check = by_id["plausibility_pain_score_range"]
    assert row["kind"] == "sql"
    assert row["sql"] == check.violation_query()
    assert row["denominator_sql"] == check.denominator_query()
    assert row["expectation"] is None
    assert (row["rows_checked"], row["rows_violating"], row["pct"]) == (2, 1, 50.0)
    assert row["threshold_pct"] == check.threshold_pct
    assert row["description"] == check.description
    assert row["documentation"] == "expectations/DATA_QUALITY.md#plausibility_pain_score_range"
    sql_checks = [c.id for c in catalogue if c.kind == "sql"]
    # catalogue order, as DATA_QUALITY.md lists the checks
    assert [r["check_id"] for r in reports[SECOND]["checks"]] == sql_checks
    assert reports[SECOND]["checks_summary"]["not_run"] == [
        c.id for c in catalogue if c.kind != "sql"
    ]


def test_evidence_sections_hold_counts_only(reports):
    report = reports[SECOND]
    deid = report["deidentification"]

    assert report["inputs"]["totals"] == {
        "files": 2,
        "bytes": 2560,
        "resources_read": 8,
        "resources_loaded": 7,
        "resources_quarantined": 1,
    }
    assert report["quarantine"] == {
        "total": 1,
        "groups": [
            {
                "resource_type": "Patient",
                "error_class": "ValidationError",
                "element": "Patient.birthDate",
                "count": 1,
            }
        ],
    }
    categories = {c["category"]: c for c in deid["safe_harbor_categories"]}
    assert len(categories) == 18
    assert categories["A"]["count"] == 3
    assert categories["I"]["count"] is None  # no element of that category is counted
    assert deid["date_shift"]["patients_shifted"] == 3
    assert deid["extensions"] == [{"kept": False, "definitions": 1, "occurrences": 2}]
    assert deid["leak_scan"]["clean"] is True
    assert deid["leak_scan"]["control_found"] is True
    assert {row["qi_set"] for row in deid["risk"]} == {"qi_basic", "qi_extended"}
    assert report["hashes"]["config_hash"] == "cfg-1"
    assert re.fullmatch("[0-9a-f]{64}", report["hashes"]["catalogue_sha256"])
    assert report["versions"]["duckdb"] == duckdb.__version__


def test_the_report_holds_no_value_and_no_key(reports, tmp_path):
    for run_id, report in reports.items():
        paths = write_run_report(tmp_path / run_id, report)
        text = paths["json"].read_text() + paths["html"].read_text()
        assert "qzcanary" not in text.lower(), run_id
        assert "dangling" not in text
        assert "violating_keys" not in text
        assert "key_columns" not in text


def test_catalogue_text_is_escaped_in_the_html(reports, catalogue, two_runs_template):
    hostile = "<script>alert('report')</script> & <img src=x onerror=alert(1)>"
    checks = [
        dataclasses.replace(check, description=hostile, rationale=hostile)
        if check.id == "fk_meds_patient"
        else check
        for check in catalogue
    ]
    with open_read_only(two_runs_template) as con:
        report = build_run_report(con, FIRST, catalogue=checks)

    html = render_html(report)

    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&#39;report&#39;)&lt;/script&gt; &amp; &lt;img" in html


def test_gx_checks_show_their_expectation_and_arguments(clean_warehouse, catalogue):
    gx_check = SimpleNamespace(
        id="gx_pain_score_between",
        table="observations",
        column="value_num",
        description="Pain scores lie within 0-10 (GX).",
        rationale="A numeric rating scale holds 0-10.",
        kahn_context="verification",
        category="plausibility",
        subcategory="atemporal",
        severity="warning",
        threshold_pct=0.5,
        kind="gx",
        sql=None,
        denominator=None,
        expectation="ExpectColumnValuesToBeBetween",
        kwargs={"column": "value_num", "min_value": 0, "max_value": 10},
    )
    start_run(clean_warehouse, "gx-run", "ED", "hmac", True, FINGERPRINT, "cfg")
    record_results(
        clean_warehouse,
        "gx-run",
        [CheckResult("gx_pain_score_between", "failed", "warning", 4, 1, 25.0, 0.5)],
    )
    finish_run(clean_warehouse, "gx-run", "succeeded", RunCounts())

    report = build_run_report(clean_warehouse, "gx-run", catalogue=[gx_check])
    validate_report(report)
    html = render_html(report)

    row = report["checks"][0]
    assert row["kind"] == "gx" and row["sql"] is None
    assert row["expectation"] == "ExpectColumnValuesToBeBetween"
    assert row["kwargs"] == {"column": "value_num", "min_value": 0, "max_value": 10}
    assert "ExpectColumnValuesToBeBetween" in html
    assert "&#34;max_value&#34;: 10" in html or '"max_value": 10' in html


def test_a_result_of_a_check_no_longer_in_the_catalogue_is_still_listed(clean_warehouse):
    start_run(clean_warehouse, "old", "ED", "hmac", True, FINGERPRINT, "cfg")
    record_results(
        clean_warehouse,
        "old",
        [CheckResult("retired_check", "error", "fatal", None, None, None, 0)],
    )
    finish_run(clean_warehouse, "old", "failed", RunCounts(), "DataQualityError")

    report = build_run_report(clean_warehouse, "old", catalogue=[])
    validate_report(report)

    assert report["checks"][0]["in_catalogue"] is False
    assert report["overview"]["grid"]["total"]["total"]["error"] == 1
    assert report["overview"]["unclassified"]["total"] == 1
    assert report["verdict"]["fatal_failures"] == ["retired_check"]
    assert "retired_check" in render_html(report)


def test_generated_reports_match_the_schema(reports):
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for report in reports.values():
        jsonschema.Draft202012Validator(schema).validate(report)
        validate_report(report)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: r.pop("checks"),
        lambda r: r.update(extra="field"),
        lambda r: r["run"].update(status="exploded"),
        lambda r: r["checks"][0].update(status="maybe"),
        lambda r: r["checks"][0].update(violating_keys=[["p1"]]),
        lambda r: r["overview"]["grid"]["total"]["total"].update(failed=-1),
        lambda r: r["inputs"]["files"][0].update(file_name="Qzcanary.ndjson"),
        lambda r: r["hashes"].update(views_sha256="not-a-hash"),
        lambda r: r["comparison"]["new_failures"].append({"check_id": "x"}),
    ],
    ids=[
        "missing-section",
        "extra-field",
        "run-status",
        "check-status",
        "keys-in-a-check",
        "negative-count",
        "file-name",
        "hash",
        "incomplete-change",
    ],
)
def test_broken_documents_fail_validation_and_are_not_written(reports, tmp_path, breakage):
    report = copy.deepcopy(reports[SECOND])
    breakage(report)

    with pytest.raises(ReportValidationError):
        write_run_report(tmp_path / "out", report)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))
    assert not (tmp_path / "out").exists()


def test_write_run_report_writes_sorted_json_and_html_and_links_gx_docs(reports, tmp_path):
    folder = tmp_path / SECOND
    paths = write_run_report(folder, reports[SECOND])

    text = paths["json"].read_text()
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert document["links"] == {"json": "report.json", "gx_data_docs": None, "study_report": None}
    assert paths["html"].read_text().startswith("<!DOCTYPE html>")
    assert 'href="gx/index.html"' not in paths["html"].read_text()

    (folder / "gx").mkdir()
    (folder / "gx" / "index.html").write_text("<html></html>")
    paths = write_run_report(folder, reports[SECOND])
    assert json.loads(paths["json"].read_text())["links"]["gx_data_docs"] == "gx/index.html"
    assert 'href="gx/index.html"' in paths["html"].read_text()

    (folder / "study_report.html").write_text("<html></html>")
    paths = write_run_report(folder, reports[SECOND])
    assert json.loads(paths["json"].read_text())["links"]["study_report"] == "study_report.html"
    assert 'href="study_report.html"' in paths["html"].read_text()


def test_the_html_loads_nothing_and_links_only_inside_the_report_folder(reports):
    html = render_html(reports[SECOND])

    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"\bsrc\s*=", html)
    assert "url(" not in html
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith("#") or href in ("report.json", "gx/index.html"), href
    assert "Content-Security-Policy" in html


def test_missing_audit_tables_give_empty_sections():
    con = duckdb.connect()
    try:
        with pytest.raises(LookupError):
            build_run_report(con, "nowhere")
        summary = {
            "run_id": "early",
            "status": "failed",
            "profile": "ED",
            "full_refresh": False,
            "key_fingerprint": FINGERPRINT,
            "config_hash": "cfg",
            "warehouse": "/secret/path/warehouse.duckdb",
            "snapshot": None,
            "report_dir": "/secret/path/reports/early",
            "seconds": 1.5,
            "files_seen": 3,
            "files_loaded": 0,
            "files_skipped_already_loaded": 0,
            "files_ignored": {"hidden": 1},
            "read_by_type": {"Patient": 4},
            "quarantined_by_type": {},
            "rows_by_table": {},
            "deid_by_table": {},
            "date_shift": {},
            "risk": [],
            "leak_scan": {"skipped": "no patient identifiers indexed yet"},
            "notes_scrubber": {},
            "error": "KeyError",
        }
        report = build_run_report(con, "early", summary)
    finally:
        con.close()

    validate_report(report)
    assert report["run"]["status"] == "failed"
    assert report["run"]["error_class"] == "KeyError"
    assert report["run"]["duration_seconds"] == 1.5
    assert report["checks"] == [] and report["inputs"]["files"] == []
    assert report["verdict"]["headline"].startswith("Run failed (KeyError)")
    assert report["summary"]["read_by_type"] == {"Patient": 4}
    assert "/secret/path" not in json.dumps(report)
    assert "Run failed (KeyError)" in render_html(report)


def test_markdown_summary_names_status_counts_failures_and_the_report(reports):
    text = markdown_summary(reports[SECOND], "/reports/run2/report.html")

    assert text.startswith(f"# chartetl run {SECOND}: succeeded")
    assert "| `plausibility_pain_score_range` | warning | failed | 1 of 2 | 50 | 0.5 |" in text
    assert "1 new, 1 resolved, 1 persisting failures" in text
    assert "Full report: `/reports/run2/report.html`" in text
    first = markdown_summary(reports[FIRST])
    assert "| `fk_meds_patient` | fatal | failed |" in first
    assert "Full report" not in first


def test_cli_report_lists_the_runs(two_runs_template):
    result = runner.invoke(app, ["report", "--warehouse", str(two_runs_template)])

    assert result.exit_code == 0, result.output
    assert result.output.index(SECOND) < result.output.index(FIRST)  # newest first
    rows = {
        cells[0]: cells[1:]
        for line in result.output.splitlines()
        if (cells := [cell.strip() for cell in line.strip("│ ").split("│")])[0] in (FIRST, SECOND)
    }
    # status, started, files loaded, fatal and warning failures
    assert rows[FIRST][0] == "failed" and rows[FIRST][2:] == ["0", "1", "1"]
    assert rows[SECOND][0] == "succeeded" and rows[SECOND][2:] == ["2", "0", "2"]


def test_cli_report_prints_the_summary_and_writes_the_missing_report(two_runs_template, tmp_path):
    reports_dir = tmp_path / "reports"
    args = ["report", SECOND, "--warehouse", str(two_runs_template), "--reports", str(reports_dir)]

    result = runner.invoke(app, args)

    assert result.exit_code == 0, result.output
    html = reports_dir / SECOND / "report.html"
    assert html.is_file() and (reports_dir / SECOND / "report.json").is_file()
    output = " ".join(result.output.split())
    assert "Run succeeded with 2 warning checks failing." in output
    assert "plausibility_pain_score_range │ warning │ 1 of 2 (50.00 %) │ 0.5 %" in output
    assert "new failures (1): plausibility_pain_score_range" in output
    assert "resolved failures (1): fk_meds_patient" in output
    assert "persisting failures (1): completeness_patients_without_visit" in output
    assert "rows per table: core.meds -1, core.observations +1" in output
    assert "(written now from the warehouse)" in output
    written = html.stat().st_mtime_ns
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "report:" in again.output and "written now" not in again.output
    assert html.stat().st_mtime_ns == written  # an existing report is shown, not rewritten


def test_cli_report_without_reports_folder_prints_the_summary_only(two_runs_template):
    result = runner.invoke(app, ["report", FIRST, "--warehouse", str(two_runs_template)])

    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Run failed: the publish was stopped by 1 fatal check" in output
    assert "fk_meds_patient │ fatal │ 1 of 3 (33.33 %) │ 0 %" in output
    assert "no earlier run with check results" in output
    assert "pass --reports" in output


def test_cli_report_refuses_an_unknown_run(two_runs_template):
    result = runner.invoke(app, ["report", "nope", "--warehouse", str(two_runs_template)])

    assert result.exit_code == 1
