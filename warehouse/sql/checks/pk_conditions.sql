-- pk_conditions: (condition_id) identifies one row of conditions.
-- Grain: one row per key value held by more than one row; returns the key only.
-- The warehouse enforces this key; the check guards staged rows, which carry no constraint.
SELECT condition_id
FROM conditions
GROUP BY condition_id
HAVING count(*) > 1
