"""End-to-end de-identification of hand-made FHIR resources through the core views (apply.py)."""

from __future__ import annotations

import datetime as dt
import re
import stat
import traceback

import duckdb
import pyarrow as pa
import pytest

from transforms.deid.apply import (
    DeidContext,
    PatientIndex,
    TableDeidCounts,
    build_patient_index,
    flatten_and_deidentify,
    read_patient_index,
    write_patient_index,
)
from transforms.deid.classes import DeidConfigurationError, column_class, output_columns
from transforms.deid.dates import AGE_GROUP_90_PLUS, date_offset_days
from transforms.deid.pseudonyms import (
    canonical_patient_key,
    patient_pseudonym,
    resource_pseudonym,
)
from transforms.sql_on_fhir import CompiledView, ViewDefinitionError, compile_view, parse_view
from transforms.views import load_views

from .helpers import (
    HEX32,
    RUN_DATE,
    keys_for,
    leak_hits,
    run_deid,
    stage,
    staging_connection,
)

KEYS = keys_for()
SOURCE = "ehr"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1"
MR_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
SS_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS"}]}
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
TEXT_TAG = [{"name": "deid", "value": "text"}]

# Raw ids hold letters outside a-f, so none can occur inside a hex pseudonym by chance.
ALPHA, DELTA, GOLF, HOTEL = "pt-alpha", "pt-delta", "pt-golf", "pt-hotel"
RAW_IDS = {ALPHA, DELTA, GOLF, HOTEL, "enc-kilo", "cond-lima", "cond-mike", "obs-oscar"}
RAW_IDS |= {"obs-papa", "med-quebec", "qr-romeo", "ae-sierra"}
CANARIES = [
    "Qzcanary",
    "Vexlerow",
    "CNRY-1-7F3A",
    "CNRY17F3A",
    "666-01-0001",
    "555-0101",
    "canary.1@example.invalid",
    "Canaryplume",
    "canary.invalid",
    "SN-CNRY-1",
    *sorted(RAW_IDS),
]


def ref(resource_type: str, raw_id: str) -> dict:
    return {"reference": f"{resource_type}/{raw_id}", "display": "Qzcanary Vexlerow-ref"}


def patient_alpha(raw_id: str = ALPHA, mrn: str = "CNRY-1-7F3A") -> dict:
    """A patient with an MRN and a canary in every identifying slot."""
    return {
        "resourceType": "Patient",
        "id": raw_id,
        "meta": {"source": "https://canary.invalid/meta", "lastUpdated": "2025-01-01T00:00:00Z"},
        "text": {"status": "generated", "div": "<div>Qzcanary Vexlerow-1 CNRY-1-7F3A</div>"},
        "identifier": [
            {"type": MR_TYPE, "system": MRN_SYSTEM, "value": mrn},
            {"type": SS_TYPE, "system": "http://hl7.org/fhir/sid/us-ssn", "value": "666-01-0001"},
        ],
        "name": [{"text": "Qzcanary Vexlerow-1", "family": "Vexlerow-1", "given": ["Qzcanary"]}],
        "telecom": [
            {"system": "phone", "value": "555-0101"},
            {"system": "email", "value": "canary.1@example.invalid"},
            {"system": "url", "value": "https://canary.invalid/1"},
        ],
        "gender": "female",
        "birthDate": "1980-05-05",
        "address": [
            {
                "use": "home",
                "text": "1 Canaryplume Ln, Qzcanaryville",
                "line": ["1 Canaryplume Ln"],
                "city": "Qzcanaryville",
                "district": "Qzcanary County",
                "state": "MA",
                "postalCode": "02139-4307",
                "country": "US",
            }
        ],
    }


