"""Writers: one SyntheticExport as FHIR bulk NDJSON, per-patient transaction Bundles, or CSV.

All three carry the same resources with the same ids; output depends only on the export, so the
same seed gives byte-identical files.

- `ndjson`: `<Type>.ndjson` per resource type (patients in export order, each patient's resources
  in chart order) and `log.ndjson`, a bulk-data-client style log (kickoff, status, manifest, a
  `download_request`/`download_complete` pair per file, completion) with relative file names
  instead of URLs.
- `bundle`: `bundle-<index>.json`, one transaction Bundle per patient; `fullUrl` is
  `urn:uuid:<id>`, `request` is `PUT <Type>/<id>`, the resource keeps its `id`, and every
  reference inside is rewritten to the target's `urn:uuid:` full URL.
- `csv`: docs/csv-layout.md, file by file and column by column. DocumentReference (notes) has no
  place there and is not written. Columns the FHIR resources have no data for (organisation,
  provider, payer, costs, dispenses) are empty.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from . import codes
from .export import EXPORT_TIME, SyntheticExport
from .people import ETHNICITIES, RACES

FORMATS = ("ndjson", "bundle", "csv")

CSV_LAYOUT: dict[str, tuple[str, ...]] = {
    "patients.csv": (
        "Id", "BIRTHDATE", "DEATHDATE", "SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "LAST",
        "SUFFIX", "MAIDEN", "MARITAL", "RACE", "ETHNICITY", "GENDER", "BIRTHPLACE", "ADDRESS",
        "CITY", "STATE", "COUNTY", "ZIP", "MRN", "PHONE", "EMAIL",
    ),
    "encounters.csv": (
        "Id", "START", "STOP", "PATIENT", "ORGANIZATION", "PROVIDER", "PAYER", "ENCOUNTERCLASS",
        "CODE", "DESCRIPTION", "BASE_ENCOUNTER_COST", "TOTAL_CLAIM_COST", "PAYER_COVERAGE",
        "REASONCODE", "REASONDESCRIPTION", "SERVICE",
    ),
    "conditions.csv": (
        "START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE", "DESCRIPTION", "Id",
        "CODE_TEXT",
    ),
    "medications.csv": (
        "START", "STOP", "PATIENT", "PAYER", "ENCOUNTER", "CODE", "DESCRIPTION", "BASE_COST",
        "PAYER_COVERAGE", "DISPENSES", "TOTALCOST", "REASONCODE", "REASONDESCRIPTION", "Id",
        "AUTHORED", "STATUS", "DOSE_VALUE", "DOSE_UNIT", "FREQUENCY", "PERIOD", "PERIOD_UNIT",
    ),
    "observations.csv": (
        "DATE", "PATIENT", "ENCOUNTER", "CATEGORY", "CODE", "DESCRIPTION", "VALUE", "UNITS",
        "TYPE", "Id",
    ),
    "adverse_events.csv": (
        "Id", "DATE", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE", "DESCRIPTION", "SEVERITY",
        "SUSPECT_MEDICATION",
    ),
    "questionnaire_responses.csv": (
        "Id", "PATIENT", "ENCOUNTER", "AUTHORED", "STATUS", "QUESTIONNAIRE",
        *(f"Q{item}" for item in range(1, 32)),
    ),
}  # fmt: skip
"""File name -> header, in the order of docs/csv-layout.md."""

# One encoder for every line: json.dumps with options builds a new encoder per call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# OMB category code -> the CSV label (csv-layout.md).
_RACE_LABEL = {code: label for label, (code, _) in RACES.items()}
_ETHNICITY_LABEL = {code: label for label, (code, _) in ETHNICITIES.items()}


def write_export(export: SyntheticExport, fmt: str, out_dir: Path | str) -> list[Path]:
    """Write an export in one of the three formats.

    Args:
        export: what `generate()` returned.
        fmt: `ndjson`, `bundle` or `csv`.
        out_dir: target folder, created if missing; files of the same names are replaced.

    Returns:
        The files written, in a fixed order.

    Raises:
        ValueError: for an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    writer: Callable[[SyntheticExport, Path], list[Path]] = {
        "ndjson": _write_ndjson,
        "bundle": _write_bundles,
        "csv": _write_csv,
    }[fmt]
    return writer(export, folder)


