-- pk_notes: (note_id, content_index) identifies one row of notes.
-- Grain: one row per key value held by more than one row; returns the key only.
-- The warehouse enforces this key; the check guards staged rows, which carry no constraint.
SELECT note_id, content_index
FROM notes
GROUP BY note_id, content_index
HAVING count(*) > 1
