-- pk_questionnaire_items: (response_id, link_id, answer_index) identifies one row of questionnaire_items.
-- Grain: one row per key value held by more than one row; returns the key only.
-- The warehouse enforces this key; the check guards staged rows, which carry no constraint.
-- link_id is left out of the result (an input string, not kept among the stored keys): one row
-- per duplicated key all the same, so two duplicated items of a response show the same key.
SELECT response_id, answer_index
FROM questionnaire_items
GROUP BY response_id, link_id, answer_index
HAVING count(*) > 1
