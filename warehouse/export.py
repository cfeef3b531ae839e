"""Exports that leave the warehouse: k-anonymity (k >= 11) enforced on patients, checked, audited."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb

from .errors import WarehouseError
from .risk import below_k_query, ensure_risk_tables, summarise_classes
from .schema import CORE_SCHEMA, core_tables
from .sqltools import quote_identifier, quote_literal, transaction, utc_now

ExportFormat = Literal["parquet", "csv"]
EXPORT_MIN_K = 11
EXPORT_SCHEMAS = ("core", "study")
PATIENTS_TABLE = "core.patients"
SUPPRESSED = "*"
MANIFEST_NAME = "manifest.json"
# The quasi-identifiers of an export: every core.patients column that helps single a patient
# out, as it leaves. state and country travel in the same row as zip3, so a check that ignored
# them would certify classes the recipient can split further.
PATIENT_QI_COLUMNS = (
    "birth_year",
    "age_group",
    "sex",
    "race",
    "ethnicity",
    "zip3",
    "state",
    "country",
)
# The other core.patients columns the policy knows. A column in neither list stops the export
# until someone classifies it: the allow-list works like the views.
PATIENT_OTHER_COLUMNS = ("patient_id", "deceased", "deceased_date", "dates_nulled")
_STAGED = "_chartetl_export_patients"
# Read back as a recipient would tell values apart: "" stays an empty string, not NULL.
_CSV_READ_OPTIONS = "header = true, all_varchar = true, allow_quoted_nulls = false"
# A patient is suppressed when every quasi-identifier is '*' (a birth year never is).
_ALL_SUPPRESSED = " AND ".join(
    f"{quote_identifier(c)} = '{SUPPRESSED}'" for c in PATIENT_QI_COLUMNS
)


class ExportError(WarehouseError):
    """The export request contradicts the export policy; nothing was written."""


class ExportRiskError(ExportError):
    """The exported patients still hold a class below k that is not suppressed; output deleted."""


@dataclass(frozen=True)
class GeneralisationStep:
    """One step of the k enforcement, applied to the patients still in classes below k.

    Attributes:
        name: the step's name in the manifest.
        assignment: the SQL SET clause on the staged patients.
        changes: the SQL condition of the rows whose value the step actually changes: the
            step counts those (a NULL zip3 has nothing to generalise).
    """

    name: str
    assignment: str
    changes: str


# In order: coarser geography first (the state keeps the region), then the birth year's 5-year
# band aligned on multiples of 5, then local suppression of every quasi-identifier. Each step
# takes whole classes below k, so no patient stays behind in a class smaller than before.
STEPS = (
    GeneralisationStep("zip3_to_state", "zip3 = NULL", "zip3 IS NOT NULL"),
    GeneralisationStep(
        "birth_year_to_5_year_band",
        "birth_year = printf('%d-%d', CAST(birth_year AS INTEGER) // 5 * 5, "
        "CAST(birth_year AS INTEGER) // 5 * 5 + 4)",
        "birth_year IS NOT NULL",
    ),
    GeneralisationStep(
        "suppress_quasi_identifiers",
        ", ".join(f"{quote_identifier(c)} = '{SUPPRESSED}'" for c in PATIENT_QI_COLUMNS),
        "true",
    ),
)


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote, as ``manifest.json`` and ``audit.exports`` record it.

    Attributes:
        export_id: the export's id (``audit.exports``, manifest).
        exported_at: when (UTC).
        out_dir: the folder holding the files and the manifest.
        format: ``parquet`` or ``csv``.
        k: the k enforced.
        warehouse_run_id: the latest succeeded run; None when the ledger has none.
        patients: core.patients rows measured.
        generalised_zip: patients whose zip3 was replaced by their state.
        generalised_birth_year: patients whose birth year became its 5-year band.
        suppressed: patients whose quasi-identifiers all became ``'*'``.
        suppressed_dropped: whether the suppressed patients' rows were left out of every table.
        rows: rows written, by qualified table name.
        manifest_sha256: SHA-256 of ``manifest.json``.
    """

    export_id: str
    exported_at: datetime
    out_dir: Path
    format: ExportFormat
    k: int
    warehouse_run_id: str | None
    patients: int
    generalised_zip: int
    generalised_birth_year: int
    suppressed: int
    suppressed_dropped: bool
    rows: dict[str, int]
    manifest_sha256: str


@dataclass(frozen=True)
class _Table:
    name: str  # qualified: core.visits
    columns: tuple[str, ...]  # as exported: lineage left out
    # How a row finds its patient when suppressed patients are dropped: None (own patient_id
    # column, or the patients table itself), else (parent table, join column)
    parent: tuple[str, str] | None


