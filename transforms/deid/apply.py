"""Flatten staged resources through the views and de-identify every column by its class.

Runs on the staging connection (in memory, inside the PHI zone). What leaves this module is
de-identified Arrow tables plus value-free counts; the patient index it maintains holds only
keyed hashes, pseudonyms, offsets and birth years, and is kept in the vault between runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.sql_on_fhir import CompiledView, compile_view, load_view

from .classes import DeidConfigurationError, column_class, output_columns, pseudonym_resource_type
from .dates import DEFAULT_MAX_SHIFT_DAYS, birth_year_and_group, date_offset_days, parse_full_date
from .geography import zip3_sql
from .keys import DeidKeys
from .pseudonyms import (
    canonical_patient_key,
    patient_pseudonym,
    patient_reference_hash,
    resource_pseudonym,
)

PATIENT_INDEX_FILE = "patient_index.parquet"
LINEAGE = ("_source_file_hash", "_source_line")
_PATIENT_KEYS_VIEW = compile_view(load_view(Path(__file__).with_name("patient_keys.json")))
_INDEX_SCHEMA = pa.schema(
    [
        ("ref_hash", pa.string()),
        ("patient_pseudonym", pa.string()),
        ("offset_days", pa.int32()),
        ("birth_year", pa.int32()),
        ("age_group", pa.string()),
    ]
)


@dataclass(frozen=True)
class DeidContext:
    """What de-identification needs for one run.

    Attributes:
        keys: the purpose sub-keys.
        source: the source system's name; part of every non-patient pseudonym and of the
            canonical key of patients without an MRN.
        run_date: the reference date of the 90+ rule for living patients.
        max_shift_days: R of the date shift (offsets in [-R,-1] U [1,R]).
    """

    keys: DeidKeys
    source: str = "ehr"
    run_date: dt.date = field(default_factory=dt.date.today)
    max_shift_days: int = DEFAULT_MAX_SHIFT_DAYS


@dataclass
class TableDeidCounts:
    """Value-free counts for the run report, per core table."""

    rows: int = 0
    pseudonymized: int = 0
    dates_shifted: int = 0
    dates_nulled: int = 0  # partial (YYYY, YYYY-MM) or unparseable dates: NULL, never half-shifted
    zip_generalized: int = 0
    birth_years_grouped_90_plus: int = 0
    columns_dropped: int = 0  # text-class columns never leave the PHI zone
    unresolved_patient_references: int = 0


def register_functions(con: duckdb.DuckDBPyConnection, context: DeidContext) -> None:
    """Keyed SQL functions on the staging connection; the key stays in Python closures.

    The key never appears in SQL text, so it cannot reach a log, an error or a query profile.
    """
    keys, source = context.keys, context.source

    def per_value(function, arity: int):
        """An Arrow UDF applying ``function`` to each row; NULL in, NULL out."""

        def apply(*arrays: pa.Array) -> pa.Array:
            columns = [a.to_pylist() for a in arrays]
            return pa.array(
                [
                    None if None in values else function(*values)
                    for values in zip(*columns, strict=True)
                ]
            )

        # DuckDB reads the Python signature to check the argument count
        return (lambda a: apply(a)) if arity == 1 else (lambda a, b: apply(a, b))

    con.create_function(
        "deid_pseudonym",
        per_value(
            lambda resource_type, raw: resource_pseudonym(keys, resource_type, source, raw), 2
        ),
        ["VARCHAR", "VARCHAR"],
        "VARCHAR",
        type="arrow",
    )
    con.create_function(
        "deid_patient_ref_hash",
        per_value(lambda raw: patient_reference_hash(keys, source, raw), 1),
        ["VARCHAR"],
        "VARCHAR",
        type="arrow",
    )
    # A referenced patient absent from the index (not delivered yet, or a dangling reference)
    # gets the pseudonym and offset an MRN-less patient with that id would get.
    con.create_function(
        "deid_fallback_patient",
        per_value(
            lambda raw: patient_pseudonym(keys, canonical_patient_key(source, raw, None, None)), 1
        ),
        ["VARCHAR"],
        "VARCHAR",
        type="arrow",
    )
    con.create_function(
        "deid_fallback_offset",
        per_value(
            lambda raw: date_offset_days(
                keys, canonical_patient_key(source, raw, None, None), context.max_shift_days
            ),
            1,
        ),
        ["VARCHAR"],
        "INTEGER",
        type="arrow",
    )
    con.execute(
        r"""
        CREATE OR REPLACE TEMP MACRO deid_shift_date(t, offset_days) AS
            CASE
                WHEN t IS NULL OR offset_days IS NULL THEN NULL
                WHEN NOT regexp_matches(t, '^\d{4}-\d{2}-\d{2}') THEN NULL
                ELSE TRY_CAST(substr(t, 1, 10) AS DATE) + CAST(offset_days AS INTEGER)
            END
        """
    )


def build_patient_index(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    context: DeidContext,
    previous: pa.Table | None = None,
) -> pa.Table:
    """The patient index of this run: previous entries updated with this run's Patients.

    Args:
        con: the staging connection.
        staged: relation of staged resources (``resource`` JSON column).
        context: keys, source and run date.
        previous: the index kept in the vault from earlier runs (same key epoch), if any.
    """
    rows = con.sql(_PATIENT_KEYS_VIEW.sql(staged)).fetchall()
    entries: dict[str, tuple] = {}
    if previous is not None:
        for entry in previous.to_pylist():
            entries[entry["ref_hash"]] = tuple(entry[name] for name in _INDEX_SCHEMA.names)
    for patient_ref, mrn_system, mrn_value, birth_date, deceased_date in rows:
        if not patient_ref:
            continue
        canonical = canonical_patient_key(context.source, patient_ref, mrn_system, mrn_value)
        reference = parse_full_date(deceased_date) or context.run_date
        birth_year, age_group = birth_year_and_group(birth_date, reference)
        ref_hash = patient_reference_hash(context.keys, context.source, patient_ref)
        entries[ref_hash] = (
            ref_hash,
            patient_pseudonym(context.keys, canonical),
            date_offset_days(context.keys, canonical, context.max_shift_days),
            birth_year,
            age_group,
        )
    ordered = [entries[k] for k in sorted(entries)]
    return pa.Table.from_pylist(
        [dict(zip(_INDEX_SCHEMA.names, e, strict=True)) for e in ordered], schema=_INDEX_SCHEMA
    )


def read_patient_index(vault: Path, fingerprint: str) -> pa.Table | None:
    """The vault's patient index when it was written under the same key (else None: new epoch)."""
    path = vault / PATIENT_INDEX_FILE
    if not path.is_file():
        return None
    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    if metadata.get(b"key_fingerprint", b"").decode() != fingerprint:
        return None
    return table.cast(_INDEX_SCHEMA)


