-- Denominator: answers on COMPASS-31 responses, recognised by the questionnaire canonical
-- (e.g. .../Questionnaire/compass-31). Grain: one row per answer.
SELECT items.response_id, items.link_id, items.answer_index
FROM questionnaire_items AS items
JOIN questionnaire_responses AS responses USING (response_id)
WHERE regexp_matches(lower(responses.questionnaire), 'compass-?31')
