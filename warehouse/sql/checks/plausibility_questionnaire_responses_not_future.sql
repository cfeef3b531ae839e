-- plausibility_questionnaire_responses_not_future: questionnaire_responses.authored_date is not after the run date.
-- One year of tolerance: under profile ED a date may move up to 365 days later (deid.md).
-- The run date comes from getvariable('run_date'), set by expectations/checks.py.
-- ISO text comparison reads DATE columns (ED, LDS) and year-only INTEGER columns (SH) alike:
-- '2027' > '2026-01-01' but '2026' < '2026-01-01'.
-- Grain: one row per questionnaire_responses row dated after the run date plus 365 days; returns its key only.
SELECT response_id
FROM questionnaire_responses
WHERE CAST(authored_date AS VARCHAR)
    > CAST(CAST(getvariable('run_date') AS DATE) + 365 AS VARCHAR)
