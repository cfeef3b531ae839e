-- pk_visits: (visit_id) identifies one row of visits.
-- Grain: one row per key value held by more than one row; returns the key only.
-- The warehouse enforces this key; the check guards staged rows, which carry no constraint.
SELECT visit_id
FROM visits
GROUP BY visit_id
HAVING count(*) > 1