EXPORT_A = [
    patient_alpha(),
    {  # 90+ in 2026, restricted ZIP area
        "resourceType": "Patient",
        "id": GOLF,
        "name": [{"family": "Qzcanary-golf"}],
        "gender": "male",
        "birthDate": "1930-02-02",
        "address": [{"postalCode": "03601", "state": "NH"}],
    },
    {  # died the day before the 90th birthday: 89 at the latest date about them
        "resourceType": "Patient",
        "id": HOTEL,
        "gender": "female",
        "birthDate": "1929-06-15",
        "deceasedDateTime": "2019-06-14T22:10:00-04:00",
    },
    {
        "resourceType": "Encounter",
        "id": "enc-kilo",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"code": "185349003"}], "text": "Qzcanary visit text"}],
        "subject": ref("Patient", ALPHA),
        "period": {"start": "2024-01-10T09:30:00-05:00", "end": "2024-01-12T16:00:00-05:00"},
        "reasonCode": [{"text": "Qzcanary reason"}],
    },
    {
        "resourceType": "Condition",
        "id": "cond-lima",
        "subject": ref("Patient", ALPHA),
        "encounter": ref("Encounter", "enc-kilo"),
        "code": {"coding": [{"system": ICD10, "code": "G90.A"}], "text": "Qzcanary dx"},
        "onsetDateTime": "2024-01-10",
        "recordedDate": "2024-01-11T08:00:00Z",
        "note": [{"text": "Qzcanary note"}],
    },
    {  # its Patient is not in this export; its onset is a partial date
        "resourceType": "Condition",
        "id": "cond-mike",
        "subject": ref("Patient", DELTA),
        "code": {"coding": [{"system": ICD10, "code": "R00.0"}]},
        "onsetDateTime": "2023-07",
        "recordedDate": "2023-08-01",
    },
    {
        "resourceType": "Observation",
        "id": "obs-oscar",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Qzcanary"},
        "subject": ref("Patient", ALPHA),
        "encounter": ref("Encounter", "enc-kilo"),
        "effectiveDateTime": "2024-01-10T10:00:00-05:00",
        "valueQuantity": {"value": 72, "unit": "/min", "code": "/min"},
        "note": [{"text": "Qzcanary observation note"}],
    },
    {
        "resourceType": "Observation",
        "id": "obs-papa",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "72133-2"}]},
        "subject": ref("Patient", ALPHA),
        "effectiveDateTime": "2024-01-11",
        "valueString": "Qzcanary Vexlerow value string",
    },
    {
        "resourceType": "MedicationRequest",
        "id": "med-quebec",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361"}],
            "text": "Qzcanary drug text",
        },
        "subject": ref("Patient", ALPHA),
        "encounter": ref("Encounter", "enc-kilo"),
        "authoredOn": "2024-01-10",
        "reasonReference": [ref("Condition", "cond-lima")],
        "dosageInstruction": [
            {
                "text": "Qzcanary dosage text",
                "patientInstruction": "Qzcanary instruction",
                "timing": {
                    "repeat": {
                        "boundsPeriod": {"start": "2024-01-10", "end": "2024-04-10"},
                        "frequency": 1,
                        "period": 1,
                        "periodUnit": "d",
                    }
                },
                "doseAndRate": [{"doseQuantity": {"value": 0.5, "unit": "mg", "code": "mg"}}],
            }
        ],
    },
    {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-romeo",
        "status": "completed",
        "questionnaire": "http://example.org/fhir/Questionnaire/compass-31",
        "subject": ref("Patient", ALPHA),
        "encounter": ref("Encounter", "enc-kilo"),
        "authored": "2024-01-10T12:00:00Z",
        "item": [
            {"linkId": "q1", "answer": [{"valueCoding": {"code": "1"}}]},
            {"linkId": "note", "answer": [{"valueString": "Qzcanary answer"}]},
        ],
    },
    {
        "resourceType": "AdverseEvent",
        "id": "ae-sierra",
        "actuality": "actual",
        "event": {"coding": [{"code": "25064002"}], "text": "Qzcanary event"},
        "subject": ref("Patient", ALPHA),
        "date": "2024-02-01",
        "suspectEntity": [{"instance": ref("MedicationRequest", "med-quebec")}],
        "extension": [{"url": "https://canary.invalid/ext", "valueString": "Qzcanary ext"}],
    },
]

