"""Terminology of the synthetic autonomic clinic: code systems, diagnoses, drugs, findings.

Codes are real (ICD-10-CM, SNOMED CT, RxNorm, LOINC, HL7 code systems) so that value sets written
for real exports select the synthetic records too. Two RxNorm facts worth knowing: low-dose
naltrexone is compounded and has no RxNorm product, so LDN orders carry the ingredient code 7243;
the commercial 50 mg tablet is 1483744 (RxNorm 197985, sometimes quoted for it, is minocycline).
"""

from __future__ import annotations

from typing import NamedTuple

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OMB_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
ENCOUNTER_CLASS = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
MARITAL_STATUS = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
DOCUMENT_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.7777.1"
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
PASSPORT_SYSTEM = "http://hl7.org/fhir/sid/passport-USA"
# State driver's licence OIDs end in the state's FIPS code (as in Synthea exports).
DRIVERS_LICENSE_ROOT = "urn:oid:2.16.840.1.113883.4.3."
# The clinic's own service catalogue: a local code system, as EHRs export it.
CLINIC_SERVICE = "http://example.org/fhir/CodeSystem/clinic-service"

CSV_SYSTEM_LABELS = {ICD10CM: "ICD-10-CM", SNOMED: "SNOMED-CT"}
"""System URI to the label `conditions.csv` and `adverse_events.csv` use (csv-layout.md)."""


class Code(NamedTuple):
    """One coding: system URI, code, display."""

    system: str
    code: str
    display: str

    def coding(self) -> dict:
        """The FHIR Coding."""
        return {"system": self.system, "code": self.code, "display": self.display}

    def concept(self) -> dict:
        """A CodeableConcept with this single coding."""
        return {"coding": [self.coding()]}


def icd(code: str, display: str) -> Code:
    """An ICD-10-CM code."""
    return Code(ICD10CM, code, display)


def sct(code: str, display: str) -> Code:
    """A SNOMED CT code."""
    return Code(SNOMED, code, display)


# Dysautonomia (study-ldn.md). G90.A exists from 1 October 2022; before that POTS was coded
# I49.8 or R00.0 with a POTS text.
AUTONOMIC_UNSPECIFIED = icd("G90.9", "Disorder of the autonomic nervous system, unspecified")
AUTONOMIC_OTHER = icd("G90.8", "Other disorders of autonomic nervous system")
POTS = icd("G90.A", "Postural orthostatic tachycardia syndrome [POTS]")
STIFF_MAN = icd("G25.82", "Stiff-man syndrome")
ARRHYTHMIA_OTHER = icd("I49.8", "Other specified cardiac arrhythmias")
TACHYCARDIA = icd("R00.0", "Tachycardia, unspecified")
POTS_TEXT = "Postural orthostatic tachycardia syndrome (POTS)"

# Comorbidities and reasons for LDN.
FIBROMYALGIA = icd("M79.7", "Fibromyalgia")
POLYNEUROPATHY = icd("G62.9", "Polyneuropathy, unspecified")
IDIOPATHIC_NEUROPATHY_OTHER = icd("G60.8", "Other hereditary and idiopathic neuropathies")
IDIOPATHIC_NEUROPATHY = icd("G60.9", "Hereditary and idiopathic neuropathy, unspecified")
SMALL_FIBER_TEXT = "Small fiber neuropathy"
EDS_BEFORE_2022_10 = icd("Q79.6", "Ehlers-Danlos syndrome")
EDS_HYPERMOBILE = icd("Q79.62", "Hypermobile Ehlers-Danlos syndrome")
EDS_UNSPECIFIED = icd("Q79.60", "Ehlers-Danlos syndrome, unspecified")
MAST_CELL = icd("D89.40", "Mast cell activation, unspecified")
MAST_CELL_IDIOPATHIC = icd("D89.42", "Idiopathic mast cell activation syndrome")
MIGRAINE = icd("G43.909", "Migraine, unspecified, not intractable, without status migrainosus")
CHRONIC_MIGRAINE = icd(
    "G43.709", "Chronic migraine without aura, not intractable, without status migrainosus"
)
CHRONIC_PAIN_OTHER = icd("G89.29", "Other chronic pain")
CHRONIC_PAIN_SYNDROME = icd("G89.4", "Chronic pain syndrome")
ORTHOSTATIC_HYPOTENSION = icd("I95.1", "Orthostatic hypotension")
SYNCOPE = icd("R55", "Syncope and collapse")
CHRONIC_FATIGUE = icd("R53.82", "Chronic fatigue, unspecified")
DIZZINESS = icd("R42", "Dizziness and giddiness")
ALCOHOL_DEPENDENCE = icd("F10.20", "Alcohol dependence, uncomplicated")
OPIOID_DEPENDENCE = icd("F11.20", "Opioid dependence, uncomplicated")

