"""Bundle adapter: Bundle types, entry numbers, fullUrl references resolved, malformed entries."""

from __future__ import annotations

import json
import uuid

import pytest

from transforms.sources.bundle_source import derived_id, read_bundle

CANARY = "Qzcanary Vexlerow-bundle"
PATIENT_UUID = "8f2d6c1e-3b7a-4e59-9c0d-2a1b3c4d5e6f"
ENCOUNTER_UUID = "11111111-2222-4333-8444-555555555555"
CONDITION_UUID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
MEDICATION_UUID = "99999999-8888-4777-8666-555555555555"


def write(tmp_path, document, name="bundle.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def transaction_bundle() -> dict:
    """A Synthea-style transaction: urn:uuid fullUrls, references everywhere, id-less entries."""
    patient_ref = {"reference": f"urn:uuid:{PATIENT_UUID}", "display": CANARY}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{PATIENT_UUID}",
                "resource": {"resourceType": "Patient", "id": PATIENT_UUID},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                # No id: it is derived from the fullUrl.
                "fullUrl": f"urn:uuid:{ENCOUNTER_UUID}",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": patient_ref,
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "fullUrl": f"urn:uuid:{CONDITION_UUID}",
                "resource": {
                    "resourceType": "Condition",
                    "subject": dict(patient_ref),
                    "encounter": {"reference": f"urn:uuid:{ENCOUNTER_UUID}"},
                    "evidence": [{"detail": [{"reference": f"urn:uuid:{MEDICATION_UUID}"}]}],
                    "extension": [
                        {
                            "url": "http://example.org/fhir/StructureDefinition/related",
                            "extension": [
                                {
                                    "url": "target",
                                    "valueReference": {"reference": f"urn:uuid:{ENCOUNTER_UUID}"},
                                }
                            ],
                        }
                    ],
                    "contained": [
                        {
                            "resourceType": "Observation",
                            "id": "obs1",
                            "status": "final",
                            "code": {"text": "x"},
                            "subject": {"reference": f"urn:uuid:{PATIENT_UUID}"},
                            "hasMember": [{"reference": "#obs2"}],
                        }
                    ],
                    "stage": [{"assessment": [{"reference": "#obs1"}]}],
                },
                "request": {"method": "POST", "url": "Condition"},
            },
            {
                "fullUrl": f"urn:uuid:{MEDICATION_UUID}",
                "resource": {"resourceType": "Medication", "id": "med-7"},
                "request": {"method": "PUT", "url": "Medication/med-7"},
            },
        ],
    }


def test_transaction_references_resolved_everywhere_and_ids_derived(tmp_path):
    records = list(read_bundle(write(tmp_path, transaction_bundle())))

    assert [r.line for r in records] == [1, 2, 3, 4]
    assert all(r.error is None for r in records)
    patient, encounter, condition, _ = (r.resource for r in records)
    assert patient["id"] == PATIENT_UUID
    assert encounter["id"] == ENCOUNTER_UUID  # derived: the uuid part of its fullUrl
    assert condition["id"] == CONDITION_UUID
    assert encounter["subject"]["reference"] == f"Patient/{PATIENT_UUID}"
    assert condition["subject"]["reference"] == f"Patient/{PATIENT_UUID}"
    assert condition["encounter"]["reference"] == f"Encounter/{ENCOUNTER_UUID}"
    # The target's own id wins over its fullUrl.
    assert condition["evidence"][0]["detail"][0]["reference"] == "Medication/med-7"
    nested = condition["extension"][0]["extension"][0]["valueReference"]["reference"]
    assert nested == f"Encounter/{ENCOUNTER_UUID}"
    assert condition["contained"][0]["subject"]["reference"] == f"Patient/{PATIENT_UUID}"
    # References that are not fullUrls of the Bundle stay as they are.
    assert condition["contained"][0]["hasMember"][0]["reference"] == "#obs2"
    assert condition["stage"][0]["assessment"][0]["reference"] == "#obs1"
    assert "urn:uuid:" not in json.dumps([r.resource for r in records])


def test_derived_ids_are_deterministic(tmp_path):
    path = write(tmp_path, transaction_bundle())

    first = [r.resource["id"] for r in read_bundle(path)]
    second = [r.resource["id"] for r in read_bundle(path)]

    assert first == second


@pytest.mark.parametrize(
    ("full_url", "expected"),
    [
        (f"urn:uuid:{PATIENT_UUID}", PATIENT_UUID),
        (f"URN:UUID:{PATIENT_UUID}", PATIENT_UUID),
        ("urn:oid:2.16.840.1.113883.19.5", "2.16.840.1.113883.19.5"),
        ("https://server.example/fhir/Patient/123", "123"),
        ("https://server.example/fhir/Patient/123/_history/4", "123"),
    ],
)
def test_derived_id_takes_the_identifying_part_of_the_full_url(full_url, expected):
    assert derived_id(full_url) == expected


@pytest.mark.parametrize(
    "full_url",
    ["urn:uuid:not a valid id", "urn:oid:" + "1." * 40 + "1", "https://server.example/other"],
)
def test_derived_id_falls_back_to_a_uuid5_of_the_full_url(full_url):
    assert derived_id(full_url) == str(uuid.uuid5(uuid.NAMESPACE_URL, full_url))
    assert derived_id(full_url) == derived_id(full_url)


