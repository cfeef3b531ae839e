"""The data-quality gate in the nightly flow: planted defects are caught, fatal ones stop the publish."""

from __future__ import annotations

import hashlib
import json

import pytest

from expectations.checks import load_catalogue
from expectations.gate import QualityGateError
from tests.flows.conftest import Workspace
from transforms.synth import generate, write_export

pytestmark = pytest.mark.usefixtures("prefect_harness")

# Every defect class of transforms/synth/defects.py and the check meant to catch it, with the
# number of violating rows it must report. The three broken-record classes never reach a table:
# validation quarantines them (counted separately below).
CAUGHT_BY = {
    "dangling_reference": ("fk_conditions_visit", 1),
    "visit_before_birth": ("plausibility_visits_start_after_birth", 1),
    "implausible_dose": ("plausibility_naltrexone_dose_range", 1),
    "compass_answer_out_of_range": ("conformance_compass31_answer_codes", 1),
    "required_binding_violation": ("batch_visits_status_in_value_set", 1),
    # the same Encounter twice and an Observation id reused: both copies of each are counted
    "duplicate_identical": ("batch_visits_key_unique", 2),
    "duplicate_conflicting": ("batch_observations_key_unique", 2),
}
QUARANTINED = {"malformed_unit": 1, "invalid_r4_model": 3}


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_results(workspace: Workspace, run_id: str) -> dict[str, tuple]:
    return {
        check_id: (status, severity, violating)
        for check_id, status, severity, violating in workspace.query(
            "SELECT check_id, status, severity, rows_violating FROM audit.check_results "
            "WHERE run_id = ?",
            [run_id],
        )
    }


@pytest.fixture(scope="module")
def gated(tmp_path_factory, prefect_harness):
    """Night 1 loads the clean paper export; night 2 adds the same export with planted defects."""
    workspace = Workspace(tmp_path_factory.mktemp("gate") / "ws")
    write_export(generate("paper", seed=0), "ndjson", workspace.inbox / "night-1")
    first = workspace.run()
    snapshot = workspace.warehouse.with_suffix(".snapshot.duckdb")
    before = {
        "snapshot": _sha256(snapshot),
        "tables": workspace.tables(),
        "study": _study_tables(workspace),
    }
    defects = generate("paper", seed=0, defects=True)
    write_export(defects, "ndjson", workspace.inbox / "night-2")
    with pytest.raises(QualityGateError) as refused:
        workspace.run()
    ((second_run,),) = workspace.query(
        "SELECT run_id FROM audit.runs WHERE run_id <> ?", [first["run_id"]]
    )
    return workspace, first, second_run, before, refused.value, snapshot, defects


def _study_tables(workspace: Workspace) -> dict[str, list]:
    names = workspace.query(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'study' ORDER BY 1"
    )
    return {
        name: sorted(workspace.query(f"SELECT * FROM study.{name}"), key=repr) for (name,) in names
    }


def test_a_clean_export_passes_every_fatal_check(gated):
    workspace, first, *_ = gated
    assert first["status"] == "succeeded"
    results = _check_results(workspace, first["run_id"])
    assert set(results) == {check.id for check in load_catalogue()}  # SQL checks and GX suites
    fatal = {check: row for check, row in results.items() if row[1] == "fatal"}
    assert fatal and all(row[0] in ("passed", "not_applicable") for row in fatal.values()), {
        check: row for check, row in fatal.items() if row[0] not in ("passed", "not_applicable")
    }
    # the study was built in the same publish, and reported
    (patients,) = workspace.query("SELECT count(*) FROM study.cohort")[0]
    assert patients == 29
    study = json.loads((workspace.reports / first["run_id"] / "study_report.json").read_text())
    assert study["source"]["run_id"] == first["run_id"]


def test_every_planted_defect_is_caught_by_its_check_with_the_right_count(gated):
    workspace, _, run_id, _, _, _, defects = gated
    assert set(CAUGHT_BY) | set(QUARANTINED) == set(defects.defect_counts())
    results = _check_results(workspace, run_id)
    for defect, (check_id, violating) in CAUGHT_BY.items():
        status, _, counted = results[check_id]
        assert (status, counted) == ("failed", violating), (defect, check_id, results[check_id])
    quarantined = dict(
        workspace.query(
            "SELECT error_class, count(*) FROM audit.quarantine WHERE run_id = ? GROUP BY 1",
            [run_id],
        )
    )
    assert sum(quarantined.values()) == sum(QUARANTINED.values()), quarantined


def test_fatal_failures_fail_the_run_and_name_the_checks(gated):
    workspace, _, run_id, _, refused, _, _ = gated
    failed = {result.check_id for result in refused.failures}
    assert {"fk_conditions_visit", "batch_visits_status_in_value_set"} <= failed
    assert all(result.severity == "fatal" for result in refused.failures)
    for check_id in failed:
        assert check_id in str(refused)
    assert workspace.query(
        "SELECT status, files_loaded, resources_loaded FROM audit.runs WHERE run_id = ?", [run_id]
    ) == [("failed", 0, 0)]
    # the refused files stay unloaded: the next run tries them again
    statuses = workspace.query(
        "SELECT DISTINCT status FROM audit.files WHERE first_run_id = ?", [run_id]
    )
    assert statuses == [("failed",)]
    report = json.loads((workspace.reports / run_id / "run.json").read_text())
    assert report["status"] == "failed" and report["error"] == "QualityGateError"
    assert set(report["failed_checks"]) == failed


