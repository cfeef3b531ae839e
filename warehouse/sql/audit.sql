-- The audit schema: run ledger and load evidence for auditors.
-- No PHI ever: input files are named by SHA-256 and name hashes, resources by id hashes, errors by
-- class and element path. Timestamps are UTC (TIMESTAMP without time zone).
-- Created once with the warehouse; audit.schema_version records every table's definition, so a
-- change here is detected on open and must be migrated by hand (the ledger is history).

-- One row per warehouse table (core and audit): the definition it was created with.
CREATE TABLE audit.schema_version (
    table_name  VARCHAR   NOT NULL PRIMARY KEY,  -- qualified: core.patients, audit.runs, ...
    definition  VARCHAR   NOT NULL,              -- JSON: columns (name, type, nullable), primary key
    created_at  TIMESTAMP NOT NULL
);

-- One row per run: who ran what with which settings, and how it ended.
CREATE TABLE audit.runs (
    run_id                 VARCHAR   NOT NULL PRIMARY KEY,
    started_at             TIMESTAMP NOT NULL,
    finished_at            TIMESTAMP,
    status                 VARCHAR   NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    profile                VARCHAR   NOT NULL,  -- de-identification profile: ED, SH or LDS
    pseudonym_mode         VARCHAR   NOT NULL,
    full_refresh           BOOLEAN   NOT NULL,
    key_fingerprint        VARCHAR   NOT NULL,  -- HMAC fingerprint of the key, never the key
    config_hash            VARCHAR   NOT NULL,
    files_seen             BIGINT,
    files_loaded           BIGINT,
    files_skipped          BIGINT,
    resources_read         BIGINT,
    resources_loaded       BIGINT,
    resources_quarantined  BIGINT,
    error_summary          VARCHAR              -- error class and stage only, never a value
);

-- One row per input file ever processed; incremental runs skip the 'loaded' ones.
CREATE TABLE audit.files (
    file_sha256            VARCHAR   NOT NULL PRIMARY KEY,
    file_name_hash         VARCHAR   NOT NULL,  -- file names can hold PHI: only their hash
    format                 VARCHAR   NOT NULL,
    size_bytes             BIGINT    NOT NULL,
    first_run_id           VARCHAR   NOT NULL,  -- the run that first recorded the file
    loaded_at              TIMESTAMP,           -- NULL while the file has not loaded
    resources_read         BIGINT    NOT NULL,
    resources_loaded       BIGINT    NOT NULL,
    resources_quarantined  BIGINT    NOT NULL,
    status                 VARCHAR   NOT NULL CHECK (status IN ('loaded', 'failed'))
);

-- Per run, file and resource type: what was read, loaded and quarantined (the balance).
CREATE TABLE audit.file_counts (
    run_id         VARCHAR NOT NULL,
    file_sha256    VARCHAR NOT NULL,
    resource_type  VARCHAR NOT NULL,
    "read"         BIGINT  NOT NULL CHECK ("read" >= 0),
    loaded         BIGINT  NOT NULL CHECK (loaded >= 0),
    quarantined    BIGINT  NOT NULL CHECK (quarantined >= 0),
    PRIMARY KEY (run_id, file_sha256, resource_type),
    CHECK (loaded + quarantined <= "read")
);

-- One row per quarantined resource or undecodable input unit: where and why, never what.
CREATE TABLE audit.quarantine (
    run_id         VARCHAR NOT NULL,
    file_sha256    VARCHAR NOT NULL,
    line           BIGINT  NOT NULL,  -- NDJSON line, Bundle entry or CSV row (1-based)
    resource_type  VARCHAR,           -- NULL when the unit could not be decoded
    id_hash        VARCHAR,
    error_class    VARCHAR NOT NULL,
    element        VARCHAR            -- element path of the failure, e.g. entry[3].resource
);

COMMENT ON TABLE audit.schema_version IS 'Definition (columns, types, key) each warehouse table was created with; a mismatch with the code stops the load.';
COMMENT ON TABLE audit.runs IS 'Run ledger: one row per run with its settings, counts and outcome. No PHI.';
COMMENT ON TABLE audit.files IS 'Input files by SHA-256 (names hashed); incremental runs skip files with status loaded.';
COMMENT ON TABLE audit.file_counts IS 'Per run, file and resource type: resources read, loaded and quarantined.';
COMMENT ON TABLE audit.quarantine IS 'Resources rejected by structural validation: location, type, id hash and error class, never values.';
