-- pk_questionnaire_responses: (response_id) identifies one row of questionnaire_responses.
-- Grain: one row per key value held by more than one row; returns the key only.
-- The warehouse enforces this key; the check guards staged rows, which carry no constraint.
SELECT response_id
FROM questionnaire_responses
GROUP BY response_id
HAVING count(*) > 1
