"""CSV adapter: rows of the documented layout become valid R4 resources the core views flatten."""

from __future__ import annotations

import csv
import io
import traceback
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from transforms.sources import SourceError, SourceRecord, UnknownColumnError
from transforms.sources.csv_source import (
    ColumnMapError,
    CsvReadStats,
    find_map_for,
    load_column_map,
    normalize_header,
    read_csv,
    shipped_map_names,
)
from transforms.sql_on_fhir import compile_view, load_resources, run_view
from transforms.views import load_views

VIEWS = load_views()
SYNTHEA = load_column_map("synthea")
QUESTIONNAIRE = load_column_map("questionnaire")
COMPASS = "http://example.org/fhir/Questionnaire/compass-31"

CANARIES = (
    "Qzcanary",
    "Vexlerow-csv",
    "CNRY-csv-7F3A",
    "666-01-0001",
    "555-0101",
    "canary.csv@example.invalid",
    "12 Canaryplume Ln",
    "Canaryville",
    "SN-CNRY-csv",
)
FREE_TEXT = "Qzcanary Vexlerow-csv says the pain is better"

QUESTIONS = ",".join(f"Q{n}" for n in range(1, 32))

# docs/csv-layout.md, file by file, with the columns in the documented order.
EXPORT = {
    "patients": (
        "Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,LAST,SUFFIX,MAIDEN,MARITAL,"
        "RACE,ETHNICITY,GENDER,BIRTHPLACE,ADDRESS,CITY,STATE,COUNTY,ZIP,MRN,PHONE,EMAIL\n"
        "p-1,1980-04-02,,666-01-0001,SN-CNRY-csv,SN-CNRY-csv-P,Mr.,Qzcanary,Vexlerow-csv,,,M,"
        "white,nonhispanic,M,Canaryville Massachusetts US,12 Canaryplume Ln,Canaryville,"
        "Massachusetts,Canaryville County,02139,CNRY-csv-7F3A,555-0101,canary.csv@example.invalid\n"
        "p-2,1930-01-15,2020-06-30,,,,,Qzcanary,Vexlerow-csv,,,W,black,hispanic,F,,,,Vermont,,"
        "05001,,,\n"
    ),
    "encounters": (
        "Id,START,STOP,PATIENT,ORGANIZATION,PROVIDER,PAYER,ENCOUNTERCLASS,CODE,DESCRIPTION,"
        "BASE_ENCOUNTER_COST,TOTAL_CLAIM_COST,PAYER_COVERAGE,REASONCODE,REASONDESCRIPTION,SERVICE\n"
        "e-1,2024-01-02T10:00:00Z,2024-01-02T10:30:00Z,p-1,org-1,prac-1,payer-1,ambulatory,"
        f"185347001,Encounter for problem (procedure),85.55,85.55,0.0,G90.A,{FREE_TEXT},autonomic\n"
        "e-2,2024-03-05T08:00:00Z,,p-2,org-1,prac-2,,emergency,50849002,"
        "Emergency room admission (procedure),,,,55822004,,general\n"
    ),
    "conditions": (
        "START,STOP,PATIENT,ENCOUNTER,SYSTEM,CODE,DESCRIPTION,Id,CODE_TEXT\n"
        "2024-01-02T10:00:00Z,,p-1,e-1,ICD-10-CM,G90.A,Postural orthostatic tachycardia syndrome,c-1,"
        "POTS\n"
        "2023-05-01T09:00:00Z,2024-02-01T09:00:00Z,p-1,,SNOMED-CT,82423001,Chronic pain (finding),c-2,"
        "\n"
    ),
    "medications": (
        "START,STOP,PATIENT,PAYER,ENCOUNTER,CODE,DESCRIPTION,BASE_COST,PAYER_COVERAGE,DISPENSES,"
        "TOTALCOST,REASONCODE,REASONDESCRIPTION,Id,AUTHORED,STATUS,DOSE_VALUE,DOSE_UNIT,"
        "FREQUENCY,PERIOD,PERIOD_UNIT\n"
        "2024-01-02T10:00:00Z,2024-04-02T10:00:00Z,p-1,payer-1,e-1,7243,naltrexone,12.5,0,3,37.5,"
        f"M79.7,{FREE_TEXT},m-1,2024-01-02T10:15:00Z,active,4.5,mg,1,1,d\n"
        "2024-01-02T10:00:00Z,,p-1,,e-1,5640,ibuprofen,,,,,82423001,,m-2,2024-01-02T10:15:00Z,"
        "active,400,mg,1,12,h\n"
        "2024-03-05T08:00:00Z,,p-2,,e-2,7243,naltrexone,,,,,,,m-3,2024-03-05T08:10:00Z,stopped,"
        "50,mg,1,1,wk\n"
    ),
    "observations": (
        "DATE,PATIENT,ENCOUNTER,CATEGORY,CODE,DESCRIPTION,VALUE,UNITS,TYPE,Id\n"
        "2024-01-02T10:05:00Z,p-1,e-1,survey,72514-3,"
        "Pain severity - 0-10 verbal numeric rating [Score] - Reported,7,{score},numeric,o-1\n"
        "2024-01-02T10:06:00Z,p-1,e-1,vital-signs,8867-4,Heart rate,72.5,/min,numeric,o-2\n"
        f"2024-01-02T10:07:00Z,p-1,e-1,survey,72166-2,Tobacco smoking status,{FREE_TEXT},,text,o-3\n"
    ),
    "adverse_events": (
        "Id,DATE,PATIENT,ENCOUNTER,SYSTEM,CODE,DESCRIPTION,SEVERITY,SUSPECT_MEDICATION\n"
        "ae-1,2024-01-20T12:00:00Z,p-1,e-1,SNOMED-CT,422587007,Nausea (finding),moderate,m-1\n"
    ),
    "questionnaire_responses": (
        f"Id,PATIENT,ENCOUNTER,AUTHORED,STATUS,QUESTIONNAIRE,{QUESTIONS}\n"
        f"qr-1,p-1,e-1,2024-01-02T10:10:00Z,completed,{COMPASS},1,3,2,2,1,1;2,3{',' * 24}\n"
        f"qr-2,p-2,e-2,2024-03-05T08:20:00Z,completed,{COMPASS},2,,,,1,0{',' * 25}\n"
    ),
}


