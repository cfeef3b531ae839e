-- De-identification evidence per run (deid.md section 9): counts only, never values.
CREATE TABLE IF NOT EXISTS audit.deid_evidence (
    run_id      VARCHAR NOT NULL,
    category    VARCHAR NOT NULL,   -- HIPAA Safe Harbor letter A..R
    name        VARCHAR NOT NULL,   -- the category's name
    element     VARCHAR NOT NULL,   -- the FHIR element(s) counted
    method      VARCHAR NOT NULL,   -- dropped, pseudonymized, shifted, generalized, ...
    count       BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit.deid_counts (
    run_id                          VARCHAR NOT NULL,
    table_name                      VARCHAR NOT NULL,
    rows                            BIGINT NOT NULL,
    pseudonymized                   BIGINT NOT NULL,
    dates_shifted                   BIGINT NOT NULL,
    dates_nulled                    BIGINT NOT NULL,
    zip_generalized                 BIGINT NOT NULL,
    birth_years_grouped_90_plus     BIGINT NOT NULL,
    columns_dropped                 BIGINT NOT NULL,
    codes_dropped                   BIGINT NOT NULL,
    displays_dropped                BIGINT NOT NULL,
    unresolved_patient_references   BIGINT NOT NULL,
    notes_scrubbed                  BIGINT NOT NULL,
    notes_dropped_content_type      BIGINT NOT NULL,
    notes_undecodable               BIGINT NOT NULL,
    note_replacements               BIGINT NOT NULL,
    ages_over_89_emptied            BIGINT NOT NULL,
    terms_kept                      BIGINT NOT NULL,   -- term-class values on transforms/deid/terms.yaml
    terms_dropped                   BIGINT NOT NULL    -- term-class values not on it: NULL
);
-- warehouses created before the term class: the two columns, 0 for their earlier runs
ALTER TABLE audit.deid_counts ADD COLUMN IF NOT EXISTS terms_kept BIGINT DEFAULT 0;
ALTER TABLE audit.deid_counts ADD COLUMN IF NOT EXISTS terms_dropped BIGINT DEFAULT 0;
CREATE TABLE IF NOT EXISTS audit.date_shift (
    run_id              VARCHAR NOT NULL,
    profile             VARCHAR NOT NULL,
    max_shift_days      INTEGER NOT NULL,
    patients_shifted    BIGINT NOT NULL,
    min_offset_days     INTEGER,
    max_offset_days     INTEGER,
    zero_offsets        BIGINT NOT NULL,
    out_of_range        BIGINT NOT NULL,
    key_fingerprint     VARCHAR NOT NULL,
    new_key_epoch       BOOLEAN NOT NULL   -- the key differs from the previous run's
);
CREATE TABLE IF NOT EXISTS audit.extensions (
    run_id      VARCHAR NOT NULL,
    url         VARCHAR NOT NULL,   -- the extension's definition URL
    count       BIGINT NOT NULL,    -- occurrences in the run's input
    kept        BOOLEAN NOT NULL    -- false: no view reads it, dropped
);
CREATE TABLE IF NOT EXISTS audit.csv_columns (
    run_id      VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    header      VARCHAR NOT NULL,   -- the normalised CSV header (a name, never a value)
    action      VARCHAR NOT NULL,   -- dropped_unknown | unparseable | free_text_dropped | unmapped_dropped
    count       BIGINT NOT NULL     -- values concerned (1 for a dropped header)
);
CREATE TABLE IF NOT EXISTS audit.notes_scrubber (
    run_id              VARCHAR NOT NULL,
    scrubber_version    VARCHAR NOT NULL,
    corpus_notes        INTEGER NOT NULL,   -- generated, labelled notes the scrubber was measured on
    kind                VARCHAR NOT NULL,   -- own (the patient's identifiers) | pattern | overall
    category            VARCHAR NOT NULL,   -- NAME, MRN, PHONE, ... or a summary measure
    labels              BIGINT,             -- labelled identifiers of that category
    recall              DOUBLE NOT NULL     -- fraction caught (retention / accuracy for summaries)
);
