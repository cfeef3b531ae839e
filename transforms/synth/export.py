"""What `generate()` returns: the patients' FHIR resources, plus answer keys that are never written.

The writers read `patients` (and `malformed_ids`, to corrupt those resources in the written form);
`answer_key` and `defects` exist for tests and for checking the pipeline's output against known
truth. Nothing in them reaches an export file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

EXPORT_TIME = "2025-10-01T06:00:00Z"
"""Transaction time of every synthetic export: fixed, so output never depends on the clock."""


@dataclass(frozen=True)
class PatientChart:
    """One patient's resources in chart order, the Patient first.

    Attributes:
        index: position in the export (the bundle writer's file number).
        patient_id: the Patient resource id.
        group: why the patient is in the export (`cohort`, `ordinary`, a distractor kind, or a
            clinic archetype); for tests only.
        resources: FHIR R4 resources as dicts.
    """

    index: int
    patient_id: str
    group: str
    resources: list[dict]


@dataclass(frozen=True)
class CohortFacts:
    """What the study must find for one published-cohort patient (study-ldn.md definitions).

    Attributes:
        patient_id: Patient id.
        subtype: `pots`, `stiff_person` or `general`.
        initial_visit_id, prescription_visit_id, follow_up_visit_id: the three timepoints.
        follow_up_days: days from the prescription visit to the follow-up visit.
        reason_class: `pain`, `orthostatic`, `other`, or None when no reason is documented.
        reason_code: the order's ICD-10-CM reason code, or None.
        initial_daily_mg, final_daily_mg: first LDN order's and last-by-follow-up daily dose.
        dose_increased: final > initial.
        pain_at_prescription, pain_at_follow_up: 0-10 pain scores.
        pain_improved: follow-up at least 2 points below the prescription visit.
        mild_side_effect: a mild adverse event suspected on LDN between prescription and
            follow-up.
    """

    patient_id: str
    subtype: str
    initial_visit_id: str
    prescription_visit_id: str
    follow_up_visit_id: str
    follow_up_days: int
    reason_class: str | None
    reason_code: str | None
    initial_daily_mg: float
    final_daily_mg: float
    dose_increased: bool
    pain_at_prescription: int
    pain_at_follow_up: int
    pain_improved: bool
    mild_side_effect: bool


@dataclass(frozen=True)
class PaperAnswerKey:
    """The published cohort as planted in a `paper` export.

    Attributes:
        cohort: one entry per cohort patient (29).
        distractors: Patient id -> why the patient must stay out of the cohort.
        published: the published numbers (study-ldn.md), by measure name.
    """

    cohort: tuple[CohortFacts, ...]
    distractors: dict[str, str]
    published: dict[str, int]


@dataclass(frozen=True)
class PlantedDefect:
    """One fault planted by `defects=True` (defects.py describes each kind).

    Attributes:
        kind: defect kind, e.g. `invalid_r4_model`.
        resource_type: type of the affected resource.
        resource_id: id of the affected resource.
        patient_id: the patient it belongs to.
        detail: what exactly is wrong (no PHI).
    """

    kind: str
    resource_type: str
    resource_id: str
    patient_id: str
    detail: str


@dataclass
class SyntheticExport:
    """A generated chart export, ready for `write_export()`.

    Attributes:
        profile: `paper` or `clinic`.
        seed: the seed it was generated from.
        questionnaire_url: COMPASS-31 canonical used by the QuestionnaireResponses.
        link_id_prefix: prefix of the COMPASS-31 linkIds.
        patients: the charts, in export order.
        answer_key: the planted published cohort (`paper` profile only).
        defects: the planted faults (`defects=True` only).
        malformed_ids: ids of resources the writers emit in a broken form (truncated NDJSON
            line, non-object Bundle entry, truncated CSV row).
    """

    profile: str
    seed: int
    questionnaire_url: str
    link_id_prefix: str
    patients: list[PatientChart]
    answer_key: PaperAnswerKey | None = None
    defects: list[PlantedDefect] = field(default_factory=list)
    malformed_ids: frozenset[str] = frozenset()

    def resources(self) -> Iterator[dict]:
        """Every resource of every patient, in export order."""
        for chart in self.patients:
            yield from chart.resources

    def defect_counts(self) -> dict[str, int]:
        """Number of planted defects per kind."""
        return dict(Counter(defect.kind for defect in self.defects))