def table(stem: str) -> list:
    """A file of the export as [header (comma-joined), row, row, ...], rows as lists of cells."""
    header, *rows = csv.reader(io.StringIO(EXPORT[stem]))
    return [",".join(header), *rows]


RESOURCE_TYPES = {
    "patients": "Patient",
    "encounters": "Encounter",
    "conditions": "Condition",
    "medications": "MedicationRequest",
    "observations": "Observation",
    "adverse_events": "AdverseEvent",
    "questionnaire_responses": "QuestionnaireResponse",
}


def write_csv(path: Path, header: str | list[str], rows: list[list[str]], encoding="utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header.split(",") if isinstance(header, str) else header)
        writer.writerows(rows)
    return path


@pytest.fixture
def export(tmp_path) -> dict[str, Path]:
    """The documented CSV export, one file per stem."""
    paths = {stem: tmp_path / f"{stem}.csv" for stem in EXPORT}
    for stem, path in paths.items():
        path.write_text(EXPORT[stem], encoding="utf-8")
    return paths


def column_map_for(stem: str):
    return QUESTIONNAIRE if stem == "questionnaire_responses" else SYNTHEA


def read_all(path: Path, stats: CsvReadStats | None = None, **options) -> list[SourceRecord]:
    return list(read_csv(path, column_map_for(path.stem), stats=stats, **options))


def view_rows(con, name: str, resources: list[dict]) -> list[dict]:
    load_resources(con, resources, "resources")
    return run_view(con, compile_view(VIEWS[name]), "resources")


@pytest.fixture
def resources(export) -> dict[str, list[dict]]:
    """Every file of the export read into resources (no error records expected)."""
    out = {}
    for stem, path in export.items():
        records = read_all(path)
        assert all(r.error is None for r in records)
        out[stem] = [r.resource for r in records]
    return out


def by_key(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}


@pytest.mark.parametrize("stem", sorted(EXPORT))
def test_every_resource_is_valid_r4b_with_the_csv_id(resources, stem):
    resource_type = RESOURCE_TYPES[stem]
    ids = []
    for resource in resources[stem]:
        assert resource["resourceType"] == resource_type
        get_fhir_model_class(resource_type).model_validate(resource)
        ids.append(resource["id"])
    header, *rows = table(stem)
    expected = [row[header.split(",").index("Id")] for row in rows]
    assert ids == expected


def test_patients_flatten_like_a_fhir_export(con, resources):
    rows = by_key(view_rows(con, "patients", resources["patients"]), "patient_id")
    assert rows["p-1"] == {
        "patient_id": "p-1",
        "birth_year": "1980-04-02",
        "sex": "male",
        "race": "2106-3",
        "ethnicity": "2186-5",
        "zip3": "02139",
        "state": "Massachusetts",
        "country": "US",
        "deceased": None,  # as for a living patient of a FHIR export
        "deceased_date": None,
    }
    assert (rows["p-2"]["sex"], rows["p-2"]["race"], rows["p-2"]["ethnicity"]) == (
        "female",
        "2054-5",
        "2135-2",
    )
    assert rows["p-2"]["deceased"] is True and rows["p-2"]["deceased_date"] == "2020-06-30"


def test_direct_identifiers_stay_in_the_patient_resource(resources):
    """The PHI zone keeps them for the identifier dictionary and MRN linkage."""
    patient = resources["patients"][0]
    mrn = next(i for i in patient["identifier"] if i["type"]["coding"][0]["code"] == "MR")
    assert mrn["type"]["coding"][0]["system"] == "http://terminology.hl7.org/CodeSystem/v2-0203"
    assert (mrn["system"], mrn["value"]) == ("urn:oid:2.16.840.1.113883.3.7777.1", "CNRY-csv-7F3A")
    assert {i["type"]["coding"][0]["code"] for i in patient["identifier"]} == {
        "SS",
        "DL",
        "PPN",
        "MR",
    }
    assert patient["name"] == [
        {"use": "official", "prefix": ["Mr."], "given": ["Qzcanary"], "family": "Vexlerow-csv"}
    ]
    assert patient["telecom"] == [
        {"system": "phone", "value": "555-0101", "use": "home"},
        {"system": "email", "value": "canary.csv@example.invalid"},
    ]
    assert patient["address"][0]["line"] == ["12 Canaryplume Ln"]
    assert patient["maritalStatus"]["coding"][0]["code"] == "M"


def test_visits_conditions_and_adverse_events(con, resources):
    visits = by_key(view_rows(con, "visits", resources["encounters"]), "visit_id")
    assert visits["e-1"] == {
        "visit_id": "e-1",
        "patient_id": "p-1",
        "start_date": "2024-01-02T10:00:00Z",
        "end_date": "2024-01-02T10:30:00Z",
        "class": "AMB",
        "type_code": "185347001",
        "type_system": "http://snomed.info/sct",
        "type_display": "Encounter for problem (procedure)",
        "service": "autonomic",
        "status": "finished",
        "reason_code": "G90.A",
    }
    assert (visits["e-2"]["class"], visits["e-2"]["end_date"]) == ("EMER", None)
    assert resources["encounters"][1]["reasonCode"][0]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "55822004",
    }

    conditions = by_key(view_rows(con, "conditions", resources["conditions"]), "condition_id")
    assert conditions["c-1"] == {
        "condition_id": "c-1",
        "patient_id": "p-1",
        "visit_id": "e-1",
        "code_system": "http://hl7.org/fhir/sid/icd-10-cm",
        "code": "G90.A",
        "display": "Postural orthostatic tachycardia syndrome",
        "code_text": "POTS",  # the raw view: de-identification keeps it as a listed term
        "onset_date": "2024-01-02T10:00:00Z",
        "recorded_date": "2024-01-02T10:00:00Z",
        "clinical_status": "active",
        "verification_status": "confirmed",
    }
    assert conditions["c-2"]["code_system"] == "http://snomed.info/sct"
    assert conditions["c-2"]["clinical_status"] == "resolved"
    assert conditions["c-2"]["visit_id"] is None
    assert conditions["c-2"]["code_text"] is None  # an empty CODE_TEXT cell: no code.text

    (event,) = view_rows(con, "adverse_events", resources["adverse_events"])
    assert event == {
        "event_id": "ae-1",
        "patient_id": "p-1",
        "visit_id": "e-1",
        "event_system": "http://snomed.info/sct",
        "event_code": "422587007",
        "event_display": "Nausea (finding)",
        "severity": "moderate",
        "seriousness": None,
        "actuality": "actual",
        "suspect_med_id": "m-1",
        "event_date": "2024-01-20T12:00:00Z",
    }