# The original full dates of pt-alpha, by (table, column): each must come out shifted by one offset.
ALPHA_DATES = {
    ("visits", "start_date"): dt.date(2024, 1, 10),
    ("visits", "end_date"): dt.date(2024, 1, 12),
    ("conditions", "onset_date"): dt.date(2024, 1, 10),
    ("conditions", "recorded_date"): dt.date(2024, 1, 11),
    ("meds", "authored_date"): dt.date(2024, 1, 10),
    ("meds", "start_date"): dt.date(2024, 1, 10),
    ("meds", "end_date"): dt.date(2024, 4, 10),
    ("questionnaire_responses", "authored_date"): dt.date(2024, 1, 10),
    ("adverse_events", "event_date"): dt.date(2024, 2, 1),
}


def text_view() -> CompiledView:
    """A view with a free-text column, which must never reach the warehouse."""
    return compile_view(
        parse_view(
            {
                "resourceType": "ViewDefinition",
                "name": "patient_names",
                "resource": "Patient",
                "select": [
                    {
                        "column": [
                            {
                                "name": "patient_id",
                                "path": "getResourceKey()",
                                "tag": [{"name": "deid", "value": "pseudonym"}],
                            },
                            {"name": "family", "path": "name.family.first()", "tag": TEXT_TAG},
                            {"name": "phone", "path": "telecom.value.first()", "tag": TEXT_TAG},
                            {
                                "name": "sex",
                                "path": "gender",
                                "type": "code",
                                "tag": [{"name": "deid", "value": "code"}],
                            },
                        ]
                    }
                ],
            }
        )
    )


VIEWS: dict[str, CompiledView] = {name: compile_view(v) for name, v in load_views().items()}
VIEWS_WITH_TEXT = {**VIEWS, "patient_names": text_view()}


def context(source: str = SOURCE) -> DeidContext:
    return DeidContext(keys=KEYS, source=source, run_date=RUN_DATE)


def alpha_canonical() -> str:
    return canonical_patient_key(SOURCE, ALPHA, MRN_SYSTEM, "CNRY-1-7F3A")


def id_canonical(raw_id: str) -> str:
    return canonical_patient_key(SOURCE, raw_id, None, None)


def rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def one(table: pa.Table, **where) -> dict:
    found = [r for r in rows(table) if all(r[k] == v for k, v in where.items())]
    assert len(found) == 1, f"expected one row where {where}, found {len(found)}"
    return found[0]


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


@pytest.fixture(scope="module")
def first_run():
    """Export A de-identified: (tables, counts, patient index)."""
    return run_deid(context(), EXPORT_A, VIEWS_WITH_TEXT)


@pytest.fixture(scope="module")
def vault(tmp_path_factory, first_run):
    """A vault holding the first run's patient index."""
    folder = tmp_path_factory.mktemp("vault")
    write_patient_index(folder, PatientIndex(first_run[2]), KEYS.fingerprint)
    return folder


@pytest.fixture(scope="module")
def second_run(vault):
    """Export B, after A: the missing patient arrives, and pt-alpha again under another id."""
    export_b = [
        {"resourceType": "Patient", "id": DELTA, "gender": "male", "birthDate": "1975-03-03"},
        {
            "resourceType": "Condition",
            "id": "cond-november",
            "subject": ref("Patient", DELTA),
            "recordedDate": "2023-09-01",
        },
        patient_alpha("pt-alpha-again", mrn="cnry-1 7f3a"),
        {
            "resourceType": "Condition",
            "id": "cond-papa",
            "subject": ref("Patient", "pt-alpha-again"),
            "recordedDate": "2024-03-01",
        },
    ]
    previous = read_patient_index(vault, KEYS.fingerprint)
    return run_deid(context(), export_b, VIEWS, previous=previous, file_hash="b" * 64)


# ------------------------------------------------------------------------------ table shapes


