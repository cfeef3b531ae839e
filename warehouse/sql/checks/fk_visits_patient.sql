-- fk_visits_patient: every visits.patient_id names an existing patients.patient_id.
-- Grain: one row per orphan visits row; returns that row's key only.
-- A NULL patient_id is a violation too: the row cannot be attributed.
SELECT child.visit_id
FROM visits AS child
WHERE child.patient_id IS NULL
   OR NOT EXISTS (
        SELECT 1 FROM patients AS parent WHERE parent.patient_id = child.patient_id
    )
