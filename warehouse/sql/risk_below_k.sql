-- The patients of {source} whose class over {qi_columns} has fewer than $k members.
-- Same classes as risk.sql: PARTITION BY, like GROUP BY, puts NULLs together.
SELECT patient_id
FROM (
    SELECT patient_id, count(*) OVER (PARTITION BY {qi_columns}) AS class_size
    FROM {source}
)
WHERE class_size < $k
