"""Flatten staged resources through the views and de-identify every column by its class.

Runs on the staging connection (in memory, inside the PHI zone). What leaves this module is
de-identified Arrow tables plus value-free counts; the patient index it maintains holds only
keyed hashes, pseudonyms, offsets and birth years, and is kept in the vault between runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from transforms.sql_on_fhir import CompiledView, compile_view, load_view
from transforms.sql_on_fhir.engine import sanitized_error

from .classes import (
    DATES_NULLED_COLUMN,
    PROFILES,
    PSEUDONYM_MODES,
    DeidConfigurationError,
    column_class,
    output_columns,
    pseudonym_resource_type,
)
from .dates import DEFAULT_MAX_SHIFT_DAYS, birth_year_and_group, date_offset_days, parse_full_date
from .geography import zip3_sql
from .keys import DeidKeys
from .notes import SCRUBBER_VERSION, PatientDictionary, decode_attachment, is_supported, scrub_note
from .pseudonyms import (
    canonical_key_hash,
    canonical_patient_key,
    patient_pseudonym,
    patient_reference_hash,
    resource_pseudonym,
)
from .terms import term_sql

PATIENT_INDEX_FILE = "patient_index.parquet"
# On a code or display column: the view column holding its coding's system (the allow-list
# decides on it). A display column's name ends in "display".
CODE_SYSTEM_TAG = "code-system"
# On a text column: the view column holding the attachment's MIME type (notes mode decodes it).
CONTENT_TYPE_TAG = "content-type"
# On a numeric value column: the view column holding its unit; ages of 90+ years are emptied.
AGE_UNIT_TAG = "age-unit"
AGE_UNITS = ("a", "yr", "year", "years", "Years")  # UCUM 'a' and the spellings exports use
LINEAGE = ("_source_file_hash", "_source_line")
_PATIENT_KEYS_VIEW = compile_view(load_view(Path(__file__).with_name("patient_keys.json")))
_INDEX_SCHEMA = pa.schema(
    [
        ("ref_hash", pa.string()),
        ("canonical_hash", pa.string()),
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
        profile: ED (dates shifted per patient), SH (years only) or LDS (real dates).
        pseudonym_mode: ``hmac`` (keyed, no state) or ``random_crosswalk`` (a random id per
            patient, kept only in the vault's patient index).
        notes_mode: decode and scrub text-class columns (clinical notes) instead of dropping them.
    """

    keys: DeidKeys
    source: str = "ehr"
    run_date: dt.date = field(default_factory=dt.date.today)
    max_shift_days: int = DEFAULT_MAX_SHIFT_DAYS
    profile: str = "ED"
    pseudonym_mode: str = "hmac"
    notes_mode: bool = False

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise DeidConfigurationError(f"profile must be one of {', '.join(PROFILES)}")
        if self.pseudonym_mode not in PSEUDONYM_MODES:
            raise DeidConfigurationError(
                f"pseudonym mode must be one of {', '.join(PSEUDONYM_MODES)}"
            )
        if self.max_shift_days < 1:
            raise DeidConfigurationError("max_shift_days must be at least 1")


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
    codes_dropped: int = 0  # long codes of systems outside the allow-list
    displays_dropped: int = 0  # displays of codings outside the allow-list
    notes_scrubbed: int = 0
    notes_dropped_content_type: int = 0  # not text/plain, text/html or text/rtf
    notes_undecodable: int = 0
    note_replacements: int = 0  # identifiers and dates replaced in note text
    ages_over_89_emptied: int = 0  # age quantities (in years) of 90 or more
    unresolved_patient_references: int = 0
    terms_kept: int = 0  # term-class values on the term list (terms.yaml): its canonical term
    terms_dropped: int = 0  # term-class values not on the term list: NULL
    # per term-class column: {"kept": n, "dropped": n} (audit.deid_evidence, one row each)
    term_columns: dict[str, dict[str, int]] = field(default_factory=dict)


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


