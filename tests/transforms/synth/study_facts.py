"""TEST HELPER ONLY: the LDN study's definitions (study-ldn.md) applied to an export, per format.

Reads written files (NDJSON, or the CSV layout), never the generator's answer key or code tables,
and flattens both formats into the same small tables, so one implementation of the study rules
checks that each format carries the published cohort on its own.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
PAIN_LOINC = "72514-3"
NALTREXONE_INGREDIENT = "7243"
DYSAUTONOMIA = {"G90.9", "G90.8", "G90.A", "G25.82"}
PAIN_REASONS = ("M79.7", "G89.2", "G89.4", "G62.9", "G60.8", "G60.9")
ORTHOSTATIC_REASONS = ("G90.A", "I95.1", "R55")
PER_DAY = {"d": 1.0, "h": 24.0, "wk": 1 / 7}


@dataclass(frozen=True)
class Order:
    id: str
    patient: str
    visit: str
    rxnorm: str
    name: str
    daily_mg: float
    authored: str
    reason: str | None


@dataclass
class Tables:
    """What the study reads, format-neutral."""

    visits: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # id: patient, start, service
    diagnoses: dict[str, set[str]] = field(default_factory=dict)  # patient: ICD-10-CM codes
    orders: list[Order] = field(default_factory=list)
    pain: dict[str, float] = field(default_factory=dict)  # visit: score
    responses: dict[str, tuple[str, str, dict[int, list[str]]]] = field(default_factory=dict)
    events: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # patient, suspect, severity, date


@dataclass(frozen=True)
class Facts:
    """One included patient, as the study derives it."""

    patient: str
    initial_visit: str
    prescription_visit: str
    follow_up_visit: str
    follow_up_days: int
    reason_class: str | None
    initial_daily_mg: float
    final_daily_mg: float
    pain_before: float
    pain_after: float
    side_effect: bool
    responses: tuple[str, str, str]

    @property
    def dose_increased(self) -> bool:
        return self.final_daily_mg > self.initial_daily_mg

    @property
    def pain_improved(self) -> bool:
        return self.pain_after <= self.pain_before - 2


def ref_id(reference: dict | None) -> str | None:
    return None if reference is None else reference["reference"].rsplit("/", 1)[1]


def read_ndjson(folder: Path) -> list[dict]:
    """Every resource of an NDJSON export (log excluded)."""
    resources = []
    for path in sorted(folder.glob("*.ndjson")):
        if path.name != "log.ndjson":
            resources += [json.loads(line) for line in path.read_text().splitlines()]
    return resources


def tables_from_fhir(resources: list[dict], link_id_prefix: str = "q") -> Tables:
    tables = Tables()
    for resource in resources:
        kind = resource["resourceType"]
        patient = ref_id(resource.get("subject"))
        if kind == "Encounter":
            service = resource["serviceType"]["coding"][0]["code"]
            tables.visits[resource["id"]] = (patient, resource["period"]["start"], service)
        elif kind == "Condition":
            coding = resource["code"]["coding"][0]
            if coding["system"] == ICD10CM:
                tables.diagnoses.setdefault(patient, set()).add(coding["code"])
        elif kind == "MedicationRequest":
            coding = resource["medicationCodeableConcept"]["coding"][0]
            dosage = resource["dosageInstruction"][0]
            repeat = dosage["timing"]["repeat"]
            quantity = dosage["doseAndRate"][0]["doseQuantity"]
            assert quantity["code"] == "mg"
            per_day = PER_DAY[repeat["periodUnit"]] * repeat["frequency"] / repeat["period"]
            reason = resource.get("reasonCode")
            tables.orders.append(
                Order(
                    resource["id"],
                    patient,
                    ref_id(resource["encounter"]),
                    coding["code"] if coding["system"] == RXNORM else "",
                    coding["display"],
                    float(quantity["value"]) * per_day,
                    resource["authoredOn"],
                    reason[0]["coding"][0]["code"] if reason else None,
                )
            )
        elif kind == "Observation" and resource["code"]["coding"][0]["code"] == PAIN_LOINC:
            tables.pain[ref_id(resource["encounter"])] = float(resource["valueQuantity"]["value"])
        elif kind == "QuestionnaireResponse":
            answers = {
                int(item["linkId"][len(link_id_prefix) :]): [
                    answer["valueCoding"]["code"] for answer in item["answer"]
                ]
                for item in resource["item"]
            }
            tables.responses[resource["id"]] = (patient, ref_id(resource["encounter"]), answers)
        elif kind == "AdverseEvent":
            tables.events.append(
                (
                    patient,
                    ref_id(resource["suspectEntity"][0]["instance"]),
                    resource["severity"]["coding"][0]["code"],
                    resource["date"],
                )
            )
    return tables


def tables_from_csv(folder: Path) -> Tables:
    def rows(name: str) -> list[dict[str, str]]:
        with (folder / name).open(newline="") as handle:
            return list(csv.DictReader(handle))

    tables = Tables()
    for row in rows("encounters.csv"):
        tables.visits[row["Id"]] = (row["PATIENT"], row["START"], row["SERVICE"])
    for row in rows("conditions.csv"):
        if row["SYSTEM"] == "ICD-10-CM":
            tables.diagnoses.setdefault(row["PATIENT"], set()).add(row["CODE"])
    for row in rows("medications.csv"):
        assert row["DOSE_UNIT"] == "mg"
        per_day = PER_DAY[row["PERIOD_UNIT"]] * float(row["FREQUENCY"]) / float(row["PERIOD"])
        tables.orders.append(
            Order(
                row["Id"],
                row["PATIENT"],
                row["ENCOUNTER"],
                row["CODE"],
                row["DESCRIPTION"],
                float(row["DOSE_VALUE"]) * per_day,
                row["AUTHORED"],
                row["REASONCODE"] or None,
            )
        )
    for row in rows("observations.csv"):
        if row["CODE"] == PAIN_LOINC:
            tables.pain[row["ENCOUNTER"]] = float(row["VALUE"])
    for row in rows("questionnaire_responses.csv"):
        answers = {
            item: row[f"Q{item}"].split(";") for item in range(1, 32) if row[f"Q{item}"] != ""
        }
        tables.responses[row["Id"]] = (row["PATIENT"], row["ENCOUNTER"], answers)
    for row in rows("adverse_events.csv"):
        tables.events.append(
            (row["PATIENT"], row["SUSPECT_MEDICATION"], row["SEVERITY"], row["DATE"])
        )
    return tables


def reason_class(code: str | None) -> str | None:
    if code is None:
        return None
    if code.startswith(PAIN_REASONS):
        return "pain"
    if code.startswith(ORTHOSTATIC_REASONS):
        return "orthostatic"
    return "other"


def is_ldn(order: Order) -> bool:
    naltrexone = order.rxnorm == NALTREXONE_INGREDIENT or "naltrexone" in order.name.lower()
    return naltrexone and order.daily_mg <= 5


def study_cohort(tables: Tables) -> dict[str, Facts]:
    """The study's patients and facts, by patient id (study-ldn.md definitions)."""
    ldn_by_patient: dict[str, list[Order]] = {}
    for order in tables.orders:
        if is_ldn(order):
            ldn_by_patient.setdefault(order.patient, []).append(order)
    responses_by_visit: dict[str, str] = {}
    for response_id, (_, visit, _) in sorted(tables.responses.items()):
        responses_by_visit.setdefault(visit, response_id)
    autonomic: dict[str, list[tuple[str, str]]] = {}
    for visit_id, (patient, start, service) in tables.visits.items():
        if service == "autonomic":
            autonomic.setdefault(patient, []).append((start, visit_id))
    cohort = {}
    for patient, orders in ldn_by_patient.items():
        if not tables.diagnoses.get(patient, set()) & DYSAUTONOMIA:
            continue
        orders.sort(key=lambda order: order.authored)
        first = orders[0]
        prescribed = _day(tables.visits[first.visit][1])
        visits = sorted(autonomic.get(patient, []))
        follow_up = next(
            (
                (start, visit)
                for start, visit in visits
                if 90 <= (_day(start) - prescribed).days <= 270 and visit in responses_by_visit
            ),
            None,
        )
        if follow_up is None:
            continue
        follow_up_start, follow_up_visit = follow_up
        final = [order for order in orders if order.authored <= follow_up_start][-1]
        ldn_ids = {order.id for order in orders}
        side_effect = any(
            event_patient == patient
            and suspect in ldn_ids
            and severity == "mild"
            and prescribed <= _day(when) <= _day(follow_up_start)
            for event_patient, suspect, severity, when in tables.events
        )
        initial_visit = visits[0][1]
        cohort[patient] = Facts(
            patient=patient,
            initial_visit=initial_visit,
            prescription_visit=first.visit,
            follow_up_visit=follow_up_visit,
            follow_up_days=(_day(follow_up_start) - prescribed).days,
            reason_class=reason_class(first.reason),
            initial_daily_mg=first.daily_mg,
            final_daily_mg=final.daily_mg,
            pain_before=tables.pain[first.visit],
            pain_after=tables.pain[follow_up_visit],
            side_effect=side_effect,
            responses=(
                responses_by_visit[initial_visit],
                responses_by_visit[first.visit],
                responses_by_visit[follow_up_visit],
            ),
        )
    return cohort


def published_numbers(cohort: dict[str, Facts]) -> dict[str, int]:
    """The measures of the published table, computed from the facts."""
    facts = cohort.values()
    reasons = [fact.reason_class for fact in facts]
    return {
        "patients": len(cohort),
        "reason_documented": sum(reason is not None for reason in reasons),
        "reason_pain": reasons.count("pain"),
        "reason_orthostatic": reasons.count("orthostatic"),
        "reason_other": reasons.count("other"),
        "reason_not_documented": reasons.count(None),
        "initial_dose_1mg": sum(abs(fact.initial_daily_mg - 1) < 1e-9 for fact in facts),
        "dose_increased": sum(fact.dose_increased for fact in facts),
        "pain_improved": sum(fact.pain_improved for fact in facts),
        "mild_side_effects": sum(fact.side_effect for fact in facts),
    }


def _day(moment: str) -> date:
    return date.fromisoformat(moment[:10])
