-- plausibility_visits_start_after_birth: a visit does not start before the patient's birth year.
-- One year of tolerance: under profile ED a date may move up to 365 days earlier (deid.md), so a
-- visit in the birth year may show the year before. Patients aged 90+ have no birth year: skipped.
-- The year is the first 4 characters of the text form, so the check reads DATE columns (ED, LDS)
-- and year-only INTEGER columns (SH) alike.
-- Grain: one row per such visit; returns visit_id only.
SELECT visits.visit_id
FROM visits
JOIN patients USING (patient_id)
WHERE patients.birth_year IS NOT NULL
  AND visits.start_date IS NOT NULL
  AND CAST(left(CAST(visits.start_date AS VARCHAR), 4) AS INTEGER) < patients.birth_year - 1
