-- pk_observations: (observation_id, value_index) identifies one row of observations.
-- Grain: one row per key value held by more than one row; returns the key only.
-- The warehouse enforces this key; the check guards staged rows, which carry no constraint.
SELECT observation_id, value_index
FROM observations
GROUP BY observation_id, value_index
HAVING count(*) > 1