def test_collection_with_urn_oid_full_urls(tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:oid:1.2.3.4",
                "resource": {"resourceType": "Organization", "name": "Clinic"},
            },
            {
                "fullUrl": "urn:oid:1.2.3.5",
                "resource": {
                    "resourceType": "Practitioner",
                    "id": "pr1",
                    "extension": [
                        {"url": "http://x", "valueReference": {"reference": "urn:oid:1.2.3.4"}}
                    ],
                },
            },
        ],
    }
    organization, practitioner = (r.resource for r in read_bundle(write(tmp_path, bundle)))

    assert organization["id"] == "1.2.3.4"
    assert practitioner["extension"][0]["valueReference"]["reference"] == "Organization/1.2.3.4"


def test_searchset_resolves_absolute_full_urls_and_skips_outcome_entries(tmp_path):
    base = "https://server.example/fhir"
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "fullUrl": f"{base}/Encounter/e1",
                "resource": {
                    "resourceType": "Encounter",
                    "id": "e1",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": {"reference": f"{base}/Patient/123"},
                    "serviceProvider": {"reference": "Organization/o1"},
                },
                "search": {"mode": "match"},
            },
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "warning", "code": "processing"}],
                },
                "search": {"mode": "outcome"},
            },
            {
                "fullUrl": f"{base}/Patient/123",
                "resource": {"resourceType": "Patient", "id": "123"},
                "search": {"mode": "include"},
            },
        ],
    }
    records = list(read_bundle(write(tmp_path, bundle)))

    # Entry numbers stay the entries' positions: the skipped outcome is entry 2.
    assert [(r.line, r.resource["resourceType"]) for r in records] == [
        (1, "Encounter"),
        (3, "Patient"),
    ]
    assert records[0].resource["subject"]["reference"] == "Patient/123"
    assert records[0].resource["serviceProvider"]["reference"] == "Organization/o1"


def test_batch_skips_requests_without_a_resource_and_rejects_patch(tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Patient?name=" + CANARY}},
            {"request": {"method": "DELETE", "url": "Patient/9"}},
            {
                "resource": {"resourceType": "Binary", "contentType": "application/json-patch"},
                "request": {"method": "PATCH", "url": "Patient/9"},
            },
            {
                "resource": {"resourceType": "Patient", "id": "p1"},
                "request": {"method": "PUT", "url": "Patient/p1"},
            },
            {"request": {"method": "POST", "url": "Patient"}},
        ],
    }
    records = list(read_bundle(write(tmp_path, bundle)))

    assert [(r.line, r.error, r.element) for r in records] == [
        (3, "UnsupportedRequestMethod", "entry[2].request"),
        (4, None, None),
        (5, "MissingResource", "entry[4].resource"),
    ]
    assert records[1].resource == {"resourceType": "Patient", "id": "p1"}


def test_malformed_entries_give_error_records_and_the_rest_is_read(tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "before"}},
            CANARY,
            {"fullUrl": f"urn:uuid:{PATIENT_UUID}"},
            {"resource": [CANARY]},
            {"resource": {"id": CANARY, "name": [{"family": CANARY}]}},
            {"resource": {"resourceType": {"x": CANARY}}},
            {"resource": {"resourceType": "Patient", "id": "after"}},
        ],
    }
    records = list(read_bundle(write(tmp_path, bundle)))

    assert [(r.line, r.error, r.element) for r in records] == [
        (1, None, None),
        (2, "NotAnObject", "entry[1]"),
        (3, "MissingResource", "entry[2].resource"),
        (4, "NotAnObject", "entry[3].resource"),
        (5, "MissingResourceType", "entry[4].resource"),
        (6, "MissingResourceType", "entry[5].resource"),
        (7, None, None),
    ]
    assert [r.resource["id"] for r in records if r.resource] == ["before", "after"]
    assert CANARY not in repr([r for r in records if r.resource is None])


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ('{"resourceType": "Bundle", "type": "collection", "entry": [' + CANARY, "JSONDecodeError"),
        (json.dumps([{"resourceType": "Patient"}]), "NotAnObject"),
        (json.dumps({"id": CANARY}), "MissingResourceType"),
    ],
)
def test_a_file_that_is_not_a_resource_gives_one_file_error(tmp_path, content, error):
    records = list(read_bundle(write(tmp_path, content)))

    assert [(r.line, r.resource, r.error, r.element) for r in records] == [(0, None, error, "file")]
    assert CANARY not in repr(records)


def test_unsupported_bundle_type_is_one_error_that_does_not_echo_the_type(tmp_path):
    bundle = {"resourceType": "Bundle", "type": CANARY, "entry": [{"resource": {}}]}

    records = list(read_bundle(write(tmp_path, bundle)))

    assert [(r.line, r.error, r.element) for r in records] == [(0, "UnsupportedBundleType", "type")]
    assert CANARY not in repr(records)


def test_entry_that_is_not_a_list_is_one_error(tmp_path):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": {"resource": CANARY}}

    assert [(r.line, r.error, r.element) for r in read_bundle(write(tmp_path, bundle))] == [
        (0, "NotAList", "entry")
    ]


def test_a_single_resource_file_yields_that_resource(tmp_path):
    patient = {"resourceType": "Patient", "id": "p1", "active": True}

    records = list(read_bundle(write(tmp_path, patient, "Patient.json")))

    assert [(r.line, r.resource) for r in records] == [(1, patient)]


def test_utf8_byte_order_mark_is_ignored(tmp_path):
    path = tmp_path / "Patient.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"resourceType": "Patient"}).encode())

    assert [(r.line, r.resource) for r in read_bundle(path)] == [(1, {"resourceType": "Patient"})]


def test_dangling_full_url_references_are_left_unchanged(tmp_path):
    missing = "urn:uuid:00000000-0000-4000-8000-000000000000"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Encounter",
                    "id": "e",
                    "subject": {"reference": missing},
                }
            }
        ],
    }
    (record,) = read_bundle(write(tmp_path, bundle))

    assert record.resource["subject"]["reference"] == missing
