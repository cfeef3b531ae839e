"""The chartetl command line: sof-test, view-sql, bench-views."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import SAMPLE_EXPORT, SOF_SUITE
from transforms.views import VIEWS_DIR

runner = CliRunner()


def test_sof_test_runs_the_suite_and_writes_the_report(tmp_path):
    report = tmp_path / "test_report.json"
    result = runner.invoke(app, ["sof-test", "--suite", str(SOF_SUITE), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "144 passed, 0 failed" in result.output
    assert "repeat.json" in result.output
    assert len(json.loads(report.read_text())) == 22


def test_sof_test_fails_on_a_failing_case(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    document = json.loads((SOF_SUITE / "basic.json").read_text())
    document["tests"] = document["tests"][:1]
    document["tests"][0]["expect"] = [{"id": "nobody"}]
    (suite / "basic.json").write_text(json.dumps(document))
    result = runner.invoke(
        app, ["sof-test", "--suite", str(suite), "--report", str(tmp_path / "r.json")]
    )
    assert result.exit_code == 1
    assert "0 passed, 1 failed" in result.output
    assert "FAILED basic.json :: basic attribute" in result.output


def test_view_sql_prints_runnable_sql(tmp_path):
    result = runner.invoke(
        app, ["view-sql", str(VIEWS_DIR / "visits.json"), "--source", "encounters", "--macros"]
    )
    assert result.exit_code == 0, result.output
    assert "CREATE OR REPLACE TEMP MACRO fhir_list" in result.output
    assert "FROM encounters" in result.output
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE encounters(resource JSON)")
    con.execute(
        """INSERT INTO encounters VALUES ('{"resourceType":"Encounter","id":"e1","status":"finished"}')"""
    )
    assert con.execute(result.output).fetchall()[0][0] == "e1"  # macros, then the view's query


def test_view_sql_names_the_invalid_element(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "resource": "Patient",
                "select": [{"forEach": 1, "column": [{"name": "a", "path": "id"}]}],
            }
        )
    )
    result = runner.invoke(app, ["view-sql", str(path)])
    assert result.exit_code == 2
    assert "select[0].forEach" in result.output


def test_bench_views_prints_throughput_and_floor():
    result = runner.invoke(app, ["bench-views", "--export", str(SAMPLE_EXPORT), "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert "all views" in result.output and "floor (read_ndjson_objects" in result.output


def test_a_failed_run_points_to_its_report(tmp_path, monkeypatch):
    import flows.cli
    from expectations.gate import QualityGateError

    reports = tmp_path / "reports"

    def refused_run(**options):
        folder = reports / "20260101T000000Z-abcdef12"
        folder.mkdir(parents=True)
        (folder / "report.html").write_text("<html></html>")
        raise QualityGateError([])

    monkeypatch.setattr(flows.cli, "_run_pipeline", refused_run)
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--inbox", str(tmp_path),
            "--warehouse", str(tmp_path / "w.duckdb"),
            "--vault", str(tmp_path),
            "--reports", str(reports),
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "run failed: QualityGateError" in output
    assert "20260101T000000Z-abcdef12" in output and "report.html" in output
    assert "chartetl report --warehouse" in output
