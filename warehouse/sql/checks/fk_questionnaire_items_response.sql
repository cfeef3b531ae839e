-- fk_questionnaire_items_response: every questionnaire_items.response_id names an existing questionnaire_responses.response_id.
-- Grain: one row per orphan questionnaire_items row; returns that row's key only.
-- A NULL response_id is a violation too: the row cannot be attributed.
-- link_id is left out (an input string, not kept among the stored keys): items of one response
-- may share a key.
SELECT child.response_id, child.answer_index
FROM questionnaire_items AS child
WHERE child.response_id IS NULL
   OR NOT EXISTS (
        SELECT 1 FROM questionnaire_responses AS parent WHERE parent.response_id = child.response_id
    )
