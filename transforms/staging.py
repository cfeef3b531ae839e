"""Stage one input file: read it with its format's adapter, validate every resource against R4.

Pure (no Prefect, no warehouse): the nightly flow runs ``stage_file`` per file in parallel. What it
returns holds identified data (the valid resources' JSON) and must stay in the PHI zone: the
flow never persists or caches it. Everything else it returns is value-free: counts, error
classes, element paths, keyed id hashes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from transforms.deid.apply import (
    DeidContext,
    PatientIndex,
    TableDeidCounts,
    build_patient_index,
    flatten_and_deidentify,
    register_functions,
)
from transforms.deid.evidence import (
    EvidenceRow,
    ExtensionCount,
    extension_counts,
    known_extension_urls,
    safe_harbor_evidence,
)
from transforms.deid.leakscan import TokenIndex
from transforms.sources.bundle_source import read_bundle
from transforms.sources.csv_source import ColumnMap, CsvReadStats, find_map_for, read_csv
from transforms.sources.discover import InputFile
from transforms.sources.ndjson_source import read_ndjson
from transforms.sources.records import SourceError, SourceRecord
from transforms.sql_on_fhir import CompiledView, install_macros
from transforms.validation import (
    StructuralIssue,
    is_resource_type,
    quarantine_row,
    validate_resource,
)

IdHasher = Callable[[str, str], str]  # (resource_type, raw id) -> keyed hash
UNKNOWN_TYPE = "(unknown)"  # undecodable input or a resourceType that is not an R4 type

STAGED_SCHEMA = pa.schema(
    [
        ("resource", pa.string()),
        ("resource_type", pa.string()),
        ("_source_file_hash", pa.string()),
        ("_source_line", pa.int64()),
    ]
)


class ResourceTally:
    """Totals over ``read_by_type`` and ``quarantined_by_type`` (per resource type counts)."""

    read_by_type: Mapping[str, int]
    quarantined_by_type: Mapping[str, int]

    @property
    def resources_read(self) -> int:
        return sum(self.read_by_type.values())

    @property
    def resources_quarantined(self) -> int:
        return sum(self.quarantined_by_type.values())


@dataclass
class StagedFile(ResourceTally):
    """A file's valid resources (PHI, Arrow, ``STAGED_SCHEMA``) and its value-free accounting.

    Counts are keyed by R4 resource type; input whose type is not one (arbitrary text) is
    counted under ``UNKNOWN_TYPE`` so that no input string reaches a report.
    """

    file: InputFile
    resources: pa.Table
    quarantine: list[dict] = field(default_factory=list)  # audit.quarantine rows
    read_by_type: Counter = field(default_factory=Counter)
    quarantined_by_type: Counter = field(default_factory=Counter)
    csv_stats: CsvReadStats | None = None


def _records(
    input_file: InputFile,
    column_maps: list[ColumnMap],
    drop_unknown: bool,
    stats: CsvReadStats | None,
) -> Iterator[SourceRecord]:
    if input_file.format == "ndjson":
        return read_ndjson(input_file.path)
    if input_file.format == "bundle":
        return read_bundle(input_file.path)
    found = find_map_for(input_file.path, column_maps)
    if found is None:
        raise SourceError(
            f"no column map describes CSV file {input_file.sha256[:12]} (matched by file name); "
            "add one to the maps or remove the file from the inbox"
        )
    column_map, _file_map = found
    return read_csv(input_file.path, column_map, drop_unknown=drop_unknown, stats=stats)


def _modifier_extension_element(node: object, path: str = "") -> str | None:
    """Element path of the first modifierExtension (array positions kept, no values)."""
    if isinstance(node, dict):
        if node.get("modifierExtension"):
            return f"{path}.modifierExtension" if path else "modifierExtension"
        for key, value in node.items():
            found = _modifier_extension_element(value, f"{path}.{key}" if path else key)
            if found:
                return found
    elif isinstance(node, list):
        for position, value in enumerate(node):
            found = _modifier_extension_element(value, f"{path}[{position}]")
            if found:
                return found
    return None


def stage_file(
    input_file: InputFile,
    id_hasher: IdHasher,
    column_maps: list[ColumnMap] | None = None,
    drop_unknown_columns: bool = False,
) -> StagedFile:
    """Read and validate one file; invalid resources and undecodable units go to quarantine.

    Args:
        input_file: from ``discover``.
        id_hasher: keyed hash for quarantined resource ids (the raw id never leaves).
        column_maps: CSV column maps (CSV inputs only).
        drop_unknown_columns: drop CSV headers the map does not classify instead of failing.

    Raises:
        SourceError: the file cannot be read at all (e.g. an unknown CSV header).
    """
    stats = CsvReadStats() if input_file.format == "csv" else None
    texts: list[str] = []
    types: list[str] = []
    lines: list[int] = []
    staged = StagedFile(input_file, STAGED_SCHEMA.empty_table(), csv_stats=stats)
    for record in _records(input_file, column_maps or [], drop_unknown_columns, stats):
        resource = record.resource
        if resource is None:
            staged.quarantine.append(
                quarantine_row(record, input_file.sha256, record.line, id_hasher)
            )
            staged.read_by_type[UNKNOWN_TYPE] += 1
            staged.quarantined_by_type[UNKNOWN_TYPE] += 1
            continue
        declared = resource.get("resourceType")
        resource_type = declared if is_resource_type(declared) else UNKNOWN_TYPE
        staged.read_by_type[resource_type] += 1
        issue = validate_resource(resource)
        if issue is not None:
            row = quarantine_row(
                issue, input_file.sha256, record.line, id_hasher, resource=resource
            )
            staged.quarantine.append(row)
            staged.quarantined_by_type[resource_type] += 1
            continue
        text = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
        # a modifierExtension changes the meaning of the resource (e.g. "this did not happen"):
        # none is understood here, so a resource carrying one is dropped whole (deid.md section 6)
        if '"modifierExtension"' in text and (
            element := _modifier_extension_element(resource, resource_type)
        ):
            staged.quarantine.append(
                quarantine_row(
                    StructuralIssue(resource_type, "UnknownModifierExtension", element, 1),
                    input_file.sha256,
                    record.line,
                    id_hasher,
                    resource=resource,
                )
            )
            staged.quarantined_by_type[resource_type] += 1
            continue
        texts.append(text)
        types.append(resource_type)
        lines.append(record.line)
    staged.resources = pa.table(
        {
            "resource": pa.array(texts, pa.string()),
            "resource_type": pa.array(types, pa.string()),
            "_source_file_hash": pa.array([input_file.sha256] * len(texts), pa.string()),
            "_source_line": pa.array(lines, pa.int64()),
        },
        schema=STAGED_SCHEMA,
    )
    return staged


@dataclass
class DeidentifiedRun:
    """What leaves the staging database: de-identified tables and value-free accounting.

    The patient index and the token index hold keyed hashes only; they stay in the vault.
    """

    tables: dict[str, pa.Table]
    counts: dict[str, TableDeidCounts]
    patient_index: PatientIndex
    evidence: list[EvidenceRow]
    extensions: list[ExtensionCount]
    token_index: TokenIndex


def deidentified_tables(
    staged: list[StagedFile],
    context: DeidContext,
    views: dict[str, CompiledView],
    previous_index: pa.Table | None,
    scratch_parent: Path,
    previous_tokens: TokenIndex | None = None,
) -> DeidentifiedRun:
    """Flatten the staged files through the views and de-identify them, in an in-memory DuckDB.

    Args:
        staged: the run's staged files.
        context: keys, source and run date.
        views: compiled core views by table name.
        previous_index: the vault's patient index from earlier runs, if any.
        scratch_parent: a folder in the PHI zone (the vault) for what DuckDB spills to disk
            under memory pressure (its default is ./.tmp, wherever the process runs); the
            private scratch folder made there is removed afterwards.
        previous_tokens: the vault's leak-scan token index from earlier runs, if any.

    Returns:
        The de-identified tables, their counts, the updated patient and token indexes, the Safe
        Harbor evidence and the extensions seen.
    """
    scratch = Path(tempfile.mkdtemp(prefix=".staging-", dir=scratch_parent))  # mode 0700
    con = duckdb.connect(config={"temp_directory": str(scratch)})
    try:
        install_macros(con)
        register_functions(con, context)
        con.execute(
            "CREATE TEMP TABLE staged (resource JSON, resource_type VARCHAR, "
            "_source_file_hash VARCHAR, _source_line BIGINT)"
        )
        for item in staged:
            if item.resources.num_rows:
                con.register("_staged_batch", item.resources)
                con.execute(
                    "INSERT INTO staged SELECT CAST(resource AS JSON), resource_type, "
                    "_source_file_hash, _source_line FROM _staged_batch"
                )
                con.unregister("_staged_batch")
        index = build_patient_index(con, "staged", context, previous_index)
        tables, counts = flatten_and_deidentify(con, "staged", views, index, context)
        tokens = TokenIndex(context.keys.scan_index)
        if previous_tokens is not None:
            tokens.merge(previous_tokens)
        # the leak scan's tokens: every identifier of every Patient (CSV direct identifiers
        # are mapped into the Patient resource, so they are here too), kept as keyed hashes
        for (text,) in con.sql(
            "SELECT resource FROM staged WHERE resource_type = 'Patient'"
        ).fetchall():
            tokens.add_patient(json.loads(text))
        return DeidentifiedRun(
            tables=tables,
            counts=counts,
            patient_index=index,
            evidence=safe_harbor_evidence(con, "staged", counts, context.profile),
            extensions=extension_counts(con, "staged", known_extension_urls(views.values())),
            token_index=tokens,
        )
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