def export_tables(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    tables: Sequence[str],
    fmt: ExportFormat,
    k: int = EXPORT_MIN_K,
    *,
    drop_suppressed: bool = False,
) -> ExportReport:
    """Write tables for use outside the warehouse with k-anonymous patients, then record it.

    core.patients is generalised step by step (``STEPS``) until every class of
    ``PATIENT_QI_COLUMNS`` has at least k members or is fully suppressed, whether or not it is
    among ``tables``: it defines the patient set of the export. Other tables keep every row of
    every patient (suppression touches only the patients table's quasi-identifiers) unless
    ``drop_suppressed``; rows of patients missing from core.patients carry no quasi-identifier
    and are written as they are. No column starting with ``_`` (lineage) is written. The export is
    then measured again from the written patients file and refused when a class below k is
    not fully suppressed. Files and ``manifest.json`` go to a temporary sibling folder (mode
    0700) that is renamed to ``out_dir`` just before the ``audit.exports`` row commits.

    Args:
        con: the read-write warehouse connection, outside any transaction.
        out_dir: the folder to create; it must not exist.
        tables: qualified names in schema ``core`` or ``study``; a bare name means ``core``.
        fmt: ``parquet`` or ``csv`` (with a header row; NULL is an empty field, an empty
            string ``""``).
        k: the k to enforce, at least 11 (deid.md section 8).
        drop_suppressed: leave the suppressed patients' rows out of every table instead of
            exporting them with ``'*'`` quasi-identifiers.

    Returns:
        The report of the export, matching ``manifest.json``.

    Raises:
        ValueError: an unknown format or k below 11.
        FileExistsError: ``out_dir`` exists.
        ExportError: an unknown or non-exportable table, a table other than core.patients with
            quasi-identifier columns, core.patients columns the policy does not classify, or
            ``drop_suppressed`` for a table whose rows cannot be traced to a patient.
        ExportRiskError: the re-measurement of the written patients failed; nothing remains.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")
    if k < EXPORT_MIN_K:
        raise ValueError(f"an export leaves the warehouse: k must be at least {EXPORT_MIN_K}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists: an export never overwrites another")
    selected = _resolve_tables(con, tables, drop_suppressed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # A sibling of out_dir, so the final rename stays on one file system, where it is atomic.
    staging_dir = Path(
        tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent)
    )
    published = False
    try:
        with transaction(con):
            report = _export(con, staging_dir, out_dir, selected, fmt, k, drop_suppressed)
            os.rename(staging_dir, out_dir)
            published = True
            _fsync(out_dir.parent)
    except BaseException:
        # published: the audit row did not commit, so the files must not stay either.
        shutil.rmtree(out_dir if published else staging_dir, ignore_errors=True)
        raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_STAGED}")
    return report


def _export(
    con: duckdb.DuckDBPyConnection,
    staging_dir: Path,
    out_dir: Path,
    selected: list[_Table],
    fmt: ExportFormat,
    k: int,
    drop_suppressed: bool,
) -> ExportReport:
    export_id, exported_at = uuid.uuid4().hex, utc_now()
    ensure_risk_tables(con)
    patients = _stage_patients(con)
    steps = {step.name: _apply_step(con, step, k) for step in STEPS}
    files = []
    for table in selected:
        path = staging_dir / f"{table.name}.{fmt}"
        rows = _write_table(con, table, path, fmt, drop_suppressed)
        files.append(
            {
                "table": table.name,
                "file": path.name,
                "rows": rows,
                "columns": list(table.columns),
                "sha256": _sha256(path),
            }
        )
    source, measured_on = _measured_source(selected, staging_dir, fmt)
    check = _check(con, source, k)
    if not check["passed"]:
        raise ExportRiskError(
            f"{check['classes_below_k']} classes ({check['patients_below_k']} patients) of "
            f"{measured_on} have fewer than {k} members without being suppressed; "
            "the export was refused and its files deleted"
        )
    run_id = _latest_run(con)
    manifest = {
        "export_id": export_id,
        "exported_at": exported_at.isoformat() + "Z",
        "warehouse_run_id": run_id,
        "format": fmt,
        "k": k,
        "quasi_identifiers": list(PATIENT_QI_COLUMNS),
        "policy": {
            "zip3_to_state": "zip3 set to NULL, state kept",
            "birth_year_to_5_year_band": "birth_year as text 'YYYY-YYYY', age_group unchanged",
            "suppress_quasi_identifiers": f"every quasi-identifier set to '{SUPPRESSED}'",
            "suppressed_patients_rows": "dropped" if drop_suppressed else "kept",
            "lineage_columns": "not exported (columns starting with '_')",
        },
        "patients": patients,
        "steps": [{"step": name, "patients": count} for name, count in steps.items()],
        "check": {"measured_on": measured_on, **check},
        "tables": files,
    }
    manifest_path = staging_dir / MANIFEST_NAME
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for path in [*(staging_dir / f["file"] for f in files), manifest_path, staging_dir]:
        _fsync(path)
    report = ExportReport(
        export_id=export_id,
        exported_at=exported_at,
        out_dir=out_dir,
        format=fmt,
        k=k,
        warehouse_run_id=run_id,
        patients=patients,
        generalised_zip=steps["zip3_to_state"],
        generalised_birth_year=steps["birth_year_to_5_year_band"],
        suppressed=steps["suppress_quasi_identifiers"],
        suppressed_dropped=drop_suppressed,
        rows={f["table"]: f["rows"] for f in files},
        manifest_sha256=_sha256(manifest_path),
    )
    con.execute(
        """
        INSERT INTO audit.exports (export_id, exported_at, run_id, tables, format, k, patients,
                                   generalised_zip, generalised_birth_year, suppressed,
                                   suppressed_dropped, manifest_sha256)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            report.export_id,
            report.exported_at,
            report.warehouse_run_id,
            [table.name for table in selected],
            report.format,
            report.k,
            report.patients,
            report.generalised_zip,
            report.generalised_birth_year,
            report.suppressed,
            report.suppressed_dropped,
            report.manifest_sha256,
        ],
    )
    return report


