-- DuckDB macros used by SQL compiled from ViewDefinitions (transforms/sql_on_fhir/compiler.py).
-- A FHIRPath collection is a JSON[] list; JSON null array members (primitive arrays padded for
-- extensions) are not items. Macros are TEMP: they live on the connection, never in a database.
-- Lambda parameters are named __m_* so they cannot capture the compiler's own _x*/_i* variables.

-- A JSON value (absent, scalar, object or array) as a FHIRPath collection.
CREATE OR REPLACE TEMP MACRO fhir_list(j) AS
    CASE
        WHEN j IS NULL THEN []::JSON[]
        WHEN json_type(j) = 'ARRAY' THEN list_filter(CAST(j AS JSON[]), lambda __m_v: json_type(__m_v) <> 'NULL')
        WHEN json_type(j) = 'NULL' THEN []::JSON[]
        ELSE [j]
    END;

-- Navigation: every item's child element(s) at a JSON path, flattened.
CREATE OR REPLACE TEMP MACRO fhir_child(c, path) AS
    flatten(list_transform(list_transform(c, lambda __m_x: json_extract(__m_x, path)), lambda __m_j: fhir_list(__m_j)));

-- A typed SQL scalar as a collection of zero or one JSON item.
CREATE OR REPLACE TEMP MACRO fhir_wrap(x) AS
    CASE WHEN x IS NULL THEN []::JSON[] ELSE [to_json(x)] END;

-- The single item of a collection (NULL when empty); more than one item raises `message`.
CREATE OR REPLACE TEMP MACRO fhir_singleton(c, message) AS
    list_transform([c], lambda __m_c: CASE WHEN len(__m_c) > 1 THEN error(message) ELSE __m_c[1] END)[1];

-- FHIRPath singleton evaluation of a collection where a Boolean is expected.
CREATE OR REPLACE TEMP MACRO fhir_truthy(c, message) AS
    list_transform([c], lambda __m_c:
        CASE
            WHEN len(__m_c) = 0 THEN NULL
            WHEN len(__m_c) > 1 THEN error(message)
            WHEN json_type(__m_c[1]) = 'BOOLEAN' THEN CAST(__m_c[1] AS BOOLEAN)
            ELSE true
        END)[1];

-- A view's where clause: the path must give a Boolean (or nothing).
CREATE OR REPLACE TEMP MACRO fhir_strict_boolean(c, message) AS
    list_transform([c], lambda __m_c:
        CASE
            WHEN len(__m_c) = 0 THEN NULL
            WHEN len(__m_c) > 1 OR json_type(__m_c[1]) <> 'BOOLEAN' THEN error(message)
            ELSE CAST(__m_c[1] AS BOOLEAN)
        END)[1];

CREATE OR REPLACE TEMP MACRO fhir_is_number(j) AS
    json_type(j) IN ('UBIGINT', 'BIGINT', 'DOUBLE', 'HUGEINT');

-- Comparison of two JSON items whose types are not known when compiling.
CREATE OR REPLACE TEMP MACRO fhir_json_equal(a, b) AS
    CASE
        WHEN a IS NULL OR b IS NULL THEN NULL
        WHEN fhir_is_number(a) AND fhir_is_number(b) THEN CAST(a AS DOUBLE) = CAST(b AS DOUBLE)
        ELSE CAST(a AS VARCHAR) = CAST(b AS VARCHAR)
    END;

CREATE OR REPLACE TEMP MACRO fhir_json_order(a, b) AS
    CASE
        WHEN a IS NULL OR b IS NULL THEN NULL
        WHEN fhir_is_number(a) AND fhir_is_number(b) THEN sign(CAST(a AS DOUBLE) - CAST(b AS DOUBLE))::INTEGER
        WHEN a ->> '$' < b ->> '$' THEN -1
        WHEN a ->> '$' > b ->> '$' THEN 1
        ELSE 0
    END;

