"""One patient's chart as FHIR R4 resources, built directly as dicts in the order a chart grows.

`ChartBuilder` is the only place that knows resource shapes: the clinic and paper profiles say what
happens (a visit, a diagnosis, an order, a questionnaire) and the builder writes the elements the
ViewDefinitions in `transforms/views/` read. Dates are UTC with a `Z` suffix and whole seconds,
the same text the CSV layout uses, so all three export formats carry identical values.
"""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from . import codes
from .codes import Code, VisitKind
from .people import Identity, patient_resource
from .questionnaire import Answers

_CLASS_DISPLAY = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient encounter"}
_SEVERITY_DISPLAY = {"mild": "Mild", "moderate": "Moderate", "severe": "Severe"}
_FREQUENCY_TEXT = {
    (1, 1, "d"): "once daily",
    (2, 1, "d"): "twice daily",
    (3, 1, "d"): "three times daily",
    (1, 24, "h"): "every 24 hours",
}


def timestamp(moment: datetime) -> str:
    """FHIR dateTime text of a naive UTC datetime (`YYYY-MM-DDTHH:MM:SSZ`)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value: float) -> int | float:
    """A dose or measurement as JSON writes it: integral values without a trailing `.0`."""
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class QuestionnaireForm:
    """Where COMPASS-31 answers point: the questionnaire canonical and the linkId prefix."""

    url: str
    link_id_prefix: str


def questionnaire_response(
    response_id: str,
    form: QuestionnaireForm,
    subject: str,
    encounter: str,
    authored: str,
    answers: Answers,
) -> dict:
    """A completed COMPASS-31 QuestionnaireResponse.

    Args:
        response_id: resource id.
        form: questionnaire canonical and linkId prefix.
        subject: `Patient/<id>`.
        encounter: `Encounter/<id>`.
        authored: FHIR dateTime the answers were recorded.
        answers: item number -> option numbers (questionnaire.Answers).

    Returns:
        The resource: one item per answered item, each answer a Coding of the canonical's
        option number; item 6 has one answer per ticked box, or code "0" when none is ticked.
    """
    items = []
    for item, options in sorted(answers.items()):
        option_codes = [str(option) for option in options] or ["0"]
        items.append(
            {
                "linkId": f"{form.link_id_prefix}{item}",
                "answer": [
                    {"valueCoding": {"system": form.url, "code": code}} for code in option_codes
                ],
            }
        )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": response_id,
        "questionnaire": form.url,
        "status": "completed",
        "subject": {"reference": subject},
        "encounter": {"reference": encounter},
        "authored": authored,
        "item": items,
    }


class Visit(NamedTuple):
    """An encounter as the rest of the chart refers to it (`reference`: `Encounter/<id>`)."""

    id: str
    start: datetime
    end: datetime
    kind: VisitKind
    reference: str


class Dosing(NamedTuple):
    """Dose per administration (mg) and FHIR Timing.repeat frequency per period."""

    dose_mg: float
    frequency: int = 1
    period: float = 1
    period_unit: str = "d"

    @property
    def daily_mg(self) -> float:
        """Daily dose in mg."""
        per_day = {"d": 1.0, "h": 24.0, "wk": 1 / 7}[self.period_unit] * self.frequency
        return self.dose_mg * per_day / self.period


class Order(NamedTuple):
    """A MedicationRequest as the rest of the chart refers to it (`MedicationRequest/<id>`)."""

    id: str
    authored: datetime
    dosing: Dosing
    reference: str


class ChartBuilder:
    """Accumulates one patient's resources; `finish()` returns them with the Patient first.

    Args:
        rng: the patient's random generator (ids and small details are drawn from it).
        identity: the fake person.
        form: COMPASS-31 canonical and linkId prefix.
    """

    def __init__(self, rng: random.Random, identity: Identity, form: QuestionnaireForm):
        self.rng = rng
        self.identity = identity
        self.form = form
        self.patient_id = self.new_id()
        # References are rebuilt as new dicts in every resource: no two resources share a
        # mutable object, so a consumer may rewrite one in place.
        self.subject = f"Patient/{self.patient_id}"
        self.resources: list[dict] = []
        self.visits: list[Visit] = []
        self._orders: dict[str, dict] = {}

    def new_id(self) -> str:
        """A random (version 4) UUID from the patient's generator: same seed, same ids."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def visit(self, start: datetime, kind: VisitKind, reason: Code | None = None) -> Visit:
        """Record a finished encounter.

        Args:
            start: when it began (UTC).
            kind: encounter type, class and service.
            reason: why it was booked, if recorded.

        Returns:
            The visit.
        """
        encounter_id = self.new_id()
        end = start + timedelta(minutes=self.rng.randint(*kind.minutes))
        encounter = {
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": "finished",
            "class": {
                "system": codes.ENCOUNTER_CLASS,
                "code": kind.fhir_class,
                "display": _CLASS_DISPLAY[kind.fhir_class],
            },
            "type": [kind.type.concept()],
            "serviceType": {
                "coding": [
                    {
                        "system": codes.CLINIC_SERVICE,
                        "code": kind.service,
                        "display": codes.SERVICE_DISPLAY[kind.service],
                    }
                ]
            },
            "subject": {"reference": self.subject},
            "period": {"start": timestamp(start), "end": timestamp(end)},
        }
        if reason is not None:
            encounter["reasonCode"] = [reason.concept()]
        self.resources.append(encounter)
        visit = Visit(encounter_id, start, end, kind, f"Encounter/{encounter_id}")
        self.visits.append(visit)
        return visit

    def condition(
        self,
        code: Code,
        recorded: datetime,
        visit: Visit | None,
        *,
        text: str | None = None,
        resolved: datetime | None = None,
    ) -> str:
        """Record a diagnosis: at a visit (encounter diagnosis) or on the problem list.

        Args:
            code: the diagnosis.
            recorded: when it was recorded; also the onset (the CSV layout has one START date).
            visit: the visit it was made at; None for a problem-list entry.
            text: the clinician's wording, when it says more than the code (e.g. POTS on I49.8).
            resolved: abatement, for a resolved condition.

        Returns:
            The Condition id.
        """
        condition_id = self.new_id()
        concept = code.concept()
        if text is not None:
            concept["text"] = text
        resource = {
            "resourceType": "Condition",
            "id": condition_id,
            "clinicalStatus": {
                "coding": [
                    {
                        "system": codes.CONDITION_CLINICAL,
                        "code": "active" if resolved is None else "resolved",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [{"system": codes.CONDITION_VERIFICATION, "code": "confirmed"}]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": codes.CONDITION_CATEGORY,
                            "code": "encounter-diagnosis" if visit else "problem-list-item",
                        }
                    ]
                }
            ],
            "code": concept,
            "subject": {"reference": self.subject},
        }
        if visit is not None:
            resource["encounter"] = {"reference": visit.reference}
        resource["onsetDateTime"] = timestamp(recorded)
        if resolved is not None:
            resource["abatementDateTime"] = timestamp(resolved)
        resource["recordedDate"] = timestamp(recorded)
        self.resources.append(resource)
        return condition_id

    def order(
        self,
        drug: Code,
        visit: Visit,
        dosing: Dosing,
        *,
        days: int,
        status: str,
        reason: Code | None = None,
        drug_text: str | None = None,
    ) -> Order:
        """Record a medication order written at a visit.

        Args:
            drug: RxNorm coding of the drug.
            visit: the ordering visit; the order is authored at its start.
            dosing: dose and frequency.
            days: length of the dosing period (Timing.repeat.boundsPeriod).
            status: MedicationRequest status (active, completed, stopped).
            reason: the documented reason, if any (reasonCode).
            drug_text: how the prescriber wrote the drug, when the coding says less (compounded).

        Returns:
            The order.
        """
        order_id = self.new_id()
        authored = visit.start
        medication = drug.concept()
        if drug_text is not None:
            medication["text"] = drug_text
        frequency_text = _FREQUENCY_TEXT.get(
            (dosing.frequency, number(dosing.period), dosing.period_unit), "as directed"
        )
        resource = {
            "resourceType": "MedicationRequest",
            "id": order_id,
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": medication,
            "subject": {"reference": self.subject},
            "encounter": {"reference": visit.reference},
            "authoredOn": timestamp(authored),
        }
        if reason is not None:
            resource["reasonCode"] = [reason.concept()]
        resource["dosageInstruction"] = [
            {
                "sequence": 1,
                "text": f"Take {number(dosing.dose_mg)} mg by mouth {frequency_text}",
                "timing": {
                    "repeat": {
                        "boundsPeriod": {
                            "start": timestamp(authored),
                            "end": timestamp(authored + timedelta(days=days)),
                        },
                        "frequency": dosing.frequency,
                        "period": number(dosing.period),
                        "periodUnit": dosing.period_unit,
                    }
                },
                "asNeededBoolean": False,
                "route": codes.ORAL_ROUTE.concept(),
                "doseAndRate": [
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": codes.DOSE_RATE_TYPE,
                                    "code": "ordered",
                                    "display": "Ordered",
                                }
                            ]
                        },
                        "doseQuantity": {
                            "value": number(dosing.dose_mg),
                            "unit": "mg",
                            "system": codes.UCUM,
                            "code": "mg",
                        },
                    }
                ],
            }
        ]
        self.resources.append(resource)
        self._orders[order_id] = resource
        return Order(order_id, authored, dosing, f"MedicationRequest/{order_id}")

    def stop(self, order: Order) -> None:
        """Mark an order as replaced by a newer one (status `stopped`)."""
        self._orders[order.id]["status"] = "stopped"

    def measurement(
        self, visit: Visit, code: Code, value: float, unit: str, category: str = "vital-signs"
    ) -> str:
        """Record a numeric observation taken at a visit.

        Args:
            visit: the visit.
            code: LOINC code.
            value: the value.
            unit: UCUM unit (also the Quantity code).
            category: observation category (vital-signs, survey).

        Returns:
            The Observation id.
        """
        observation_id = self.new_id()
        self.resources.append(
            {
                "resourceType": "Observation",
                "id": observation_id,
                "status": "final",
                "category": [
                    {"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": category}]}
                ],
                "code": code.concept(),
                "subject": {"reference": self.subject},
                "encounter": {"reference": visit.reference},
                "effectiveDateTime": timestamp(visit.start + timedelta(minutes=5)),
                "valueQuantity": {
                    "value": number(value),
                    "unit": unit,
                    "system": codes.UCUM,
                    "code": unit,
                },
            }
        )
        return observation_id

    def pain(self, visit: Visit, score: int) -> str:
        """Record a 0-10 pain score (LOINC 72514-3, survey) at a visit."""
        return self.measurement(visit, codes.PAIN_SCORE, score, "{score}", category="survey")

    def vitals(self, visit: Visit, *, heart_rate: int, weight_kg: float | None = None) -> None:
        """Record heart rate and blood pressure, and weight with BMI when weighed."""
        rng = self.rng
        self.measurement(visit, codes.HEART_RATE, heart_rate, "/min")
        systolic = rng.randint(98, 148)
        self.measurement(visit, codes.SYSTOLIC_BP, systolic, "mm[Hg]")
        self.measurement(visit, codes.DIASTOLIC_BP, systolic - rng.randint(30, 50), "mm[Hg]")
        if weight_kg is not None:
            height_m = 1.52 + rng.random() * 0.4
            self.measurement(visit, codes.BODY_WEIGHT, round(weight_kg, 1), "kg")
            self.measurement(visit, codes.BMI, round(weight_kg / height_m**2, 1), "kg/m2")

    def questionnaire(self, visit: Visit, answers: Answers) -> str:
        """Record a completed COMPASS-31 at a visit.

        Args:
            visit: the visit it was filled for.
            answers: item number -> option numbers (questionnaire.Answers).

        Returns:
            The QuestionnaireResponse id.
        """
        response_id = self.new_id()
        self.resources.append(
            questionnaire_response(
                response_id,
                self.form,
                self.subject,
                visit.reference,
                timestamp(visit.start + timedelta(minutes=10)),
                answers,
            )
        )
        return response_id

    def adverse_event(
        self, when: datetime, visit: Visit, event: Code, severity: str, suspect: Order
    ) -> str:
        """Record a side effect reported at a visit, with the suspected order.

        Args:
            when: when it happened.
            visit: the visit where it was recorded.
            event: what happened (SNOMED CT).
            severity: mild, moderate or severe.
            suspect: the medication order suspected.

        Returns:
            The AdverseEvent id.
        """
        event_id = self.new_id()
        self.resources.append(
            {
                "resourceType": "AdverseEvent",
                "id": event_id,
                "actuality": "actual",
                "event": event.concept(),
                "subject": {"reference": self.subject},
                "encounter": {"reference": visit.reference},
                "date": timestamp(when),
                "seriousness": {
                    "coding": [
                        {
                            "system": codes.AE_SERIOUSNESS,
                            "code": "non-serious",
                            "display": "Non-serious",
                        }
                    ]
                },
                "severity": {
                    "coding": [
                        {
                            "system": codes.AE_SEVERITY,
                            "code": severity,
                            "display": _SEVERITY_DISPLAY[severity],
                        }
                    ]
                },
                "suspectEntity": [{"instance": {"reference": suspect.reference}}],
            }
        )
        return event_id

    def note(self, visit: Visit, note_type: Code, assessment: str, plan: str) -> str:
        """Record a plain-text clinical note for a visit.

        The note heads with the patient's own identifiers, as real notes do: de-identification
        must find and remove them (deid.md section 6, notes mode).

        Args:
            visit: the visit.
            note_type: LOINC document type.
            assessment: the assessment paragraph.
            plan: the plan paragraph.

        Returns:
            The DocumentReference id.
        """
        person = self.identity
        text = (
            f"{codes.SERVICE_DISPLAY[visit.kind.service]} - {note_type.display}\n"
            f"Patient: {person.prefix} {person.full_name}    MRN: {person.mrn}    "
            f"DOB: {person.birth_date.isoformat()}\n"
            f"Phone: {person.phone}    Email: {person.email}\n"
            f"Address: {person.line}, {person.city}, {person.state} {person.postal_code}\n"
            f"Visit date: {visit.start.date().isoformat()}\n\n"
            f"Assessment: {assessment}\n"
            f"Plan: {plan}\n"
        )
        document_id = self.new_id()
        self.resources.append(
            {
                "resourceType": "DocumentReference",
                "id": document_id,
                "status": "current",
                "type": note_type.concept(),
                "category": [
                    {
                        "coding": [
                            {
                                "system": codes.DOCUMENT_CATEGORY,
                                "code": "clinical-note",
                                "display": "Clinical Note",
                            }
                        ]
                    }
                ],
                "subject": {"reference": self.subject},
                "date": timestamp(visit.end),
                "content": [
                    {
                        "attachment": {
                            "contentType": "text/plain",
                            "data": base64.b64encode(text.encode()).decode("ascii"),
                        }
                    }
                ],
                "context": {
                    "encounter": [{"reference": visit.reference}],
                    "period": {"start": timestamp(visit.start), "end": timestamp(visit.end)},
                },
            }
        )
        return document_id

    def finish(self, deceased: date | None = None) -> list[dict]:
        """The chart's resources, Patient first.

        Args:
            deceased: date of death, or None.
        """
        return [patient_resource(self.identity, self.patient_id, deceased), *self.resources]
