-- fk_adverse_events_patient: every adverse_events.patient_id names an existing patients.patient_id.
-- Grain: one row per orphan adverse_events row; returns that row's key only.
-- A NULL patient_id is a violation too: the row cannot be attributed.
SELECT child.event_id
FROM adverse_events AS child
WHERE child.patient_id IS NULL
   OR NOT EXISTS (
        SELECT 1 FROM patients AS parent WHERE parent.patient_id = child.patient_id
    )
