-- k-anonymity summary of one quasi-identifier set over a patient-level relation (deid.md 8).
-- Filled in by warehouse/risk.py: {source} has one row per patient (core.patients, or a table
-- read back from an export); {qi_columns} are the set's column expressions. Parameter: $k.
-- Only counts come out: no quasi-identifier value ever leaves this query.
-- GROUP BY puts NULLs together, so an unknown value is a value of its own, as a recipient
-- sees it: the patients with an unknown sex form their own classes.
WITH classes AS (
    SELECT count(*) AS class_size
    FROM {source}
    GROUP BY {qi_columns}
)
SELECT
    CAST(coalesce(sum(class_size), 0) AS BIGINT)                            AS patients,
    count(*)                                                                AS classes,
    min(class_size)                                                         AS min_class_size,
    count(*) FILTER (WHERE class_size < $k)                                 AS classes_below_k,
    CAST(coalesce(sum(class_size) FILTER (WHERE class_size < $k), 0) AS BIGINT) AS patients_below_k
FROM classes
