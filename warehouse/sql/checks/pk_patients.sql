-- pk_patients: (patient_id) identifies one row of patients.
-- Grain: one row per key value held by more than one row; returns the key only.
-- The warehouse enforces this key; the check guards staged rows, which carry no constraint.
SELECT patient_id
FROM patients
GROUP BY patient_id
HAVING count(*) > 1
