"""The project's ViewDefinitions: every column classed for de-identification, all compile."""

from __future__ import annotations

import pytest

from transforms.sql_on_fhir import compile_view, load_resources, run_view
from transforms.sql_on_fhir.schema import R4B
from transforms.views import DEID_CLASSES, DEID_TAG, load_views

VIEWS = load_views()


def test_core_views_present():
    assert {"patients", "visits", "conditions", "meds"} <= set(VIEWS)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_column_has_exactly_one_deid_class(name):
    for column in VIEWS[name].columns:
        classes = [t.value for t in column.tags if t.name == DEID_TAG]
        assert len(classes) == 1, f"{name}.{column.name} needs one '{DEID_TAG}' tag"
        assert classes[0] in DEID_CLASSES, f"{name}.{column.name}: unknown class {classes[0]!r}"
        assert column.description, (
            f"{name}.{column.name} needs a description for the data dictionary"
        )


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_views_compile(name):
    assert compile_view(VIEWS[name]).columns


def rows(con, name, resources):
    load_resources(con, resources, "res")
    fast = run_view(con, compile_view(VIEWS[name], R4B), "res")
    assert fast == run_view(con, compile_view(VIEWS[name], None), "res")
    return fast


def test_questionnaire_items_one_row_per_answer_nested_and_ticked(con):
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": "r1",
        "status": "completed",
        "questionnaire": "http://example.org/fhir/Questionnaire/compass-31",
        "subject": {"reference": "Patient/p1"},
        "authored": "2024-03-01",
        "item": [
            {"linkId": "q1", "answer": [{"valueCoding": {"code": "1"}}]},
            {
                "linkId": "q6",
                "answer": [{"valueCoding": {"code": "1"}}, {"valueCoding": {"code": "2"}}],
            },
            {"linkId": "group", "item": [{"linkId": "q8", "answer": [{"valueInteger": 3}]}]},
            {"linkId": "note", "answer": [{"valueString": "free text is not kept"}]},
        ],
    }
    items = rows(con, "questionnaire_items", [response])
    got = sorted(
        (r["link_id"], r["answer_index"], r["answer_code"], r["answer_value"]) for r in items
    )
    assert got == [
        ("note", 0, None, None),
        ("q1", 0, "1", None),
        ("q6", 0, "1", None),
        ("q6", 1, "2", None),
        ("q8", 0, None, 3.0),
    ]
    assert "free text" not in repr(items)
    (header,) = rows(con, "questionnaire_responses", [response])
    assert header["patient_id"] == "p1" and header["authored_date"] == "2024-03-01"


def test_observations_one_row_per_value_with_components(con):
    observations = [
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2024-01-02T10:00:00Z",
            "valueInteger": 7,
        },
        {
            "resourceType": "Observation",
            "id": "o2",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "subject": {"reference": "Patient/p1"},
            "effectivePeriod": {"start": "2024-01-03"},
            "component": [
                {
                    "code": {"coding": [{"code": "8480-6"}]},
                    "valueQuantity": {"value": 120, "unit": "mm[Hg]"},
                },
                {
                    "code": {"coding": [{"code": "8462-4"}]},
                    "valueQuantity": {"value": 80, "code": "mm[Hg]"},
                },
            ],
        },
    ]
    got = sorted(
        (
            r["observation_id"],
            r["value_index"],
            r["code"],
            r["value_num"],
            r["value_unit"],
            r["effective_date"],
        )
        for r in rows(con, "observations", observations)
    )
    assert got == [
        ("o1", 0, "72514-3", 7.0, None, "2024-01-02T10:00:00Z"),
        ("o2", 0, "85354-9", None, None, "2024-01-03"),
        ("o2", 1, "8480-6", 120.0, "mm[Hg]", "2024-01-03"),
        ("o2", 2, "8462-4", 80.0, "mm[Hg]", "2024-01-03"),
    ]


def test_adverse_events_suspect_medication(con):
    event = {
        "resourceType": "AdverseEvent",
        "id": "ae1",
        "actuality": "actual",
        "subject": {"reference": "Patient/p1"},
        "date": "2024-02-01",
        "event": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "193462001", "display": "Insomnia"}
            ]
        },
        "severity": {"coding": [{"code": "mild"}]},
        "suspectEntity": [{"instance": {"reference": "MedicationRequest/m1"}}],
    }
    (row,) = rows(con, "adverse_events", [event])
    assert (row["event_code"], row["severity"], row["suspect_med_id"], row["event_date"]) == (
        "193462001",
        "mild",
        "m1",
        "2024-02-01",
    )


GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"


def _timed_order(order_id: str, timing: dict) -> dict:
    return {
        "resourceType": "MedicationRequest",
        "id": order_id,
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "dosageInstruction": [{"timing": timing}],
    }


def test_meds_frequency_from_timing_repeat_else_from_the_hl7_timing_code(con):
    def coded(code, system=GTS):
        return {"code": {"coding": [{"system": system, "code": code}]}}

    orders = [
        # repeat wins over a code that says otherwise
        _timed_order("repeat", {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}
                     | coded("QD")),
        _timed_order("every-8-h", {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}}),
        _timed_order("bid", coded("BID")),
        _timed_order("qhs", coded("QHS")),
        _timed_order("tid", coded("TID")),
        _timed_order("q6h", coded("Q6H")),
        _timed_order("local-code", coded("BID", system="urn:oid:1.2.3")),  # not HL7's: unknown
        _timed_order("prn", coded("PRN")),  # no fixed frequency
        _timed_order("no-timing", {}),
    ]  # fmt: skip
    frequency = {row["med_id"]: row["frequency_per_day"] for row in rows(con, "meds", orders)}
    assert frequency == {
        "repeat": 2.0,
        "every-8-h": 3.0,
        "bid": 2.0,
        "qhs": 1.0,
        "tid": 3.0,
        "q6h": 4.0,
        "local-code": None,
        "prn": None,
        "no-timing": None,
    }
