"""Canary fixtures: never-real identifiers planted in every slot deid.md section 10 lists.

Each canary is unique to its slot (``Qzcanary Vexlerow-<slot>``, ``CNRY-<slot>-7F3A``, ...), so
a hit names the slot that leaked. ``write_canary_inbox`` writes them as FHIR NDJSON, a FHIR
Bundle, CSV (mapped, unknown and free-text columns) and in an input file name.
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

QUESTIONNAIRE = "http://example.org/fhir/Questionnaire/compass-31"
LOCAL_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.696871"


def name(slot: str) -> str:
    return f"Qzcanary Vexlerow-{slot}"


def mrn(slot: str) -> str:
    return f"CNRY-{slot}-7F3A"


SSN = "666-41-7302"
PHONE = "555-0147"
EMAIL = "canary.contact@example.invalid"
STREET = "41 Canaryplume Ln"
CITY = "Canaryvale"
IP = "192.0.2.41"
URL = "https://canary.invalid/meta-source"
SERIAL = "SN-CNRY-device-7F3A"
FILE_NAME_CANARY = "Qzcanary-Vexlerow-filename"


def canary_tokens() -> set[str]:
    """Every planted value (whole strings and the distinctive parts a partial leak would show)."""
    slots = [
        "given", "family", "contact", "display", "practitioner", "cctext", "narrative", "note",
        "html", "valuestring", "dosage", "instruction", "answer", "extension", "bundle", "csv",
        "csvunknown", "csvtext", "annotation", "local",
    ]  # fmt: skip
    tokens = {name(s) for s in slots} | {f"Vexlerow-{s}" for s in slots}
    tokens |= {mrn(s) for s in ("fhir", "bundle", "csv", "note")}
    tokens |= {
        SSN,
        PHONE,
        EMAIL,
        STREET,
        CITY,
        IP,
        URL,
        SERIAL,
        "Canaryplume",
        "canary.invalid",
        FILE_NAME_CANARY,
    }
    return tokens


def _identifiers(slot: str) -> list[dict]:
    v2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
    return [
        {"type": {"coding": [{"system": v2, "code": "MR"}]}, "system": "urn:oid:2.16.840.1.113883.3.7777.1", "value": mrn(slot)},
        {"type": {"coding": [{"system": v2, "code": "SS"}]}, "system": "http://hl7.org/fhir/sid/us-ssn", "value": SSN},
    ]  # fmt: skip


def fhir_resources() -> list[dict]:
    """A patient whose every PHI slot carries a canary, with the records that point at it."""
    patient = {
        "resourceType": "Patient",
        "id": "canary-patient",
        "meta": {"source": URL},
        "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{name("narrative")}</div>'},
        # the canary is the extension's value; its definition URL is reported by design
        # (deid.md section 6: unknown extensions are dropped and counted by URL)
        "extension": [{"url": "http://example.org/StructureDefinition/unknown-local", "valueString": name("extension")}],
        "identifier": _identifiers("fhir"),
        "name": [{"use": "official", "family": name("family"), "given": [name("given")]}],
        "telecom": [{"system": "phone", "value": PHONE}, {"system": "email", "value": EMAIL}],
        "gender": "female",
        "birthDate": "1930-04-05",  # 90+: the birth year must not leave either
        "address": [{"use": "home", "line": [STREET], "city": CITY, "state": "VT", "postalCode": "05901", "country": "US"}],
        "contact": [{"name": {"family": name("contact")}, "telecom": [{"system": "phone", "value": PHONE}]}],
    }  # fmt: skip
    patient_ref = {"reference": "Patient/canary-patient", "display": name("display")}
    encounter = {
        "resourceType": "Encounter",
        "id": "canary-encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": patient_ref,
        "participant": [
            {"individual": {"reference": "Practitioner/p1", "display": name("practitioner")}}
        ],
        "period": {"start": "2024-03-01T09:00:00-05:00", "end": "2024-03-01T10:00:00-05:00"},
    }
    encounter_ref = {"reference": "Encounter/canary-encounter"}
    # notes carry the patient's own identifiers, as real ones do (the scrubber's dictionary)
    note_text = (
        f"Seen on 2024-03-01. {name('given')} {name('family')}, MRN {mrn('fhir')}, phone {PHONE}, "
        f"SSN {SSN}, IP {IP}, lives at {STREET}, {CITY}. Naltrexone 1 mg daily."
    )
    html = (
        f"<html><body><p>Mrs. {name('family')} called from {PHONE} about {EMAIL}</p></body></html>"
    )
    return [
        patient,
        encounter,
        {
            "resourceType": "Condition",
            "id": "canary-condition",
            "subject": patient_ref,
            "encounter": encounter_ref,
            "code": {
                "coding": [{"system": LOCAL_SYSTEM, "code": mrn("fhir"), "display": name("local")}],
                "text": name("cctext"),
            },
            "note": [{"text": name("annotation")}],
            "recordedDate": "2024-03-01",
        },
        {
            "resourceType": "Observation",
            "id": "canary-observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "subject": patient_ref,
            "encounter": encounter_ref,
            "effectiveDateTime": "2024-03-01T09:30:00Z",
            "valueString": name("valuestring"),
        },
        {
            "resourceType": "MedicationRequest",
            "id": "canary-med",
            "status": "active",
            "intent": "order",
            "subject": patient_ref,
            "encounter": encounter_ref,
            "medicationCodeableConcept": {
                "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7243", "display": "naltrexone"}],
                "text": name("cctext"),
            },
            "authoredOn": "2024-03-01",
            "dosageInstruction": [
                {
                    "text": name("dosage"),
                    "patientInstruction": name("instruction"),
                    "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}],
                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                }
            ],
        },
        {
            "resourceType": "QuestionnaireResponse",
            "id": "canary-response",
            "status": "completed",
            "questionnaire": QUESTIONNAIRE,
            "subject": patient_ref,
            "encounter": encounter_ref,
            "authored": "2024-03-01",
            "item": [
                {"linkId": "q1", "answer": [{"valueCoding": {"system": QUESTIONNAIRE, "code": "1"}}]},
                {"linkId": "comment", "answer": [{"valueString": name("answer")}]},
            ],
        },
        {
            "resourceType": "DocumentReference",
            "id": "canary-note",
            "status": "current",
            "subject": patient_ref,
            "content": [
                {"attachment": {"contentType": "text/plain", "data": base64.b64encode(note_text.encode()).decode()}},
                {"attachment": {"contentType": "text/html", "data": base64.b64encode(html.encode()).decode()}},
            ],
        },
        {
            "resourceType": "Device",
            "id": "canary-device",
            "serialNumber": SERIAL,
            "patient": patient_ref,
        },
    ]  # fmt: skip


def bundle() -> dict:
    """A collection Bundle whose fullUrls carry a canary host and whose patient has its own slot."""
    patient = {
        "resourceType": "Patient",
        "id": "canary-bundle-patient",
        "identifier": _identifiers("bundle"),
        "name": [{"family": name("bundle")}],
        "birthDate": "1971-02-03",
    }
    condition = {
        "resourceType": "Condition",
        "id": "canary-bundle-condition",
        "subject": {
            "reference": "https://canary.invalid/fhir/Patient/canary-bundle-patient",
            "display": name("display"),
        },
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G90.A"}],
            "text": name("cctext"),
        },
        "recordedDate": "2024-05-06",
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "https://canary.invalid/fhir/Patient/canary-bundle-patient",
                "resource": patient,
            },
            {
                "fullUrl": "https://canary.invalid/fhir/Condition/canary-bundle-condition",
                "resource": condition,
            },
        ],
    }


def write_csv(folder: Path) -> None:
    """patients.csv with canaries in mapped columns and in an unknown one; observations with free text."""
    patients = [
        "Id", "BIRTHDATE", "DEATHDATE", "SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "LAST", "SUFFIX",
        "MAIDEN", "MARITAL", "RACE", "ETHNICITY", "GENDER", "BIRTHPLACE", "ADDRESS", "CITY", "STATE",
        "COUNTY", "ZIP", "MRN", "PHONE", "EMAIL", "CANARY_UNKNOWN_NOTES",
    ]  # fmt: skip
    row = {
        "Id": "canary-csv-patient", "BIRTHDATE": "1966-07-08", "SSN": SSN, "FIRST": name("csv"),
        "LAST": name("csv"), "RACE": "white", "ETHNICITY": "nonhispanic", "GENDER": "F",
        "BIRTHPLACE": f"{CITY}, VT, US", "ADDRESS": STREET, "CITY": CITY, "STATE": "VT", "ZIP": "05901",
        "MRN": mrn("csv"), "PHONE": PHONE, "EMAIL": EMAIL, "CANARY_UNKNOWN_NOTES": name("csvunknown"),
    }  # fmt: skip
    with (folder / "patients.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, patients)
        writer.writeheader()
        writer.writerow({h: row.get(h, "") for h in patients})
    observations = [
        "DATE",
        "PATIENT",
        "ENCOUNTER",
        "CATEGORY",
        "CODE",
        "DESCRIPTION",
        "VALUE",
        "UNITS",
        "TYPE",
        "Id",
    ]
    with (folder / "observations.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(observations)
        writer.writerow(["2024-03-01T09:30:00Z", "canary-csv-patient", "", "survey", "72514-3", "Pain", name("csvtext"), "", "text", "canary-csv-obs"])  # fmt: skip


def write_canary_inbox(inbox: Path) -> None:
    """Every slot at once: NDJSON per type (one file name carries a canary), a Bundle and CSV."""
    inbox.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[dict]] = {}
    for resource in fhir_resources():
        by_type.setdefault(resource["resourceType"], []).append(resource)
    for resource_type, resources in by_type.items():
        # the patients' file name itself carries a canary: reports show file names hashed only
        stem = (
            f"{resource_type}.{FILE_NAME_CANARY}" if resource_type == "Patient" else resource_type
        )
        lines = [json.dumps(r) for r in resources]
        if (
            resource_type == "Observation"
        ):  # a malformed line with canaries: quarantined, never echoed
            lines.append(
                '{"resourceType": "Observation", "id": "'
                + mrn("fhir")
                + '", "valueString": "'
                + name("given")
            )
        (inbox / f"{stem}.ndjson").write_text("\n".join(lines) + "\n")
    (inbox / "canary-bundle.json").write_text(json.dumps(bundle()))
    write_csv(inbox)