def _measured_source(
    selected: list[_Table], staging_dir: Path, fmt: ExportFormat
) -> tuple[str, str]:
    # The relation the final check reads, and its name in the manifest.
    if not any(table.name == PATIENTS_TABLE for table in selected):
        # No quasi-identifier leaves; the staged patients still decide which rows were dropped.
        return _STAGED, f"{PATIENTS_TABLE} (staged, not exported)"
    path = staging_dir / f"{PATIENTS_TABLE}.{fmt}"
    if fmt == "parquet":
        return f"read_parquet({quote_literal(str(path))})", path.name
    return f"read_csv({quote_literal(str(path))}, {_CSV_READ_OPTIONS})", path.name


def _resolve_tables(
    con: duckdb.DuckDBPyConnection, names: Sequence[str], drop_suppressed: bool
) -> list[_Table]:
    if not names:
        raise ExportError("no table to export")
    qualified = [name if "." in name else f"{CORE_SCHEMA}.{name}" for name in names]
    if len(set(qualified)) != len(qualified):
        raise ExportError("a table is named twice")
    catalog: dict[str, list[str]] = {}
    for schema_name, table_name, column_name in con.execute(
        """
        SELECT schema_name, table_name, column_name FROM duckdb_columns()
        WHERE database_name = current_database() AND schema_name IN $schemas
          AND NOT internal
        ORDER BY schema_name, table_name, column_index
        """,
        {"schemas": list(EXPORT_SCHEMAS)},
    ).fetchall():
        catalog.setdefault(f"{schema_name}.{table_name}", []).append(column_name)
    patient_columns = catalog.get(PATIENTS_TABLE, [])
    known = (*PATIENT_QI_COLUMNS, *PATIENT_OTHER_COLUMNS)
    unclassified = [c for c in patient_columns if not c.startswith("_") and c not in known]
    missing = [c for c in known if c not in patient_columns]
    if unclassified or missing:
        raise ExportError(
            f"{PATIENTS_TABLE} does not match the export policy (unclassified columns "
            f"{unclassified}, missing columns {missing}): classify them in warehouse/export.py"
        )
    selected = []
    for name in qualified:
        if name.split(".", 1)[0] not in EXPORT_SCHEMAS:
            raise ExportError(f"{name}: only schemas {', '.join(EXPORT_SCHEMAS)} are exported")
        if name not in catalog:
            raise ExportError(f"{name}: no such table")
        columns = tuple(c for c in catalog[name] if not c.startswith("_"))
        if name != PATIENTS_TABLE and (qi := [c for c in columns if c in PATIENT_QI_COLUMNS]):
            # They would bypass the generalisation of core.patients; join them after export.
            raise ExportError(f"{name} carries quasi-identifier columns {qi}")
        parent = None
        if drop_suppressed and name != PATIENTS_TABLE and "patient_id" not in columns:
            parent = _parent_link(name)
        selected.append(_Table(name, columns, parent))
    return selected


