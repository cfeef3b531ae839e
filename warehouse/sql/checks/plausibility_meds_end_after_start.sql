-- plausibility_meds_end_after_start: a medication order's validity period does not end before it
-- starts. Both dates belong to one patient and share one shift, so the order is the source's own.
-- Grain: one row per such order; returns med_id only.
SELECT meds.med_id
FROM meds
WHERE meds.start_date IS NOT NULL
  AND meds.end_date IS NOT NULL
  AND meds.end_date < meds.start_date
