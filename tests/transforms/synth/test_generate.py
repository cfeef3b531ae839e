"""generate(): determinism, R4 validity, realistic fake PHI, and the elements the views read."""

from __future__ import annotations

import base64
import re
import uuid
from collections import Counter
from datetime import date

import duckdb
import pytest
from fhir.resources.R4B import get_fhir_model_class

from transforms.sql_on_fhir import compile_view, install_macros, ndjson_source, run_view_arrow
from transforms.synth import FORMATS, generate, write_export
from transforms.views import load_views

from .compass_scoring import GATES, POINTS

RESTRICTED_ZIP3 = {"036", "059", "063", "102", "203", "556", "692", "821", "878", "893"}
EXPORT_DAY = date(2025, 10, 1)


def r4b_failures(resources) -> list[str]:
    failures = []
    for resource in resources:
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except ValueError:
            failures.append(resource["id"])
    return failures


def age_at(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def test_unknown_profile_too_few_patients_and_unknown_format_are_refused(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        generate("hospital")
    with pytest.raises(ValueError, match="at least"):
        generate("paper", patients=40)
    with pytest.raises(ValueError, match="format"):
        write_export(generate("clinic", patients=2), "parquet", tmp_path)
    with pytest.raises(ValueError, match="too few records"):
        generate("clinic", patients=1, defects=True)


def test_same_seed_gives_byte_identical_files_in_every_format(tmp_path):
    def files(run: str, seed: int) -> dict[str, bytes]:
        export = generate("clinic", patients=30, seed=seed, defects=True)
        written = {}
        for fmt in FORMATS:
            for path in write_export(export, fmt, tmp_path / run / fmt):
                written[f"{fmt}/{path.name}"] = path.read_bytes()
        return written

    first = files("first", 7)
    assert first == files("second", 7)
    other = files("other", 8)
    for name in ("ndjson/Patient.ndjson", "bundle/bundle-0.json", "csv/patients.csv"):
        assert first[name] != other[name]


def test_paper_profile_is_deterministic(paper_export):
    again = generate("paper", seed=0)
    assert list(again.resources()) == list(paper_export.resources())
    assert again.answer_key == paper_export.answer_key


@pytest.mark.parametrize("fixture", ["paper_export", "clinic_export"])
def test_every_resource_passes_the_r4b_model(fixture, request):
    resources = list(request.getfixturevalue(fixture).resources())
    assert len(resources) > 1000
    assert r4b_failures(resources) == []


@pytest.mark.parametrize("fixture", ["paper_export", "clinic_export"])
def test_ids_are_unique_version_4_uuids(fixture, request):
    ids = [resource["id"] for resource in request.getfixturevalue(fixture).resources()]
    assert len(ids) == len(set(ids))
    assert {uuid.UUID(resource_id).version for resource_id in ids} == {4}


def test_resources_share_no_mutable_objects(paper_export):
    """A consumer may rewrite one resource in place (its references, say) and no other changes."""
    seen: set[int] = set()

    def walk(value) -> None:
        if isinstance(value, dict | list):
            assert id(value) not in seen
            seen.add(id(value))
            for item in value.values() if isinstance(value, dict) else value:
                walk(item)

    for resource in paper_export.resources():
        walk(resource)


def test_patients_carry_realistic_fake_identifiers(paper_export):
    patients = [chart.resources[0] for chart in paper_export.patients]
    mrns = []
    for patient in patients:
        identifiers = {i["type"]["coding"][0]["code"]: i for i in patient["identifier"]}
        assert identifiers["MR"]["system"] == "urn:oid:2.16.840.1.113883.3.7777.1"
        assert identifiers["MR"]["type"]["coding"][0]["system"].endswith("v2-0203")
        assert identifiers["SS"]["system"] == "http://hl7.org/fhir/sid/us-ssn"
        assert re.fullmatch(r"(666|9\d\d)-\d\d-\d{4}", identifiers["SS"]["value"])
        mrns.append(identifiers["MR"]["value"])
        telecom = {contact["system"]: contact["value"] for contact in patient["telecom"]}
        assert re.fullmatch(r"\d{3}-555-01\d\d", telecom["phone"])
        assert telecom["email"].endswith("@example.invalid")
        name = patient["name"][0]
        assert name["given"] and name["family"] and name["prefix"]
        address = patient["address"][0]
        assert address["country"] == "US" and address["city"] and address["state"]
        assert re.fullmatch(r"\d{5}(-\d{4})?", address["postalCode"])
        urls = {extension["url"].rsplit("/", 1)[1] for extension in patient["extension"]}
        assert {"us-core-race", "us-core-ethnicity"} <= urls
    assert len(set(mrns)) == len(mrns)


def test_deidentification_edge_cases_are_present(paper_export, clinic_export):
    for export in (paper_export, clinic_export):
        patients = [chart.resources[0] for chart in export.patients]
        zips = [patient["address"][0]["postalCode"] for patient in patients]
        births = [date.fromisoformat(patient["birthDate"]) for patient in patients]
        assert {zip_code[:3] for zip_code in zips} & RESTRICTED_ZIP3
        assert any("-" in zip_code for zip_code in zips)
        assert any(age_at(birth, EXPORT_DAY) >= 90 for birth in births)
        assert any("deceasedDateTime" in patient for patient in patients)
    paper_zip3 = {
        chart.resources[0]["address"][0]["postalCode"][:3] for chart in paper_export.patients
    }
    assert paper_zip3 >= RESTRICTED_ZIP3
    paper_ages = [
        age_at(date.fromisoformat(chart.resources[0]["birthDate"]), EXPORT_DAY)
        for chart in paper_export.patients
    ]
    assert 89 in paper_ages


def test_clinic_default_size_and_realistic_rates():
    export = generate("clinic")
    assert len(export.patients) == 1000
    groups = Counter(chart.group for chart in export.patients)
    assert 150 <= groups["dysautonomia"] <= 250
    assert groups["naltrexone_50mg"] and groups["ldn_without_dysautonomia"]
    resources = Counter(resource["resourceType"] for resource in export.resources())
    assert resources["QuestionnaireResponse"] > 300
    assert resources["AdverseEvent"] > 5
    ldn = [
        resource
        for resource in export.resources()
        if resource["resourceType"] == "MedicationRequest"
        and resource["medicationCodeableConcept"]["coding"][0]["code"] == "7243"
    ]
    assert 40 <= len({resource["subject"]["reference"] for resource in ldn}) <= 150


def test_visits_fall_in_2021_to_2025_after_birth_and_before_death(paper_export, clinic_export):
    for export in (paper_export, clinic_export):
        for chart in export.patients:
            patient = chart.resources[0]
            born = patient["birthDate"]
            died = patient.get("deceasedDateTime", "9999")
            for resource in chart.resources:
                if resource["resourceType"] == "Encounter":
                    start = resource["period"]["start"]
                    assert "2021-01-01" <= start < "2025-10-01"
                    assert born < start[:10] <= died
                    assert resource["period"]["end"] >= start


def test_diagnosis_codes_respect_their_effective_dates(paper_export, clinic_export):
    """G90.A and Q79.60-69 exist from October 2022; POTS before that is I49.8/R00.0 with text."""
    for export in (paper_export, clinic_export):
        for resource in export.resources():
            if resource["resourceType"] != "Condition":
                continue
            code = resource["code"]["coding"][0]["code"]
            recorded = resource["recordedDate"]
            if code == "G90.A" or re.fullmatch(r"Q79\.6\d", code):
                assert recorded >= "2022-10-01"
            if code == "Q79.6":
                assert recorded < "2022-10-01"
            if code in ("I49.8", "R00.0") and "text" in resource["code"]:
                assert "POTS" in resource["code"]["text"]


def test_medication_orders_have_structured_dosage(paper_export):
    orders = [r for r in paper_export.resources() if r["resourceType"] == "MedicationRequest"]
    for order in orders:
        coding = order["medicationCodeableConcept"]["coding"][0]
        assert coding["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
        assert order["authoredOn"] and order["encounter"]["reference"].startswith("Encounter/")
        dosage = order["dosageInstruction"][0]
        repeat = dosage["timing"]["repeat"]
        assert repeat["frequency"] >= 1 and repeat["period"] > 0
        assert repeat["periodUnit"] in ("d", "h", "wk")
        assert repeat["boundsPeriod"]["start"] <= repeat["boundsPeriod"]["end"]
        quantity = dosage["doseAndRate"][0]["doseQuantity"]
        assert quantity == {
            "value": quantity["value"],
            "unit": "mg",
            "system": "http://unitsofmeasure.org",
            "code": "mg",
        }
        if "naltrexone" in coding["display"]:
            assert coding["code"] in ("7243", "1483744")
            if coding["code"] == "1483744":
                assert quantity["value"] == 50
    reasons = [order["reasonCode"][0]["coding"][0] for order in orders if "reasonCode" in order]
    assert reasons and all(reason["code"] for reason in reasons)


def test_side_effects_suspect_an_existing_order_of_the_same_patient(paper_export):
    for chart in paper_export.patients:
        orders = {
            f"MedicationRequest/{r['id']}"
            for r in chart.resources
            if r["resourceType"] == "MedicationRequest"
        }
        for event in chart.resources:
            if event["resourceType"] == "AdverseEvent":
                assert event["actuality"] == "actual"
                assert event["suspectEntity"][0]["instance"]["reference"] in orders
                assert event["severity"]["coding"][0]["code"] in ("mild", "moderate", "severe")
                assert event["event"]["coding"][0]["system"] == "http://snomed.info/sct"


def test_notes_carry_the_patients_own_identifiers(paper_export):
    notes = 0
    for chart in paper_export.patients:
        patient = chart.resources[0]
        mrn = next(
            i["value"] for i in patient["identifier"] if i["type"]["coding"][0]["code"] == "MR"
        )
        phone = patient["telecom"][0]["value"]
        for resource in chart.resources:
            if resource["resourceType"] != "DocumentReference":
                continue
            attachment = resource["content"][0]["attachment"]
            assert attachment["contentType"] == "text/plain"
            text = base64.b64decode(attachment["data"]).decode()
            for identifier in (
                mrn,
                phone,
                patient["name"][0]["family"],
                patient["birthDate"],
                patient["address"][0]["line"][0],
            ):
                assert identifier in text
            notes += 1
    assert notes > 100


def responses(export):
    return [r for r in export.resources() if r["resourceType"] == "QuestionnaireResponse"]


@pytest.mark.parametrize("fixture", ["paper_export", "clinic_export"])
def test_compass31_responses_follow_the_form_and_its_skip_logic(fixture, request):
    export = request.getfixturevalue(fixture)
    url = "http://example.org/fhir/Questionnaire/compass-31"
    found = responses(export)
    assert found
    for response in found:
        assert response["questionnaire"] == url and response["status"] == "completed"
        assert response["encounter"]["reference"].startswith("Encounter/")
        answers = {}
        for item in response["item"]:
            assert re.fullmatch(r"q([1-9]|[12]\d|3[01])", item["linkId"])
            codes = [answer["valueCoding"]["code"] for answer in item["answer"]]
            assert {answer["valueCoding"]["system"] for answer in item["answer"]} == {url}
            answers[int(item["linkId"][1:])] = codes
        for item, codes in answers.items():
            if item == 6:
                assert codes == ["0"] or set(codes) <= {"1", "2"}
            else:
                assert len(codes) == 1 and int(codes[0]) in POINTS[item]
        for gate, (closing, follow_ups) in GATES.items():
            if gate in answers and int(answers[gate][0]) == closing:
                assert not set(follow_ups) & set(answers)


def test_questionnaire_canonical_and_link_id_prefix_are_configurable():
    export = generate(
        "clinic",
        patients=40,
        questionnaire_url="https://forms.example.org/compass31|2.0",
        link_id_prefix="compass31-",
    )
    found = responses(export)
    assert found
    for response in found:
        assert response["questionnaire"] == "https://forms.example.org/compass31|2.0"
        for item in response["item"]:
            assert re.fullmatch(r"compass31-\d+", item["linkId"])
            assert item["answer"][0]["valueCoding"]["system"] == response["questionnaire"]


# View columns the generator leaves empty on purpose: no reasonReference (reasons are coded),
# no coded/boolean observation values and no numeric or boolean questionnaire answers.
UNPOPULATED = {
    "meds": {"reason_condition_id"},
    "observations": {"value_code", "value_boolean"},
    "questionnaire_items": {"answer_value", "answer_boolean"},
}


def test_every_view_column_is_populated(paper_files):
    con = duckdb.connect()
    install_macros(con)
    for name, view in load_views().items():
        source = ndjson_source([paper_files["ndjson"] / f"{view.resource}.ndjson"])
        table = run_view_arrow(con, compile_view(view), source)
        assert table.num_rows > 0, name
        empty = {
            column for column in table.column_names if table[column].null_count == table.num_rows
        }
        assert empty == UNPOPULATED.get(name, set()), name
