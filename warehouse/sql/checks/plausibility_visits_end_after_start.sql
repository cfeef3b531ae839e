-- plausibility_visits_end_after_start: a visit does not end before it starts.
-- Dates of one patient share one shift (deid.md), so the order survives de-identification.
-- Grain: one row per visit with end_date < start_date; returns visit_id only.
SELECT visit_id
FROM visits
WHERE end_date < start_date