def write_patient_index(vault: Path, index: pa.Table, fingerprint: str) -> None:
    """Replace the vault's patient index atomically (after a successful load)."""
    path = vault / PATIENT_INDEX_FILE
    temporary = path.with_suffix(".tmp")
    pq.write_table(index.replace_schema_metadata({"key_fingerprint": fingerprint}), temporary)
    temporary.chmod(0o600)
    temporary.replace(path)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def patient_column(view_name: str, compiled: CompiledView) -> str | None:
    """The view column holding the raw Patient id (the pseudonym column of type Patient)."""
    names = [
        c.name
        for c in compiled.columns
        if column_class(view_name, c) == "pseudonym"
        and pseudonym_resource_type(view_name, compiled, c) == "Patient"
    ]
    if len(names) > 1:
        raise DeidConfigurationError(
            f"view {view_name!r} has more than one Patient pseudonym column: {names}"
        )
    return names[0] if names else None


def deidentify_sql(view_name: str, compiled: CompiledView, raw_relation: str) -> str:
    """SELECT turning the raw view output in ``raw_relation`` into the warehouse columns.

    Expects the ``patient_index`` table and the functions of ``register_functions``.
    """
    patient = patient_column(view_name, compiled)
    needs_patient = {"shift", "birth_year"}
    names = {c.name for c in compiled.columns}
    select: list[str] = []
    for column in compiled.columns:
        deid_class = column_class(view_name, column)
        raw = f"v.{_quote(column.name)}"
        if deid_class in needs_patient and patient is None:
            raise DeidConfigurationError(
                f"view {view_name!r} column {column.name!r} is class {deid_class} but the view has no patient column"
            )
        patient_raw = f"v.{_quote(patient)}" if patient else "NULL"
        if deid_class == "text":
            continue
        if deid_class == "pseudonym":
            resource_type = pseudonym_resource_type(view_name, compiled, column)
            if resource_type == "Patient":
                expression = f"CASE WHEN {raw} IS NULL THEN NULL ELSE coalesce(_p.patient_pseudonym, deid_fallback_patient({raw})) END"
            else:
                expression = f"deid_pseudonym('{resource_type}', {raw})"
            select.append(f"{expression} AS {_quote(column.name)}")
        elif deid_class == "shift":
            offset = f"coalesce(_p.offset_days, deid_fallback_offset({patient_raw}))"
            select.append(f"deid_shift_date({raw}, {offset}) AS {_quote(column.name)}")
        elif deid_class == "birth_year":
            select.append(f"_p.birth_year AS {_quote(column.name)}")
            select.append('_p.age_group AS "age_group"')
        elif deid_class == "zip3":
            country = 'v."country"' if "country" in names else "NULL"
            select.append(f"{zip3_sql(raw, country)} AS {_quote(column.name)}")
        else:
            select.append(f"{raw} AS {_quote(column.name)}")
    select.extend(f"v.{_quote(name)}" for name in LINEAGE)
    join = (
        f"LEFT JOIN patient_index AS _p ON _p.ref_hash = deid_patient_ref_hash(v.{_quote(patient)})"
        if patient
        else "LEFT JOIN (SELECT NULL::VARCHAR AS patient_pseudonym, NULL::INTEGER AS offset_days, "
        "NULL::INTEGER AS birth_year, NULL::VARCHAR AS age_group) AS _p ON false"
    )
    return "SELECT\n    " + ",\n    ".join(select) + f"\nFROM {raw_relation} AS v\n{join}"


