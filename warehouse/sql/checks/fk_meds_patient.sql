-- fk_meds_patient: every meds.patient_id names an existing patients.patient_id.
-- Grain: one row per orphan meds row; returns that row's key only.
-- A NULL patient_id is a violation too: the row cannot be attributed.
SELECT child.med_id
FROM meds AS child
WHERE child.patient_id IS NULL
   OR NOT EXISTS (
        SELECT 1 FROM patients AS parent WHERE parent.patient_id = child.patient_id
    )
