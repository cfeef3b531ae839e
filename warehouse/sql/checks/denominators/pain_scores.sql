-- Denominator: numeric pain scores (LOINC 72514-3, 0-10 numeric rating scale).
-- Grain: one row per observation value.
SELECT observation_id, value_index
FROM observations
WHERE code = '72514-3' AND value_num IS NOT NULL