class PatientIndex:
    """Each patient's pseudonym, offset and birth-year rule, kept between runs in the vault.

    Keys are keyed hashes: of the raw Patient id as its source references it (``ref_hash``)
    and of the canonical key (``canonical_hash``: the MRN when there is one). The first
    assignment wins: a patient keeps its pseudonym and offset for the key epoch, whether it was
    first seen as a Patient, through another export with the same MRN, or only through a
    reference before its Patient arrived. Without that, rows loaded on different nights would
    stop linking and intervals between them would break.
    """

    def __init__(self, previous: pa.Table | None = None):
        self.entries: dict[str, dict] = {}
        self.by_canonical: dict[str, dict] = {}
        for entry in previous.to_pylist() if previous is not None else []:
            self._add(entry)

    def _add(self, entry: dict) -> None:
        self.entries[entry["ref_hash"]] = entry
        if entry["canonical_hash"]:
            self.by_canonical.setdefault(entry["canonical_hash"], entry)

    def assign(
        self,
        context: DeidContext,
        patient_ref: str,
        canonical: str,
        birth: tuple[int | None, str | None],
    ) -> None:
        """Record a patient (or a bare reference: ``birth`` (None, None)); first assignment wins."""
        ref_hash = patient_reference_hash(context.keys, context.source, patient_ref)
        canonical_hash = canonical_key_hash(context.keys, canonical)
        known = self.entries.get(ref_hash) or self.by_canonical.get(canonical_hash)
        if known is not None:
            pseudonym, offset = known["patient_pseudonym"], known["offset_days"]
        else:
            pseudonym = (
                uuid.uuid4().hex  # random_crosswalk: no function of any identifier; the index maps it
                if context.pseudonym_mode == "random_crosswalk"
                else patient_pseudonym(context.keys, canonical)
            )
            offset = date_offset_days(context.keys, canonical, context.max_shift_days)
        previous_birth = self.entries.get(ref_hash, {})
        birth_year, age_group = (
            birth
            if birth != (None, None)
            else (
                previous_birth.get("birth_year"),
                previous_birth.get("age_group"),
            )
        )
        self._add(
            {
                "ref_hash": ref_hash,
                "canonical_hash": canonical_hash,
                "patient_pseudonym": pseudonym,
                "offset_days": offset,
                "birth_year": birth_year,
                "age_group": age_group,
            }
        )

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(
            [self.entries[k] for k in sorted(self.entries)], schema=_INDEX_SCHEMA
        )


def build_patient_index(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    context: DeidContext,
    previous: pa.Table | None = None,
) -> PatientIndex:
    """The patient index of this run: earlier entries, plus this run's Patients.

    Args:
        con: the staging connection.
        staged: table of staged resources (``resource`` JSON and ``resource_type`` columns).
        context: keys, source and run date.
        previous: the index kept in the vault from earlier runs (same key epoch), if any.
    """
    patients = f"(SELECT resource FROM {staged} WHERE resource_type = 'Patient')"
    index = PatientIndex(previous)
    for row in con.sql(_PATIENT_KEYS_VIEW.sql(patients)).to_arrow_table().to_pylist():
        if not row["patient_ref"]:
            continue
        canonical = canonical_patient_key(
            context.source, row["patient_ref"], row["mrn_system"], row["mrn_value"]
        )
        reference = parse_full_date(row["deceased_date"]) or context.run_date
        index.assign(
            context,
            row["patient_ref"],
            canonical,
            birth_year_and_group(row["birth_date"], reference),
        )
    return index


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


def write_patient_index(vault: Path, index: PatientIndex, fingerprint: str) -> None:
    """Replace the vault's patient index atomically; the file is 0600 from its creation.

    The index holds every patient's offset (enough to undo the date shift): it stays in the vault.
    """
    path = vault / PATIENT_INDEX_FILE
    temporary = vault / f".{PATIENT_INDEX_FILE}.tmp"
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        pq.write_table(
            index.table().replace_schema_metadata({"key_fingerprint": fingerprint}), handle
        )
    temporary.replace(path)


