-- The study's follow-up timepoints: one row per cohort patient with a follow-up visit.
SELECT * FROM study.timepoints WHERE timepoint = 'follow_up'
