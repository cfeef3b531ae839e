-- plausibility_pain_score_range: a pain score (LOINC 72514-3) lies within 0-10.
-- Grain: one row per pain score outside the scale; returns the observation key only.
-- Denominator: denominators/pain_scores.sql (same scope predicate).
SELECT observation_id, value_index
FROM observations
WHERE code = '72514-3'
  AND value_num IS NOT NULL
  AND value_num NOT BETWEEN 0 AND 10