def test_meds_doses_frequency_and_reasons(con, resources):
    meds = by_key(view_rows(con, "meds", resources["medications"]), "med_id")
    assert meds["m-1"] == {
        "med_id": "m-1",
        "patient_id": "p-1",
        "visit_id": "e-1",
        "rxnorm_code": "7243",
        "drug_name": "naltrexone",
        "dose_value": 4.5,
        "dose_unit": "mg",
        "frequency_per_day": 1.0,
        "route": None,
        "as_needed": None,
        "authored_date": "2024-01-02T10:15:00Z",
        "start_date": "2024-01-02T10:00:00Z",
        "end_date": "2024-04-02T10:00:00Z",
        "status": "active",
        "intent": "order",
        "reason_code": "M79.7",
        "reason_condition_id": None,
    }
    assert (meds["m-2"]["frequency_per_day"], meds["m-2"]["reason_code"]) == (2.0, "82423001")
    assert meds["m-3"]["frequency_per_day"] == pytest.approx(1 / 7)
    assert meds["m-3"]["reason_code"] is None
    first = resources["medications"][0]
    assert first["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] == {
        "value": 4.5,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert first["reasonCode"][0]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10-cm"
    assert resources["medications"][1]["reasonCode"][0]["coding"][0]["system"] == (
        "http://snomed.info/sct"
    )


def test_observations_numeric_values_kept_text_values_dropped(con, export):
    stats = CsvReadStats()
    observations = [r.resource for r in read_all(export["observations"], stats)]
    rows = by_key(view_rows(con, "observations", observations), "observation_id")
    assert (rows["o-1"]["code"], rows["o-1"]["value_num"], rows["o-1"]["value_unit"]) == (
        "72514-3",
        7.0,
        "{score}",
    )
    assert rows["o-1"]["category"] == "survey" and rows["o-1"]["status"] == "final"
    assert rows["o-1"]["effective_date"] == "2024-01-02T10:05:00Z"
    assert (rows["o-2"]["value_num"], rows["o-2"]["value_unit"]) == (72.5, "/min")
    assert (rows["o-3"]["code"], rows["o-3"]["value_num"]) == ("72166-2", None)
    assert "valueQuantity" not in observations[2]
    assert stats.free_text_dropped == {"value": 1}
    assert stats.unparseable == {}


def test_questionnaire_answers_coded_by_option_number(con, resources):
    responses = resources["questionnaire_responses"]
    headers = by_key(view_rows(con, "questionnaire_responses", responses), "response_id")
    assert headers["qr-1"] == {
        "response_id": "qr-1",
        "patient_id": "p-1",
        "visit_id": "e-1",
        "questionnaire": COMPASS,
        "authored_date": "2024-01-02T10:10:00Z",
        "status": "completed",
    }
    items = view_rows(con, "questionnaire_items", responses)
    answers = sorted(
        (r["response_id"], r["link_id"], r["answer_index"], r["answer_code"]) for r in items
    )
    assert answers == [
        ("qr-1", "q1", 0, "1"),
        ("qr-1", "q2", 0, "3"),
        ("qr-1", "q3", 0, "2"),
        ("qr-1", "q4", 0, "2"),
        ("qr-1", "q5", 0, "1"),
        ("qr-1", "q6", 0, "1"),
        ("qr-1", "q6", 1, "2"),
        ("qr-1", "q7", 0, "3"),
        ("qr-2", "q1", 0, "2"),
        ("qr-2", "q5", 0, "1"),
        ("qr-2", "q6", 0, "0"),
    ]
    assert {r["answer_system"] for r in items} == {COMPASS}
    assert [item["linkId"] for item in responses[0]["item"]] == [f"q{n}" for n in range(1, 8)]


def test_no_canary_reaches_any_view_column(con, resources):
    everything = [r for rs in resources.values() for r in rs]
    # positive control: the canaries are in the PHI-zone resources
    assert all(canary in repr(everything) for canary in CANARIES)
    for name, view in VIEWS.items():
        matching = [r for r in everything if r["resourceType"] == view.resource]
        output = repr(view_rows(con, name, matching))
        leaked = [canary for canary in CANARIES if canary in output]
        assert not leaked, f"view {name} carries {leaked}"


def test_free_text_and_unmapped_values_are_counted_not_kept(export):
    stats = CsvReadStats()
    records = read_all(export["medications"], stats)
    assert FREE_TEXT not in repr(records)
    assert stats.rows_read == 3
    assert stats.free_text_dropped == {"reasondescription": 1}
    assert stats.unmapped_dropped == {
        "payer": 1,
        "base_cost": 1,
        "payer_coverage": 1,
        "dispenses": 1,
        "totalcost": 1,
    }


def test_unknown_header_stops_before_any_record(tmp_path):
    header = table("adverse_events")[0] + ",Favourite Colour"
    path = write_csv(
        tmp_path / "adverse_events.csv", header, [table("adverse_events")[1] + ["Qzcanary"]]
    )
    records = read_csv(path, SYNTHEA)
    with pytest.raises(UnknownColumnError) as info:
        next(records)
    assert (info.value.header, info.value.map_name) == ("favourite_colour", "synthea")
    text = "".join(traceback.format_exception(info.value))
    assert "favourite_colour" in text and "Qzcanary" not in text and "422587007" not in text
    assert list(records) == []


def test_drop_unknown_records_the_header_name_only(tmp_path):
    header = table("adverse_events")[0] + ",Favourite Colour"
    path = write_csv(
        tmp_path / "adverse_events.csv", header, [table("adverse_events")[1] + ["Qzcanary"]]
    )
    stats = CsvReadStats()
    (record,) = read_csv(path, SYNTHEA, drop_unknown=True, stats=stats)
    assert record.resource["id"] == "ae-1"
    assert stats.dropped_headers == ["favourite_colour"]
    assert "Qzcanary" not in repr(record) and "Qzcanary" not in repr(stats)


def test_unparseable_values_become_absent_and_are_counted(tmp_path):
    header, good, _ = table("patients")
    bad = list(good)
    bad[1] = "02/04/1980 Qzcanary"  # BIRTHDATE
    bad[14] = "X"  # GENDER outside the lookup
    path = write_csv(tmp_path / "patients.csv", header, [bad])
    stats = CsvReadStats()
    (record,) = read_csv(path, SYNTHEA, stats=stats)
    assert "birthDate" not in record.resource and "gender" not in record.resource
    assert stats.unparseable == {"birthdate": 1, "gender": 1}
    assert "02/04/1980" not in repr(record) and "02/04/1980" not in repr(stats)
    get_fhir_model_class("Patient").model_validate(record.resource)


def test_unparseable_numbers_and_answers(tmp_path):
    header, row, *_ = table("medications")
    bad = list(row)
    bad[16], bad[18] = "nan", "1.5"  # DOSE_VALUE, FREQUENCY (an integer)
    medications = write_csv(tmp_path / "medications.csv", header, [bad])
    stats = CsvReadStats()
    (record,) = read_csv(medications, SYNTHEA, stats=stats)
    assert stats.unparseable == {"dose_value": 1, "frequency": 1}
    dosage = record.resource["dosageInstruction"][0]
    assert "value" not in dosage["doseAndRate"][0]["doseQuantity"]
    assert "frequency" not in dosage["timing"]["repeat"]

    header, row, _ = table("questionnaire_responses")
    bad = list(row)
    bad[6], bad[11] = "yes Qzcanary", "1;x"  # Q1 free text, Q6 one bad box
    responses = write_csv(tmp_path / "questionnaire_responses.csv", header, [bad])
    stats = CsvReadStats()
    (record,) = read_csv(responses, QUESTIONNAIRE, stats=stats)
    assert stats.unparseable == {"q1": 1, "q6": 1}
    items = {item["linkId"]: item for item in record.resource["item"]}
    assert "q1" not in items and len(items["q6"]["answer"]) == 1
    assert "Qzcanary" not in repr(record)


def test_row_without_key_is_an_error_record(tmp_path):
    header, row, *_ = table("conditions")
    no_patient = list(row)
    no_patient[2] = " "
    no_id = list(row)
    no_id[7] = ""
    path = write_csv(tmp_path / "conditions.csv", header, [row, no_patient, no_id])
    stats = CsvReadStats()
    records = list(read_csv(path, SYNTHEA, stats=stats))
    assert records[0].line == 1 and records[0].resource["id"] == "c-1"
    assert records[1:] == [
        SourceRecord(2, None, error="MissingKey", element="patient"),
        SourceRecord(3, None, error="MissingKey", element="id"),
    ]
    assert stats.rows_read == 3


def test_row_with_wrong_field_count_is_an_error_record(tmp_path):
    header, row, *_ = table("conditions")
    path = write_csv(tmp_path / "conditions.csv", header, [[*row, "Qzcanary"], row])
    records = list(read_csv(path, SYNTHEA))
    assert records[0] == SourceRecord(1, None, error="FieldCountMismatch")
    assert records[1].resource["id"] == "c-1"


def test_headers_are_normalised_case_spaces_and_bom(tmp_path):
    header = ["  id ", "Start", "STOP", "patient", "Encounter", "system", "Code", "description"]
    _, row, _ = table("conditions")
    path = write_csv(
        tmp_path / "Conditions.csv", header, [[row[7], *row[:7]]], encoding="utf-8-sig"
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    (record,) = read_csv(path, SYNTHEA)
    assert record.resource["id"] == "c-1"
    assert record.resource["code"]["coding"][0]["code"] == "G90.A"
    assert normalize_header("\ufeffPeriod  Unit ") == "period_unit"


def test_key_column_missing_from_header_stops(tmp_path):
    header, row, *_ = table("conditions")
    columns = header.split(",")
    keep = [n for n, name in enumerate(columns) if name != "PATIENT"]
    path = write_csv(
        tmp_path / "conditions.csv", [columns[n] for n in keep], [[row[n] for n in keep]]
    )
    with pytest.raises(SourceError, match="key column 'patient'"):
        list(read_csv(path, SYNTHEA))


def test_file_without_map_entry_is_refused_without_its_name(tmp_path):
    path = write_csv(tmp_path / "Qzcanary notes.csv", "Id", [["x"]])
    with pytest.raises(SourceError) as info:
        read_csv(path, SYNTHEA)
    assert "Qzcanary" not in str(info.value)


def test_find_map_for_matches_the_normalised_stem():
    maps = [SYNTHEA, QUESTIONNAIRE]
    assert find_map_for(Path("in/Patients.csv"), maps) == (SYNTHEA, SYNTHEA.files["patients"])
    found = find_map_for(Path("questionnaire_responses.csv"), maps)
    assert found == (QUESTIONNAIRE, QUESTIONNAIRE.files["questionnaire_responses"])
    assert find_map_for(Path("notes.csv"), maps) is None


def test_every_shipped_map_loads():
    assert shipped_map_names() == ["questionnaire", "synthea"]
    for name in shipped_map_names():
        column_map = load_column_map(name)
        assert column_map.name == name and column_map.version == "1"
        assert len(column_map.sha256) == 64
    assert set(SYNTHEA.files) | set(QUESTIONNAIRE.files) == set(EXPORT)
    for stem in EXPORT:
        header = table(stem)[0]
        file_map = column_map_for(stem).files[stem]
        for name in header.split(","):
            assert file_map.spec_for(normalize_header(name)) is not None, (stem, name)
    assert QUESTIONNAIRE.files["questionnaire_responses"].spec_for("q32") is None


MINIMAL = """
grammar: 1
name: broken
version: 1
files:
  patients:
    resource: Patient
    keys: [Id]
    columns:
      Id: {class: patient_key, element: id}
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("      BIRTHDATE: {element: birthDate}", "files.patients.columns.BIRTHDATE.class"),
        ("      BIRTHDATE: {class: [dob, age], element: birthDate}", "needs exactly one of"),
        ("      BIRTHDATE: {class: birthday}", "columns.BIRTHDATE.class"),
        ("      BIRTHDATE: {class: dob, parse: date, element: birthDate}", "explicit strptime"),
        ("      Id: {class: dob}", "duplicate key 'Id'"),
        ("      id: {class: dob}", "duplicate header after normalisation"),
        ("      BIRTHDATE: {class: dob, element: birthdate}", "Patient has no element 'birthdate'"),
        ("      FIRST: {class: direct_identifier, element: name.given}", "needs a selector"),
        ("      NOTE: {class: free_text, element: text.div}", "free_text columns are never mapped"),
        (
            "      GENDER: {class: quasi_identifier, lookup: sex, element: gender}",
            "no lookup table",
        ),
        ("      GENDER: {class: quasi_identifier, colour: red}", "columns.GENDER.colour: unknown"),
        (
            "      SSN: {class: direct_identifier, element: 'identifier[]', value: {value: '{row.id}'}}",
            "must be a clinical_code or clinical_value column",
        ),
    ],
)
def test_map_errors_name_the_map_file_and_key(tmp_path, extra, message):
    path = tmp_path / "broken.yaml"
    path.write_text(MINIMAL + extra + "\n", encoding="utf-8")
    with pytest.raises(ColumnMapError, match="broken") as info:
        load_column_map(path)
    assert message in str(info.value)


def test_unknown_shipped_map_name():
    with pytest.raises(ColumnMapError, match="synthea"):
        load_column_map("no-such-map")


def test_file_that_is_not_utf8_stops_without_values(tmp_path):
    header, row, *_ = table("conditions")
    path = write_csv(tmp_path / "conditions.csv", header, [row])
    with path.open("ab") as handle:
        handle.write(
            "2024-01-02T10:00:00Z,,p-1,,SNOMED-CT,1,Qzcanary Vexlérow,c-9\n".encode("latin-1")
        )
    with pytest.raises(SourceError, match="not valid UTF-8") as info:
        list(read_csv(path, SYNTHEA))
    assert "Qzcanary" not in "".join(traceback.format_exception(info.value))
