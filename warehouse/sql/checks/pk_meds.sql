-- pk_meds: (med_id) identifies one row of meds.
-- Grain: one row per key value held by more than one row; returns the key only.
-- The warehouse enforces this key; the check guards staged rows, which carry no constraint.
SELECT med_id
FROM meds
GROUP BY med_id
HAVING count(*) > 1
