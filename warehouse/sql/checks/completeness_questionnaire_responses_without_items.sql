-- completeness_questionnaire_responses_without_items: every response has at least one answer.
-- Grain: one row per response with no row in questionnaire_items; returns response_id only.
SELECT responses.response_id
FROM questionnaire_responses AS responses
WHERE NOT EXISTS (
    SELECT 1 FROM questionnaire_items AS items WHERE items.response_id = responses.response_id
)