def test_every_view_yields_its_output_columns_with_their_types(first_run):
    tables, _, _ = first_run
    assert set(tables) == set(VIEWS_WITH_TEXT)
    with duckdb.connect() as con:
        for name, compiled in VIEWS_WITH_TEXT.items():
            con.register("t", tables[name])
            described = [(r[0], r[1]) for r in con.sql("DESCRIBE SELECT * FROM t").fetchall()]
            expected = [(c.name, c.sql_type) for c in output_columns(name, compiled)]
            expected += [("_source_file_hash", "VARCHAR"), ("_source_line", "BIGINT")]
            assert described == expected, name
            con.unregister("t")


def test_text_class_columns_are_dropped_and_counted(first_run):
    tables, counts, _ = first_run
    assert tables["patient_names"].column_names == [
        "patient_id",
        "sex",
        "_source_file_hash",
        "_source_line",
    ]
    assert counts["patient_names"].columns_dropped == 2
    assert counts["notes"].columns_dropped == 1  # the note text, outside notes mode
    assert all(
        c.columns_dropped == 0 for n, c in counts.items() if n not in ("patient_names", "notes")
    )


def test_lineage_is_carried(first_run):
    tables, _, _ = first_run
    condition = one(tables["conditions"], code="G90.A")
    assert condition["_source_file_hash"] == "f" * 64
    assert condition["_source_line"] == 5


# ------------------------------------------------------------------------------- pseudonyms


def test_pseudonym_columns_hold_32_hex_never_a_raw_id(first_run):
    tables, _, _ = first_run
    checked = 0
    for name, compiled in VIEWS_WITH_TEXT.items():
        for column in compiled.columns:
            if column_class(name, column) != "pseudonym":
                continue
            for value in tables[name].column(column.name).to_pylist():
                if value is not None:
                    assert re.fullmatch(HEX32, value), (name, column.name)
                    assert value not in RAW_IDS
                    checked += 1
    assert checked >= 30


def test_patient_pseudonym_is_keyed_on_the_mrn(first_run):
    tables, _, _ = first_run
    alpha = one(tables["patients"], birth_year=1980)
    assert alpha["patient_id"] == patient_pseudonym(KEYS, alpha_canonical())


def test_references_are_rewritten_consistently(first_run):
    tables, _, _ = first_run
    alpha_id = one(tables["patients"], birth_year=1980)["patient_id"]
    visit = one(tables["visits"], patient_id=alpha_id)
    assert visit["visit_id"] == resource_pseudonym(KEYS, "Encounter", SOURCE, "enc-kilo")
    condition = one(tables["conditions"], code="G90.A")
    assert condition["patient_id"] == alpha_id
    assert condition["visit_id"] == visit["visit_id"]
    med = one(tables["meds"], patient_id=alpha_id)
    assert med["visit_id"] == visit["visit_id"]
    assert med["reason_condition_id"] == condition["condition_id"]
    event = one(tables["adverse_events"], patient_id=alpha_id)
    assert event["suspect_med_id"] == med["med_id"]
    response = one(tables["questionnaire_responses"], patient_id=alpha_id)
    assert response["visit_id"] == visit["visit_id"]
    assert {r["response_id"] for r in rows(tables["questionnaire_items"])} == {
        response["response_id"]
    }
    observations = rows(tables["observations"])
    assert {r["patient_id"] for r in observations} == {alpha_id}
    assert one(tables["observations"], code="8867-4")["visit_id"] == visit["visit_id"]
    assert one(tables["patient_names"], sex="female", patient_id=alpha_id)


# ------------------------------------------------------------------------------------- dates


def test_every_date_of_a_patient_is_shifted_by_that_patients_offset(first_run):
    tables, _, index = first_run
    offset = date_offset_days(KEYS, alpha_canonical())
    alpha_id = patient_pseudonym(KEYS, alpha_canonical())
    assert one(index, patient_pseudonym=alpha_id)["offset_days"] == offset
    for (table, column), original in ALPHA_DATES.items():
        values = [r[column] for r in rows(tables[table]) if r["patient_id"] == alpha_id]
        assert values, (table, column)
        assert set(values) == {original + dt.timedelta(days=offset)}, (table, column)
    observation_dates = {
        r["code"]: r["effective_date"] for r in rows(tables["observations"]) if r["code"]
    }
    assert observation_dates == {
        "8867-4": dt.date(2024, 1, 10) + dt.timedelta(days=offset),
        "72133-2": dt.date(2024, 1, 11) + dt.timedelta(days=offset),
    }


