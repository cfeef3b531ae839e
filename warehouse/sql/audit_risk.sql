-- Audit tables of risk measurement (warehouse/risk.py) and exports (warehouse/export.py).
-- Counts only, never a quasi-identifier value. Meant for audit.sql: until it moves there, the two
-- modules run this file themselves, hence IF NOT EXISTS (and no audit.schema_version rows).

-- One row per run, quasi-identifier set and k: the k-anonymity of core.patients (deid.md 8).
CREATE TABLE IF NOT EXISTS audit.risk (
    run_id            VARCHAR   NOT NULL,
    measured_at       TIMESTAMP NOT NULL,
    qi_set            VARCHAR   NOT NULL,  -- qi_basic, qi_extended (warehouse/risk.py QI_SETS)
    k                 INTEGER   NOT NULL CHECK (k >= 2),
    patients          BIGINT    NOT NULL,
    classes           BIGINT    NOT NULL,
    min_class_size    BIGINT,              -- NULL when core.patients is empty
    classes_below_k   BIGINT    NOT NULL,
    patients_below_k  BIGINT    NOT NULL,
    PRIMARY KEY (run_id, qi_set, k),
    CHECK (classes_below_k <= classes AND patients_below_k <= patients)
);

-- One row per export that left the warehouse: what, at which k, and what generalising it took.
CREATE TABLE IF NOT EXISTS audit.exports (
    export_id               VARCHAR   NOT NULL PRIMARY KEY,
    exported_at             TIMESTAMP NOT NULL,
    run_id                  VARCHAR,             -- latest succeeded run; NULL when none recorded
    tables                  VARCHAR[] NOT NULL,  -- qualified: core.patients, study.cohort, ...
    format                  VARCHAR   NOT NULL CHECK (format IN ('parquet', 'csv')),
    k                       INTEGER   NOT NULL CHECK (k >= 11),
    patients                BIGINT    NOT NULL,  -- core.patients rows measured
    generalised_zip         BIGINT    NOT NULL,  -- zip3 replaced by state only
    generalised_birth_year  BIGINT    NOT NULL,  -- birth year replaced by its 5-year band
    suppressed              BIGINT    NOT NULL,  -- every quasi-identifier replaced by '*'
    suppressed_dropped      BOOLEAN   NOT NULL,  -- suppressed patients' rows left out entirely
    manifest_sha256         VARCHAR   NOT NULL   -- SHA-256 of the export's manifest.json
);

COMMENT ON TABLE audit.risk IS 'k-anonymity of core.patients per run and quasi-identifier set: class counts only, never values.';
COMMENT ON TABLE audit.exports IS 'Exports that left the warehouse: tables, k, patients generalised and suppressed; manifest hash.';
