-- completeness_patients_without_visit: every patient has at least one visit.
-- Grain: one row per patient with no row in visits; returns patient_id only.
SELECT patients.patient_id
FROM patients
WHERE NOT EXISTS (SELECT 1 FROM visits WHERE visits.patient_id = patients.patient_id)