def test_intervals_are_kept(first_run):
    tables, _, _ = first_run
    visit = rows(tables["visits"])[0]
    assert visit["end_date"] - visit["start_date"] == dt.timedelta(days=2)
    med = rows(tables["meds"])[0]
    assert med["end_date"] - med["start_date"] == dt.timedelta(days=91)
    event = rows(tables["adverse_events"])[0]
    assert event["event_date"] - med["authored_date"] == dt.timedelta(days=22)


def test_partial_dates_become_null(first_run):
    tables, _, _ = first_run
    assert one(tables["conditions"], code="R00.0")["onset_date"] is None


def test_deceased_date_is_shifted_with_the_patients_own_offset(first_run):
    tables, _, _ = first_run
    hotel = one(tables["patients"], patient_id=patient_pseudonym(KEYS, id_canonical(HOTEL)))
    offset = date_offset_days(KEYS, id_canonical(HOTEL))
    assert hotel["deceased"] is True
    assert hotel["deceased_date"] == dt.date(2019, 6, 14) + dt.timedelta(days=offset)


# ------------------------------------------------------------------------ demographics, ZIP


def test_birth_year_age_group_and_zip3(first_run):
    tables, _, _ = first_run
    patients = {
        r["patient_id"]: (r["birth_year"], r["age_group"], r["zip3"], r["state"])
        for r in rows(tables["patients"])
    }
    assert patients == {
        patient_pseudonym(KEYS, alpha_canonical()): (1980, None, "021", "MA"),
        patient_pseudonym(KEYS, id_canonical(GOLF)): (None, AGE_GROUP_90_PLUS, "000", "NH"),
        # 89 on the date of death, though 96 on the run date: the date of death is the reference
        patient_pseudonym(KEYS, id_canonical(HOTEL)): (1929, None, None, None),
    }


# --------------------------------------------------------------- unresolved patient references


def test_unresolved_patient_reference_is_counted_and_gets_the_fallback(first_run):
    tables, counts, _ = first_run
    orphan = one(tables["conditions"], code="R00.0")
    assert counts["conditions"].unresolved_patient_references == 1
    assert orphan["patient_id"] == patient_pseudonym(KEYS, id_canonical(DELTA))
    offset = date_offset_days(KEYS, id_canonical(DELTA))
    assert orphan["recorded_date"] == dt.date(2023, 8, 1) + dt.timedelta(days=offset)


def test_late_patient_without_mrn_gets_the_same_pseudonym_and_offset(first_run, second_run):
    orphan = one(first_run[0]["conditions"], code="R00.0")
    tables, counts, index = second_run
    delta = one(tables["patients"], birth_year=1975)
    assert delta["patient_id"] == orphan["patient_id"]
    entry = one(index, patient_pseudonym=orphan["patient_id"])
    assert entry["offset_days"] == date_offset_days(KEYS, id_canonical(DELTA))
    later = one(tables["conditions"], patient_id=orphan["patient_id"])
    shift = orphan["recorded_date"] - dt.date(2023, 8, 1)
    assert later["recorded_date"] == dt.date(2023, 9, 1) + shift
    assert counts["conditions"].unresolved_patient_references == 0


def test_same_mrn_under_another_id_links_to_the_same_patient(first_run, second_run):
    alpha_id = one(first_run[0]["patients"], birth_year=1980)["patient_id"]
    tables, _, _ = second_run
    assert one(tables["patients"], birth_year=1980)["patient_id"] == alpha_id
    later = one(tables["conditions"], patient_id=alpha_id)
    offset = date_offset_days(KEYS, alpha_canonical())
    assert later["recorded_date"] == dt.date(2024, 3, 1) + dt.timedelta(days=offset)


