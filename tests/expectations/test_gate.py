"""The quality gate: which checks each scope runs, the verdict, and a value-free message."""

from __future__ import annotations

import datetime as dt

import pytest

from expectations.checks import CheckResult
from expectations.gate import QualityGate, QualityGateError

from .helpers import add_timepoint, clone


def _batch_result(check_id: str, status: str, severity: str = "fatal") -> CheckResult:
    return CheckResult(check_id, status, severity, 10, 1 if status == "failed" else 0, 10.0, 0.0)


def test_the_core_gate_passes_a_clean_warehouse_and_runs_only_core_checks(
    clean_warehouse, run_date
):
    gate = QualityGate(batch_results=[_batch_result("batch_x", "passed")], run_date=run_date)
    gate(clean_warehouse)
    ids = [result.check_id for result in gate.results]
    assert ids[0] == "batch_x"  # the batch results come first
    assert "fk_visits_patient" in ids
    assert "plausibility_follow_up_after_prescription" not in ids


def test_the_study_gate_runs_only_study_checks(clean_warehouse, run_date):
    gate = QualityGate(scope="study", run_date=run_date)
    gate(clean_warehouse)
    assert [(r.check_id, r.status) for r in gate.results] == [
        ("plausibility_follow_up_after_prescription", "passed")
    ]
    add_timepoint(clean_warehouse, "p2", "prescription", dt.date(2021, 5, 1))
    add_timepoint(clean_warehouse, "p2", "follow_up", dt.date(2021, 5, 1))
    with pytest.raises(QualityGateError, match="plausibility_follow_up_after_prescription"):
        gate(clean_warehouse)


def test_a_fatal_failure_raises_naming_checks_and_counts_never_values(clean_warehouse, run_date):
    clone(clean_warehouse, "visits", "v1", visit_id="v9", patient_id="Qzcanary-patient")
    gate = QualityGate(
        batch_results=[_batch_result("batch_warn", "failed", severity="warning")],
        run_date=run_date,
    )
    with pytest.raises(QualityGateError) as refused:
        gate(clean_warehouse)
    assert [r.check_id for r in refused.value.failures] == ["fk_visits_patient"]
    assert "fk_visits_patient (1 of 3 rows)" in str(refused.value)
    assert "Qzcanary" not in str(refused.value)
    assert "batch_warn" not in str(refused.value)  # warnings never stop the publish
    # every result stays available for the audit record
    assert {"batch_warn", "fk_visits_patient"} <= {r.check_id for r in gate.results}


def test_a_fatal_batch_failure_alone_stops_the_publish(clean_warehouse, run_date):
    gate = QualityGate(batch_results=[_batch_result("batch_key", "failed")], run_date=run_date)
    with pytest.raises(QualityGateError, match=r"batch_key \(1 of 10 rows\)"):
        gate(clean_warehouse)


def test_an_unknown_scope_is_refused(clean_warehouse):
    with pytest.raises(ValueError, match="scope"):
        QualityGate(scope="staged")(clean_warehouse)
