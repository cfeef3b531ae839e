-- fk_meds_visit: every meds.visit_id names an existing visits.visit_id.
-- Grain: one row per orphan meds row; returns that row's key only.
-- A NULL visit_id is allowed (the reference is optional) and not checked.
SELECT child.med_id
FROM meds AS child
WHERE child.visit_id IS NOT NULL
  AND NOT EXISTS (
        SELECT 1 FROM visits AS parent WHERE parent.visit_id = child.visit_id
    )