def test_same_mrn_from_another_source_links(first_run):
    alpha_id = one(first_run[0]["patients"], birth_year=1980)["patient_id"]
    tables, _, _ = run_deid(
        context("csv-export"), [patient_alpha("row-17", mrn="CNRY 1 7F3A")], VIEWS
    )
    assert rows(tables["patients"])[0]["patient_id"] == alpha_id


def test_index_keeps_earlier_patients(first_run, second_run):
    first_pseudonyms = set(first_run[2].column("patient_pseudonym").to_pylist())
    assert first_pseudonyms <= set(second_run[2].column("patient_pseudonym").to_pylist())


def test_late_patient_with_mrn_keeps_the_fallback_pseudonym_and_offset():
    orphan_condition = {
        "resourceType": "Condition",
        "id": "cond-tango",
        "subject": ref("Patient", "pt-echo"),
        "recordedDate": "2023-08-01",
    }
    tables, _, index = run_deid(context(), [orphan_condition], VIEWS)
    orphan = rows(tables["conditions"])[0]
    late_patient = patient_alpha("pt-echo", mrn="CNRY-5-7F3A")
    later_condition = {**orphan_condition, "id": "cond-uniform", "recordedDate": "2023-09-01"}
    tables, _, _ = run_deid(context(), [late_patient, later_condition], VIEWS, previous=index)
    assert rows(tables["patients"])[0]["patient_id"] == orphan["patient_id"]
    later = rows(tables["conditions"])[0]
    assert later["recorded_date"] - orphan["recorded_date"] == dt.timedelta(days=31)


def test_mrn_system_and_value_come_from_the_same_identifier():
    patient = {
        "resourceType": "Patient",
        "id": "pt-india",
        "identifier": [
            {"type": MR_TYPE, "value": "CNRY-7-7F3A"},
            {"type": MR_TYPE, "system": MRN_SYSTEM, "value": "CNRY-8-7F3A"},
        ],
    }
    tables, _, _ = run_deid(context(), [patient], VIEWS)
    consistent = {
        patient_pseudonym(KEYS, canonical_patient_key(SOURCE, "pt-india", None, "CNRY-7-7F3A")),
        patient_pseudonym(
            KEYS, canonical_patient_key(SOURCE, "pt-india", MRN_SYSTEM, "CNRY-8-7F3A")
        ),
    }
    assert rows(tables["patients"])[0]["patient_id"] in consistent


# --------------------------------------------------------------------------- patient index


def test_patient_index_round_trips_through_the_vault(first_run, vault):
    index = first_run[2]
    path = vault / "patient_index.parquet"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_patient_index(vault, KEYS.fingerprint).equals(index)
    assert read_patient_index(vault, keys_for(bytes(32)).fingerprint) is None
    assert read_patient_index(vault.parent / "no-such-vault", KEYS.fingerprint) is None


def test_patient_index_holds_no_raw_values(first_run):
    index = first_run[2]
    assert index.column_names == [
        "ref_hash",
        "canonical_hash",
        "patient_pseudonym",
        "offset_days",
        "birth_year",
        "age_group",
    ]
    assert index.num_rows == 4  # three Patients, and DELTA pinned from the dangling reference
    pinned = [e for e in index.to_pylist() if e["birth_year"] is None and e["age_group"] is None]
    assert len(pinned) == 1  # a bare reference has no birth data
    assert leak_hits({"index": index}, CANARIES) == []


# ------------------------------------------------------------------------------------ leaks


def test_no_canary_reaches_any_output_table(first_run, second_run):
    tables = {f"a.{n}": t for n, t in first_run[0].items()}
    tables |= {f"b.{n}": t for n, t in second_run[0].items()}
    assert leak_hits(tables, CANARIES) == []


