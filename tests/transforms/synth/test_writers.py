"""write_export(): NDJSON with its bulk log, transaction Bundles, and the documented CSV layout."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

from .study_facts import read_ndjson, tables_from_csv, tables_from_fhir

CSV_LAYOUT_DOC = Path(__file__).resolve().parents[3] / "docs" / "csv-layout.md"
ISO_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def documented_layout() -> dict[str, list[str]]:
    """File -> columns, parsed from the table in docs/csv-layout.md."""
    layout = {}
    for line in CSV_LAYOUT_DOC.read_text().splitlines():
        match = re.match(r"\| `(\w+\.csv)` \| [^|]+ \| (.+) \|$", line)
        if not match:
            continue
        columns = []
        for column in match.group(2).replace("+ ", "").split(", "):
            if column == "Q1 … Q31":
                columns += [f"Q{item}" for item in range(1, 32)]
            else:
                columns.append(column)
        layout[match.group(1)] = columns
    return layout


def csv_rows(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_ndjson_holds_one_file_per_resource_type_in_export_order(paper_files, paper_export):
    folder = paper_files["ndjson"]
    types = Counter(resource["resourceType"] for resource in paper_export.resources())
    assert {path.name for path in folder.iterdir()} == {f"{t}.ndjson" for t in types} | {
        "log.ndjson"
    }
    for resource_type, count in types.items():
        lines = (folder / f"{resource_type}.ndjson").read_text().splitlines()
        assert len(lines) == count
        expected = [r["id"] for r in paper_export.resources() if r["resourceType"] == resource_type]
        assert [json.loads(line)["id"] for line in lines] == expected


def test_ndjson_log_reads_like_a_bulk_export_log(paper_files, paper_export):
    folder = paper_files["ndjson"]
    events = [json.loads(line) for line in (folder / "log.ndjson").read_text().splitlines()]
    assert [event["eventId"] for event in events[:3]] == [
        "kickoff",
        "status_complete",
        "manifest_complete",
    ]
    assert events[-1]["eventId"] == "export_complete"
    completed = {
        event["eventDetail"]["fileUrl"]: event["eventDetail"]
        for event in events
        if event["eventId"] == "download_complete"
    }
    data_files = sorted(path for path in folder.glob("*.ndjson") if path.name != "log.ndjson")
    assert sorted(completed) == [path.name for path in data_files]
    for path in data_files:
        assert completed[path.name]["resourceCount"] == len(path.read_text().splitlines())
        assert completed[path.name]["fileSize"] == path.stat().st_size
    assert events[-1]["eventDetail"]["resources"] == sum(1 for _ in paper_export.resources())
    assert "://" not in (folder / "log.ndjson").read_text(), "no network URLs"


def test_bundles_are_transactions_with_resolvable_urn_references(paper_files, paper_export):
    folder = paper_files["bundle"]
    assert len(list(folder.glob("bundle-*.json"))) == len(paper_export.patients)
    for chart in paper_export.patients:
        bundle = json.loads((folder / f"bundle-{chart.index}.json").read_text())
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
        full_urls = set()
        for entry, resource in zip(bundle["entry"], chart.resources, strict=True):
            assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
            assert entry["resource"]["id"] == resource["id"]
            assert entry["request"] == {
                "method": "PUT",
                "url": f"{resource['resourceType']}/{resource['id']}",
            }
            full_urls.add(entry["fullUrl"])
        references = re.findall(r'"reference":\s*"([^"]*)"', json.dumps(bundle))
        assert references
        assert all(reference.startswith("urn:uuid:") for reference in references)
        assert set(references) <= full_urls


def test_bundle_entries_equal_the_resources_but_for_references(paper_files, paper_export):
    chart = paper_export.patients[0]
    bundle = json.loads((paper_files["bundle"] / "bundle-0.json").read_text())
    for entry, resource in zip(bundle["entry"], chart.resources, strict=True):
        text = json.dumps(entry["resource"])
        for other in chart.resources:
            text = text.replace(
                f'"urn:uuid:{other["id"]}"', f'"{other["resourceType"]}/{other["id"]}"'
            )
        assert json.loads(text) == resource


def test_the_three_formats_share_ids(paper_files, paper_export):
    ndjson_ids = {resource["id"] for resource in read_ndjson(paper_files["ndjson"])}
    bundle_ids = {
        entry["resource"]["id"]
        for path in paper_files["bundle"].glob("bundle-*.json")
        for entry in json.loads(path.read_text())["entry"]
    }
    csv_ids = {
        row["Id"]
        for path in paper_files["csv"].glob("*.csv")
        for row in csv_rows(paper_files["csv"], path.name)
    }
    notes = {r["id"] for r in paper_export.resources() if r["resourceType"] == "DocumentReference"}
    assert ndjson_ids == bundle_ids == {r["id"] for r in paper_export.resources()}
    assert csv_ids == ndjson_ids - notes


def test_csv_headers_are_exactly_the_documented_layout(paper_files):
    layout = documented_layout()
    assert len(layout) == 7
    assert sorted(path.name for path in paper_files["csv"].iterdir()) == sorted(layout)
    for name, columns in layout.items():
        with (paper_files["csv"] / name).open(newline="") as handle:
            assert next(csv.reader(handle)) == columns, name


def test_csv_carries_the_clinical_content_of_the_fhir_resources(paper_files):
    assert tables_from_csv(paper_files["csv"]) == tables_from_fhir(
        read_ndjson(paper_files["ndjson"])
    )


def test_csv_patients_match_the_patient_resources(paper_files, paper_export):
    rows = {row["Id"]: row for row in csv_rows(paper_files["csv"], "patients.csv")}
    assert len(rows) == len(paper_export.patients)
    for chart in paper_export.patients:
        patient, row = chart.resources[0], rows[chart.patient_id]
        identifiers = {i["type"]["coding"][0]["code"]: i["value"] for i in patient["identifier"]}
        assert row["MRN"] == identifiers["MR"] and row["SSN"] == identifiers["SS"]
        assert row["BIRTHDATE"] == patient["birthDate"]
        assert row["DEATHDATE"] == patient.get("deceasedDateTime", "")
        assert row["GENDER"] == {"female": "F", "male": "M"}[patient["gender"]]
        assert row["ZIP"] == patient["address"][0]["postalCode"]
        assert row["LAST"] == patient["name"][0]["family"]
        assert row["PHONE"] == patient["telecom"][0]["value"]


def test_csv_values_follow_the_documented_conventions(paper_files):
    folder = paper_files["csv"]
    patients = csv_rows(folder, "patients.csv")
    assert {row["RACE"] for row in patients} <= {
        "white",
        "black",
        "asian",
        "native",
        "hawaiian",
        "other",
    }
    assert {row["ETHNICITY"] for row in patients} <= {"hispanic", "nonhispanic"}
    assert all(ISO_DATE.fullmatch(row["BIRTHDATE"]) for row in patients)
    encounters = csv_rows(folder, "encounters.csv")
    assert {row["ENCOUNTERCLASS"] for row in encounters} <= {
        "ambulatory",
        "wellness",
        "outpatient",
        "inpatient",
        "emergency",
    }
    assert {row["SERVICE"] for row in encounters} == {"autonomic", "general"}
    assert all(ISO_DATETIME.fullmatch(row["START"]) for row in encounters)
    conditions = csv_rows(folder, "conditions.csv")
    assert {row["SYSTEM"] for row in conditions} == {"ICD-10-CM", "SNOMED-CT"}
    medications = csv_rows(folder, "medications.csv")
    assert {row["DOSE_UNIT"] for row in medications} == {"mg"}
    assert {row["PERIOD_UNIT"] for row in medications} <= {"d", "h", "wk"}
    assert all(ISO_DATETIME.fullmatch(row["AUTHORED"]) for row in medications)
    pain = [row for row in csv_rows(folder, "observations.csv") if row["CODE"] == "72514-3"]
    assert pain and all(
        row["UNITS"] == "{score}" and 0 <= float(row["VALUE"]) <= 10 for row in pain
    )
    events = csv_rows(folder, "adverse_events.csv")
    assert {row["SEVERITY"] for row in events} <= {"mild", "moderate", "severe"}
    medication_ids = {row["Id"] for row in medications}
    assert all(row["SUSPECT_MEDICATION"] in medication_ids for row in events)
    responses = csv_rows(folder, "questionnaire_responses.csv")
    # Q6 lists ticked boxes; "0" is an answer with nothing ticked, empty a skipped item.
    assert {row["Q6"] for row in responses} == {"", "0", "1", "2", "1;2"}