@functools.cache
def code_system_allowlist() -> dict:
    """The allow-listed code systems (``allowlist.yaml``): codes and displays may leave."""
    return yaml.safe_load(Path(__file__).with_name("allowlist.yaml").read_text(encoding="utf-8"))


def allowed_system_sql(system_sql: str) -> str:
    """SQL truth of "this coding's system is on the allow-list"."""
    allowlist = code_system_allowlist()
    systems = ", ".join(_literal(s) for s in allowlist["systems"])
    prefixes = " OR ".join(
        f"starts_with({system_sql}, {_literal(p)})" for p in allowlist["prefixes"]
    )
    return f"({system_sql} IN ({systems}) OR {prefixes})"


def _code_sql(column, raw: str) -> str:
    """A coded column under the allow-list: displays only from listed systems, codes also when short."""
    system_column = column.column.tag(CODE_SYSTEM_TAG)
    if system_column is None:
        return raw  # codes of a fixed FHIR value set (status, class): nothing to filter
    allowed = allowed_system_sql(f"v.{_quote(system_column)}")
    if column.name.endswith("display"):
        return f"CASE WHEN {allowed} THEN {raw} END"
    limit = int(code_system_allowlist()["max_local_code_length"])
    return f"CASE WHEN {allowed} OR length({raw}) <= {limit} THEN {raw} END"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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