def test_leak_scan_finds_a_deliberately_unscrubbed_column(first_run):
    control = first_run[0]["patients"].append_column(
        "unscrubbed", pa.array([None, "x", "mail canary.1@EXAMPLE.invalid, qzCANARY"], pa.string())
    )
    assert leak_hits({"control": control}, CANARIES) == [
        ("control", "unscrubbed", "Qzcanary"),
        ("control", "unscrubbed", "canary.1@example.invalid"),
    ]


def test_counts_are_value_free_and_exact(first_run):
    _, counts, _ = first_run
    assert counts["conditions"] == TableDeidCounts(
        rows=2,
        pseudonymized=5,  # 2 condition ids + 2 patient references + 1 encounter reference
        dates_shifted=3,
        dates_nulled=1,  # the partial onset '2023-07'
        unresolved_patient_references=1,
        terms_dropped=1,  # code.text 'Qzcanary dx' is not on the term list
        term_columns={"code_text": {"kept": 0, "dropped": 1}},
    )
    assert counts["patients"] == TableDeidCounts(
        rows=3,
        pseudonymized=3,
        dates_shifted=1,  # the date of death
        zip_generalized=2,
        birth_years_grouped_90_plus=1,
    )
    assert counts["observations"] == TableDeidCounts(rows=2, pseudonymized=5, dates_shifted=2)


# ------------------------------------------------------------------------ failure behaviour


def test_a_failure_on_bad_data_does_not_echo_the_data():
    malformed = {
        "resourceType": "Observation",
        "id": "obs-victor",
        "status": "final",
        "code": {"coding": [{"code": "8867-4"}]},
        "subject": ref("Patient", ALPHA),
        "valueQuantity": {"value": "Qzcanary-555-0101"},
    }
    try:
        tables, _, _ = run_deid(context(), [malformed], VIEWS)
    except Exception as exc:
        assert "qzcanary" not in full_text(exc).lower()
    else:
        assert leak_hits(tables, ["Qzcanary"]) == []


def pseudonym_view(name: str, visit_path: str) -> dict[str, CompiledView]:
    tag = [{"name": "deid", "value": "pseudonym"}]
    view = {
        "resourceType": "ViewDefinition",
        "name": name,
        "resource": "Condition",
        "select": [
            {
                "column": [
                    {"name": "condition_id", "path": "getResourceKey()", "tag": tag},
                    {
                        "name": "patient_id",
                        "path": "subject.getReferenceKey(Patient).first()",
                        "tag": tag,
                    },
                    {"name": "visit_id", "path": visit_path, "tag": tag},
                ]
            }
        ],
    }
    return {name: compile_view(parse_view(view))}


CONDITION = {
    "resourceType": "Condition",
    "id": "cond-lima",
    "subject": ref("Patient", "Qzcanary-raw-id"),
    "encounter": ref("Encounter", "enc-kilo"),
}


def test_reference_type_name_cannot_inject_sql():
    views = pseudonym_view(
        "conditions_x",
        "encounter.getReferenceKey(`Encounter', 'x') || v.\"patient_id\" || concat('`).first()",
    )
    try:
        tables, _, _ = run_deid(context(), [CONDITION], views)
    except (DeidConfigurationError, ViewDefinitionError):
        return
    assert leak_hits(tables, ["Qzcanary"]) == []


def test_view_name_cannot_inject_sql():
    name = "t AS SELECT 1 AS a; CREATE TEMP TABLE injected AS SELECT 1 AS a; CREATE TEMP TABLE x"
    with pytest.raises(ViewDefinitionError, match=r"^name:"):
        pseudonym_view(name, "encounter.getReferenceKey(Encounter).first()")
    # the table names come from the mapping's keys: quoted, so a hostile key is only a name
    (compiled,) = pseudonym_view(
        "conditions_x", "encounter.getReferenceKey(Encounter).first()"
    ).values()
    views = {name: compiled}
    con = staging_connection(context())
    try:
        stage(con, [CONDITION], "f" * 64)
        index = build_patient_index(con, "staged", context())
        flatten_and_deidentify(con, "staged", views, index, context())
        created = con.sql("SELECT table_name FROM duckdb_tables()").fetchall()
        assert ("injected",) not in created
    finally:
        con.close()