# Ordinary clinic diagnoses: chronic (ICD-10-CM) and acute (SNOMED CT, resolved after weeks).
CHRONIC_CONDITIONS = (
    icd("I10", "Essential (primary) hypertension"),
    icd("J45.909", "Unspecified asthma, uncomplicated"),
    icd("E78.5", "Hyperlipidemia, unspecified"),
    icd("E11.9", "Type 2 diabetes mellitus without complications"),
    icd("F41.1", "Generalized anxiety disorder"),
    icd("K21.9", "Gastro-esophageal reflux disease without esophagitis"),
    icd("E03.9", "Hypothyroidism, unspecified"),
    icd("J30.9", "Allergic rhinitis, unspecified"),
)
ACUTE_CONDITIONS = (
    sct("444814009", "Viral sinusitis (disorder)"),
    sct("195662009", "Acute viral pharyngitis (disorder)"),
    sct("10509002", "Acute bronchitis (disorder)"),
    sct("44465007", "Sprain of ankle"),
    sct("301011002", "Escherichia coli urinary tract infection"),
)

# Reason classes of study-ldn.md, for the codes this generator uses as LDN reasons.
REASON_CLASS = {
    FIBROMYALGIA.code: "pain",
    CHRONIC_PAIN_OTHER.code: "pain",
    CHRONIC_PAIN_SYNDROME.code: "pain",
    POLYNEUROPATHY.code: "pain",
    POTS.code: "orthostatic",
    ORTHOSTATIC_HYPOTENSION.code: "orthostatic",
    SYNCOPE.code: "orthostatic",
    STIFF_MAN.code: "other",
    CHRONIC_FATIGUE.code: "other",
}


# Reasons an encounter was booked (SNOMED CT findings).
VISIT_REASONS = (
    sct("404640003", "Dizziness (finding)"),
    sct("271594007", "Syncope (disorder)"),
    sct("80313002", "Palpitations (finding)"),
    sct("84229001", "Fatigue (finding)"),
    sct("25064002", "Headache (finding)"),
    sct("57676002", "Joint pain (finding)"),
    sct("386661006", "Fever (finding)"),
)


class Drug(NamedTuple):
    """A drug as ordered: RxNorm coding and the usual dose (mg) and administrations a day."""

    code: Code
    dose_mg: float
    times_per_day: int


def rx(code: str, display: str) -> Code:
    """An RxNorm code."""
    return Code(RXNORM, code, display)


NALTREXONE_INGREDIENT = rx("7243", "naltrexone")
"""Compounded LDN has no RxNorm product: orders carry the ingredient."""
NALTREXONE_TABLET = Drug(rx("1483744", "naltrexone hydrochloride 50 MG Oral Tablet"), 50, 1)
"""The commercial tablet, for alcohol or opioid dependence: never LDN."""

PROPRANOLOL = Drug(rx("856448", "propranolol hydrochloride 10 MG Oral Tablet"), 10, 2)
FLUDROCORTISONE = Drug(rx("313979", "fludrocortisone acetate 0.1 MG Oral Tablet"), 0.1, 1)
METOPROLOL = Drug(
    rx("866427", "24 HR metoprolol succinate 25 MG Extended Release Oral Tablet"), 25, 1
)
AUTONOMIC_DRUGS = (PROPRANOLOL, FLUDROCORTISONE, METOPROLOL)

GABAPENTIN = Drug(rx("310431", "gabapentin 300 MG Oral Capsule"), 300, 3)
DULOXETINE = Drug(rx("596930", "duloxetine 30 MG Delayed Release Oral Capsule"), 30, 1)
SERTRALINE = Drug(rx("312941", "sertraline 50 MG Oral Tablet"), 50, 1)

