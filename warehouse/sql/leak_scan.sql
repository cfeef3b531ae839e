-- Leak-scan evidence (deid.md sections 9 and 10): one row per run and scanned location.
-- Value-free: locations, counts and category names only; never a value, a token or its hash.
-- IF NOT EXISTS: warehouse/leak_scan.py runs this file before writing, so it also works on a
-- warehouse whose audit.sql predates the table.

CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE IF NOT EXISTS audit.leak_scan (
    run_id            VARCHAR   NOT NULL,
    scanned_at        TIMESTAMP NOT NULL,  -- UTC
    location          VARCHAR   NOT NULL,  -- schema.table.column, file:<label>, text:<label>,
                                           -- control (the scan's positive control) or
                                           -- total:<scope> (warehouse or files; control excluded)
    rows_scanned      BIGINT    NOT NULL CHECK (rows_scanned >= 0),    -- non-NULL values or lines
    tokens_checked    BIGINT    NOT NULL CHECK (tokens_checked >= 0),  -- distinct tokens looked up
    hits              BIGINT    NOT NULL CHECK (hits >= 0),            -- values or lines with a hit
    hits_by_category  VARCHAR   NOT NULL,  -- JSON object: category -> values or lines; {} if none
    PRIMARY KEY (run_id, location)
);

COMMENT ON TABLE audit.leak_scan IS 'Leak scan per run and location: values or lines scanned, distinct tokens checked and values holding a patient identifier token (by category). The control row must show a hit; total rows exclude it. No values.';
