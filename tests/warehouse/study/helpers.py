"""Hand-built core rows for the study model tests: one patient's chart on day offsets."""

from __future__ import annotations

import datetime as dt
import itertools

import duckdb

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CANONICAL = "http://example.org/fhir/Questionnaire/compass-31"
DAY_ZERO = dt.date(2023, 1, 2)

# A fully answered COMPASS-31 with every gate closed and no symptoms: total 0. Item 24 (bladder,
# always asked) then sets the score: option k scores k - 1 raw points, weighted x 10/9.
NO_SYMPTOMS = {
    1: 2, 5: 2, 8: 3, 9: 2, 10: 2, 11: 1, 12: 3, 13: 1, 14: 1, 15: 1, 16: 2, 20: 2,
    24: 1, 25: 1, 26: 1, 27: 1, 29: 1, 31: 1,
}  # fmt: skip


def bladder_answers(option: int) -> dict[int, int]:
    """NO_SYMPTOMS with item 24 = option: total = (option - 1) x 10/9."""
    return NO_SYMPTOMS | {24: option}


class CoreRows:
    """Inserts core rows with lineage filled in; ids are made unique per test."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._numbers = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._numbers)}"

    def insert(self, table: str, **values: object) -> None:
        values |= {
            "_run_id": "test",
            "_source_file_hash": "a" * 64,
            "_source_line": next(self._numbers),
            "_loaded_at": dt.datetime(2025, 1, 1),
        }
        columns = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join("?" for _ in values)
        self.con.execute(
            f"INSERT INTO core.{table} ({columns}) VALUES ({marks})", list(values.values())
        )


def day(offset: int) -> dt.date:
    return DAY_ZERO + dt.timedelta(days=offset)


class Chart:
    """One patient's chart, dates as day offsets from DAY_ZERO."""

    def __init__(
        self,
        rows: CoreRows,
        patient_id: str | None = None,
        *,
        sex: str = "female",
        birth_year: int = 1985,
    ) -> None:
        self.rows = rows
        self.patient_id = patient_id or rows.new_id("patient-")
        rows.insert("patients", patient_id=self.patient_id, sex=sex, birth_year=birth_year)

    def visit(self, offset: int, service: str = "autonomic") -> str:
        visit_id = self.rows.new_id("visit-")
        self.rows.insert(
            "visits",
            visit_id=visit_id,
            patient_id=self.patient_id,
            start_date=day(offset),
            end_date=day(offset),
            service=service,
            status="finished",
        )
        return visit_id

    def condition(
        self,
        code: str,
        *,
        system: str = ICD10CM,
        display: str | None = None,
        code_text: str | None = None,
        visit_id: str | None = None,
        verification: str = "confirmed",
    ) -> str:
        condition_id = self.rows.new_id("condition-")
        self.rows.insert(
            "conditions",
            condition_id=condition_id,
            patient_id=self.patient_id,
            visit_id=visit_id,
            code_system=system,
            code=code,
            display=display,
            code_text=code_text,
            onset_date=DAY_ZERO,
            recorded_date=DAY_ZERO,
            verification_status=verification,
        )
        return condition_id

    def order(
        self,
        offset: int,
        dose: float | None,
        *,
        per_day: float | None = 1,
        unit: str | None = "mg",
        visit_id: str | None = None,
        rxnorm: str | None = "7243",
        name: str | None = "naltrexone",
        reason: str | None = None,
        reason_condition_id: str | None = None,
        status: str = "active",
    ) -> str:
        med_id = self.rows.new_id("med-")
        self.rows.insert(
            "meds",
            med_id=med_id,
            patient_id=self.patient_id,
            visit_id=visit_id,
            rxnorm_code=rxnorm,
            drug_name=name,
            dose_value=dose,
            dose_unit=unit,
            frequency_per_day=per_day,
            authored_date=day(offset),
            start_date=day(offset),
            end_date=day(offset + 90),
            status=status,
            intent="order",
            reason_code=reason,
            reason_condition_id=reason_condition_id,
        )
        return med_id

    def compass(
        self,
        offset: int,
        *,
        visit_id: str | None = None,
        answers: dict[int, int] | None = None,
        questionnaire: str = CANONICAL,
        status: str = "completed",
    ) -> str:
        response_id = self.rows.new_id("response-")
        self.rows.insert(
            "questionnaire_responses",
            response_id=response_id,
            patient_id=self.patient_id,
            visit_id=visit_id,
            questionnaire=questionnaire,
            authored_date=day(offset),
            status=status,
        )
        for item, option in (NO_SYMPTOMS if answers is None else answers).items():
            self.rows.insert(
                "questionnaire_items",
                response_id=response_id,
                link_id=f"q{item}",
                answer_index=0,
                answer_system=questionnaire,
                answer_code=str(option),
            )
        return response_id

    def pain(self, offset: int, score: float, *, visit_id: str | None = None) -> str:
        observation_id = self.rows.new_id("observation-")
        self.rows.insert(
            "observations",
            observation_id=observation_id,
            value_index=0,
            patient_id=self.patient_id,
            visit_id=visit_id,
            category="survey",
            status="final",
            effective_date=day(offset),
            code_system=LOINC,
            code="72514-3",
            value_num=score,
            value_unit="{score}",
        )
        return observation_id

    def adverse_event(
        self,
        offset: int,
        suspect_med_id: str,
        *,
        severity: str | None = "mild",
        actuality: str = "actual",
        visit_id: str | None = None,
    ) -> str:
        event_id = self.rows.new_id("event-")
        self.rows.insert(
            "adverse_events",
            event_id=event_id,
            patient_id=self.patient_id,
            visit_id=visit_id,
            event_system=SNOMED,
            event_code="422587007",
            severity=severity,
            actuality=actuality,
            suspect_med_id=suspect_med_id,
            event_date=day(offset),
        )
        return event_id


class LdnPatient(Chart):
    """A patient who meets every inclusion rule: G90.9, initial visit at day 0, LDN 1 mg at the
    prescription visit (day 60), and a follow-up visit `follow_up_days` later, each with a
    COMPASS-31 and the prescription and follow-up visits with a pain score.
    """

    def __init__(
        self,
        rows: CoreRows,
        *,
        follow_up_days: int = 120,
        pain_before: float = 6,
        pain_after: float = 6,
        dose: float = 1,
        per_day: float = 1,
        reason: str | None = None,
        diagnosis: str = "G90.9",
        answers: tuple[dict[int, int], dict[int, int], dict[int, int]] | None = None,
    ) -> None:
        super().__init__(rows)
        answers = answers or (NO_SYMPTOMS, NO_SYMPTOMS, NO_SYMPTOMS)
        self.initial = self.visit(0)
        self.condition(diagnosis, visit_id=self.initial)
        self.compass(0, visit_id=self.initial, answers=answers[0])
        self.prescription = self.visit(60)
        self.compass(60, visit_id=self.prescription, answers=answers[1])
        self.pain(60, pain_before, visit_id=self.prescription)
        self.ldn = self.order(60, dose, per_day=per_day, visit_id=self.prescription, reason=reason)
        self.follow_up_offset = 60 + follow_up_days
        self.follow_up = self.visit(self.follow_up_offset)
        self.compass(self.follow_up_offset, visit_id=self.follow_up, answers=answers[2])
        self.pain(self.follow_up_offset, pain_after, visit_id=self.follow_up)
