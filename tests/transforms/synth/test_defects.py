"""defects=True: every planted fault is present, counted, and shaped as documented."""

from __future__ import annotations

import csv
import json
from collections import Counter

from fhir.resources.R4B import get_fhir_model_class

from .study_facts import published_numbers, study_cohort, tables_from_fhir
from .test_paper import PUBLISHED

EXPECTED_COUNTS = {
    "malformed_unit": 1,
    "invalid_r4_model": 3,
    "required_binding_violation": 1,
    "duplicate_identical": 1,
    "duplicate_conflicting": 1,
    "dangling_reference": 1,
    "visit_before_birth": 1,
    "implausible_dose": 1,
    "compass_answer_out_of_range": 1,
}


def planted(export, kind: str) -> list:
    return [defect for defect in export.defects if defect.kind == kind]


def resources_with_id(export, resource_id: str) -> list[dict]:
    return [resource for resource in export.resources() if resource["id"] == resource_id]


def test_defect_counts_are_recorded(defect_export, paper_export):
    assert defect_export.defect_counts() == EXPECTED_COUNTS
    assert paper_export.defects == [] and paper_export.malformed_ids == frozenset()
    cohort = {facts.patient_id for facts in defect_export.answer_key.cohort}
    assert not {defect.patient_id for defect in defect_export.defects} & cohort


def test_faults_come_on_top_of_the_normal_records(defect_export, paper_export):
    hosted = Counter(defect.patient_id for defect in defect_export.defects)
    for normal, with_faults in zip(paper_export.patients, defect_export.patients, strict=True):
        kept = len(normal.resources)
        assert with_faults.resources[:kept] == normal.resources
        assert len(with_faults.resources) - kept == hosted[normal.patient_id]


def test_only_the_planted_invalid_resources_fail_the_r4b_model(defect_export):
    failing = set()
    for resource in defect_export.resources():
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except ValueError:
            failing.add(resource["id"])
    invalid = planted(defect_export, "invalid_r4_model")
    assert failing == {defect.resource_id for defect in invalid}
    assert {defect.resource_type for defect in invalid} == {
        "Encounter",
        "Observation",
        "MedicationRequest",
    }


def test_fhir_faults_are_what_the_answer_key_says(defect_export):
    export = defect_export
    (binding,) = planted(export, "required_binding_violation")
    assert resources_with_id(export, binding.resource_id)[0]["status"] == "done-ish"

    (identical,) = planted(export, "duplicate_identical")
    first, second = resources_with_id(export, identical.resource_id)
    assert first == second

    (conflicting,) = planted(export, "duplicate_conflicting")
    first, second = resources_with_id(export, conflicting.resource_id)
    assert first["valueQuantity"]["value"] != second["valueQuantity"]["value"]

    (dangling,) = planted(export, "dangling_reference")
    target = resources_with_id(export, dangling.resource_id)[0]["encounter"]["reference"]
    encounters = {
        f"Encounter/{r['id']}" for r in export.resources() if r["resourceType"] == "Encounter"
    }
    assert target not in encounters

    (early,) = planted(export, "visit_before_birth")
    chart = next(c for c in export.patients if c.patient_id == early.patient_id)
    visit = resources_with_id(export, early.resource_id)[0]
    assert visit["period"]["start"][:10] < chart.resources[0]["birthDate"]

    (overdose,) = planted(export, "implausible_dose")
    order = resources_with_id(export, overdose.resource_id)[0]
    assert "naltrexone" in order["medicationCodeableConcept"]["coding"][0]["display"]
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 500

    (out_of_range,) = planted(export, "compass_answer_out_of_range")
    response = resources_with_id(export, out_of_range.resource_id)[0]
    answers = {
        item["linkId"]: item["answer"][0]["valueCoding"]["code"] for item in response["item"]
    }
    assert answers["q1"] == "1" and answers["q2"] == "9"
    forms_at_that_visit = [
        r
        for r in export.resources()
        if r["resourceType"] == "QuestionnaireResponse" and r["encounter"] == response["encounter"]
    ]
    assert len(forms_at_that_visit) == 2, "a second form at a visit that had one"


def test_ndjson_has_exactly_one_truncated_line(defect_files, defect_export):
    (malformed,) = planted(defect_export, "malformed_unit")
    broken = []
    for path in defect_files["ndjson"].glob("*.ndjson"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            try:
                json.loads(line)
            except json.JSONDecodeError:
                broken.append((path.name, number, line))
    assert len(broken) == 1
    name, _, line = broken[0]
    assert name == f"{malformed.resource_type}.ndjson"
    assert malformed.resource_id in line


def test_bundle_has_exactly_one_entry_that_is_not_an_object(defect_files, defect_export):
    (malformed,) = planted(defect_export, "malformed_unit")
    strange = [
        entry
        for path in defect_files["bundle"].glob("bundle-*.json")
        for entry in json.loads(path.read_text())["entry"]
        if not isinstance(entry["resource"], dict)
    ]
    assert len(strange) == 1
    assert strange[0]["fullUrl"] == f"urn:uuid:{malformed.resource_id}"
    assert isinstance(strange[0]["resource"], str)


def test_csv_carries_the_analogous_faults(defect_files, defect_export):
    folder = defect_files["csv"]

    def rows(name: str) -> list[list[str]]:
        with (folder / name).open(newline="") as handle:
            return list(csv.reader(handle))

    observations = rows("observations.csv")
    short = [row for row in observations[1:] if len(row) < len(observations[0])]
    assert len(short) == 1
    values = [row[6] for row in observations[1:] if len(row) == len(observations[0])]
    assert "abc" in values
    medications = rows("medications.csv")
    dose_column = medications[0].index("DOSE_VALUE")
    assert {"abc", "500"} <= {row[dose_column] for row in medications[1:]}
    encounters = rows("encounters.csv")
    assert any(row[1][4:11] == "-02-30T" for row in encounters[1:])
    assert max(Counter(tuple(row) for row in encounters[1:]).values()) == 2
    encounter_ids = {row[0] for row in encounters[1:]}
    conditions = rows("conditions.csv")
    assert any(row[3] and row[3] not in encounter_ids for row in conditions[1:])
    responses = rows("questionnaire_responses.csv")
    q2 = responses[0].index("Q2")
    assert "9" in {row[q2] for row in responses[1:]}


def test_the_published_cohort_survives_the_faults(defect_export):
    invalid = {d.resource_id for d in planted(defect_export, "invalid_r4_model")}
    valid = [r for r in defect_export.resources() if r["id"] not in invalid]
    assert published_numbers(study_cohort(tables_from_fhir(valid))) == PUBLISHED
