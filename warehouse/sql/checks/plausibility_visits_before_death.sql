-- plausibility_visits_before_death: a visit does not start after the patient's date of death.
-- Exact under every profile: a patient's dates share one shift (ED), are real (LDS), or are both
-- years (SH). Patients without a recorded death date are not checked.
-- Grain: one row per such visit; returns visit_id only.
SELECT visits.visit_id
FROM visits
JOIN patients USING (patient_id)
WHERE patients.deceased_date IS NOT NULL
  AND visits.start_date IS NOT NULL
  AND visits.start_date > patients.deceased_date
