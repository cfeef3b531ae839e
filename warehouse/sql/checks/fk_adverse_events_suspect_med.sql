-- fk_adverse_events_suspect_med: every adverse_events.suspect_med_id names an existing meds.med_id.
-- Grain: one row per orphan adverse_events row; returns that row's key only.
-- A NULL suspect_med_id is allowed (the reference is optional) and not checked.
SELECT child.event_id
FROM adverse_events AS child
WHERE child.suspect_med_id IS NOT NULL
  AND NOT EXISTS (
        SELECT 1 FROM meds AS parent WHERE parent.med_id = child.suspect_med_id
    )