def test_the_refused_run_is_reported_and_its_reports_scanned_clean(gated):
    workspace, first, run_id, *_ = gated
    folder = workspace.reports / run_id
    report = json.loads((folder / "report.json").read_text())
    assert report["run"]["status"] == "failed"
    # the study report shows the study as still published: built by the last good run
    study = json.loads((folder / "study_report.json").read_text())
    assert study["source"]["run_id"] == first["run_id"]
    failing = {row["check_id"] for row in report["checks"] if row["status"] == "failed"}
    assert {check for check, _ in CAUGHT_BY.values()} <= failing
    # the GX Data Docs were built beside the report and are linked from it
    assert (folder / "gx" / "index.html").is_file()
    assert 'href="gx/index.html"' in (folder / "report.html").read_text()
    assert 'href="study_report.html"' in (folder / "report.html").read_text()
    # every report file and the run's log were scanned for the patients' identifiers: no hit
    scanned = dict(
        workspace.query(
            "SELECT location, hits FROM audit.leak_scan WHERE run_id = ? AND location LIKE 'file:%'",
            [run_id],
        )
    )
    assert {"file:report.report.json", "file:report.report.html", "file:report.run.json"} <= set(
        scanned
    )
    assert any(location.startswith("file:report.gx.") for location in scanned)
    assert sum(scanned.values()) == 0


def test_a_refused_run_leaves_the_tables_and_the_snapshot_exactly_as_before(gated):
    workspace, _, _, before, _, snapshot, _ = gated
    assert _sha256(snapshot) == before["snapshot"]  # byte-identical
    assert workspace.tables() == before["tables"]  # lineage columns included
    assert _study_tables(workspace) == before["study"]


def _planted_resources(export, tmp_path) -> dict[str, dict]:
    """The planted resources of a defect export, by defect kind (first one of each kind)."""
    folder = tmp_path / "defects-ndjson"
    write_export(export, "ndjson", folder)
    by_id = {}
    for path in folder.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            try:
                resource = json.loads(line)
            except json.JSONDecodeError:
                continue  # the deliberately truncated line
            if "resourceType" not in resource:
                continue  # the bulk export's log
            by_id.setdefault((resource["resourceType"], resource["id"]), resource)
    return {
        defect.kind: by_id[(defect.resource_type, defect.resource_id)]
        for defect in reversed(export.defects)
        if (defect.resource_type, defect.resource_id) in by_id
    }


def _replace_dose(node, old: float, new: float) -> None:
    if isinstance(node, dict):
        if node.get("value") == old and "unit" in node:
            node["value"] = new
        for child in node.values():
            _replace_dose(child, old, new)
    elif isinstance(node, list):
        for child in node:
            _replace_dose(child, old, new)


def test_two_runs_compare_new_resolved_and_persisting_failures(tmp_path, prefect_harness):
    """Night A plants an implausible dose and a visit before birth (warnings: the run publishes);
    night B corrects the dose and adds an out-of-range COMPASS-31 answer."""
    workspace = Workspace(tmp_path / "ws")
    write_export(generate("paper", seed=0), "ndjson", workspace.inbox / "clean")
    planted = _planted_resources(generate("paper", seed=0, defects=True), tmp_path)
    dose_order = planted["implausible_dose"]

    def deliver(name: str, resources: list[dict]) -> None:
        (workspace.inbox / name).write_text("".join(json.dumps(r) + "\n" for r in resources))

    deliver("night-a.ndjson", [dose_order, planted["visit_before_birth"]])
    night_a = workspace.run()
    corrected = json.loads(json.dumps(dose_order))
    _replace_dose(corrected, 500, 50)
    assert corrected != dose_order
    deliver("night-b.ndjson", [corrected, planted["compass_answer_out_of_range"]])
    night_b = workspace.run()
    assert night_a["status"] == night_b["status"] == "succeeded"  # warnings publish

    report = json.loads((workspace.reports / night_b["run_id"] / "report.json").read_text())
    comparison = report["comparison"]
    listed = {
        kind: {entry["check_id"] for entry in comparison[kind]}
        for kind in ("new_failures", "resolved_failures", "persisting_failures")
    }
    assert listed == {
        "new_failures": {"conformance_compass31_answer_codes"},
        "resolved_failures": {"plausibility_naltrexone_dose_range"},
        "persisting_failures": {"plausibility_visits_start_after_birth"},
    }
    assert report["run"]["run_id"] == night_b["run_id"]
    html = (workspace.reports / night_b["run_id"] / "report.html").read_text()
    for check_id in set().union(*listed.values()):
        assert check_id in html


def test_the_refused_run_leaves_a_prefect_artifact_pointing_to_its_report(gated):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    workspace, _, run_id, *_ = gated
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["nightly-refresh-summary"]))
        )
    (markdown,) = [a.data for a in artifacts if run_id in str(a.data)]
    assert "failed" in markdown
    assert "fk_conditions_visit" in markdown and "batch_visits_status_in_value_set" in markdown
    assert str(workspace.reports / run_id / "report.html") in markdown
