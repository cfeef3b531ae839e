-- conformance_compass31_answer_codes: every COMPASS-31 answer is an option of its item
-- (compass31.md section 3: options are coded 1..n in printed order; item 6, tick all that apply,
-- is coded 1 = hands, 2 = feet, 0 = none ticked).
-- Grain: one row per answer with an unknown item, a missing code or a code outside the item's
-- options; returns response_id and answer_index only (never the answer, nor the linkId: an
-- input string, so not kept among the stored keys; several rows may share a key).
-- Denominator: denominators/compass31_items.sql (same scope).
WITH options (link_id, lowest_code, highest_code) AS (
    VALUES
        ('q1', 1, 2), ('q2', 1, 4), ('q3', 1, 3), ('q4', 1, 6),
        ('q5', 1, 2), ('q6', 0, 2), ('q7', 1, 6),
        ('q8', 1, 5), ('q9', 1, 2), ('q10', 1, 2), ('q11', 1, 7),
        ('q12', 1, 5), ('q13', 1, 3), ('q14', 1, 3), ('q15', 1, 3),
        ('q16', 1, 2), ('q17', 1, 4), ('q18', 1, 3), ('q19', 1, 6),
        ('q20', 1, 2), ('q21', 1, 4), ('q22', 1, 3), ('q23', 1, 6),
        ('q24', 1, 4), ('q25', 1, 4), ('q26', 1, 4),
        ('q27', 1, 4), ('q28', 1, 3), ('q29', 1, 4), ('q30', 1, 3), ('q31', 1, 7)
),

compass_answers AS (
    SELECT items.response_id, items.link_id, items.answer_index, items.answer_code
    FROM questionnaire_items AS items
    JOIN questionnaire_responses AS responses USING (response_id)
    WHERE regexp_matches(lower(responses.questionnaire), 'compass-?31')
)

SELECT answers.response_id, answers.answer_index
FROM compass_answers AS answers
LEFT JOIN options USING (link_id)
WHERE options.link_id IS NULL
   -- try_cast: a non-numeric code is a violation, not a query error.
   OR try_cast(answers.answer_code AS INTEGER) IS NULL
   OR try_cast(answers.answer_code AS INTEGER)
        NOT BETWEEN options.lowest_code AND options.highest_code
