-- plausibility_follow_up_after_prescription: every study follow-up visit lies after the patient's
-- prescription visit, inside the study config's follow-up window (days, study.config_parameters).
-- A study check: it judges the study tables built in the same transaction, after the core checks.
-- Grain: one row per cohort patient whose follow-up is misplaced; returns patient_id only.
WITH window_days AS (
    SELECT
        max(CASE WHEN name = 'follow_up_min_days' THEN CAST(value AS INTEGER) END) AS min_days,
        max(CASE WHEN name = 'follow_up_max_days' THEN CAST(value AS INTEGER) END) AS max_days
    FROM study.config_parameters
)
SELECT follow_up.patient_id
FROM study.timepoints AS follow_up
JOIN study.timepoints AS prescription
    ON prescription.patient_id = follow_up.patient_id
   AND prescription.timepoint = 'prescription'
CROSS JOIN window_days
WHERE follow_up.timepoint = 'follow_up'
  AND (
      follow_up.visit_date IS NULL
      OR prescription.visit_date IS NULL
      OR follow_up.visit_date <= prescription.visit_date
      OR date_diff('day', prescription.visit_date, follow_up.visit_date)
          NOT BETWEEN window_days.min_days AND window_days.max_days
  )
