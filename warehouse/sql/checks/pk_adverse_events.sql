-- pk_adverse_events: (event_id) identifies one row of adverse_events.
-- Grain: one row per key value held by more than one row; returns the key only.
-- The warehouse enforces this key; the check guards staged rows, which carry no constraint.
SELECT event_id
FROM adverse_events
GROUP BY event_id
HAVING count(*) > 1
