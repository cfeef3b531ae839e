"""What a run publishes when something fails after the load, or when it has nothing to load."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from expectations.gate import QualityGateError
from tests.conftest import SAMPLE_EXPORT
from warehouse.leak_scan import LeakDetectedError

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _snapshot_count(workspace, table: str) -> int:
    snapshot = workspace.warehouse.with_suffix(".snapshot.duckdb")
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def test_a_report_holding_an_identifier_is_withheld_and_fails_the_run(
    sample_workspace, monkeypatch
):
    import flows.nightly

    patient = json.loads((SAMPLE_EXPORT / "Patient.000.ndjson").read_text().splitlines()[0])
    family = patient["name"][0]["family"]

    def leaking_study_report(con, folder):
        (folder / "study_report.html").write_text(f"<p>patient {family}</p>\n")
        return {"html": folder / "study_report.html", "json": folder / "study_report.html"}

    monkeypatch.setattr(flows.nightly, "write_study_report", leaking_study_report)
    with pytest.raises(LeakDetectedError) as leaked:
        sample_workspace.run()
    assert "file:report.study_report.html" in str(leaked.value)
    assert family not in str(leaked.value)
    ((run_id, status, error),) = sample_workspace.query(
        "SELECT run_id, status, error_summary FROM audit.runs"
    )
    assert (status, error) == ("failed", "LeakDetectedError")
    folder = sample_workspace.reports / run_id
    for path in folder.rglob("*"):
        if path.is_file():
            assert family not in path.read_text(errors="replace"), path
    assert (folder / "report.html").read_text().startswith("withheld")
    assert not sample_workspace.warehouse.with_suffix(".snapshot.duckdb").exists()


def test_a_load_committed_but_not_published_is_published_by_the_next_run(workspace, monkeypatch):
    import flows.nightly

    for path in SAMPLE_EXPORT.iterdir():
        if not path.name.startswith("Condition"):
            shutil.copy(path, workspace.inbox / path.name)
    workspace.run()
    conditions_before = _snapshot_count(workspace, "core.conditions")

    shutil.copy(SAMPLE_EXPORT / "Condition.000.ndjson", workspace.inbox / "Condition.000.ndjson")

    def broken_study_report(con, folder):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(flows.nightly, "write_study_report", broken_study_report)
        with pytest.raises(OSError):
            workspace.run()
    # the load committed (the report came after it) but nothing was published
    (loaded,) = workspace.query("SELECT count(*) FROM core.conditions")[0]
    assert loaded > conditions_before
    assert _snapshot_count(workspace, "core.conditions") == conditions_before

    third = workspace.run()  # no new file: the snapshot is behind, so it is published now
    assert third["status"] == "succeeded" and third["files_loaded"] == 0
    assert third["leak_scan"]["warehouse"]["clean"]
    assert _snapshot_count(workspace, "core.conditions") == loaded

    fourth = workspace.run()  # current again: nothing to publish, nothing rescanned
    assert "warehouse" not in fourth["leak_scan"]


def test_a_run_without_new_files_fails_when_published_tables_fail_a_fatal_check(
    sample_workspace,
):
    sample_workspace.run()
    snapshot = sample_workspace.warehouse.with_suffix(".snapshot.duckdb")
    published = snapshot.read_bytes()
    with duckdb.connect(str(sample_workspace.warehouse)) as con:  # an edit outside chartetl
        con.execute(
            "DELETE FROM core.patients WHERE patient_id IN "
            "(SELECT patient_id FROM core.patients ORDER BY 1 LIMIT 1)"
        )
    with pytest.raises(QualityGateError, match="loaded nothing") as refused:
        sample_workspace.run()
    assert "fk_visits_patient" in {result.check_id for result in refused.value.failures}
    (status,) = sample_workspace.query(
        "SELECT status FROM audit.runs ORDER BY started_at DESC LIMIT 1"
    )[0]
    assert status == "failed"
    assert snapshot.read_bytes() == published