# Drugs for the chronic conditions above, by ICD-10-CM code.
DRUG_FOR_CONDITION = {
    "I10": Drug(rx("314076", "lisinopril 10 MG Oral Tablet"), 10, 1),
    "E78.5": Drug(rx("312961", "simvastatin 20 MG Oral Tablet"), 20, 1),
    "E11.9": Drug(
        rx("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"),
        500,
        1,
    ),
    "F41.1": SERTRALINE,
    "M79.7": DULOXETINE,
    "G62.9": GABAPENTIN,
}
ACUTE_DRUGS = (
    Drug(rx("313782", "acetaminophen 325 MG Oral Tablet"), 650, 3),
    Drug(rx("310965", "ibuprofen 200 MG Oral Tablet"), 400, 3),
    Drug(rx("308192", "amoxicillin 500 MG Oral Tablet"), 500, 3),
)

ORAL_ROUTE = sct("26643006", "Oral route")

# Observations (LOINC) with their UCUM unit and category.
PAIN_SCORE = Code(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
HEART_RATE = Code(LOINC, "8867-4", "Heart rate")
SYSTOLIC_BP = Code(LOINC, "8480-6", "Systolic blood pressure")
DIASTOLIC_BP = Code(LOINC, "8462-4", "Diastolic blood pressure")
BODY_WEIGHT = Code(LOINC, "29463-7", "Body weight")
BMI = Code(LOINC, "39156-5", "Body mass index (BMI) [Ratio]")

# Side effects (SNOMED CT findings).
INSOMNIA = sct("193462001", "Insomnia (disorder)")
HEADACHE = sct("25064002", "Headache (finding)")
NAUSEA = sct("422587007", "Nausea (finding)")
DIZZINESS_FINDING = sct("404640003", "Dizziness (finding)")
FATIGUE = sct("84229001", "Fatigue (finding)")
SIDE_EFFECTS = (INSOMNIA, HEADACHE, NAUSEA, DIZZINESS_FINDING, FATIGUE)

# Note types (LOINC).
PROGRESS_NOTE = Code(LOINC, "11506-3", "Progress note")
CONSULT_NOTE = Code(LOINC, "11488-4", "Consult note")


class VisitKind(NamedTuple):
    """An encounter type: SNOMED CT type, FHIR class, CSV class label, service, duration."""

    type: Code
    fhir_class: str
    csv_class: str
    service: str
    minutes: tuple[int, int]


AUTONOMIC_NEW = VisitKind(
    sct("698314001", "Consultation for treatment (procedure)"),
    "AMB",
    "outpatient",
    "autonomic",
    (60, 90),
)
AUTONOMIC_FOLLOW_UP = VisitKind(
    sct("390906007", "Follow-up encounter (procedure)"), "AMB", "outpatient", "autonomic", (30, 45)
)
WELLNESS = VisitKind(
    sct("162673000", "General examination of patient (procedure)"),
    "AMB",
    "wellness",
    "general",
    (20, 40),
)
PROBLEM = VisitKind(
    sct("185347001", "Encounter for problem (procedure)"), "AMB", "ambulatory", "general", (15, 30)
)
URGENT = VisitKind(
    sct("702927004", "Urgent care clinic (environment)"), "AMB", "ambulatory", "general", (30, 90)
)
EMERGENCY = VisitKind(
    sct("50849002", "Emergency room admission (procedure)"),
    "EMER",
    "emergency",
    "general",
    (120, 360),
)
INPATIENT = VisitKind(
    sct("32485007", "Hospital admission (procedure)"),
    "IMP",
    "inpatient",
    "general",
    (2 * 1440, 5 * 1440),
)
VISIT_KINDS = (AUTONOMIC_NEW, AUTONOMIC_FOLLOW_UP, WELLNESS, PROBLEM, URGENT, EMERGENCY, INPATIENT)
CSV_CLASS_BY_TYPE = {kind.type.code: kind.csv_class for kind in VISIT_KINDS}
"""SNOMED CT encounter type to the `encounters.csv` ENCOUNTERCLASS label."""
SERVICE_DISPLAY = {"autonomic": "Autonomic disorders clinic", "general": "General medicine"}
