"""Compiled views on real data: results checked against an independent Python reading of the files."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SAMPLE_EXPORT
from transforms.sql_on_fhir import (
    ViewExecutionError,
    compile_view,
    load_resources,
    ndjson_source,
    parse_view,
    run_view,
)
from transforms.sql_on_fhir.compiler import REPEAT_MAX_DEPTH
from transforms.sql_on_fhir.schema import R4B
from transforms.views import load_views

VIEWS = load_views()


def sample(resource_type: str) -> list[dict]:
    path = SAMPLE_EXPORT / f"{resource_type}.000.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sample_source(resource_type: str) -> str:
    return ndjson_source([SAMPLE_EXPORT / f"{resource_type}.000.ndjson"])


IN_SAMPLE = sorted(
    n for n, v in VIEWS.items() if (SAMPLE_EXPORT / f"{v.resource}.000.ndjson").exists()
)


def test_the_sample_covers_the_main_views():
    assert {"patients", "visits", "conditions", "meds"} <= set(IN_SAMPLE)


@pytest.mark.parametrize("name", IN_SAMPLE)
def test_core_views_schema_paths_equal_generic_on_the_sample(con, name):
    view = VIEWS[name]
    source = sample_source(view.resource)
    fast = run_view(con, compile_view(view, R4B), source)
    generic = run_view(con, compile_view(view, None), source)
    assert len(fast) == len(sample(view.resource)) > 0  # one row per resource
    assert fast == generic


def test_visits_match_a_python_reading_of_the_export(con):
    rows = {r["visit_id"]: r for r in run_view(con, VIEWS["visits"], sample_source("Encounter"))}
    for encounter in sample("Encounter"):
        row = rows[encounter["id"]]
        assert row["patient_id"] == encounter["subject"]["reference"].split("/")[-1]
        assert row["start_date"] == encounter["period"]["start"]
        assert row["end_date"] == encounter["period"].get("end")
        assert row["class"] == encounter["class"]["code"]
        assert row["type_code"] == encounter["type"][0]["coding"][0]["code"]
        assert row["status"] == encounter["status"]


def test_meds_dose_and_frequency_match_python(con):
    rows = {
        r["med_id"]: r for r in run_view(con, VIEWS["meds"], sample_source("MedicationRequest"))
    }
    checked = 0
    for order in sample("MedicationRequest"):
        row = rows[order["id"]]
        dosage = (order.get("dosageInstruction") or [{}])[0]
        dose = ((dosage.get("doseAndRate") or [{}])[0]).get("doseQuantity", {}).get("value")
        assert row["dose_value"] == dose
        repeat = dosage.get("timing", {}).get("repeat", {})
        if repeat.get("periodUnit") == "d":
            assert row["frequency_per_day"] == pytest.approx(repeat["frequency"] / repeat["period"])
            checked += 1
        rxnorm = [
            c["code"]
            for c in order["medicationCodeableConcept"]["coding"]
            if "rxnorm" in c["system"]
        ]
        assert row["rxnorm_code"] == (rxnorm[0] if rxnorm else None)
    assert checked > 100


def test_patients_extensions_and_choice_types(con):
    rows = {r["patient_id"]: r for r in run_view(con, VIEWS["patients"], sample_source("Patient"))}
    for patient in sample("Patient"):
        row = rows[patient["id"]]
        race = next(e for e in patient["extension"] if e["url"].endswith("us-core-race"))
        assert row["race"] == race["extension"][0]["valueCoding"]["code"]
        assert row["deceased"] is (True if "deceasedDateTime" in patient else None)
        assert row["deceased_date"] == patient.get("deceasedDateTime")
        assert row["birth_year"] == patient["birthDate"]  # the year is cut by de-identification


def test_compiled_columns_keep_tags_types_and_order():
    compiled = compile_view(VIEWS["meds"])
    names = [c.name for c in compiled.columns]
    assert names == [c.name for c in VIEWS["meds"].columns]
    types = {c.name: c.sql_type for c in compiled.columns}
    assert (
        types["dose_value"] == "DOUBLE"
        and types["as_needed"] == "BOOLEAN"
        and types["med_id"] == "VARCHAR"
    )
    assert {c.name: c.column.tag("deid") for c in compiled.columns}["patient_id"] == "pseudonym"


def test_generated_sql_reads_one_source_and_parses_each_resource_once():
    sql = compile_view(VIEWS["visits"]).sql("my_resources")
    assert sql.startswith("WITH parsed AS (")
    assert sql.count("my_resources") == 1
    assert sql.count("json_extract(resource,") == 1


@pytest.mark.parametrize(
    ("reference", "wanted", "key"),
    [
        ("Patient/p1", "Patient", "p1"),
        ("Patient/p1", None, "p1"),
        ("http://example.org/fhir/Patient/p1", "Patient", "p1"),
        ("Patient/p1/_history/3", "Patient", "p1"),
        ("Patient/p1", "Encounter", None),
        ("Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|99", None, None),
        ("urn:uuid:2b1b4bd7-6a87-4d4a-9a8e-3b7bb3b0f7a1", None, None),
        ("#contained1", None, None),
    ],
)
def test_reference_keys(con, reference, wanted, key):
    load_resources(
        con, [{"resourceType": "Encounter", "id": "e1", "subject": {"reference": reference}}], "res"
    )
    argument = f"({wanted})" if wanted else "()"
    view = parse_view(
        {
            "resource": "Encounter",
            "select": [{"column": [{"name": "k", "path": f"subject.getReferenceKey{argument}"}]}],
        }
    )
    assert run_view(con, view, "res") == [{"k": key}]


def test_for_each_or_null_row_on_an_empty_focus(con):
    load_resources(con, [{"resourceType": "Patient", "id": "p1"}], "res")
    view = parse_view(
        {
            "resource": "Patient",
            "select": [
                {"column": [{"name": "id", "path": "id"}]},
                {
                    "forEachOrNull": "name",
                    "column": [
                        {"name": "i", "path": "%rowIndex"},
                        {"name": "family", "path": "family"},
                        {"name": "kind", "path": "'name'"},
                    ],
                    "select": [
                        {"forEach": "given", "column": [{"name": "given", "path": "$this"}]}
                    ],
                },
            ],
        }
    )
    assert run_view(con, view, "res") == [
        {"id": "p1", "i": 0, "family": None, "kind": "name", "given": None}
    ]


def nested_items(depth: int) -> list[dict]:
    item: dict = {"linkId": f"q{depth}"}
    for level in range(depth - 1, 0, -1):
        item = {"linkId": f"q{level}", "item": [item]}
    return [item]


def test_repeat_follows_deep_nesting_in_document_order(con):
    load_resources(
        con,
        [
            {
                "resourceType": "QuestionnaireResponse",
                "id": "r",
                "status": "completed",
                "item": nested_items(20),
            }
        ],
        "res",
    )
    view = parse_view(
        {
            "resource": "QuestionnaireResponse",
            "select": [
                {
                    "repeat": ["item"],
                    "column": [
                        {"name": "i", "path": "%rowIndex"},
                        {"name": "link", "path": "linkId"},
                    ],
                }
            ],
        }
    )
    rows = sorted(run_view(con, view, "res"), key=lambda r: r["i"])
    assert [r["link"] for r in rows] == [f"q{n}" for n in range(1, 21)]


def test_repeat_deeper_than_the_limit_fails_loudly(con):
    load_resources(
        con,
        [
            {
                "resourceType": "QuestionnaireResponse",
                "id": "r",
                "status": "completed",
                "item": nested_items(REPEAT_MAX_DEPTH + 2),
            }
        ],
        "res",
    )
    view = parse_view(
        {
            "resource": "QuestionnaireResponse",
            "select": [{"repeat": ["item"], "column": [{"name": "link", "path": "linkId"}]}],
        }
    )
    with pytest.raises(ViewExecutionError, match=r"select\[0\]\.repeat: nesting deeper than"):
        run_view(con, view, "res")


def test_where_clause_and_string_functions(con):
    load_resources(
        con,
        [
            {
                "resourceType": "Patient",
                "id": "a",
                "gender": "female",
                "name": [{"family": "Ab", "given": ["X", "Y"]}],
            },
            {"resourceType": "Patient", "id": "b", "gender": "male", "name": [{"family": "Cd"}]},
        ],
        "res",
    )
    view = parse_view(
        {
            "resource": "Patient",
            "where": [{"path": "gender = 'female'"}],
            "select": [
                {
                    "column": [
                        {"name": "id", "path": "id"},
                        {"name": "upper", "path": "name.family.first().upper()"},
                        {"name": "given", "path": "name.given.join('|')"},
                        {"name": "n", "path": "name.given.count()"},
                        {"name": "starts", "path": "name.family.first().startsWith('A')"},
                    ]
                }
            ],
        }
    )
    assert run_view(con, view, "res") == [
        {"id": "a", "upper": "AB", "given": "X|Y", "n": 2, "starts": True}
    ]
