-- fk_questionnaire_responses_visit: every questionnaire_responses.visit_id names an existing visits.visit_id.
-- Grain: one row per orphan questionnaire_responses row; returns that row's key only.
-- A NULL visit_id is allowed (the reference is optional) and not checked.
SELECT child.response_id
FROM questionnaire_responses AS child
WHERE child.visit_id IS NOT NULL
  AND NOT EXISTS (
        SELECT 1 FROM visits AS parent WHERE parent.visit_id = child.visit_id
    )