def deidentify_sql(
    view_name: str,
    compiled: CompiledView,
    raw_relation: str,
    profile: str = "ED",
    notes_mode: bool = False,
) -> str:
    """SELECT turning the raw view output in ``raw_relation`` into the warehouse columns.

    Expects the ``patient_index`` and ``_refs`` tables (``_resolve_references``), the functions
    of ``register_functions`` and, in notes mode, the ``_scrubbed`` table (``scrub_text_columns``).
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
        if deid_class == "text":
            if notes_mode:  # scrubbed in Python beforehand (scrub_text_columns), joined by rowid
                select.append(f'_s."text" AS {_quote(column.name)}')
                select.append(f'{_literal(SCRUBBER_VERSION)} AS "scrubber_version"')
            continue
        if deid_class == "pseudonym":
            resource_type = pseudonym_resource_type(view_name, compiled, column)
            if resource_type == "Patient":
                expression = "_p.patient_pseudonym"
            else:
                expression = f"deid_pseudonym({_literal(resource_type)}, {raw})"
            select.append(f"{expression} AS {_quote(column.name)}")
        elif deid_class == "shift":
            select.append(f"{_shifted(column.name, profile)} AS {_quote(column.name)}")
        elif deid_class == "birth_year":
            select.append(f"_p.birth_year AS {_quote(column.name)}")
            select.append('_p.age_group AS "age_group"')
        elif deid_class == "zip3":
            country = 'v."country"' if "country" in names else "NULL"
            select.append(f"{zip3_sql(raw, country)} AS {_quote(column.name)}")
        elif deid_class == "code":
            select.append(f"{_code_sql(column, raw)} AS {_quote(column.name)}")
        elif deid_class == "term":
            # the listed term's canonical spelling, or NULL: never the raw text
            select.append(f"{term_sql(raw)} AS {_quote(column.name)}")
        elif column.column.tag(AGE_UNIT_TAG):
            # an age of 90 or more (a quantity in years) is identifying: empty, like birth years
            unit = f"v.{_quote(column.column.tag(AGE_UNIT_TAG))}"
            select.append(
                f"CASE WHEN {unit} IN ({', '.join(map(_literal, AGE_UNITS))}) AND {raw} >= 90 THEN NULL "
                f"ELSE {raw} END AS {_quote(column.name)}"
            )
        else:
            select.append(f"{raw} AS {_quote(column.name)}")
    shift_columns = [c.name for c in compiled.columns if column_class(view_name, c) == "shift"]
    if shift_columns:
        nulled = " + ".join(
            f"(CASE WHEN v.{_quote(n)} IS NOT NULL AND {_shifted(n, profile)} IS NULL THEN 1 ELSE 0 END)"
            for n in shift_columns
        )
        select.append(f"CAST({nulled} AS INTEGER) AS {_quote(DATES_NULLED_COLUMN)}")
    select.extend(f"v.{_quote(name)}" for name in LINEAGE)
    join = (
        # _refs: each distinct reference hashed once (by _resolve_references), all in the index
        f"LEFT JOIN _refs AS _ref ON _ref.raw_ref = v.{_quote(patient)}\n"
        "LEFT JOIN patient_index AS _p ON _p.ref_hash = _ref.ref_hash"
        if patient
        else "LEFT JOIN (SELECT NULL::VARCHAR AS patient_pseudonym, NULL::INTEGER AS offset_days, "
        "NULL::INTEGER AS birth_year, NULL::VARCHAR AS age_group) AS _p ON false"
    )
    if notes_mode and any(column_class(view_name, c) == "text" for c in compiled.columns):
        join += "\nLEFT JOIN _scrubbed AS _s ON _s.row = v.rowid"
    # rowid order: the loader's "last duplicate wins" rule needs a stable row order
    return (
        "SELECT\n    "
        + ",\n    ".join(select)
        + f"\nFROM {raw_relation} AS v\n{join}\nORDER BY v.rowid"
    )


def _shifted(column: str, profile: str) -> str:
    """SQL of one date column under the profile (NULL for a partial or unparseable date)."""
    raw = f"v.{_quote(column)}"
    if profile == "SH":
        # Safe Harbor: the year alone (a partial date keeps its year: nothing finer is shown)
        return f"(CASE WHEN regexp_matches({raw}, '^[0-9]{{4}}') THEN CAST(substr({raw}, 1, 4) AS INTEGER) END)"
    offset = "_p.offset_days" if profile == "ED" else "0"  # LDS: real dates
    return f"deid_shift_date({raw}, {offset})"


class _Dictionaries:
    """Per-patient identifier dictionaries for the notes scrubber, built from staged Patients."""

    def __init__(self, con: duckdb.DuckDBPyConnection, staged: str):
        self.con, self.staged, self.cache = con, staged, None

    def get(self, patient_ref: str | None) -> PatientDictionary:
        if self.cache is None:
            self.cache = {
                ref: PatientDictionary.from_patient(json.loads(text))
                for ref, text in self.con.sql(
                    f"SELECT resource ->> 'id', resource FROM {self.staged} WHERE resource_type = 'Patient'"
                ).fetchall()
            }
        # a patient delivered on an earlier night: the patterns still apply, the dictionary is empty
        return self.cache.get(patient_ref) or PatientDictionary()


def scrub_text_columns(
    con: duckdb.DuckDBPyConnection,
    view_name: str,
    compiled: CompiledView,
    raw: str,
    index: PatientIndex,
    context: DeidContext,
    dictionaries: _Dictionaries,
    counts: TableDeidCounts,
) -> None:
    """Notes mode: decode and scrub the view's text column into the ``_scrubbed`` table (by rowid).

    The patient's own identifiers go first (a dictionary from the structured data), then the
    patterns. Dates in the text move by the patient's offset under ED, stay under LDS, and all
    become ``[DATE]`` under SH (offset None). Only text/plain, text/html and text/rtf are decoded.
    """
    (column,) = [c for c in compiled.columns if column_class(view_name, c) == "text"]
    content_type = column.column.tag(CONTENT_TYPE_TAG)
    patient = patient_column(view_name, compiled)
    if content_type is None or patient is None:
        raise DeidConfigurationError(
            f"view {view_name!r}: a text column needs a '{CONTENT_TYPE_TAG}' tag and a patient column"
        )
    rows = con.sql(
        f"SELECT rowid, {_quote(patient)}, {_quote(content_type)}, {_quote(column.name)} FROM {raw}"
    ).fetchall()
    scrubbed_rows, texts = [], []
    for row, patient_ref, mime, data in rows:
        text = decode_attachment(mime, data) if is_supported(mime) else None
        if not is_supported(mime):
            counts.notes_dropped_content_type += 1
        elif text is None:
            counts.notes_undecodable += 1
        if text is not None:
            entry = index.entries.get(
                patient_reference_hash(context.keys, context.source, patient_ref or "")
            )
            offset = {"ED": entry["offset_days"] if entry else None, "SH": None, "LDS": 0}[
                context.profile
            ]
            result = scrub_note(text, dictionaries.get(patient_ref), offset)
            text = result.text
            counts.notes_scrubbed += 1
            counts.note_replacements += sum(result.counts.values())
        scrubbed_rows.append(row)
        texts.append(text)
    con.register(
        "_scrubbed_arrow",
        pa.table(
            {"row": pa.array(scrubbed_rows, pa.int64()), "text": pa.array(texts, pa.string())}
        ),
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _scrubbed AS SELECT * FROM _scrubbed_arrow")
    con.unregister("_scrubbed_arrow")


def _counts(
    con: duckdb.DuckDBPyConnection,
    view_name: str,
    compiled: CompiledView,
    raw: str,
    clean: str,
    notes_mode: bool = False,
) -> TableDeidCounts:
    """Value-free counts comparing the raw and the de-identified table."""
    counts = TableDeidCounts()
    counts.rows = con.sql(f"SELECT count(*) FROM {clean}").fetchall()[0][0]
    for column in compiled.columns:
        deid_class = column_class(view_name, column)
        name = _quote(column.name)
        if deid_class == "text":
            counts.columns_dropped += 0 if notes_mode else 1
            continue
        (present,) = con.sql(f"SELECT count({name}) FROM {raw}").fetchall()[0]
        if deid_class == "pseudonym":
            counts.pseudonymized += present
        elif deid_class == "shift":
            (shifted,) = con.sql(f"SELECT count({name}) FROM {clean}").fetchall()[0]
            counts.dates_shifted += shifted
            counts.dates_nulled += present - shifted
        elif deid_class == "zip3":
            counts.zip_generalized += present
        elif deid_class == "term":
            (kept,) = con.sql(f"SELECT count({name}) FROM {clean}").fetchall()[0]
            counts.terms_kept += kept
            counts.terms_dropped += present - kept
            counts.term_columns[column.name] = {"kept": kept, "dropped": present - kept}
        elif column.column.tag(AGE_UNIT_TAG):
            (kept,) = con.sql(f"SELECT count({name}) FROM {clean}").fetchall()[0]
            counts.ages_over_89_emptied += present - kept
        elif deid_class == "code" and column.column.tag(CODE_SYSTEM_TAG):
            (kept,) = con.sql(f"SELECT count({name}) FROM {clean}").fetchall()[0]
            if column.name.endswith("display"):
                counts.displays_dropped += present - kept
            else:
                counts.codes_dropped += present - kept
        elif deid_class == "birth_year":
            counts.birth_years_grouped_90_plus += con.sql(
                f"SELECT count(*) FROM {clean} WHERE age_group = '90+'"
            ).fetchall()[0][0]
    return counts


def _load_index(con: duckdb.DuckDBPyConnection, index: PatientIndex) -> None:
    con.register("_patient_index_arrow", index.table())
    con.execute("CREATE OR REPLACE TEMP TABLE patient_index AS SELECT * FROM _patient_index_arrow")
    con.unregister("_patient_index_arrow")


def _resolve_references(
    con: duckdb.DuckDBPyConnection,
    raw: str,
    patient: str,
    index: PatientIndex,
    context: DeidContext,
) -> int:
    """Hash each distinct patient reference once; pin unresolved ones in the index.

    A reference to a Patient not delivered (yet) gets the pseudonym and offset an MRN-less
    Patient with that id would get, and keeps them when the Patient arrives (first wins).

    Returns:
        The number of rows whose patient was not in the index.
    """
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _refs AS SELECT raw_ref, deid_patient_ref_hash(raw_ref) AS ref_hash "
        f"FROM (SELECT DISTINCT {_quote(patient)} AS raw_ref FROM {raw} WHERE {_quote(patient)} IS NOT NULL)"
    )
    unresolved = con.sql(
        "SELECT raw_ref FROM _refs ANTI JOIN patient_index USING (ref_hash) ORDER BY raw_ref"
    ).fetchall()
    if not unresolved:
        return 0
    for (raw_ref,) in unresolved:
        index.assign(
            context,
            raw_ref,
            canonical_patient_key(context.source, raw_ref, None, None),
            (None, None),
        )
    (rows,) = con.sql(
        f"SELECT count(*) FROM {raw} v JOIN _refs r ON r.raw_ref = v.{_quote(patient)} "
        "ANTI JOIN patient_index p ON p.ref_hash = r.ref_hash"
    ).fetchall()[0]
    _load_index(con, index)
    return rows


def flatten_and_deidentify(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    views: Mapping[str, CompiledView],
    index: PatientIndex,
    context: DeidContext,
) -> tuple[dict[str, pa.Table], dict[str, TableDeidCounts]]:
    """Run every view over the staged resources and de-identify the result.

    Args:
        con: the staging connection, with ``register_functions`` applied.
        staged: table of staged resources: ``resource`` JSON, ``resource_type``,
            ``_source_file_hash``, ``_source_line``.
        views: compiled core views by table name.
        index: from ``build_patient_index``; unresolved patient references are added to it.
        context: keys, source and run date.

    Returns:
        De-identified Arrow tables by table name (warehouse columns + lineage) and counts.

    Raises:
        ViewExecutionError: a view failed on the data (DuckDB's message, which can quote
            values, withheld).
    """
    _load_index(con, index)
    dictionaries = _Dictionaries(con, staged)
    tables: dict[str, pa.Table] = {}
    counts: dict[str, TableDeidCounts] = {}
    for name, compiled in views.items():
        expected = [
            c.name for c in output_columns(name, compiled, context.profile, context.notes_mode)
        ]
        source = (
            f"(SELECT resource, _source_file_hash, _source_line FROM {staged} "
            f"WHERE resource_type = {_literal(compiled.view.resource)})"
        )
        raw, clean = _quote(f"_raw_{name}"), _quote(f"_clean_{name}")
        patient = patient_column(name, compiled)
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {raw} AS {compiled.sql(source, carry=LINEAGE)}"
            )
            unresolved = _resolve_references(con, raw, patient, index, context) if patient else 0
            scrub_counts = TableDeidCounts()
            if context.notes_mode and any(
                column_class(name, c) == "text" for c in compiled.columns
            ):
                scrub_text_columns(
                    con, name, compiled, raw, index, context, dictionaries, scrub_counts
                )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {clean} AS "
                f"{deidentify_sql(name, compiled, raw, context.profile, context.notes_mode)}"
            )
            table = con.sql(f"SELECT * FROM {clean}").to_arrow_table()
            counts[name] = _counts(con, name, compiled, raw, clean, context.notes_mode)
            con.execute(f"DROP TABLE {raw}")
            con.execute(f"DROP TABLE {clean}")
        except duckdb.Error as exc:
            raise sanitized_error(exc, name) from None
        if table.column_names != [*expected, *LINEAGE]:
            raise DeidConfigurationError(
                f"view {name!r}: de-identified columns differ from output_columns()"
            )
        counts[name].unresolved_patient_references = unresolved
        for note_count in (
            "notes_scrubbed",
            "notes_dropped_content_type",
            "notes_undecodable",
            "note_replacements",
        ):
            setattr(counts[name], note_count, getattr(scrub_counts, note_count))
        tables[name] = table
    return tables, counts
