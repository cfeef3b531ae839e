-- fk_observations_visit: every observations.visit_id names an existing visits.visit_id.
-- Grain: one row per orphan observations row; returns that row's key only.
-- A NULL visit_id is allowed (the reference is optional) and not checked.
SELECT child.observation_id, child.value_index
FROM observations AS child
WHERE child.visit_id IS NOT NULL
  AND NOT EXISTS (
        SELECT 1 FROM visits AS parent WHERE parent.visit_id = child.visit_id
    )