def _counts(
    con: duckdb.DuckDBPyConnection, view_name: str, compiled: CompiledView, raw: str, clean: str
) -> TableDeidCounts:
    """Value-free counts comparing the raw and the de-identified table (same row order)."""
    counts = TableDeidCounts()
    counts.rows = con.sql(f"SELECT count(*) FROM {clean}").fetchall()[0][0]
    patient = patient_column(view_name, compiled)
    for column in compiled.columns:
        deid_class = column_class(view_name, column)
        name = _quote(column.name)
        if deid_class == "text":
            counts.columns_dropped += 1
        elif deid_class == "pseudonym":
            counts.pseudonymized += con.sql(f"SELECT count({name}) FROM {raw}").fetchall()[0][0]
        elif deid_class == "shift":
            shifted, nulled = con.sql(
                f"SELECT count(c.{name}), count(r.{name}) - count(c.{name}) "
                f"FROM {raw} r POSITIONAL JOIN {clean} c"
            ).fetchall()[0]
            counts.dates_shifted += shifted
            counts.dates_nulled += nulled
        elif deid_class == "zip3":
            counts.zip_generalized += con.sql(f"SELECT count({name}) FROM {raw}").fetchall()[0][0]
        elif deid_class == "birth_year":
            counts.birth_years_grouped_90_plus += con.sql(
                f"SELECT count(*) FROM {clean} WHERE age_group = '90+'"
            ).fetchall()[0][0]
    if patient:
        counts.unresolved_patient_references = con.sql(
            f"SELECT count(*) FROM {raw} v LEFT JOIN patient_index p "
            f"ON p.ref_hash = deid_patient_ref_hash(v.{_quote(patient)}) "
            f"WHERE v.{_quote(patient)} IS NOT NULL AND p.ref_hash IS NULL"
        ).fetchall()[0][0]
    return counts


def flatten_and_deidentify(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    views: Mapping[str, CompiledView],
    patient_index: pa.Table,
) -> tuple[dict[str, pa.Table], dict[str, TableDeidCounts]]:
    """Run every view over the staged resources and de-identify the result.

    Args:
        con: the staging connection, with ``register_functions`` applied.
        staged: table of staged resources: ``resource`` JSON, ``resource_type``,
            ``_source_file_hash``, ``_source_line``.
        views: compiled core views by table name.
        patient_index: from ``build_patient_index``.

    Returns:
        De-identified Arrow tables by table name (warehouse columns + lineage) and counts.
    """
    con.register("_patient_index_arrow", patient_index)
    con.execute("CREATE OR REPLACE TEMP TABLE patient_index AS SELECT * FROM _patient_index_arrow")
    con.unregister("_patient_index_arrow")
    tables: dict[str, pa.Table] = {}
    counts: dict[str, TableDeidCounts] = {}
    for name, compiled in views.items():
        expected = [c.name for c in output_columns(name, compiled)]
        source = (
            f"(SELECT resource, _source_file_hash, _source_line FROM {staged} "
            f"WHERE resource_type = '{compiled.view.resource}')"
        )
        raw, clean = f"_raw_{name}", f"_clean_{name}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {raw} AS {compiled.sql(source, carry=LINEAGE)}")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {clean} AS {deidentify_sql(name, compiled, raw)}"
        )
        table = con.sql(f"SELECT * FROM {clean}").to_arrow_table()
        if table.column_names != [*expected, *LINEAGE]:
            raise DeidConfigurationError(
                f"view {name!r}: de-identified columns differ from output_columns()"
            )
        tables[name] = table
        counts[name] = _counts(con, name, compiled, raw, clean)
        con.execute(f"DROP TABLE {raw}")
        con.execute(f"DROP TABLE {clean}")
    return tables, counts