def _parent_link(name: str) -> tuple[str, str]:
    schema, table = name.split(".", 1)
    definition = core_tables().get(table) if schema == CORE_SCHEMA else None
    if definition is None or definition.parent_table is None:
        raise ExportError(
            f"{name} has no patient_id and no parent table: the rows of suppressed patients "
            "cannot be dropped from it"
        )
    return f"{CORE_SCHEMA}.{definition.parent_table}", definition.replace_parent


def _stage_patients(con: duckdb.DuckDBPyConnection) -> int:
    # Quasi-identifiers as text: a 5-year band and the '*' of suppression must fit in them.
    columns = ", ".join(
        f"CAST({quote_identifier(c)} AS VARCHAR) AS {quote_identifier(c)}"
        for c in PATIENT_QI_COLUMNS
    )
    others = ", ".join(map(quote_identifier, PATIENT_OTHER_COLUMNS))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_STAGED} AS SELECT {others}, {columns} FROM core.patients"
    )
    return con.execute(f"SELECT count(*) FROM {_STAGED}").fetchall()[0][0]


def _apply_step(con: duckdb.DuckDBPyConnection, step: GeneralisationStep, k: int) -> int:
    below_k = below_k_query(_STAGED, PATIENT_QI_COLUMNS)
    return con.execute(
        f"UPDATE {_STAGED} SET {step.assignment} "
        f"WHERE ({step.changes}) AND patient_id IN ({below_k})",
        {"k": k},
    ).fetchall()[0][0]


def _write_table(
    con: duckdb.DuckDBPyConnection,
    table: _Table,
    path: Path,
    fmt: ExportFormat,
    drop_suppressed: bool,
) -> int:
    is_patients = table.name == PATIENTS_TABLE
    where = ""
    if drop_suppressed:
        # patient_id is the staged table's key: never NULL, so NOT IN below is safe.
        suppressed = f"SELECT patient_id FROM {_STAGED} WHERE {_ALL_SUPPRESSED}"
        if is_patients:
            where = f"WHERE NOT ({_ALL_SUPPRESSED})"
        elif table.parent is None:
            # NOT IN yields NULL for a NULL patient_id: such a row belongs to no suppressed
            # patient and stays.
            where = f"WHERE t.patient_id IS NULL OR t.patient_id NOT IN ({suppressed})"
        else:
            parent, column = table.parent
            key = quote_identifier(column)
            where = (
                f"WHERE t.{key} NOT IN (SELECT {key} FROM {_sql_name(parent)} "
                f"WHERE patient_id IN ({suppressed}))"
            )
    columns = ", ".join(map(quote_identifier, table.columns))
    source = _STAGED if is_patients else _sql_name(table.name)
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    # Rows sorted (pseudonymous keys first): the warehouse's own order could reflect the order
    # of the source files.
    return con.execute(
        f"COPY (SELECT {columns} FROM {source} AS t {where} ORDER BY ALL) "
        f"TO {quote_literal(str(path))} ({options})"
    ).fetchall()[0][0]


def _check(con: duckdb.DuckDBPyConnection, source: str, k: int) -> dict[str, object]:
    # The fully suppressed patients share one class, '*' everywhere, which may be smaller than
    # k: it tells nothing. Every other class must have k members.
    kept = f"(SELECT * FROM {source} WHERE NOT ({_ALL_SUPPRESSED}))"
    summary = summarise_classes(con, kept, PATIENT_QI_COLUMNS, k)
    suppressed = con.execute(f"SELECT count(*) FROM {source} WHERE {_ALL_SUPPRESSED}").fetchall()[
        0
    ][0]
    return {
        "patients": summary.patients + suppressed,
        "suppressed_patients": suppressed,
        "classes": summary.classes,
        "min_class_size": summary.min_class_size,
        "classes_below_k": summary.classes_below_k,
        "patients_below_k": summary.patients_below_k,
        "passed": summary.classes_below_k == 0,
    }


def _sql_name(qualified: str) -> str:
    schema, table = qualified.split(".", 1)
    return f"{quote_identifier(schema)}.{quote_identifier(table)}"


def _latest_run(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute(
        """
        SELECT run_id FROM audit.runs WHERE status = 'succeeded'
        ORDER BY finished_at DESC LIMIT 1
        """
    ).fetchall()
    return rows[0][0] if rows else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    # Durable before the rename (files, folder) and after it (the parent's directory entry).
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
