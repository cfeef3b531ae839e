"""Structural validation: the sample passes, planted errors are located, values never leak."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import SAMPLE_EXPORT
from transforms.sources.records import SourceRecord
from transforms.validation import (
    StructuralIssue,
    is_resource_type,
    quarantine_row,
    validate_many,
    validate_resource,
)

CANARY = "Qzcanary Vexlerow-validation"
CANARY_ID = "CNRY-validation-7F3A"


def sample_resources() -> list[dict]:
    from transforms.sources.ndjson_source import read_ndjson

    return [
        record.resource
        for path in sorted(SAMPLE_EXPORT.glob("*.000.ndjson"))
        for record in read_ndjson(path)
    ]


def test_every_resource_of_the_sample_export_passes():
    resources = sample_resources()

    issues = validate_many(resources)

    assert len(issues) == 7160  # architecture.md section 6
    assert [issue for issue in issues if issue is not None] == []


def encounter(**elements) -> dict:
    return {"resourceType": "Encounter", "id": CANARY_ID, "class": {"code": "AMB"}, **elements}


# Each planted error carries the canary in the invalid value (or is the invalid name itself).
PLANTED = {
    "missing required element": (
        encounter(subject={"display": CANARY}),
        ("Encounter", "ValidationError:missing", "Encounter.status", 1),
    ),
    "wrong primitive type": (
        encounter(status={"text": CANARY}),
        ("Encounter", "ValidationError:string_type", "Encounter.status", 1),
    ),
    "invalid decimal deep in backbone elements": (
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p"},
            "medicationCodeableConcept": {"text": "ldn"},
            "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": CANARY}}]}],
        },
        (
            "MedicationRequest",
            "ValidationError:value_error",
            "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.value",
            1,
        ),
    ),
    "invalid date": (
        {"resourceType": "Patient", "birthDate": f"{CANARY}-1990"},
        ("Patient", "ValidationError:value_error", "Patient.birthDate", 1),
    ),
    "invalid boolean": (
        {"resourceType": "Patient", "active": CANARY},
        ("Patient", "ValidationError:bool_parsing", "Patient.active", 1),
    ),
    "unknown element names are withheld": (
        {"resourceType": "Patient", CANARY: "x", "extension": [{"url": "u", "value" + CANARY: 1}]},
        ("Patient", "ValidationError:extra_forbidden", "Patient.extension[0].<unknown>", 2),
    ),
    "primitive extension": (
        {"resourceType": "Patient", "_birthDate": {"extension": [{"url": "u", "valueString": 5}]}},
        (
            "Patient",
            "ValidationError:string_type",
            "Patient._birthDate.extension[0].valueString",
            1,
        ),
    ),
    "error inside a contained resource": (
        {
            "resourceType": "Patient",
            "contained": [{"resourceType": "Observation", "status": "final", "note": CANARY}],
        },
        ("Patient", "ValidationError:missing", "Patient.contained[0].code", 2),
    ),
    "complex element given as a list": (
        encounter(status="finished", **{"class": [{"code": CANARY}]}),
        ("Encounter", "ValidationError:model_validation_format", "Encounter.class", 1),
    ),
    "null inside a list of complex elements": (
        {"resourceType": "Patient", "name": [None, {"family": CANARY}]},
        ("Patient", "ValidationError:list_type", "Patient.name", 1),
    ),
    "two choices of one choice element": (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueString": CANARY,
            "valueBoolean": True,
        },
        ("Observation", "ValidationError:value_error", "Observation", 1),
    ),
    "unknown resource type": (
        {"resourceType": "QzcanaryVexlerow", "id": CANARY_ID},
        (None, "UnknownResourceType", "resourceType", 1),
    ),
    "a data type is not a resource type": (
        {"resourceType": "Quantity", "value": 1},
        (None, "UnknownResourceType", "resourceType", 1),
    ),
    "unknown contained resource type": (
        {"resourceType": "Patient", "contained": [{"resourceType": "QzcanaryVexlerow"}]},
        ("Patient", "UnknownResourceType", "Patient.contained[0].resourceType", 1),
    ),
    "unknown resource type inside a Bundle": (
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"resource": {"resourceType": "Patient"}},
                {"resource": {"resourceType": "QzcanaryVexlerow"}},
            ],
        },
        ("Bundle", "UnknownResourceType", "Bundle.entry[1].resource.resourceType", 1),
    ),
    "missing resourceType": (
        {"id": CANARY_ID, "name": [{"family": CANARY}]},
        (None, "MissingResourceType", "resourceType", 1),
    ),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_planted_invalid_resource_is_located_without_values(case):
    resource, expected = PLANTED[case]
    before = copy.deepcopy(resource)

    issue = validate_resource(resource)

    assert isinstance(issue, StructuralIssue)
    assert (issue.resource_type, issue.error_class, issue.element, issue.error_count) == expected
    for text in (str(issue), repr(issue)):
        assert CANARY not in text and "Qzcanary" not in text and CANARY_ID not in text
    assert resource == before, "validation must not modify the resource"


def test_failure_outside_pydantic_is_an_issue_named_by_class_only():
    # Nesting this deep exhausts the recursion of fhir.resources' validators.
    node = {"url": "http://x", "valueString": CANARY}
    for _ in range(1000):
        node = {"url": "http://x", "extension": [node]}

    issue = validate_resource({"resourceType": "Patient", "extension": [node]})

    assert issue == StructuralIssue("Patient", "RecursionError", "Patient", 1)


def test_not_an_object():
    assert validate_resource([CANARY]) == StructuralIssue(None, "NotAnObject", "resource", 1)


def test_valid_resource_is_not_modified():
    resource = encounter(status="finished", subject={"reference": "Patient/p"})
    before = copy.deepcopy(resource)

    assert validate_resource(resource) is None
    assert resource == before


def test_validate_many_lines_up_with_its_input():
    valid = encounter(status="finished")
    invalid = encounter()

    issues = validate_many(iter([valid, invalid, valid]))

    assert issues[0] is None and issues[2] is None
    assert issues[1].element == "Encounter.status"


def test_is_resource_type():
    assert is_resource_type("Patient") and is_resource_type("Bundle")
    assert not is_resource_type("Quantity") and not is_resource_type("patient")


def fake_id_hasher(calls):
    def hasher(resource_type: str, raw_id: str) -> str:
        calls.append((resource_type, raw_id))
        return f"hash-{len(calls)}"

    return hasher


def test_quarantine_row_for_an_invalid_resource_hashes_the_id():
    resource, _ = PLANTED["invalid decimal deep in backbone elements"]
    resource = {**resource, "id": CANARY_ID}
    issue = validate_resource(resource)
    calls: list = []

    row = quarantine_row(issue, "ab" * 32, 17, fake_id_hasher(calls), resource=resource)

    assert row == {
        "file_sha256": "ab" * 32,
        "line": 17,
        "resource_type": "MedicationRequest",
        "id_hash": "hash-1",
        "error_class": "ValidationError:value_error",
        "element": "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.value",
    }
    assert calls == [("MedicationRequest", CANARY_ID)]
    assert CANARY_ID not in repr(row) and CANARY not in repr(row)


def test_quarantine_row_for_an_undecodable_record():
    record = SourceRecord(3, None, error="JSONDecodeError", element="line")
    calls: list = []

    row = quarantine_row(record, "cd" * 32, record.line, fake_id_hasher(calls))

    assert row == {
        "file_sha256": "cd" * 32,
        "line": 3,
        "resource_type": None,
        "id_hash": None,
        "error_class": "JSONDecodeError",
        "element": "line",
    }
    assert calls == []


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_quarantine_rows_never_hold_values(case):
    resource, _ = PLANTED[case]
    issue = validate_resource(resource)

    row = quarantine_row(issue, "ef" * 32, 1, lambda t, i: "h", resource=resource)

    assert "Qzcanary" not in repr(row) and CANARY_ID not in repr(row)
    # No id hash without a known type: the hash is domain-separated by type.
    assert row["id_hash"] == ("h" if issue.resource_type and "id" in resource else None)


def test_quarantine_row_refuses_a_record_that_holds_a_resource():
    with pytest.raises(ValueError):
        quarantine_row(SourceRecord(1, {"resourceType": "Patient"}), "00", 1, lambda t, i: "h")