def _truncated(text: str) -> str:
    """A serialised resource cut off halfway, as an interrupted download leaves it."""
    return text[: len(text) // 2]


def _write_ndjson(export: SyntheticExport, folder: Path) -> list[Path]:
    handles = {}
    counts: dict[str, int] = {}
    try:
        for resource in export.resources():
            resource_type = resource["resourceType"]
            handle = handles.get(resource_type)
            if handle is None:
                path = folder / f"{resource_type}.ndjson"
                handle = handles[resource_type] = path.open("w", encoding="utf-8", newline="\n")
                counts[resource_type] = 0
            line = _JSON.encode(resource)
            if resource["id"] in export.malformed_ids:
                line = _truncated(line)
            handle.write(line)
            handle.write("\n")
            counts[resource_type] += 1
    finally:
        for handle in handles.values():
            handle.close()
    files = [folder / f"{resource_type}.ndjson" for resource_type in sorted(handles)]
    log = folder / "log.ndjson"
    log.write_text(
        "".join(_JSON.encode(event) + "\n" for event in _bulk_log(export, files, counts)),
        encoding="utf-8",
    )
    return [*files, log]


def _bulk_log(export: SyntheticExport, files: list[Path], counts: dict[str, int]) -> list[dict]:
    """The events a bulk-data client logs for this export (fixed times: no clock is read)."""
    export_id = f"synthetic-{export.profile}-{export.seed}"
    # The export "took" one minute (the duration below), ending at the transaction time.
    kickoff = datetime.fromisoformat(EXPORT_TIME) - timedelta(minutes=1)
    started = kickoff.strftime("%Y-%m-%dT%H:%M:%SZ")

    def event(name: str, detail: dict, at: str = EXPORT_TIME) -> dict:
        return {"exportId": export_id, "timestamp": at, "eventId": name, "eventDetail": detail}

    events = [
        event("kickoff", {"exportUrl": f"Group/synthetic-{export.profile}/$export"}, started),
        event("status_complete", {"transactionTime": EXPORT_TIME}),
        event(
            "manifest_complete",
            {
                "transactionTime": EXPORT_TIME,
                "totalOutputFileCount": len(files),
                "totalDeletedFileCount": 0,
                "totalErrorFileCount": 0,
                "totalManifests": 1,
            },
        ),
    ]
    total_bytes = 0
    for path in files:
        resource_type = path.name.removesuffix(".ndjson")
        size = path.stat().st_size
        total_bytes += size
        events.append(
            event(
                "download_request",
                {"fileUrl": path.name, "itemType": "output", "resourceType": resource_type},
            )
        )
        events.append(
            event(
                "download_complete",
                {"fileUrl": path.name, "resourceCount": counts[resource_type], "fileSize": size},
            )
        )
    events.append(
        event(
            "export_complete",
            {
                "files": len(files),
                "resources": sum(counts.values()),
                "bytes": total_bytes,
                "attachments": None,
                "duration": 60000,
            },
        )
    )
    return events


def _write_bundles(export: SyntheticExport, folder: Path) -> list[Path]:
    paths = []
    for chart in export.patients:
        entries = []
        for resource in chart.resources:
            resource_id = resource["id"]
            body: dict | str = _urn_references(resource)
            if resource_id in export.malformed_ids:
                body = _truncated(_JSON.encode(body))
            entries.append(
                {
                    "fullUrl": f"urn:uuid:{resource_id}",
                    "resource": body,
                    "request": {
                        "method": "PUT",
                        "url": f"{resource['resourceType']}/{resource_id}",
                    },
                }
            )
        bundle = {
            "resourceType": "Bundle",
            # Derived from the patient id: the same export always gives the same Bundle id.
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:uuid:{chart.patient_id}#bundle")),
            "type": "transaction",
            "timestamp": EXPORT_TIME,
            "entry": entries,
        }
        path = folder / f"bundle-{chart.index}.json"
        path.write_text(_JSON.encode(bundle) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def _urn_references(value: object) -> object:
    """A copy with every `Type/id` reference rewritten to `urn:uuid:id`."""
    if isinstance(value, dict):
        return {
            key: (
                f"urn:uuid:{item.rsplit('/', 1)[1]}"
                if key == "reference" and isinstance(item, str)
                else _urn_references(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_urn_references(item) for item in value]
    return value


def _write_csv(export: SyntheticExport, folder: Path) -> list[Path]:
    rows: dict[str, list[list[str]]] = {name: [] for name in CSV_LAYOUT}
    for resource in export.resources():
        target = _CSV_FILE.get(resource["resourceType"])
        if target is None:
            continue
        file_name, to_row = target
        values = to_row(resource, export)
        row = [_cell(values.get(column)) for column in CSV_LAYOUT[file_name]]
        if resource["id"] in export.malformed_ids:
            row = row[: len(row) // 2]
        rows[file_name].append(row)
    paths = []
    for file_name, header in CSV_LAYOUT.items():
        path = folder / file_name
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows[file_name])
        paths.append(path)
    return paths


def _cell(value: object) -> str:
    if value is None:
        return ""
    return str(value)


def _id(reference: dict | None) -> str | None:
    return None if reference is None else reference["reference"].rsplit("/", 1)[1]


def _coding(concept: dict | None) -> dict:
    return concept["coding"][0] if concept else {}


def _patient_row(patient: dict, export: SyntheticExport) -> dict:
    identifiers = {
        identifier["type"]["coding"][0]["code"]: identifier["value"]
        for identifier in patient["identifier"]
    }
    names = {name["use"]: name for name in patient["name"]}
    official = names["official"]
    extensions = {extension["url"]: extension for extension in patient["extension"]}
    race = extensions[codes.US_CORE_RACE]["extension"][0]["valueCoding"]["code"]
    ethnicity = extensions[codes.US_CORE_ETHNICITY]["extension"][0]["valueCoding"]["code"]
    born = extensions[codes.BIRTH_PLACE]["valueAddress"]
    address = patient["address"][0]
    telecom = {contact["system"]: contact["value"] for contact in patient["telecom"]}
    return {
        "Id": patient["id"],
        "BIRTHDATE": patient["birthDate"],
        "DEATHDATE": patient.get("deceasedDateTime"),
        "SSN": identifiers.get("SS"),
        "DRIVERS": identifiers.get("DL"),
        "PASSPORT": identifiers.get("PPN"),
        "PREFIX": " ".join(official.get("prefix", [])),
        "FIRST": " ".join(official["given"]),
        "LAST": official["family"],
        "SUFFIX": " ".join(official.get("suffix", [])),
        "MAIDEN": names["maiden"]["family"] if "maiden" in names else None,
        "MARITAL": _coding(patient.get("maritalStatus")).get("code"),
        "RACE": _RACE_LABEL[race],
        "ETHNICITY": _ETHNICITY_LABEL[ethnicity],
        "GENDER": {"female": "F", "male": "M"}[patient["gender"]],
        "BIRTHPLACE": f"{born['city']}, {born['state']}, {born['country']}",
        "ADDRESS": ", ".join(address["line"]),
        "CITY": address["city"],
        "STATE": address["state"],
        "COUNTY": address.get("district"),
        "ZIP": address["postalCode"],
        "MRN": identifiers.get("MR"),
        "PHONE": telecom.get("phone"),
        "EMAIL": telecom.get("email"),
    }


_CLASS_LABEL = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient"}


def _encounter_row(encounter: dict, export: SyntheticExport) -> dict:
    encounter_type = encounter["type"][0]["coding"][0]
    reason = _coding(encounter["reasonCode"][0]) if "reasonCode" in encounter else {}
    return {
        "Id": encounter["id"],
        "START": encounter["period"]["start"],
        "STOP": encounter["period"].get("end"),
        "PATIENT": _id(encounter["subject"]),
        "ENCOUNTERCLASS": codes.CSV_CLASS_BY_TYPE.get(
            encounter_type["code"], _CLASS_LABEL[encounter["class"]["code"]]
        ),
        "CODE": encounter_type["code"],
        "DESCRIPTION": encounter_type["display"],
        "REASONCODE": reason.get("code"),
        "REASONDESCRIPTION": reason.get("display"),
        "SERVICE": encounter["serviceType"]["coding"][0]["code"],
    }


def _condition_row(condition: dict, export: SyntheticExport) -> dict:
    coding = _coding(condition["code"])
    return {
        "START": condition.get("onsetDateTime"),
        "STOP": condition.get("abatementDateTime"),
        "PATIENT": _id(condition["subject"]),
        "ENCOUNTER": _id(condition.get("encounter")),
        "SYSTEM": codes.CSV_SYSTEM_LABELS[coding["system"]],
        "CODE": coding["code"],
        "DESCRIPTION": coding["display"],
        "Id": condition["id"],
        "CODE_TEXT": condition["code"].get("text"),
    }


def _medication_row(order: dict, export: SyntheticExport) -> dict:
    coding = _coding(order["medicationCodeableConcept"])
    reason = _coding(order["reasonCode"][0]) if "reasonCode" in order else {}
    dosage = order["dosageInstruction"][0]
    repeat = dosage["timing"]["repeat"]
    dose = dosage["doseAndRate"][0]["doseQuantity"]
    return {
        "START": repeat["boundsPeriod"]["start"],
        "STOP": repeat["boundsPeriod"].get("end"),
        "PATIENT": _id(order["subject"]),
        "ENCOUNTER": _id(order.get("encounter")),
        "CODE": coding["code"],
        "DESCRIPTION": coding["display"],
        "REASONCODE": reason.get("code"),
        "REASONDESCRIPTION": reason.get("display"),
        "Id": order["id"],
        "AUTHORED": order["authoredOn"],
        "STATUS": order["status"],
        "DOSE_VALUE": dose["value"],
        "DOSE_UNIT": dose.get("code", dose.get("unit")),
        "FREQUENCY": repeat["frequency"],
        "PERIOD": repeat["period"],
        "PERIOD_UNIT": repeat["periodUnit"],
    }


def _observation_row(observation: dict, export: SyntheticExport) -> dict:
    coding = _coding(observation["code"])
    quantity = observation["valueQuantity"]
    return {
        "DATE": observation["effectiveDateTime"],
        "PATIENT": _id(observation["subject"]),
        "ENCOUNTER": _id(observation.get("encounter")),
        "CATEGORY": _coding(observation["category"][0])["code"],
        "CODE": coding["code"],
        "DESCRIPTION": coding["display"],
        "VALUE": quantity["value"],
        "UNITS": quantity.get("code", quantity.get("unit")),
        "TYPE": "numeric",
        "Id": observation["id"],
    }


def _adverse_event_row(event: dict, export: SyntheticExport) -> dict:
    coding = _coding(event["event"])
    return {
        "Id": event["id"],
        "DATE": event["date"],
        "PATIENT": _id(event["subject"]),
        "ENCOUNTER": _id(event.get("encounter")),
        "SYSTEM": codes.CSV_SYSTEM_LABELS[coding["system"]],
        "CODE": coding["code"],
        "DESCRIPTION": coding["display"],
        "SEVERITY": _coding(event["severity"])["code"],
        "SUSPECT_MEDICATION": _id(event["suspectEntity"][0]["instance"]),
    }


def _response_row(response: dict, export: SyntheticExport) -> dict:
    prefix_length = len(export.link_id_prefix)
    row = {
        "Id": response["id"],
        "PATIENT": _id(response["subject"]),
        "ENCOUNTER": _id(response.get("encounter")),
        "AUTHORED": response["authored"],
        "STATUS": response["status"],
        "QUESTIONNAIRE": response["questionnaire"],
    }
    for item in response["item"]:
        number = item["linkId"][prefix_length:]
        row[f"Q{number}"] = ";".join(answer["valueCoding"]["code"] for answer in item["answer"])
    return row


_CSV_FILE: dict[str, tuple[str, Callable[[dict, SyntheticExport], dict]]] = {
    "Patient": ("patients.csv", _patient_row),
    "Encounter": ("encounters.csv", _encounter_row),
    "Condition": ("conditions.csv", _condition_row),
    "MedicationRequest": ("medications.csv", _medication_row),
    "Observation": ("observations.csv", _observation_row),
    "AdverseEvent": ("adverse_events.csv", _adverse_event_row),
    "QuestionnaireResponse": ("questionnaire_responses.csv", _response_row),
}
