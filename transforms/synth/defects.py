"""Faults planted by `generate(..., defects=True)`, for the validation and quarantine stages.

Each fault is added on top of the normal records (nothing normal is altered) on a patient outside
the published cohort, so the `paper` numbers still hold once the pipeline has set the faults
aside. Hosts are drawn from a generator of their own: the same seed plants the same faults.
`SyntheticExport.defects` lists every fault with the id it affects; `defect_counts()` counts them.

Kinds, with count, the fault, and how NDJSON / Bundle / CSV carry it:

- `malformed_unit` (1): a vital-sign Observation written broken. NDJSON: the line is cut off
  mid-object. Bundle: the entry's `resource` is a JSON string, not an object. CSV: the row is cut
  off after half its cells.
- `invalid_r4_model` (3): fail the `fhir.resources` R4B model: an Encounter starting on
  February 30, an Observation with `valueQuantity.value` "abc", a MedicationRequest with
  `doseQuantity.value` "abc". CSV: START `....-02-30T...`, VALUE `abc`, DOSE_VALUE `abc`.
- `required_binding_violation` (1): Encounter.status "done-ish". It passes the R4B model, which
  does not check value-set bindings, but breaks R4's required binding. CSV has no status column:
  the row is an ordinary one.
- `duplicate_identical` (1): the same Encounter twice, identical, in every format.
- `duplicate_conflicting` (1): an Observation id reused with a different value, in every format.
- `dangling_reference` (1): Condition.encounter names an Encounter that is not in the export
  (Bundle: a `urn:uuid:` no entry has; CSV: an ENCOUNTER missing from encounters.csv).
- `visit_before_birth` (1): an Encounter three years before the patient's birth date.
- `implausible_dose` (1): naltrexone 50 mg tablets ordered at 500 mg daily (DOSE_VALUE 500).
- `compass_answer_out_of_range` (1): a second COMPASS-31 at a visit that already has one, with
  q1 = yes and q2 = "9" (item 2 has four options; CSV Q2 = 9).
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Callable

from . import codes
from .chart import QuestionnaireForm
from .export import PatientChart, PlantedDefect


def plant_defects(
    charts: list[PatientChart], seed: int, profile: str, form: QuestionnaireForm
) -> tuple[list[PlantedDefect], frozenset[str]]:
    """Add the faults of the module table to some charts (appended to their resource lists).

    Args:
        charts: the export's charts; host charts get extra resources.
        seed: export seed.
        profile: export profile (part of the defect generator's seed).
        form: COMPASS-31 canonical and linkId prefix.

    Returns:
        The planted faults, and the ids of resources the writers must emit in a broken form.

    Raises:
        ValueError: if the export is too small to hold every kind of record the faults copy
            (a clinic export of a few dozen patients is enough).
    """
    rng = random.Random(f"{seed}:{profile}:defects")
    # Faults are copied from the records as generated, never from another fault.
    originals = [
        (chart, resource)
        for chart in charts
        if chart.group != "cohort"
        for resource in chart.resources
    ]
    planted: list[PlantedDefect] = []

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def host_with(
        resource_type: str, prefer: Callable[[dict], bool] | None = None
    ) -> tuple[PatientChart, dict]:
        """A host chart and one of its resources of the type (preferring matching ones)."""
        candidates = [pair for pair in originals if pair[1]["resourceType"] == resource_type]
        if not candidates:
            raise ValueError(
                f"too few records to plant defects (no {resource_type} outside the published "
                "cohort): generate more patients"
            )
        if prefer is not None:
            candidates = [pair for pair in candidates if prefer(pair[1])] or candidates
        return rng.choice(candidates)

    def add(chart: PatientChart, resource: dict, kind: str, detail: str) -> None:
        chart.resources.append(resource)
        planted.append(
            PlantedDefect(kind, resource["resourceType"], resource["id"], chart.patient_id, detail)
        )

    chart, observation = host_with("Observation")
    broken = _variant(observation, new_id())
    add(chart, broken, "malformed_unit", "written truncated / as a non-object / as a short row")
    malformed = frozenset({broken["id"]})

    chart, encounter = host_with("Encounter")
    impossible = _variant(encounter, new_id())
    year = impossible["period"]["start"][:4]
    impossible["period"]["start"] = f"{year}-02-30T10:00:00Z"
    add(chart, impossible, "invalid_r4_model", "Encounter.period.start is February 30")

    chart, observation = host_with("Observation")
    not_a_number = _variant(observation, new_id())
    not_a_number["valueQuantity"]["value"] = "abc"
    add(chart, not_a_number, "invalid_r4_model", "Observation.valueQuantity.value is 'abc'")

    chart, order = host_with("MedicationRequest")
    no_dose = _variant(order, new_id())
    no_dose["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = "abc"
    add(chart, no_dose, "invalid_r4_model", "MedicationRequest doseQuantity.value is 'abc'")

    chart, encounter = host_with("Encounter")
    unbound = _variant(encounter, new_id())
    unbound["status"] = "done-ish"
    add(chart, unbound, "required_binding_violation", "Encounter.status 'done-ish'")

    chart, encounter = host_with("Encounter")
    add(chart, copy.deepcopy(encounter), "duplicate_identical", "Encounter repeated verbatim")

    chart, observation = host_with("Observation")
    conflicting = copy.deepcopy(observation)
    conflicting["valueQuantity"]["value"] = observation["valueQuantity"]["value"] + 7
    add(chart, conflicting, "duplicate_conflicting", "Observation id reused, value differs")

    chart, condition = host_with("Condition", lambda resource: "encounter" in resource)
    dangling = _variant(condition, new_id())
    dangling["encounter"] = {"reference": f"Encounter/{new_id()}"}
    add(chart, dangling, "dangling_reference", "Condition.encounter names no Encounter")

    chart, encounter = host_with("Encounter")
    before_birth = _variant(encounter, new_id())
    birth_year = int(chart.resources[0]["birthDate"][:4])
    for end in ("start", "end"):
        # Same time of year, three years earlier; 29 February becomes the 28th.
        moment = before_birth["period"][end].replace("-02-29T", "-02-28T")
        before_birth["period"][end] = f"{birth_year - 3}{moment[4:]}"
    add(chart, before_birth, "visit_before_birth", "Encounter three years before birthDate")

    chart, order = host_with("MedicationRequest")
    overdose = _variant(order, new_id())
    overdose["medicationCodeableConcept"] = codes.NALTREXONE_TABLET.code.concept()
    overdose.pop("reasonCode", None)
    dosage = overdose["dosageInstruction"][0]
    dosage["text"] = "Take 500 mg by mouth once daily"
    dosage["timing"]["repeat"].update(frequency=1, period=1, periodUnit="d")
    dosage["doseAndRate"][0]["doseQuantity"]["value"] = 500
    add(chart, overdose, "implausible_dose", "naltrexone 500 mg daily")

    # A second, faulty form at a visit that already has one: no visit gains a COMPASS-31, so no
    # distractor can slip into the cohort through this fault.
    chart, original = host_with("QuestionnaireResponse")
    response = _variant(original, new_id())
    items = {item["linkId"]: item for item in response["item"]}
    prefix = form.link_id_prefix
    for number, code in ((1, "1"), (2, "9"), (3, "2"), (4, "3")):
        link_id = f"{prefix}{number}"
        item = items.setdefault(link_id, {"linkId": link_id})
        item["answer"] = [{"valueCoding": {"system": form.url, "code": code}}]
    response["item"] = [items[f"{prefix}{n}"] for n in range(1, 32) if f"{prefix}{n}" in items]
    add(chart, response, "compass_answer_out_of_range", f"{prefix}2 answered '9'")
    return planted, malformed


def _variant(resource: dict, new_id: str) -> dict:
    """A copy of a real record under a new id, to be altered into a faulty one."""
    variant = copy.deepcopy(resource)
    variant["id"] = new_id
    return variant
