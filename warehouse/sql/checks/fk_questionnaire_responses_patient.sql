-- fk_questionnaire_responses_patient: every questionnaire_responses.patient_id names an existing patients.patient_id.
-- Grain: one row per orphan questionnaire_responses row; returns that row's key only.
-- A NULL patient_id is a violation too: the row cannot be attributed.
SELECT child.response_id
FROM questionnaire_responses AS child
WHERE child.patient_id IS NULL
   OR NOT EXISTS (
        SELECT 1 FROM patients AS parent WHERE parent.patient_id = child.patient_id
    )