-- getReferenceKey([type]): the id of a literal reference 'Type/id', '<base>/Type/id' or
-- '.../Type/id/_history/v'; NULL for other shapes (conditional, urn:uuid, contained '#id').
-- String functions, not regular expressions: this runs once per reference and regexes cost 5x.
CREATE OR REPLACE TEMP MACRO fhir_reference_key(reference, wanted_type) AS
    list_transform(
        [string_split(CASE WHEN contains(reference, '/_history/') THEN split_part(reference, '/_history/', 1) ELSE reference END, '/')],
        lambda __m_p: CASE
            WHEN len(__m_p) < 2 OR __m_p[-1] = '' OR contains(__m_p[-2], '?') OR NOT (ascii(__m_p[-2]) BETWEEN 65 AND 90) THEN NULL
            WHEN wanted_type IS NOT NULL AND __m_p[-2] <> wanted_type THEN NULL
            ELSE __m_p[-1]
        END)[1];

-- lowBoundary()/highBoundary() of a decimal held as JSON number text (precision from its digits).
CREATE OR REPLACE TEMP MACRO fhir_decimal_boundary(j, direction) AS
    CASE
        WHEN j IS NULL OR NOT fhir_is_number(j) THEN NULL
        ELSE CAST(j AS DOUBLE) + direction * 0.5 * pow(10, -coalesce(length(regexp_extract(CAST(j AS VARCHAR), '\.(\d+)', 1)), 0))
    END;

-- lowBoundary()/highBoundary() of a date ('YYYY', 'YYYY-MM' or 'YYYY-MM-DD'), as a full date.
CREATE OR REPLACE TEMP MACRO fhir_date_boundary(s, high) AS
    CASE
        WHEN s IS NULL OR NOT regexp_full_match(s, '\d{4}(-\d{2}(-\d{2})?)?') THEN NULL
        WHEN length(s) = 10 THEN s
        WHEN NOT high AND length(s) = 7 THEN s || '-01'
        WHEN NOT high THEN s || '-01-01'
        WHEN length(s) = 7 THEN strftime(last_day(CAST(s || '-01' AS DATE)), '%Y-%m-%d')
        ELSE s || '-12-31'
    END;

-- lowBoundary()/highBoundary() of a time: seconds and milliseconds filled.
CREATE OR REPLACE TEMP MACRO fhir_time_boundary(s, high) AS
    CASE
        WHEN s IS NULL OR NOT regexp_full_match(s, '\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?') THEN NULL
        WHEN length(s) = 2 THEN s || CASE WHEN high THEN ':59:59.999' ELSE ':00:00.000' END
        WHEN length(s) = 5 THEN s || CASE WHEN high THEN ':59.999' ELSE ':00.000' END
        WHEN length(s) = 8 THEN s || CASE WHEN high THEN '.999' ELSE '.000' END
        ELSE substr(s || '000', 1, 12)
    END;

-- lowBoundary()/highBoundary() of a dateTime: missing parts filled, time zone widened to +14:00/-12:00.
CREATE OR REPLACE TEMP MACRO fhir_datetime_boundary(s, high) AS
    CASE
        WHEN s IS NULL THEN NULL
        WHEN regexp_full_match(s, '\d{4}(-\d{2}(-\d{2})?)?') THEN
            fhir_date_boundary(s, high) || CASE WHEN high THEN 'T23:59:59.999-12:00' ELSE 'T00:00:00.000+14:00' END
        WHEN regexp_full_match(s, '\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?') THEN
            substr(s, 1, 10) || 'T'
                || fhir_time_boundary(regexp_extract(s, 'T(\d{2}:\d{2}(:\d{2}(\.\d+)?)?)', 1), high)
                || coalesce(nullif(regexp_extract(s, '(Z|[+-]\d{2}:\d{2})$', 1), ''), CASE WHEN high THEN '-12:00' ELSE '+14:00' END)
        ELSE NULL
    END;
